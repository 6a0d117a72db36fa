"""One interface for running many independent tasks: local processes or a Dask cluster.

Every experiment (ensembles, comparisons, sensitivity analysis, calibration,
planning) maps a top-level function over a list of tasks through an
:class:`Executor`. Results come back as ``(index, outcome)`` pairs in completion
order; callers key them by index, so numbers never depend on which back end ran
them, how many workers it had, or in what order tasks finished.

A task that raises does not stop the others: its outcome is a
:class:`TaskFailure` carrying the error text.

Ctrl-C stops the work within a fraction of a second and leaves no process
behind. Worker processes ignore SIGINT (a terminal sends it to all of them),
and while tasks are in flight this process only notes the key press
(:func:`deferred_interrupts`) and raises :class:`KeyboardInterrupt` itself
at the next safe point, after stopping its workers: never inside the pool's
own machinery, whose shutdown an exception there can leave waiting forever,
and never while the caller stores a finished result.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import inspect
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import warnings
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from multiprocessing import forkserver, resource_tracker
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, Self

from peersim.errors import PeersimInputError
from peersim.io.provenance import code_identity

ExecutorKind = Literal["local", "dask"]

WORKER_PRELOAD: tuple[str, ...] = ("peersim.model", "peersim.simulation", "peersim.ensemble.batches")
"""Modules the forkserver imports once, so each worker starts in milliseconds.

Importing the model (Mesa, pandas) takes 1-2 s; without the preload every worker
pays it again on its first task. The forkserver starts importing them as soon as
a pool is asked for (:func:`warm_up`, which commands call as they begin), while this process goes on with its
own imports, so the two costs overlap instead of adding up.
"""

POOL_PAYS_AFTER_SECONDS = 2.0
"""Serial work (seconds) below which :func:`local_workers` runs in this process.

Either way the model is imported once (about 2 s here): by this process, or by
the pool's forkserver while this process reads its inputs; two workers then
halve the work, less about 0.5 s of start-up. Below about 1.5 s of work the
pool finishes later than this process alone; 2 s leaves room for the estimate.
"""


POLL_SECONDS = 0.1
"""How often (seconds) a wait for results looks for a Ctrl-C noted meanwhile."""

STOP_SECONDS = 10.0
"""Longest wait (seconds) for a stopped worker process to go, before it is killed."""

FORCE_PRESSES = 3
"""Ctrl-C presses, while stopping, after which the stop is forced at once (an escape hatch)."""

PACKAGE = str(Path(__file__).resolve().parent)
"""peersim's own folder: warnings name the caller's line outside it."""


Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
"""Makes a progress display for a phase of work: ``progress(label, total)`` yields ``advance(n)``."""


@contextmanager
def no_progress(_label: str, _total: int) -> Iterator[Callable[[int], None]]:
    """Show no progress (the default progress display)."""
    yield lambda _n: None


@dataclass(frozen=True)
class TaskFailure:
    """A task that raised: its index, the error as text and the traceback."""

    index: int
    error: str
    traceback: str


def _call(fn: Callable[[Any], Any], index: int, task: Any) -> tuple[int, Any]:
    try:
        return index, fn(task)
    except Exception as error:  # a failing run is recorded, never fatal to the others
        return index, TaskFailure(index, f"{type(error).__name__}: {error}", traceback.format_exc())


class Interrupts:
    """Ctrl-C presses noted while they are deferred (see :func:`deferred_interrupts`).

    Attributes
    ----------
    presses
        Presses since the outermost deferral began (0 while none).
    """

    def __init__(self) -> None:
        self.presses = 0
        self._depth = 0
        self._previous: Any = None

    def check(self) -> None:
        """Raise :class:`KeyboardInterrupt` if Ctrl-C was pressed: call only where stopping is safe."""
        if self.presses:
            raise KeyboardInterrupt

    def _press(self, _signum: int, _frame: FrameType | None) -> None:
        # Only counts: a signal handler must not take locks or raise inside library code.
        self.presses += 1
        if self.presses >= FORCE_PRESSES:  # stopping is stuck: give the user their Ctrl-C back
            signal.signal(signal.SIGINT, self._previous)
            raise KeyboardInterrupt


_INTERRUPTS = Interrupts()
"""The deferral of this process's main thread (signals reach only that thread)."""


@contextmanager
def deferred_interrupts() -> Iterator[Interrupts]:
    """Note Ctrl-C instead of raising it at once; raise it at :meth:`Interrupts.check` or on leaving.

    Inside, SIGINT only counts presses, so :class:`KeyboardInterrupt` cannot
    land inside a process pool's shutdown, a Dask cluster's start, or a result
    being stored; code polls :meth:`Interrupts.check` where stopping is safe.
    Leaving the outermost deferral restores the previous handler and, if Ctrl-C
    was pressed and nothing else is being raised, raises
    :class:`KeyboardInterrupt` then, so a press is never lost. Deferrals nest;
    a third press while deferred raises at once (stopping is stuck).

    Outside the main thread, or when SIGINT is ignored or handled outside
    Python, nothing changes and :meth:`~Interrupts.check` never raises.
    """
    state = _INTERRUPTS
    if threading.current_thread() is not threading.main_thread():
        yield Interrupts()
        return
    if state._depth == 0:
        previous = signal.getsignal(signal.SIGINT)
        if previous in (signal.SIG_IGN, None):  # Ctrl-C is deliberately off, or not Python's
            yield Interrupts()
            return
        state._previous = previous
        state.presses = 0
        signal.signal(signal.SIGINT, state._press)
    state._depth += 1
    clean = False
    try:
        yield state
        clean = True
    finally:
        state._depth -= 1
        if state._depth == 0:
            pressed = state.presses
            if signal.getsignal(signal.SIGINT) == state._press:
                signal.signal(signal.SIGINT, state._previous)
            state.presses = 0
            if pressed and clean:
                raise KeyboardInterrupt


def unguarded_main_script() -> str | None:
    """Return the main script if this call runs in its top-level code outside ``if __name__ == "__main__":``.

    Worker processes started by spawn or forkserver (local pools and local Dask
    clusters) first run the main script again, as ``__mp_main__``, to find its
    functions. Top-level code that starts workers would then start them again
    in each worker, which :mod:`multiprocessing` refuses, breaking the pool. The
    rules are those :mod:`multiprocessing.spawn` follows to re-run the main
    module; a script whose source cannot be read counts as guarded.

    Returns
    -------
    str or None
        The script's path (or module name), or ``None`` when workers are safe:
        an interactive session or notebook, ``python -c``, a package's
        ``__main__``, or a call from inside the guard or a function it calls.
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(multiprocessing.current_process(), "_inheriting", False):
        return None
    name = getattr(getattr(main, "__spec__", None), "name", None)
    path = getattr(main, "__file__", None)
    if name is not None and (name == "__main__" or name.endswith(".__main__")):
        return None
    if not isinstance(path, str) or (name is None and Path(path).stem == "ipython"):
        return None
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None:  # not called from the main module's top-level code (a thread, an atexit hook)
        return None
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    line = frame.f_lineno
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and _is_main_test(node.test)
            and node.lineno <= line <= (node.end_lineno or node.lineno)
        ):
            return None
    return name or path


def _is_main_test(test: ast.expr) -> bool:
    """Whether ``test`` is ``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    has_name = any(isinstance(side, ast.Name) and side.id == "__name__" for side in sides)
    has_main = any(isinstance(side, ast.Constant) and side.value == "__main__" for side in sides)
    return has_name and has_main


_warned_unguarded = False


def _workers_allowed(workers: int) -> bool:
    """Whether worker processes may start from here; warn once per process when they may not."""
    global _warned_unguarded
    if workers <= 1:
        return True
    script = unguarded_main_script()
    if script is None:
        return True
    if not _warned_unguarded:
        _warned_unguarded = True
        warnings.warn(
            f"{script} starts peersim's worker processes from its top-level code, which every worker "
            "would run again, so the work runs in this process instead (same numbers); for "
            f'{workers} parallel workers, put that code under `if __name__ == "__main__":`',
            RuntimeWarning,
            stacklevel=_outside_stacklevel(),  # name the caller's line
        )
    return False


def _outside_stacklevel() -> int:
    """Return the ``stacklevel`` of the first caller outside peersim and :mod:`contextlib`.

    For a warning; ``skip_file_prefixes`` stops at the ``contextlib`` frames of
    :func:`executor_for`.
    """
    level = 2  # 1: the function calling warnings.warn; 2: its caller
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and (
        frame.f_code.co_filename.startswith(PACKAGE) or frame.f_code.co_filename == contextlib.__file__
    ):
        level, frame = level + 1, frame.f_back
    return level


class Executor(ABC):
    """Runs a function over tasks and yields ``(index, result or TaskFailure)``.

    Use as a context manager so workers are shut down; leaving on an exception
    (Ctrl-C included) stops them at once.
    """

    workers: int

    @abstractmethod
    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, outcome)`` for every task as it completes.

        ``fn`` must be a module-level function (it is pickled to workers).
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers."""

    def terminate(self) -> None:
        """Stop at once: drop tasks in flight and release workers (by default, :meth:`close`)."""
        self.close()

    def _tracked(self, generator: Generator[tuple[int, Any], None, None]) -> Iterator[tuple[int, Any]]:
        """Note a map being handed out, so that :meth:`_end_maps` can end it."""
        maps: weakref.WeakSet[Generator[tuple[int, Any], None, None]]
        maps = self.__dict__.setdefault("_maps", weakref.WeakSet())
        maps.add(generator)
        return generator

    def _end_maps(self) -> None:
        """Close maps a caller left unfinished, so that their deferral of Ctrl-C ends with them."""
        maps = self.__dict__.get("_maps", ())
        for generator in list(maps):
            if inspect.getgeneratorstate(generator) == inspect.GEN_SUSPENDED:
                generator.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.terminate()


def _mp_context() -> multiprocessing.context.BaseContext:
    """Forkserver on Linux (safe with threads and under Jupyter), spawn elsewhere.

    Workers never inherit the caller's state: tasks must be module-level
    functions and picklable data, which is what makes results independent of
    the back end.
    """
    if sys.platform.startswith("linux"):
        warm_up()
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def warm_up() -> None:
    """Start the forkserver that local pools fork their workers from, preloading :data:`WORKER_PRELOAD`.

    It imports the model in its own process while this one carries on, so a
    command that may need a pool calls this as it begins. The preload takes
    effect only if this process has not started a forkserver yet; elsewhere than
    on Linux (no forkserver) nothing is done.

    The forkserver starts with SIGINT ignored, which it keeps and hands on to
    every worker it forks: Ctrl-C in a terminal reaches the whole process
    group, and a forkserver still importing the model, or a worker not yet
    initialised, would otherwise print a ``KeyboardInterrupt`` traceback. A
    Ctrl-C meanwhile reaches this process as soon as the forkserver is started.
    """
    if not sys.platform.startswith("linux"):
        return
    forkserver.set_forkserver_preload(list(WORKER_PRELOAD))
    resource_tracker.ensure_running()  # first: its own start unblocks SIGINT when done
    with _sigint_held_back():
        forkserver.ensure_running()
    global _stop_registered
    if not _stop_registered:
        _stop_registered = True
        atexit.register(_stop_forkserver)


_stop_registered = False


def _stop_forkserver() -> None:
    """Stop the forkserver this process started, as this process exits (registered by :func:`warm_up`).

    It would stop by itself once this process is gone, but only after its
    preload: a command interrupted early would leave it importing the model
    for a few seconds with no parent. Its workers are gone by then (executors
    shut their pools down). ``multiprocessing`` offers no public way to do this,
    hence ``_forkserver_pid``.
    """
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if not isinstance(pid, int):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
            time.sleep(0.01)
    except (ChildProcessError, ProcessLookupError, PermissionError):
        pass


def local_workers(jobs: int | None, work_seconds: float | None = None) -> int:
    """Worker processes for a local pool: ``jobs`` if given, else every core when the work pays for it.

    Parameters
    ----------
    jobs
        Asked for explicitly (at least 1), or ``None`` to choose.
    work_seconds
        Estimated serial work; below :data:`POOL_PAYS_AFTER_SECONDS` the work
        runs in this process (1 worker). ``None``: unknown, so every core.
    """
    if jobs is not None:
        return jobs
    if work_seconds is not None and work_seconds < POOL_PAYS_AFTER_SECONDS:
        return 1
    return os.cpu_count() or 1


def _ignore_sigint() -> None:
    """Let Ctrl-C reach only the parent, which stops the pool and keeps what finished.

    A terminal sends SIGINT to every process of the foreground group; a worker
    that took it while waiting for a task would print a traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _outcome(future: Future[tuple[int, Any]], index: int) -> tuple[int, Any]:
    """Return a finished future's ``(index, outcome)``; a broken worker becomes a failure.

    ``_call`` already turns exceptions of the task into :class:`TaskFailure`;
    what reaches here is the pool itself failing (a worker killed by the
    operating system, a result that cannot be pickled).
    """
    try:
        return future.result()
    except Exception as error:
        return index, TaskFailure(index, f"{type(error).__name__}: {error}", "")


class LocalExecutor(Executor):
    """A pool of local worker processes; ``jobs=1`` runs in this process.

    Parameters
    ----------
    jobs
        Worker processes; defaults to the number of CPU cores. With more than
        one, the forkserver that will fork them starts at once (see
        :data:`WORKER_PRELOAD`). Called from the top-level code of a script
        without an ``if __name__ == "__main__":`` guard, where workers cannot
        start (see :func:`unguarded_main_script`), the work runs in this
        process instead, with one warning.
    max_in_flight
        Tasks submitted ahead of completion, per worker; bounds memory for very
        long task lists.

    Notes
    -----
    On Ctrl-C the workers are stopped at once (SIGTERM): the batches they
    were running are lost, and nothing they did reaches the caller, so
    nothing is half-written. Results already handed out stay handed out.
    """

    def __init__(self, jobs: int | None = None, max_in_flight: int = 4) -> None:
        self.workers = jobs if jobs is not None else (os.cpu_count() or 1)
        if self.workers < 1:
            raise PeersimInputError(f"`jobs` must be at least 1, got {self.workers}")
        if not _workers_allowed(self.workers):
            self.workers = 1
        self._ahead = max(1, max_in_flight) * self.workers
        self._pool: ProcessPoolExecutor | None = None
        self._context = _mp_context() if self.workers > 1 else None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=self._context, initializer=_ignore_sigint
            )
        return self._pool

    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, outcome)`` as tasks complete, keeping few tasks in flight.

        With one worker, or a single task, tasks run in this process (no pool
        is started), and Ctrl-C stops the task running. With a pool, Ctrl-C is
        deferred while results are waited for and stored (see
        :func:`deferred_interrupts`): within :data:`POLL_SECONDS` the workers
        are stopped and :class:`KeyboardInterrupt` is raised here.
        """
        if self.workers == 1 or len(tasks) <= 1:
            return self._tracked(self._serial(fn, tasks))
        return self._tracked(self._pooled(fn, tasks))

    def _serial(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any]
    ) -> Generator[tuple[int, Any], None, None]:
        for index, task in enumerate(tasks):
            outcome = _call(fn, index, task)  # Ctrl-C stops the task itself: no process to stop
            with deferred_interrupts():  # but not the caller storing its result
                yield outcome

    def _pooled(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any]
    ) -> Generator[tuple[int, Any], None, None]:
        pending: dict[Future[tuple[int, Any]], int] = {}
        with deferred_interrupts() as interrupts:
            try:
                if self._pool is None:
                    _wait_for_forkserver(interrupts)
                pool = self._get_pool()
                for index, task in enumerate(tasks):
                    interrupts.check()
                    pending[pool.submit(_call, fn, index, task)] = index
                    while len(pending) >= self._ahead:
                        for future in _first_done(pending, interrupts):
                            yield _outcome(future, pending.pop(future))
                while pending:
                    for future in _first_done(pending, interrupts):
                        yield _outcome(future, pending.pop(future))
            except KeyboardInterrupt:
                self.terminate()
                raise
            finally:
                for future in pending:
                    future.cancel()

    def close(self) -> None:
        """Shut the pool down after the tasks running, cancelling those not yet started."""
        with deferred_interrupts():  # a Ctrl-C now is raised once the pool is down
            self._end_maps()
            if self._pool is not None:
                pool, self._pool = self._pool, None
                pool.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        """Stop the workers at once (the tasks they run are lost) and shut the pool down."""
        with deferred_interrupts():
            self._end_maps()
            if self._pool is not None:
                pool, self._pool = self._pool, None
                _stop_pool(pool)


def _wait_for_forkserver(interrupts: Interrupts, timeout: float = 300.0) -> None:
    """Wait until this process's forkserver has imported its preload, looking for Ctrl-C meanwhile.

    A pool's first task blocks this process until the forkserver forks its
    first worker, which it does only once its preload is imported (seconds on
    a busy machine); waiting here instead keeps Ctrl-C prompt. The forkserver
    catches SIGCHLD once it serves, which Linux shows in ``/proc``; elsewhere,
    or without a forkserver, this returns at once.
    """
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if not isinstance(pid, int):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        interrupts.check()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            caught = int(status.split("SigCgt:", 1)[1].split()[0], 16)
        except (OSError, IndexError, ValueError):
            return  # gone, or no procfs: the pool finds out for itself
        if caught & (1 << (signal.SIGCHLD - 1)) or "\nState:\tZ" in status:
            return
        time.sleep(POLL_SECONDS / 2)


def _first_done(pending: dict[Future[tuple[int, Any]], int], interrupts: Interrupts) -> set[Future[Any]]:
    """Wait until some pending task is done, looking for Ctrl-C every :data:`POLL_SECONDS`."""
    while True:
        interrupts.check()
        done, _ = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        if done:
            return done


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Terminate a pool's workers and wait for the pool to wind down (a few hundredths of a second).

    The pool's manager thread sees its workers gone, fails what was in flight
    and joins them; the forkserver goes when this process exits.
    ``concurrent.futures`` before Python 3.14 has no public way to stop
    workers, hence ``_processes``.
    """
    workers = list((getattr(pool, "_processes", None) or {}).values())
    for worker in workers:
        with contextlib.suppress(OSError, ValueError, AttributeError):  # already gone, or never started
            worker.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
    for worker in workers:
        try:
            worker.join(STOP_SECONDS)
            if worker.exitcode is None:
                worker.kill()
                worker.join(STOP_SECONDS)
        except (OSError, ValueError, AssertionError, AttributeError):
            pass


class DaskExecutor(Executor):
    """Tasks on a Dask distributed cluster.

    Parameters
    ----------
    scheduler
        Address such as ``tcp://127.0.0.1:8786``. Without one, a
        :class:`distributed.LocalCluster` is started on localhost with ``workers``
        single-threaded worker processes, and closed again by :meth:`close`.
    workers
        Workers of the local cluster (default: CPU cores). Ignored with a scheduler.
    max_in_flight
        Tasks submitted ahead of completion, per worker.

    Raises
    ------
    PeersimInputError
        For fewer than one worker, a scheduler that cannot be reached or runs
        other model code, or a local cluster asked for from the top-level code
        of a script without an ``if __name__ == "__main__":`` guard (its worker
        processes would run the script again).
    KeyboardInterrupt
        For Ctrl-C while the local cluster starts, once it is closed again.

    Notes
    -----
    Dask reruns the tasks of a worker that dies on another worker, so an
    ensemble survives losing workers; results are keyed by task index, so the
    numbers are those of an undisturbed run.

    The local cluster's workers are forked by the same forkserver as local
    pools (:func:`warm_up`), so they ignore Ctrl-C from birth, restarted ones
    included; Ctrl-C is this process's to handle, which cancels the tasks and
    closes the cluster.
    """

    def __init__(
        self, scheduler: str | None = None, workers: int | None = None, max_in_flight: int = 4
    ) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as error:  # pragma: no cover - dask is a declared dependency
            raise PeersimInputError(
                f"`executor=\"dask\"` needs the 'distributed' package ({error}); "
                "install it with: pip install 'dask[distributed]'"
            ) from None

        self._cluster: Any = None
        self._config: Any = None
        if workers is not None and workers < 1:
            raise PeersimInputError(f"`jobs` must be at least 1, got {workers}")
        if scheduler is None:
            script = unguarded_main_script()
            if script is not None:
                raise PeersimInputError(
                    f"{script}: put the code that starts a local Dask cluster under "
                    '`if __name__ == "__main__":`, since each of its worker processes runs the script again'
                )
            n = workers if workers is not None else (os.cpu_count() or 1)
            with deferred_interrupts() as interrupts:  # a half-started cluster cannot be left behind
                self._config = _local_cluster_config(dask)
                try:
                    _wait_for_forkserver(interrupts)  # the workers fork from it: Ctrl-C still prompt
                    self._cluster = LocalCluster(
                        n_workers=n,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address="127.0.0.1:0",  # any free port: never clashes with another cluster
                        silence_logs=40,
                    )
                    self.client = Client(self._cluster)
                    interrupts.check()
                except BaseException:
                    if getattr(self, "client", None) is not None:
                        self.client.close()
                    self._close_cluster()
                    raise
        else:
            try:
                self.client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError, TypeError) as error:
                raise PeersimInputError(
                    f"`scheduler` {scheduler}: cannot connect to a Dask scheduler there ({error})"
                ) from None
            try:
                check_worker_code(self.client.run(code_identity, on_error="return"), scheduler)
            except PeersimInputError:
                self.client.close()
                raise
        self.workers = max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))
        self._ahead = max(1, max_in_flight) * self.workers

    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, outcome)`` as tasks complete, keeping few tasks in flight.

        A task whose worker dies is rerun by Dask on another worker; only if it
        keeps killing workers (``distributed.scheduler.allowed-failures``) does
        it come back as a :class:`TaskFailure`. Ctrl-C is deferred as for the
        local pool: the tasks left are cancelled and :class:`KeyboardInterrupt`
        is raised here within :data:`POLL_SECONDS`.
        """
        return self._tracked(self._mapped(fn, tasks))

    def _mapped(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any]
    ) -> Generator[tuple[int, Any], None, None]:
        from distributed import as_completed

        queue = iter(enumerate(tasks))
        indices: dict[Any, int] = {}

        def submit(index: int, task: Any) -> Any:
            future = self.client.submit(_call, fn, index, task, pure=False)
            indices[future.key] = index
            return future

        with deferred_interrupts() as interrupts:
            completed = as_completed([submit(index, task) for index, task in _take(queue, self._ahead)])
            try:
                while not completed.is_empty():
                    interrupts.check()
                    if not completed.has_ready():
                        time.sleep(POLL_SECONDS / 4)
                        continue
                    for future in completed.next_batch(block=False):
                        index = indices.pop(future.key)
                        try:
                            outcome = future.result()
                        except Exception as error:  # e.g. KilledWorker after repeated worker deaths
                            outcome = index, TaskFailure(index, f"{type(error).__name__}: {error}", "")
                        future.release()
                        for next_index, task in _take(queue, 1):
                            completed.add(submit(next_index, task))
                        yield outcome
            finally:
                left = list(completed.futures)
                if left and self.client.status == "running":
                    self.client.cancel(left)

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this executor started it."""
        with deferred_interrupts():  # a Ctrl-C now is raised once the cluster is closed
            self._end_maps()
            self.client.close()
            self._close_cluster()

    def _close_cluster(self) -> None:
        try:
            if self._cluster is not None:
                cluster, self._cluster = self._cluster, None
                cluster.close()
        finally:
            if self._config is not None:
                config, self._config = self._config, None
                config.__exit__(None, None, None)


def _local_cluster_config(dask: Any) -> Any:
    """Set Dask's worker start method to this process's forkserver for a local cluster's life.

    Returns the ``dask.config.set`` object, whose ``__exit__`` restores the
    setting. The forkserver ignores SIGINT (:func:`warm_up`) and so do the
    processes it forks; Dask's default, spawn, would start workers with
    Python's Ctrl-C handler, and each would print a traceback on Ctrl-C.
    """
    if not sys.platform.startswith("linux"):
        return None
    warm_up()
    return dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})


def check_worker_code(identities: dict[str, Any], scheduler: str) -> None:
    """Refuse a cluster whose workers lack peersim or run other model code than this machine.

    Replicate ``i`` gives the same numbers everywhere only on the same model code
    (same version and, for development checkouts, the same source), and a worker
    without peersim fails every task it gets.

    Parameters
    ----------
    identities
        ``Client.run(code_identity, on_error="return")``: worker address to
        ``(version, model source digest)``, or to the exception raised there.
    scheduler
        Scheduler address, for the message.

    Raises
    ------
    PeersimInputError
        Naming the first workers that differ, with what they run.
    """
    local = code_identity()

    def describe(found: Any) -> str:
        if not isinstance(found, tuple | list) or len(found) != 2:
            return "peersim not importable"
        if found[0] != local[0]:
            return f"peersim {found[0]}"
        return f"model source {found[1]}"

    wrong = {
        address: describe(found)
        for address, found in sorted(identities.items())
        if not isinstance(found, tuple | list) or tuple(found) != local
    }
    if wrong:
        listed = ", ".join(f"{address} ({found})" for address, found in list(wrong.items())[:3])
        more = f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""
        raise PeersimInputError(
            f"`scheduler` {scheduler}: {len(wrong)} of {len(identities)} worker(s) do not run the model "
            f"code this machine runs (peersim {local[0]}, model source {local[1]}): {listed}{more}. "
            "Install the same peersim commit in every worker's environment and restart the workers"
        )


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C for a moment (presses meanwhile are dropped), in the main thread only.

    For work that a second Ctrl-C must not cut short, such as counting what
    an interrupted run kept. Outside the main thread signals cannot be
    changed, and nothing is done.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _sigint_held_back() -> Iterator[None]:
    """Start processes that ignore SIGINT, without losing a Ctrl-C pressed meanwhile.

    An ignored signal stays ignored across exec, so a process started inside
    is born ignoring Ctrl-C (which a terminal sends to the whole process
    group). SIGINT is also blocked here, so a press meanwhile is not dropped
    but held pending, and taken by the previous handler on leaving. (Other
    threads of this process could still take and drop it: start processes
    before starting threads, as :func:`warm_up` is meant to be called.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a press held back is taken now


def _take(queue: Iterator[tuple[int, Any]], n: int) -> list[tuple[int, Any]]:
    out = []
    for item in queue:
        out.append(item)
        if len(out) >= n:
            break
    return out


def make_executor(
    kind: ExecutorKind = "local",
    jobs: int | None = None,
    scheduler: str | None = None,
    work_seconds: float | None = None,
) -> Executor:
    """Return the executor a user asked for.

    Parameters
    ----------
    kind
        ``"local"`` (process pool, the default) or ``"dask"``.
    jobs
        Local worker processes, or workers of a locally started Dask cluster.
    scheduler
        Dask scheduler address; with ``kind="dask"`` and no address a
        ``LocalCluster`` is started on localhost.
    work_seconds
        Estimated serial work of what will run on it: without ``jobs``, a local
        pool is started only when it pays (see :func:`local_workers`).

    Raises
    ------
    PeersimInputError
        For an impossible combination (a scheduler with the local pool, fewer
        than one job) or a scheduler that cannot be reached.
    """
    where = Backend(kind, jobs, scheduler)  # checks the combination
    if where.kind == "dask":
        if scheduler is None and not _workers_allowed(jobs if jobs is not None else (os.cpu_count() or 1)):
            return LocalExecutor(1)  # a local cluster's workers would run the caller's script again
        return DaskExecutor(scheduler=scheduler, workers=jobs)
    return LocalExecutor(local_workers(jobs, work_seconds))


@dataclass(frozen=True)
class Backend:
    """Where an experiment runs, before anything is started: a local pool or a Dask cluster.

    Attributes
    ----------
    kind
        ``"local"`` (process pool, the default) or ``"dask"``.
    jobs
        Local worker processes, or workers of a locally started Dask cluster
        (at least 1); ``None`` lets :meth:`start` choose from the work.
    scheduler
        Dask scheduler address (with ``kind="dask"`` only).

    Raises
    ------
    PeersimInputError
        For an unknown kind, a scheduler without Dask, or fewer than one job.
    """

    kind: ExecutorKind = "local"
    jobs: int | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("local", "dask"):
            raise PeersimInputError(f"`executor` {self.kind!r} is unknown; use 'local' or 'dask'")
        if self.scheduler is not None and self.kind != "dask":
            raise PeersimInputError('`scheduler` needs `executor="dask"`')
        if self.jobs is not None and self.jobs < 1:
            raise PeersimInputError(f"`jobs` must be at least 1, got {self.jobs}")

    def start(self, work_seconds: float | None = None) -> Executor:
        """Start the executor for ``work_seconds`` of serial work (see :func:`make_executor`)."""
        return make_executor(self.kind, self.jobs, self.scheduler, work_seconds)


@contextmanager
def executor_for(where: Executor | Backend | None, work_seconds: float | None = None) -> Iterator[Executor]:
    """Yield ``where`` if it is a running executor, else start one (closed again on exit)."""
    if isinstance(where, Executor):
        yield where
        return
    with (where if where is not None else Backend()).start(work_seconds) as started:
        yield started
