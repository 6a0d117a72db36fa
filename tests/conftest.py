"""Shared fixtures: a tiny fast scenario and paths to the shipped scenario files."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from peersim.cli.app import main as console_main
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import parse_scenario

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
"""The scenario files shipped in the repository (and other inputs, such as factors files)."""


def shipped_scenario_files() -> list[Path]:
    """Scenario files in ``scenarios/``: every TOML file except ``[[factors]]`` and costs files."""
    files = []
    for path in sorted(SCENARIOS_DIR.glob("*.toml")):
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        if "factors" not in data and "unit_costs" not in data:
            files.append(path)
    return files


TINY_TOML = """\
# A tiny two-site trial that runs in a few milliseconds.
name = "tiny"
description = "Two small sites for fast tests"
mode = "trial"

[horizon]
recruitment_weeks = 8
follow_up_weeks = 26

[[sites]]
name = "north"
host = "nhs"
geography = "urban"
n_peer_workers = 2
supervisor_hours_per_week = 4
eligible_admissions_per_week = 1.5
caseload_cap = 4

[[sites]]
name = "south"
host = "not_for_profit"
geography = "rural"
n_peer_workers = 1
supervisor_hours_per_week = 2
eligible_admissions_per_week = 1.0
caseload_cap = 3
"""
"""TOML text of :func:`tiny_scenario`; tests edit it to make bad files."""


def tiny_site(name: str, **overrides: Any) -> dict[str, Any]:
    """Return a valid site table, as plain data, with ``overrides`` applied."""
    site: dict[str, Any] = {
        "name": name,
        "host": "nhs",
        "geography": "urban",
        "n_peer_workers": 2,
        "supervisor_hours_per_week": 4.0,
        "eligible_admissions_per_week": 1.0,
    }
    site.update(overrides)
    return site


def tiny_data(**overrides: Any) -> dict[str, Any]:
    """Return valid scenario data with one site, with top-level ``overrides`` applied."""
    data: dict[str, Any] = {
        "name": "tiny",
        "horizon": {"recruitment_weeks": 8, "follow_up_weeks": 26},
        "sites": [tiny_site("north")],
    }
    data.update(overrides)
    return data


@pytest.fixture(scope="session")
def tiny_toml() -> str:
    """TOML text of a tiny two-site trial."""
    return TINY_TOML


@pytest.fixture(scope="session")
def tiny_scenario() -> Scenario:
    """A tiny two-site trial (about 20 participants) that runs in milliseconds."""
    return parse_scenario(TINY_TOML, source="<tiny>")


@pytest.fixture(scope="session")
def scenarios_dir() -> Path:
    """The repository's ``scenarios/`` directory."""
    return SCENARIOS_DIR


def peersim_command(*args: str) -> list[str]:
    """Return the command line of the real ``peersim`` console entry with ``args``."""
    return [sys.executable, "-m", "peersim", *args]


def command_env() -> dict[str, str]:
    """Environment of a real ``peersim`` command in a test: no display, no colour, wide tables."""
    return {**os.environ, "MPLBACKEND": "Agg", "NO_COLOR": "1", "COLUMNS": "200"}


def start_peersim(args: Sequence[str], cwd: Path) -> subprocess.Popen[str]:
    """Start ``python -m peersim ARGS`` in its own process group, as a terminal's foreground job."""
    return subprocess.Popen(
        peersim_command(*args),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=command_env(),
        start_new_session=True,
    )


def group_gone(group: int, timeout: float = 60.0) -> bool:
    """Whether every process of ``group`` (the command and its workers) has ended within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def run_peersim(args: Sequence[str], cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m peersim ARGS`` in ``cwd`` and capture its text output."""
    env = command_env()
    return subprocess.run(
        peersim_command(*args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@dataclass
class InterruptedRun:
    """What a command did after :func:`interrupt_peersim` pressed Ctrl-C."""

    returncode: int
    stdout: str
    stderr: str
    presses: int
    """SIGINTs sent (fewer than asked if the command ended first)."""
    seconds: float
    """From the first SIGINT (or from the start, if none was sent) to the command's exit."""
    orphans: list[str]
    """Processes of the command's session still alive ``grace`` seconds after it exited."""


def interrupt_peersim(
    args: Sequence[str],
    cwd: Path,
    ready: Callable[[], bool] | None = None,
    delay: float = 0.0,
    presses: int = 1,
    gap: float = 0.5,
    timeout: float = 60.0,
    grace: float = 5.0,
    ready_timeout: float = 120.0,
) -> InterruptedRun:
    """Run ``python -m peersim ARGS``, press Ctrl-C as a terminal does, and report what happened.

    The command runs in a session of its own; SIGINT goes to its whole process
    group (as a terminal sends it to the foreground group), ``presses`` times
    ``gap`` seconds apart, ``delay`` seconds after ``ready()`` first holds (or
    after the start). Every process of the session (forkserver, workers, Dask
    nannies) is then expected gone within ``grace`` seconds of the exit; any
    left are killed and reported in :attr:`InterruptedRun.orphans`.

    Raises
    ------
    AssertionError
        If ``ready`` does not hold within ``ready_timeout`` seconds, or the
        command has not exited ``timeout`` seconds after the first SIGINT (it
        is killed, and its stderr is in the message).
    """
    env = command_env()
    # A shell's background job starts with SIGINT ignored, which the command would inherit.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        if ignored:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        process = subprocess.Popen(
            peersim_command(*args),
            cwd=cwd,
            stdout=out,
            stderr=err,
            env=env,
            text=True,
            start_new_session=True,
        )
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        session = process.pid
        waited = time.monotonic()
        while ready is not None and process.poll() is None and not ready():
            assert time.monotonic() - waited < ready_timeout, f"not ready after {ready_timeout} s"
            time.sleep(0.05)
        time.sleep(delay)
        sent, first = 0, waited
        for press in range(presses):
            if press:
                time.sleep(gap)
            if process.poll() is not None:
                break
            try:
                os.killpg(session, signal.SIGINT)
            except ProcessLookupError:
                break
            first = first if sent else time.monotonic()
            sent += 1
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(session, signal.SIGKILL)
            process.wait()
            err.seek(0)
            raise AssertionError(f"still running {timeout} s after Ctrl-C; stderr:\n{err.read()}") from None
        seconds = time.monotonic() - first
        orphans = _session_processes(session, grace)
        out.seek(0)
        err.seek(0)
        return InterruptedRun(process.returncode, out.read(), err.read(), sent, seconds, orphans)


def _session_processes(session: int, grace: float) -> list[str]:
    """Wait up to ``grace`` seconds for the processes of ``session`` to go; kill and describe those left."""
    deadline = time.monotonic() + grace
    while True:
        left = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ...
                if int(fields[3]) == session and fields[0] != "Z":
                    command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    left[int(entry)] = f"{entry} (parent {fields[1]}): {command[:160]}"
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return sorted(left.values())


def main_in_process(argv: Sequence[str], cwd: Path | None = None) -> tuple[int, str, str]:
    """Run the console entry in this process with ``argv`` (in ``cwd``, if given).

    Returns the exit status, stdout and stderr: what a user sees, without the cost of a
    new interpreter.
    """
    out, err = io.StringIO(), io.StringIO()
    previous = (sys.argv, os.getcwd())
    sys.argv = ["peersim", *argv]
    if cwd is not None:
        os.chdir(cwd)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            console_main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = previous[0]
        os.chdir(previous[1])
    return code, out.getvalue(), err.getvalue()


def town_and_county_toml(
    name: str,
    recruitment_weeks: int,
    *,
    admissions: float,
    supervision: tuple[float, float],
    peer_workers: int,
    follow_up_weeks: int = 26,
    names: tuple[str, str] = ("town", "county"),
) -> str:
    """Scenario TOML of a small trial of two contrasting sites, for calibration tests.

    The first of ``names`` is urban and NHS-hosted, the second rural and
    not-for-profit-hosted; ``admissions`` (eligible admissions a week),
    ``supervision`` (supervisor hours a week, first site then second) and
    ``peer_workers`` set their size.
    """
    town, county = supervision
    return f"""
name = "{name}"
[horizon]
recruitment_weeks = {recruitment_weeks}
follow_up_weeks = {follow_up_weeks}
[[sites]]
name = "{names[0]}"
host = "nhs"
geography = "urban"
n_peer_workers = {peer_workers}
supervisor_hours_per_week = {town:g}
eligible_admissions_per_week = {admissions:g}
[[sites]]
name = "{names[1]}"
host = "not_for_profit"
geography = "rural"
n_peer_workers = {peer_workers}
supervisor_hours_per_week = {county:g}
eligible_admissions_per_week = {admissions:g}
"""


def town_and_county(name: str, recruitment_weeks: int, **sizes: Any) -> Scenario:
    """The scenario of :func:`town_and_county_toml`, parsed."""
    return parse_scenario(town_and_county_toml(name, recruitment_weeks, **sizes), source=f"<{name}>")
