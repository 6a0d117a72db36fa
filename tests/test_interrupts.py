"""Ctrl-C: real SIGINTs to the executors and to ``peersim run`` and ``peersim compare``.

Each interrupted command must end within seconds with exit 130 (or 0 if it
finished first), say what it kept and how to resume, print no traceback, leave
no process behind (forkserver, pool workers, Dask nannies and workers), and
resume to the store an uninterrupted run writes. A second Ctrl-C while it
stops changes none of that. Moments are random but seeded (numpy), so a
failure can be replayed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing import forkserver
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import InterruptedRun, interrupt_peersim
from peersim.core.overrides import load_source
from peersim.ensemble.batches import batch_size
from peersim.ensemble.runstore import RunStore
from peersim.ensemble.workflow import compare
from peersim.executor import DaskExecutor, Interrupts, LocalExecutor, deferred_interrupts

ROOT = Path(__file__).resolve().parents[1]
SEED = 0
BASE = "scenarios/archetype_low.toml"
WHATIF = "scenarios/whatif_low_more_supervision.toml"
LABELS = ("base", "whatif_low_more_supervision")
"""The run stores ``peersim compare BASE WHATIF --out DIR`` writes in ``DIR``."""
TABLES = ("metrics", "outcomes", "staff", "timeseries", "patients")
KEYS = ("replicate", "site", "metric", "week", "patient", "person", "worker", "role")
"""Columns that order a table's rows (those a table has)."""

EXIT_SECONDS = 15.0
"""Most seconds from the first Ctrl-C to the command's exit that a test accepts.

Seen 0.1-1.3 s on the local pool and 0.2-2.9 s on Dask, over some 90 tries with
the 2 cores shared by 3 to 10 other busy processes (the load these tests met while
written). Before the fix, 7 of 12 tries with a second Ctrl-C never exited.
"""


@pytest.fixture(autouse=True)
def ctrl_c_works() -> Iterator[None]:
    """Python's own Ctrl-C handler in this process, even when run as a background job (SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def seeded(*key: int) -> np.random.Generator:
    """A numpy generator for the random moments of one test (same moments on every run)."""
    return np.random.default_rng([20241215, *key])


def parts(store: Path) -> int:
    """Batches committed to a run store's metrics table so far."""
    return len(list((store / "metrics").glob("part-*.parquet"))) if (store / "metrics").is_dir() else 0


def assert_stopped_cleanly(result: InterruptedRun, replicates: int, out: Path) -> int:
    """Check an interrupted command's exit; return the replicates it says it kept (all, if it finished)."""
    detail = f"exit {result.returncode} after {result.seconds:.1f} s; stderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, detail
    assert "Error" not in result.stderr, detail
    assert result.orphans == [], detail
    assert result.presses == 0 or result.seconds < EXIT_SECONDS, detail
    finished = result.returncode == 0 or (result.returncode == -signal.SIGINT and result.stdout != "")
    if finished:  # before the first Ctrl-C landed (or that landed as Python exited, results printed)
        return replicates
    assert result.returncode == 130, detail
    said = re.findall(rf"interrupted; (\d+) of {replicates} replicate\(s\) kept", result.stderr)
    assert len(said) == 1, detail  # one message, however many presses
    assert f"--out {out}" in result.stderr, detail
    assert "resume" in result.stderr, detail
    return int(said[0])


def assert_same_store(got: Path, expected: Path) -> None:
    """Two run stores hold the same rows in every table, bit for bit (whatever the batching)."""
    mine, reference = RunStore.open(got), RunStore.open(expected)
    assert mine.completed() == reference.completed()
    for table in TABLES:
        ours, theirs = mine.read(table), reference.read(table)
        keys = [column for column in ours.columns if column in KEYS]
        pd.testing.assert_frame_equal(
            ours.sort_values(keys, kind="stable").reset_index(drop=True),
            theirs.sort_values(keys, kind="stable").reset_index(drop=True),
            check_exact=True,
        )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """``reference(replicates)``: an uninterrupted comparison, written in this process on one worker.

    Its ``base`` store is also what ``peersim run BASE`` writes (same seed, same replicates).
    """
    made: dict[int, Path] = {}

    def make(replicates: int) -> Path:
        if replicates not in made:
            out = tmp_path_factory.mktemp(f"reference-{replicates}")
            with contextlib.chdir(ROOT), LocalExecutor(1) as one:
                base, whatif = load_source(Path(BASE)), load_source(Path(WHATIF))
                compare(base, [whatif], SEED, replicates, None, out, executor=one)
            made[replicates] = out
        return made[replicates]

    return make


# --- the executors, in this process ---------------------------------------------------------------


def forkserver_children() -> set[int]:
    """Live processes the forkserver forked (the local pools' workers)."""
    server = getattr(forkserver._forkserver, "_forkserver_pid", None)
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == server and fields[0] != "Z":
                    found.add(int(entry))
    return found


@contextlib.contextmanager
def presses_later(seconds: float, presses: int = 1, gap: float = 0.05) -> Iterator[None]:
    """Send this process SIGINT ``presses`` times, starting ``seconds`` from now (as a terminal would)."""

    def press() -> None:
        time.sleep(seconds)
        for n in range(presses):
            if n:
                time.sleep(gap)
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_the_local_pool_at_once_and_leaves_no_worker(presses: int) -> None:
    before = forkserver_children()
    handler = signal.getsignal(signal.SIGINT)
    with LocalExecutor(2) as pool:
        results = pool.imap_unordered(time.sleep, [0.4] * 40)
        next(results)  # the workers are running
        workers = forkserver_children() - before
        assert len(workers) == 2
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt), presses_later(0.0, presses):
            for _ in results:
                pass
        stopped = time.monotonic() - started
    # Seen 0.1-0.3 s (a poll of 0.1 s, then the workers terminated); a batch takes 0.4 s here.
    assert stopped < 3.0
    assert workers & forkserver_children() == set()
    assert signal.getsignal(signal.SIGINT) is handler


def test_ctrl_c_while_the_pool_shuts_down_waits_for_it_then_interrupts() -> None:
    before = forkserver_children()
    pool = LocalExecutor(2)
    for _ in pool.imap_unordered(time.sleep, [0.5] * 4):
        break  # left unfinished: the pool's shutdown waits for the tasks running
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), presses_later(0.05, presses=2):
        pool.close()  # the presses land inside the pool's shutdown
    # The two tasks already queued to the workers ran first: seen 0.5-0.6 s, so the presses (at
    # 0.05 and 0.1 s) came during the shutdown, which they did not cut short.
    assert time.monotonic() - started > 0.3
    assert forkserver_children() - before == set()
    assert pool._pool is None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # as before


def press_inside(nested: bool, seen: list[str]) -> None:
    """Press Ctrl-C inside a deferral (nested in another if asked), noting in ``seen`` what happened."""
    with deferred_interrupts() as outer:
        with deferred_interrupts() if nested else contextlib.nullcontext(outer) as inner:
            assert inner is outer
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # nothing raised here: the press is only counted
            seen.append(f"{outer.presses} counted")
        try:  # a nested deferral left it to the outer one
            outer.check()
        except KeyboardInterrupt:
            seen.append("raised at the check")
        seen.append("leaving")  # and raised again on leaving, so it is not lost


def test_deferred_ctrl_c_is_raised_at_a_check_or_on_leaving() -> None:
    for nested in (False, True):
        seen: list[str] = []
        with pytest.raises(KeyboardInterrupt):
            press_inside(nested, seen)
        assert seen == ["1 counted", "raised at the check", "leaving"]
    with deferred_interrupts() as quiet:
        quiet.check()  # no press: nothing raised
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # as before


def test_outside_the_main_thread_nothing_is_deferred() -> None:
    seen: list[Interrupts] = []

    def other() -> None:
        with deferred_interrupts() as interrupts:
            seen.append(interrupts)
            interrupts.check()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert len(seen) == 1
    assert seen[0].presses == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # as before


def test_the_forkserver_and_its_workers_ignore_sigint() -> None:
    with LocalExecutor(2) as pool:
        for _ in pool.imap_unordered(time.sleep, [0.05] * 4):
            pass
        server = getattr(forkserver._forkserver, "_forkserver_pid", None)
        assert isinstance(server, int)
        for pid in {server, *forkserver_children()}:
            status = Path(f"/proc/{pid}/status").read_text()
            ignored = int(status.split("SigIgn:", 1)[1].split()[0], 16)
            assert ignored & (1 << (signal.SIGINT - 1)), f"process {pid} would take Ctrl-C"
    assert multiprocessing.current_process().name == "MainProcess"


# --- the commands ----------------------------------------------------------------------------------

REPLICATES = 16
"""Replicates per scenario: 4 batches per store on 2 workers, so Ctrl-C after the first lands mid-way."""


def command(kind: str, out: Path, *extra: str) -> list[str]:
    """A ``peersim run`` (of the base) or ``peersim compare`` on two local workers, into ``out``."""
    scenarios = [BASE] if kind == "run" else [BASE, WHATIF]
    # Without posterior draws a run takes a third of the time; Ctrl-C does not care.
    options = ["-n", str(REPLICATES), "-s", str(SEED), "--no-posterior", "--jobs", "2", "--out", str(out)]
    return [kind, *scenarios, *options, *extra]


def test_ctrl_c_twice_in_compare_keeps_pairs_and_resumes_to_the_uninterrupted_store(
    tmp_path: Path, reference: Callable[[int], Path]
) -> None:
    rng = seeded(1)
    out = tmp_path / "cmp"
    result = interrupt_peersim(
        command("compare", out),
        ROOT,
        ready=lambda: parts(out / "base") > 0,
        delay=float(rng.uniform(0.0, 0.3)),
        presses=2,
        gap=float(rng.uniform(0.05, 0.5)),
    )
    kept = assert_stopped_cleanly(result, REPLICATES, out)
    held = [len(RunStore.open(out / label).completed()) for label in LABELS]
    assert kept == min(held)
    # Interleaved batches keep pairs, not one side far ahead. The tasks start in the order base,
    # what-if, base, ..., so the base has started at most one batch more than the what-if, and at
    # most 2 what-if batches (one a worker) are unfinished: the base is ahead by at most 3 batches
    # (seen: 0 and 4 in earlier runs, 8 under a heavier load; the bound of 5 once used was a margin
    # seen, not a guarantee).
    batch = batch_size(len(LABELS) * REPLICATES, 2)
    assert max(held) - min(held) <= 3 * batch, (held, batch)
    again = interrupt_peersim(command("compare", out), ROOT, presses=0, timeout=240)
    assert again.returncode == 0, again.stderr
    expected = reference(REPLICATES)
    for label in LABELS:
        assert_same_store(out / label, expected / label)
    assert (out / "compare.csv").read_bytes() == (expected / "compare.csv").read_bytes()


def test_ctrl_c_in_run_keeps_what_finished(tmp_path: Path) -> None:
    rng = seeded(2)
    out = tmp_path / "run"
    result = interrupt_peersim(
        command("run", out), ROOT, ready=lambda: parts(out) > 0, delay=float(rng.uniform(0.0, 0.3))
    )
    kept = assert_stopped_cleanly(result, REPLICATES, out)
    assert kept == len(RunStore.open(out).completed())
    # Resuming it is the same run-store code as for compare's stores (above); the slow test resumes runs too.


def test_ctrl_c_in_compare_on_dask_closes_the_local_cluster(tmp_path: Path) -> None:
    rng = seeded(3)
    out = tmp_path / "dask"
    result = interrupt_peersim(
        command("compare", out, "--executor", "dask"),
        ROOT,
        ready=lambda: parts(out / "base") > 0,
        delay=float(rng.uniform(0.0, 0.3)),
        presses=2,
        gap=float(rng.uniform(0.05, 0.5)),
    )
    assert_stopped_cleanly(result, REPLICATES, out)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "executor"), [("compare", "local"), ("run", "local"), ("compare", "dask")])
def test_ctrl_c_at_random_moments_never_hangs_and_always_resumes(
    kind: str, executor: str, tmp_path: Path, reference: Callable[[int], Path]
) -> None:
    """Many tries, each from scratch: from start-up (imports, forkserver preload, a cluster) to the end."""
    tries = 12 if executor == "local" else 6
    rng = seeded(4, tries, len(kind))
    seconds = []
    for attempt in range(tries):
        out = tmp_path / f"try-{attempt}"
        result = interrupt_peersim(
            command(kind, out, "--executor", executor),
            ROOT,
            delay=float(rng.uniform(0.2, 12.0)),
            presses=int(rng.integers(1, 3)),
            gap=float(rng.uniform(0.0, 1.0)),
        )
        detail = (
            f"try {attempt}: exit {result.returncode} after {result.seconds:.1f} s; stderr:\n{result.stderr}"
        )
        assert "Traceback" not in result.stderr, detail
        assert result.orphans == [], detail
        assert result.presses == 0 or result.seconds < EXIT_SECONDS, detail
        # -SIGINT: killed by the signal's default action, before Python sets its handler at start-up or
        # after it restores the default at exit (seen once in 12 tries, after the run's table was printed);
        # a shell shows that as exit 130 too.
        assert result.returncode in (0, 130, -signal.SIGINT), detail
        if "interrupted;" in result.stderr:  # else Ctrl-C came before the work began: nothing to keep
            assert_stopped_cleanly(result, REPLICATES, out)
        if result.presses:  # else it had finished
            seconds.append(result.seconds)
    print(
        f"{kind} on {executor}: seconds from Ctrl-C to exit in the {len(seconds)} of {tries} tries "
        f"it landed in: {np.round(seconds, 2)}"
    )
    again = interrupt_peersim(command(kind, out, "--executor", executor), ROOT, presses=0, timeout=300)
    assert again.returncode == 0, again.stderr
    expected = reference(REPLICATES)
    for label in LABELS if kind == "compare" else ("",):
        assert_same_store(out / label, expected / (label or "base"))


def start_a_dask_cluster_after_a_press() -> None:
    with deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)  # noted, as a press during the start would be
        time.sleep(0.01)
        DaskExecutor(workers=2)


def test_ctrl_c_while_a_dask_cluster_starts_is_raised_once_it_is_closed_again() -> None:
    before = {process.pid for process in multiprocessing.active_children()}
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt) as raised:
        start_a_dask_cluster_after_a_press()
    # Raised by the executor once its cluster had started, not by leaving the deferral above.
    assert raised.traceback[-1].name == "check"
    assert any(entry.name == "__init__" for entry in raised.traceback)
    assert {process.pid for process in multiprocessing.active_children()} - before == set()
    assert signal.getsignal(signal.SIGINT) is handler
