"""Serve the explorer: Solara's Starlette app under uvicorn, on 127.0.0.1 only, in this process.

:func:`serve` checks the port, loads and checks the inputs (so a bad file is
reported before anything listens), points Solara at
:mod:`peersim.explore.app`, switches its telemetry off, and runs the server
until Ctrl-C. The page reads its inputs with :func:`current_inputs` and runs
its comparisons on :func:`shared_executor`, one process pool for every
browser tab, started with the server and stopped with it.

``solara run peersim.explore.app`` works too: the inputs are then read from
the environment variables :data:`ENVIRONMENT` names (defaults otherwise).
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from peersim.errors import PeersimInputError
from peersim.executor import Executor, LocalExecutor, local_workers, warm_up
from peersim.explore.inputs import ExploreInputs, load_explore_inputs

HOST = "127.0.0.1"
"""The only address the explorer listens on."""
DEFAULT_PORT = 8765
"""Port used when none is given."""
APP_MODULE = "peersim.explore.app"
"""The Solara app module."""
ENVIRONMENT: dict[str, str] = {
    "site": "PEERSIM_EXPLORE_SITE",
    "costs": "PEERSIM_EXPLORE_COSTS",
    "posterior": "PEERSIM_EXPLORE_POSTERIOR",
    "no_posterior": "PEERSIM_EXPLORE_NO_POSTERIOR",
    "jobs": "PEERSIM_EXPLORE_JOBS",
}
"""Environment variables the app reads its inputs from when :func:`serve` did not configure it."""


@dataclass(frozen=True)
class ExploreConfig:
    """What the explorer serves.

    Attributes
    ----------
    site, costs, posterior
        Files as given (``None``: the packaged example site, default costs, shipped posterior).
    use_posterior
        ``False`` to run at the scenario's point values.
    jobs
        Worker processes of the shared pool (``None``: every core).
    """

    site: Path | None = None
    costs: Path | None = None
    posterior: Path | None = None
    use_posterior: bool = True
    jobs: int | None = None

    @classmethod
    def from_environment(cls) -> ExploreConfig:
        """Read the configuration from :data:`ENVIRONMENT` (for ``solara run peersim.explore.app``)."""

        def path(key: str) -> Path | None:
            value = os.environ.get(ENVIRONMENT[key], "")
            return Path(value) if value else None

        jobs = os.environ.get(ENVIRONMENT["jobs"], "")
        return cls(
            path("site"),
            path("costs"),
            path("posterior"),
            os.environ.get(ENVIRONMENT["no_posterior"], "") not in ("1", "true"),
            int(jobs) if jobs.isdigit() else None,
        )


_lock = threading.Lock()
_config: ExploreConfig | None = None
_inputs: ExploreInputs | None = None
_executor: Executor | None = None


def configure(config: ExploreConfig) -> ExploreInputs:
    """Load and check what the explorer serves, and keep it for :func:`current_inputs`.

    Raises
    ------
    PeersimInputError
        For a bad site, costs or posterior file (see :func:`~peersim.explore.inputs.load_explore_inputs`).
    """
    global _config, _inputs
    inputs = load_explore_inputs(config.site, config.costs, config.posterior, config.use_posterior)
    with _lock:
        _config, _inputs = config, inputs
    return inputs


def current_inputs() -> ExploreInputs:
    """Return the inputs being served (configured by :func:`serve`, else read from the environment once)."""
    with _lock:
        if _inputs is not None:
            return _inputs
    return configure(ExploreConfig.from_environment())


def shared_executor() -> Executor:
    """Return the process pool every comparison of this server runs on (started on first use)."""
    global _executor
    with _lock:
        if _executor is None:
            jobs = _config.jobs if _config is not None else None
            _executor = LocalExecutor(local_workers(jobs))
        return _executor


def warm_up_runs() -> None:
    """Start the shared pool's workers and import what the first comparison needs, ahead of it."""
    from peersim.explore.evaluate import warm
    from peersim.stats import t_quantile

    t_quantile(0.975, 2.0)  # imports scipy.stats (seconds), which the first view would wait for
    executor = shared_executor()
    for _ in executor.imap_unordered(warm, list(range(executor.workers))):
        pass


def stop_executor() -> None:
    """Stop the shared pool (at server exit)."""
    global _executor
    with _lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.terminate()


def check_port(port: int) -> None:
    """Check that ``HOST:port`` can be listened on (0 asks for a free port).

    Raises
    ------
    PeersimInputError
        If the port is outside 0-65535, in use, or not allowed.
    """
    if not 0 <= port <= 65535:
        raise PeersimInputError(f"`port` {port}: out of range; allowed 0 to 65535 (0: any free port)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PeersimInputError(
                    f"`port` {port}: {HOST}:{port} is already in use (another explorer, or another "
                    "program); choose another port, or 0 for any free one"
                ) from None
            raise PeersimInputError(
                f"`port` {port}: cannot listen on {HOST}:{port}: {error.strerror}"
            ) from None


def free_port() -> int:
    """Return a port on :data:`HOST` that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def serve(
    config: ExploreConfig, port: int = DEFAULT_PORT, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve the explorer on ``http://127.0.0.1:PORT/`` until Ctrl-C.

    Parameters
    ----------
    config
        What to serve; loaded and checked before the server starts.
    port
        Port on 127.0.0.1 (0: any free port).
    on_ready
        Called with the URL once the server accepts connections.

    Raises
    ------
    PeersimInputError
        For a bad input file or a port that cannot be listened on (before anything listens).
    """
    check_port(port)
    configure(config)
    if port == 0:
        port = free_port()
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "false")
    os.environ["SOLARA_APP"] = APP_MODULE
    os.environ["SERVER_NAME"] = HOST
    os.environ["SERVER_PORT"] = str(port)
    # Heavy: Solara and uvicorn are imported only to serve (the explore extra).
    import uvicorn
    from solara.server import settings

    settings.main.mode = "production"
    settings.telemetry.mixpanel_enable = False
    settings.theme.show_banner = False  # "This website runs on Solara" would cover the results' corner
    # Served over plain http on 127.0.0.1, so the session cookie is samesite=lax, as it should be; Solara
    # warns about it at every page load, which would only alarm a planner reading the terminal.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    warm_up()
    threading.Thread(target=warm_up_runs, daemon=True).start()
    server = uvicorn.Server(
        uvicorn.Config(
            "solara.server.starlette:app", host=HOST, port=port, log_level="warning", lifespan="on"
        )
    )
    url = f"http://{HOST}:{port}/"

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started and on_ready is not None:
            on_ready(url)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind or start the app, after logging why
        raise PeersimInputError(f"the explorer did not start on {HOST}:{port}; the reason is above") from None
    finally:
        stop_executor()
