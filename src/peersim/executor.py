"""One interface for running many independent tasks: local processes or a Dask cluster.

Every experiment (ensembles, comparisons, sensitivity analysis, calibration,
planning) maps a top-level function over a list of tasks through an
:class:`Executor`. Results come back as ``(index, outcome)`` pairs in completion
order; callers key them by index, so numbers never depend on which back end ran
them, how many workers it had, or in what order tasks finished.

A task that raises does not stop the others: its outcome is a
:class:`TaskFailure` carrying the error text.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from multiprocessing import forkserver
from types import TracebackType
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


class Executor(ABC):
    """Runs a function over tasks and yields ``(index, result or TaskFailure)``.

    Use as a context manager so workers are shut down.
    """

    workers: int

    @abstractmethod
    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, outcome)`` for every task as it completes.

        ``fn`` must be a module-level function (it is pickled to workers).
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


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
    """
    if not sys.platform.startswith("linux"):
        return
    forkserver.set_forkserver_preload(list(WORKER_PRELOAD))
    forkserver.ensure_running()


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
        :data:`WORKER_PRELOAD`).
    max_in_flight
        Tasks submitted ahead of completion, per worker; bounds memory for very
        long task lists.
    """

    def __init__(self, jobs: int | None = None, max_in_flight: int = 4) -> None:
        self.workers = jobs if jobs is not None else (os.cpu_count() or 1)
        if self.workers < 1:
            raise PeersimInputError(f"`jobs` must be at least 1, got {self.workers}")
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
        is started).
        """
        if self.workers == 1 or len(tasks) <= 1:
            for index, task in enumerate(tasks):
                yield _call(fn, index, task)
            return
        pool = self._get_pool()
        pending: dict[Future[tuple[int, Any]], int] = {}
        queue = iter(enumerate(tasks))
        try:
            for index, task in queue:
                pending[pool.submit(_call, fn, index, task)] = index
                if len(pending) >= self._ahead:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield _outcome(future, pending.pop(future))
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield _outcome(future, pending.pop(future))
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Shut the pool down, cancelling tasks not yet started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


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

    Notes
    -----
    Dask reruns the tasks of a worker that dies on another worker, so an
    ensemble survives losing workers; results are keyed by task index, so the
    numbers are those of an undisturbed run.
    """

    def __init__(
        self, scheduler: str | None = None, workers: int | None = None, max_in_flight: int = 4
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as error:  # pragma: no cover - dask is a declared dependency
            raise PeersimInputError(
                f"`executor=\"dask\"` needs the 'distributed' package ({error}); "
                "install it with: pip install 'dask[distributed]'"
            ) from None

        self._cluster: Any = None
        if workers is not None and workers < 1:
            raise PeersimInputError(f"`jobs` must be at least 1, got {workers}")
        if scheduler is None:
            n = workers if workers is not None else (os.cpu_count() or 1)
            with _sigint_ignored():  # workers inherit it: Ctrl-C is the parent's to handle
                self._cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",  # any free port: never clashes with another cluster
                    silence_logs=40,
                )
            self.client = Client(self._cluster)
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
        it come back as a :class:`TaskFailure`.
        """
        from distributed import as_completed

        queue = iter(enumerate(tasks))
        indices: dict[Any, int] = {}

        def submit(index: int, task: Any) -> Any:
            future = self.client.submit(_call, fn, index, task, pure=False)
            indices[future.key] = index
            return future

        completed = as_completed([submit(index, task) for index, task in _take(queue, self._ahead)])
        try:
            for future in completed:
                index = indices.pop(future.key)
                try:
                    yield future.result()
                except Exception as error:  # e.g. KilledWorker after repeated worker deaths
                    yield index, TaskFailure(index, f"{type(error).__name__}: {error}", "")
                future.release()
                for next_index, task in _take(queue, 1):
                    completed.add(submit(next_index, task))
        finally:
            left = list(completed.futures)
            if left:
                self.client.cancel(left)

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this executor started it."""
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


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
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while starting worker processes, so that they inherit the disposition.

    Ctrl-C in a terminal reaches every process in the foreground group. Dask
    workers that ignore it leave the parent to stop the ensemble cleanly (and
    to close the cluster) instead of each printing a traceback. Outside the
    main thread signals cannot be changed, and nothing is done.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
