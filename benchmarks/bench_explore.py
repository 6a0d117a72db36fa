"""Benchmark: the explorer's time to a first result and to a 40-replicate comparison, in a real browser.

Run by hand (not a test; needs the explore extra, Playwright and Debian's Chromium)::

    .venv/bin/python benchmarks/bench_explore.py [--replicates 40] [--repeats 3] [--jobs 2]

It starts ``peersim explore`` on the example site as a user would (a
subprocess on a free port of 127.0.0.1), drives the page in headless
Chromium (sets supervisor hours to 7.5 and the replicate budget, presses
Run) and times, from the click, the first partial result (the progress
line) and the finished comparison (the "done:" status). The baseline,
measured in the same session: the same comparison through the library in
this process (:func:`peersim.explore.workflow.explore_run`, one worker), and
the ideal page time, that serial time divided by ``--jobs``. It prints
medians, the ratio of the page's time to the ideal, and the load average
before and after (a load above the cores slows everything).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from peersim.executor import LocalExecutor
from peersim.explore.inputs import load_explore_inputs, read_form
from peersim.explore.workflow import explore_run

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "scenarios" / "new_site_example.toml"
CHROMIUM = os.environ.get("PEERSIM_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LEVER = ("supervisor_hours_per_week", "7.5")


def load() -> str:
    """Load averages over 1, 5 and 15 minutes, as ``uptime`` shows them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def library_seconds(replicates: int, repeats: int) -> list[float]:
    inputs = load_explore_inputs(EXAMPLE)
    draft = read_form(inputs, {LEVER[0]: LEVER[1], "replicates": str(replicates)})
    explore_run(inputs, read_form(inputs, {"replicates": "2"}), LocalExecutor(1))  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        explore_run(inputs, draft, LocalExecutor(1))
        times.append(time.perf_counter() - start)
    return times


def start_server(jobs: int) -> tuple[subprocess.Popen[str], str, float]:
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false"}
    command = [sys.executable, "-m", "peersim", "explore", str(EXAMPLE), "--port", "0", "--jobs", str(jobs)]
    start = time.perf_counter()
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    assert server.stderr is not None
    for line in server.stderr:
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if match:
            return server, match.group(1), time.perf_counter() - start
    raise RuntimeError(f"peersim explore exited with {server.wait()} before serving")


def page_seconds(url: str, replicates: int, repeats: int) -> tuple[float, list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    firsts, totals = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(f".peersim-lever-{LEVER[0]} input", timeout=120_000)
        loaded = time.perf_counter() - start
        field = page.locator(f".peersim-lever-{LEVER[0]} input")
        field.fill(LEVER[1])
        field.press("Enter")
        budget = page.locator(".peersim-replicates input")
        budget.fill(str(replicates))
        budget.press("Enter")
        for repeat in range(repeats):
            seed = page.locator(".peersim-seed input")
            seed.fill(str(repeat))
            seed.press("Enter")
            page.wait_for_timeout(300)
            start = time.perf_counter()
            page.get_by_role("button", name="Run").click()
            run = f"run {repeat + 1}: "
            page.wait_for_function(
                f"() => {{ const p = document.querySelector('.peersim-progress');"
                f" return p && p.textContent.startsWith('{run}') && !p.textContent.startsWith('{run}0 '); }}",
                timeout=120_000,
            )
            firsts.append(time.perf_counter() - start)
            page.wait_for_function(
                f"() => {{ const p = document.querySelector('.peersim-progress');"
                f" const s = document.querySelector('.peersim-status');"
                f" return p && p.textContent.startsWith('{run}')"
                f" && s && s.textContent.startsWith('done:'); }}",
                timeout=300_000,
            )
            totals.append(time.perf_counter() - start)
        browser.close()
    return loaded, firsts, totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--replicates", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} cores; load before {load()}")
    serial = statistics.median(library_seconds(args.replicates, args.repeats))
    server, url, up = start_server(args.jobs)
    try:
        loaded, firsts, totals = page_seconds(url, args.replicates, args.repeats)
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)
    ideal = serial / args.jobs
    first, total = statistics.median(firsts), statistics.median(totals)
    print(f"server up (ready line)              {up:6.2f} s")
    print(f"page loaded (levers shown)          {loaded:6.2f} s")
    print(f"click -> first partial result       {first:6.2f} s  (median of {len(firsts)}: {firsts})")
    print(f"click -> {args.replicates} replicates done         {total:6.2f} s  (median of {len(totals)})")
    print(f"baseline: library, 1 worker         {serial:6.2f} s  (same comparison, this process)")
    print(f"ideal page time (baseline / {args.jobs} jobs) {ideal:6.2f} s; page / ideal = {total / ideal:.2f}")
    print(f"load after {load()}")


if __name__ == "__main__":
    main()
