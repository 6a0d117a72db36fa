"""Fixtures of the browser tests: the real ``peersim explore`` server, and Debian's Chromium via Playwright.

The server is started once per session as a user starts it
(``python -m peersim explore SITE --port N``, in its own process group) and
stopped with Ctrl-C at the end; one headless Chromium and one page serve
every test, reloaded before each so each test starts from a fresh form.

Without the explore extra (solara) the whole directory skips, with one
line; without Chromium (``/usr/bin/chromium`` or ``$PEERSIM_CHROMIUM``) or
Playwright the browser tests (``test_explorer.py``) skip, with one line, and
the refusals of ``test_explore_server.py`` still run. With
``PEERSIM_REQUIRE_BROWSER=1`` (set by ``.ci/run``) they fail instead, so CI
never skips them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import SCENARIOS_DIR, command_env, group_gone

SITE = SCENARIOS_DIR / "new_site_example.toml"
"""The site the explorer serves in these tests (given by path, as a user would)."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Headless Chromium flags: no sandbox (root in a container), no network of its own."""
READY = re.compile(r"peersim explore: serving .* at (http://127\.0\.0\.1:(\d+)/)")
"""The line ``peersim explore`` prints on stderr once it accepts connections."""
START_SECONDS = 120.0
"""Longest wait for the server to come up (11-50 s seen on a loaded 2-core machine)."""
RENDER_MS = 60_000
"""Longest wait for the page to render over Solara's websocket (ms)."""
SHOTS_ENVIRONMENT = "PEERSIM_UI_SHOTS"
"""Environment variable: the folder screenshots go to (default: ``shots`` in pytest's temporary folder)."""


def chromium_path() -> Path:
    """The Chromium the tests drive: ``$PEERSIM_CHROMIUM``, else Debian's ``/usr/bin/chromium``."""
    return Path(os.environ.get("PEERSIM_CHROMIUM", "/usr/bin/chromium"))


def _missing(*, browser: bool) -> list[str]:
    missing = []
    if importlib.util.find_spec("solara") is None:
        missing.append("the explore extra (pip install -e '.[explore]')")
    if browser:
        if importlib.util.find_spec("playwright") is None:
            missing.append("playwright (pip install playwright; no browser download needed)")
        if not os.access(chromium_path(), os.X_OK):
            missing.append(
                f"Chromium at {chromium_path()} (apt-get install chromium, or set PEERSIM_CHROMIUM)"
            )
    return missing


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test (or, with ``PEERSIM_REQUIRE_BROWSER=1``, fail it) when what it needs is missing.

    Every test here needs the explore extra; those using the ``chromium``
    fixture also need Chromium and Playwright. The skip is raised here, not
    in a fixture, so that pytest reports every skipped test on one line.
    """
    if not _missing(browser="chromium" in item.fixturenames):
        return
    reason = "explorer tests need " + "; ".join(_missing(browser=True))
    if os.environ.get("PEERSIM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (PEERSIM_REQUIRE_BROWSER=1: not skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium (Playwright's sync API on the system browser) for the session.

    Not named ``browser``: pytest-playwright, when installed, owns that name (and parametrizes its users).
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path()), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Explorer:
    """A running ``peersim explore`` server.

    Attributes
    ----------
    url
        Its address, as printed on the ready line.
    process
        The server process (leader of its own process group).
    stderr
        Lines it printed on stderr so far.
    started_seconds
        Time from start to the ready line and a first HTTP answer (s).
    """

    url: str
    process: subprocess.Popen[str]
    stderr: list[str]
    started_seconds: float

    def log(self) -> str:
        """The last lines of its stderr (for failure messages)."""
        return "".join(self.stderr[-30:])


def _drain(stream: Any, lines: list[str], ready: threading.Event, found: list[str]) -> None:
    for line in stream:
        lines.append(line)
        match = READY.search(line)
        if match and not ready.is_set():
            found.append(match.group(1))
            ready.set()
    ready.set()  # the stream closed: the server has exited


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stop_server(process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Stop a server as Ctrl-C in its terminal does (SIGINT to its group); kill what is left, and say so."""
    group = process.pid
    try:
        os.killpg(group, signal.SIGINT)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    if not group_gone(group, timeout=timeout):
        os.killpg(group, signal.SIGKILL)
        process.wait(timeout=10)
        raise AssertionError(f"peersim explore left processes in group {group} {timeout:g} s after Ctrl-C")


@pytest.fixture(scope="session")
def explorer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Explorer]:
    """``peersim explore SITE --port N`` started as a user starts it; stopped with Ctrl-C after the session.

    Raises (fails the tests) if it prints no ready line or does not answer within :data:`START_SECONDS`,
    and, at the end, if any process of its group outlives Ctrl-C.
    """
    from peersim.explore.server import free_port

    port = free_port()
    env = {**command_env(), "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false"}
    start = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "peersim", "explore", str(SITE), "--port", str(port)],
        cwd=tmp_path_factory.mktemp("explore"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: list[str] = []
    ready, found = threading.Event(), []
    threading.Thread(target=_drain, args=(process.stderr, lines, ready, found), daemon=True).start()
    try:
        if not ready.wait(START_SECONDS) or not found:
            log = "".join(lines[-30:])
            pytest.fail(
                f"peersim explore printed no ready line within {START_SECONDS:g} s:\n{log}", pytrace=False
            )
        url = found[0]
        assert url == f"http://127.0.0.1:{port}/", f"served at {url}, asked for port {port}"
        while not _answers(url):
            if process.poll() is not None or time.monotonic() - start > START_SECONDS:
                pytest.fail(f"{url} does not answer:\n{''.join(lines[-30:])}", pytrace=False)
            time.sleep(0.2)
        yield Explorer(url, process, lines, time.monotonic() - start)
    finally:
        stop_server(process)


def _assets_hint() -> str:
    """Why a page may stay blank here: Solara's asset cache lacks its app bundle (no CDN on this machine)."""
    cache = Path(
        os.environ.get("SOLARA_ASSETS_PROXY_CACHE_DIR", Path(sys.prefix) / "share" / "solara" / "cdn")
    )
    if any(cache.glob("@widgetti/solara-vuetify*-app@*")):
        return ""
    return f" - Solara's asset cache {cache} has no app bundle: without a CDN, run .ci/solara-assets"


@dataclass
class ExplorerPage:
    """The page of the explorer in Chromium, and what its console reported as errors.

    Attributes
    ----------
    page
        The Playwright page.
    explorer
        The server it shows.
    shots
        Folder the screenshots go to.
    console_errors
        Console errors and uncaught page errors since the page was last loaded.
    """

    page: Any
    explorer: Explorer
    shots: Path
    console_errors: list[str] = field(default_factory=list)

    def load(self) -> float:
        """Load the page afresh and wait until Solara has rendered the sidebar; the time it took (s)."""
        self.console_errors.clear()
        start = time.monotonic()
        try:
            self.page.goto(self.explorer.url)
            self.page.locator(".peersim-lever-n_peer_workers input").wait_for(timeout=RENDER_MS)
        except Exception as error:
            state = "running" if self.explorer.process.poll() is None else "exited"
            why, log = str(error).splitlines()[0], self.explorer.log()
            raise AssertionError(
                f"the page did not render ({why}){_assets_hint()}; server {state}, stderr:\n{log}"
            ) from error
        return time.monotonic() - start

    def enter(self, css_class: str, text: str) -> None:
        """Type ``text`` into the Solara text field with ``css_class`` and commit it (Enter)."""
        field = self.page.locator(f".{css_class} input")
        field.fill(text)
        field.press("Enter")

    def screenshot(self, name: str) -> Path:
        """Save a screenshot of the viewport as ``NAME.png`` in :attr:`shots`."""
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), animations="disabled")  # skip Solara's 0.5 s fade-in
        return path


@pytest.fixture(scope="session")
def _session_page(
    chromium: Any, explorer: Explorer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ExplorerPage]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    shots = Path(os.environ.get(SHOTS_ENVIRONMENT) or tmp_path_factory.getbasetemp() / "shots")
    shown = ExplorerPage(page, explorer, shots)
    page.on(
        "console",
        lambda message: shown.console_errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: shown.console_errors.append(f"uncaught: {error}"))
    yield shown
    context.close()


@pytest.fixture
def explorer_page(_session_page: ExplorerPage) -> ExplorerPage:
    """The explorer's page, freshly loaded and rendered (the session's one Chromium page, reused)."""
    _session_page.load()
    return _session_page
