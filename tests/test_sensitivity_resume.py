"""``peersim sensitivity`` keeps its work: outputs checked first, resume, Ctrl-C, bounded sizes.

The analyses here are small (the tiny two-site scenario, two factors, Morris
with a few trajectories, one replicate) so each runs in a few seconds on a
loaded 2-core machine. Interruptions are real ``KeyboardInterrupt``s: raised
from the progress callback at a known point in-process, and a real SIGINT to a
real ``peersim sensitivity`` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_TOML, group_gone, run_peersim, start_peersim
from peersim.core.scenario import Scenario
from peersim.errors import Interrupted, OutputsNotWritten, PeersimInputError
from peersim.executor import LocalExecutor, Progress
from peersim.io.checkpoint import CHECKPOINT, MAX_PARTS, Checkpoint
from peersim.io.estimates import Workload, bytes_text, duration_text
from peersim.sensitivity import PeersimTarget, parse_factors, run_sensitivity
from peersim.sensitivity.design import MAX_POINTS, make_design, points_for
from peersim.sensitivity.evaluate import design_points
from peersim.sensitivity.result import sensitivity_files
from peersim.sensitivity.workflow import MAX_RUNS, sensitivity_workload

FACTORS = """\
[[factors]]
name = "supervisor_hours_per_week"
low = 1
high = 12

[[factors]]
name = "caseload_cap"
low = 2
high = 9

[[factors]]
name = "rel_supervision"
"""
"""Two site factors (one integer) and a mechanism: 5 points per Morris trajectory with the dummy."""

SMALL = {"method": "morris", "n": 4, "replicates": 1, "seed": 2, "centre_replicates": 2}
"""20 sample points and 2 centre runs: about a second of simulation."""


@pytest.fixture(scope="module")
def target(tiny_scenario: Scenario) -> PeersimTarget:
    space = parse_factors(FACTORS, tiny_scenario, source="factors.toml")
    return PeersimTarget(tiny_scenario, space, ["engagement_rate", "fidelity_index"])


@pytest.fixture(scope="module")
def uninterrupted(target: PeersimTarget, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """The small analysis run in one go, with its outputs written."""
    out = tmp_path_factory.mktemp("whole") / "sa"
    with LocalExecutor(1) as executor:
        result = run_sensitivity(target.space, target, executor=executor, out=out, **SMALL)  # type: ignore[arg-type]
    return result, out


def stop_after(n: int) -> Progress:
    """A progress display that raises KeyboardInterrupt, as Ctrl-C does, once ``n`` units of work finished."""
    seen = [0]

    @contextmanager
    def progress(_label: str, _total: int) -> Iterator[Callable[[int], None]]:
        def advance(k: int) -> None:
            seen[0] += k
            if seen[0] >= n:
                raise KeyboardInterrupt

        yield advance

    return progress


def _interrupt(target: PeersimTarget, out: Path | None, after: int, **options: object) -> Interrupted:
    arguments = {**SMALL, **options}
    with LocalExecutor(1) as executor, pytest.raises(Interrupted) as caught:
        run_sensitivity(
            target.space,
            target,
            executor=executor,
            out=out,
            progress=stop_after(after),
            **arguments,  # type: ignore[arg-type]
        )
    return caught.value


def _same_tables(one: Path, two: Path) -> None:
    def document(folder: Path) -> object:
        return json.loads((folder / "sensitivity.json").read_text())

    for name in ("indices", "screening", "diagnostics", "samples"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(one / f"{name}.parquet"),
            pd.read_parquet(two / f"{name}.parquet"),
            check_exact=True,
        )
    assert json.loads((one / "sensitivity.json").read_text()) == json.loads(
        (two / "sensitivity.json").read_text()
    )


def test_an_interrupted_analysis_keeps_its_points_and_resumes_to_identical_results(
    target: PeersimTarget, uninterrupted: tuple[object, Path], tmp_path: Path
) -> None:
    out = tmp_path / "sa"
    stopped = _interrupt(target, out, after=5)
    # The 5th point finished (and was kept) before the progress display raised.
    assert (stopped.kept, stopped.total, stopped.unit) == (5, 20, "sample point(s)")
    assert stopped.resume == f"Run again with `out` {out} to resume"
    assert (out / CHECKPOINT / "manifest.json").is_file()
    assert not (out / "indices.csv").exists(), "no final outputs for an interrupted analysis"

    with LocalExecutor(1) as executor:
        resumed = run_sensitivity(target.space, target, executor=executor, out=out, **SMALL)  # type: ignore[arg-type]
    assert resumed.resumed == 5
    whole, whole_out = uninterrupted
    for name in ("indices", "screening", "diagnostics", "samples"):
        pd.testing.assert_frame_equal(getattr(resumed, name), getattr(whole, name), check_exact=True)
    _same_tables(out, whole_out)
    assert {p.name for p in resumed.written} == set(sensitivity_files("morris"))


def test_interrupted_twice_still_resumes_to_identical_results(
    target: PeersimTarget, uninterrupted: tuple[object, Path], tmp_path: Path
) -> None:
    out = tmp_path / "sa"
    assert _interrupt(target, out, after=3).kept == 3
    assert _interrupt(target, out, after=4).kept == 3 + 4
    with LocalExecutor(2) as executor:  # another number of workers: the numbers do not depend on it
        resumed = run_sensitivity(target.space, target, executor=executor, out=out, **SMALL)  # type: ignore[arg-type]
    assert resumed.resumed == 7
    _same_tables(out, uninterrupted[1])


def test_without_out_an_interruption_says_nothing_was_kept_and_how_to_keep_it(target: PeersimTarget) -> None:
    stopped = _interrupt(target, None, after=2)
    assert stopped.kept == 0
    assert stopped.total == 20
    assert "Nothing is kept without `out`" in str(stopped), str(stopped)


def test_a_checkpoint_of_another_analysis_is_refused_unless_forced(
    target: PeersimTarget, tmp_path: Path
) -> None:
    out = tmp_path / "sa"
    _interrupt(target, out, after=3)
    with pytest.raises(PeersimInputError) as refused:
        _interrupt(target, out, after=100, seed=3)
    message = str(refused.value)
    assert f"`out` {out}: checkpoint/ keeps the finished sample points of other work" in message, message
    assert "`seed` 2 there, 3 now" in message, message
    assert "`force=True`" in message
    with pytest.raises(PeersimInputError, match="`replicates` 1 there, 2 now"):
        _interrupt(target, out, after=100, replicates=2)
    # With force the old points are discarded: nothing is resumed from them.
    with LocalExecutor(1) as executor:
        forced = run_sensitivity(
            target.space,
            target,
            executor=executor,
            out=out,
            force=True,
            **{**SMALL, "seed": 3},  # type: ignore[arg-type]
        )
    assert forced.resumed == 0


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_an_unusable_out_is_refused_before_any_simulation(
    target: PeersimTarget, tmp_path: Path, where: str
) -> None:
    (tmp_path / "afile").write_text("a user's file\n")
    out = tmp_path / "afile" / "x" if where == "under_a_file" else Path("/proc/peersim-test/x")
    done: list[int] = []
    with pytest.raises(PeersimInputError, match="`out`") as refused:
        run_sensitivity(target.space, target, on_done=done.append, out=out, **SMALL)  # type: ignore[arg-type]
    assert done == [], "refused only after simulating"
    assert str(out) in str(refused.value)
    assert (tmp_path / "afile").read_text() == "a user's file\n"


def test_outputs_the_disk_refuses_are_kept_elsewhere_and_named(target: PeersimTarget, tmp_path: Path) -> None:
    out = tmp_path / "sa"
    moved = tmp_path / "moved"

    def replace_out_by_a_file(index: int) -> None:
        # Mid-run the output directory becomes a regular file: every later write there fails.
        if not moved.exists():
            out.mkdir(exist_ok=True)
            out.rename(moved)
            out.write_text("not a directory any more\n")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(OutputsNotWritten) as refused:
            run_sensitivity(target.space, target, on_done=replace_out_by_a_file, out=out, **SMALL)  # type: ignore[arg-type]
    kept = refused.value.kept
    assert kept is not None
    assert kept.is_dir()
    assert str(kept) in str(refused.value)
    assert {p.name for p in kept.iterdir()} >= set(sensitivity_files("morris"))
    assert len(pd.read_parquet(kept / "samples.parquet")) == 20
    assert any("can no longer be kept" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_a_design_beyond_the_maximum_is_refused_with_its_time_and_memory(target: PeersimTarget) -> None:
    space = target.space
    # 2**40 base samples: the sampler would need TiB; the refusal comes before any allocation.
    with pytest.raises(PeersimInputError) as refused:
        run_sensitivity(space, target, "sobol", 2**40, replicates=1)
    message = str(refused.value)
    points = points_for("sobol", 2**40, len(space.factors) + 1)
    assert f"`n` {2**40} asks for {points:,} sample points" in message, message
    assert f"more than the {MAX_POINTS:,}" in message
    assert "years on one core" in message, message
    assert "TiB of memory" in message, message
    with pytest.raises(PeersimInputError, match="`replicates` 200000 at 20 sample points") as runs:
        run_sensitivity(space, target, "morris", 4, replicates=200_000)
    assert f"more than the {MAX_RUNS:,} model runs" in str(runs.value)
    # make_design itself refuses a design too large to hold.
    with pytest.raises(PeersimInputError, match="sample points"):
        make_design(space, "pawn", MAX_POINTS + 1)


def test_the_workload_counts_the_runs_and_says_how_long_they_take(target: PeersimTarget) -> None:
    work = sensitivity_workload(target.space, target, "morris", 4, replicates=3, centre_replicates=20)
    assert work.runs == 4 * (3 + 1 + 1) * 3 + 20
    assert work.seconds == pytest.approx(work.runs * target.seconds_per_replicate)
    text = work.text(2)
    assert text.startswith("about "), text
    assert text.endswith("of simulation (80 runs at 20 sample points) on 2 workers"), text
    assert Workload(480, 240.0, 0.0).text(2) == "about 2 min of simulation (480 runs) on 2 workers"
    assert duration_text(3 * 3600) == "3.0 h"
    assert duration_text(86400 * 365.25 * 12_000) == "12,000 years"
    assert bytes_text(192 * 2**40) == "192 TiB"
    assert bytes_text(1.5 * 2**30) == "1.5 GiB"


def test_applied_values_of_the_whole_design_match_the_point_by_point_values(target: PeersimTarget) -> None:
    # The samples table applies rounding to whole columns at once; the points apply it one by one.
    design = make_design(target.space, "pawn", 200, seed=4)
    points = design_points(design, target.space, 4, 1)
    applied = target.space.applied(design.X[:, :-1])
    assert np.array_equal(applied, np.array([p.values for p in points]))
    assert np.array_equal(applied[:, 1], np.round(applied[:, 1])), "caseload_cap is an integer factor"
    assert points[7].index == 7
    assert points[-1].index == design.points - 1
    assert [p.index for p in points[10:13]] == [10, 11, 12]


def test_a_checkpoint_keeps_each_row_once_merges_its_parts_and_drops_a_damaged_one(tmp_path: Path) -> None:
    labels = {"seed": "`seed`"}
    kept = Checkpoint.open(tmp_path, {"seed": 1}, ("point",), labels, "sample points")
    assert kept.read() is None
    assert not (tmp_path / CHECKPOINT).exists(), "nothing is written before the first rows"
    for i in range(MAX_PARTS + 5):
        kept.add({"point": np.array([i % 10]), "y": np.array([float(i % 10)])})
        kept.flush()
    assert len(kept.parts()) <= MAX_PARTS, "parts are merged past the limit"
    rows = kept.read()
    assert rows is not None
    assert sorted(rows["point"]) == list(range(10)), "a row kept twice counts once"
    assert kept.units_written == MAX_PARTS + 5
    damaged = kept.parts()[-1]
    damaged.write_bytes(b"PAR1 truncated")
    again = Checkpoint.open(tmp_path, {"seed": 1}, ("point",), labels, "sample points")
    with pytest.warns(UserWarning, match="unreadable checkpoint part"):
        rows = again.read()
    assert not damaged.exists()
    assert rows is not None
    assert len(rows) <= 10


# --------------------------------------------------------------------------- the real command


def _wait_for_part(process: subprocess.Popen[str], checkpoint: Path, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not list(checkpoint.glob("part-*.parquet")):
        assert process.poll() is None, f"ended before keeping a point: {process.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint part appeared"
        time.sleep(0.05)


def test_ctrl_c_stops_peersim_sensitivity_cleanly_and_the_same_command_resumes(
    target: PeersimTarget, tmp_path: Path
) -> None:
    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    (tmp_path / "factors.toml").write_text(FACTORS)
    args = ["sensitivity", "factors.toml", "--scenario", "tiny.toml", "--method", "morris", "--n", "12"]
    args += ["--replicates", "2", "--seed", "2", "--outputs", "engagement_rate,fidelity_index"]
    args += ["--jobs", "2", "--out", "sa"]
    process = start_peersim(args, tmp_path)
    _wait_for_part(process, tmp_path / "sa" / CHECKPOINT)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the command and its workers alike
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=120)  # a guard against a hang, not a speed test
    print(f"exited {time.monotonic() - sent:.2f} s after SIGINT")
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("peersim: interrupted; "), stderr
    assert "of 60 sample point(s) kept. Run again with --out sa to resume" in line, line
    kept = int(line.removeprefix("peersim: interrupted; ").split(" of ")[0])
    assert 1 <= kept < 60, line
    assert group_gone(process.pid), "worker processes outlived the command"

    again = run_peersim(args, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"({kept} sample points resumed)" in again.stdout, again.stdout
    # The resumed command's numbers are those of an uninterrupted analysis.
    with LocalExecutor(1) as executor:
        whole = run_sensitivity(target.space, target, "morris", 12, replicates=2, seed=2, executor=executor)
    written = pd.read_parquet(tmp_path / "sa" / "indices.parquet")
    pd.testing.assert_frame_equal(written, whole.indices, check_exact=True)


def test_a_checkpoint_name_holding_something_else_is_refused_unless_forced(tmp_path: Path) -> None:
    (tmp_path / CHECKPOINT).write_text("a user's notes\n")
    with pytest.raises(PeersimInputError, match="is not a readable peersim checkpoint") as refused:
        Checkpoint.open(tmp_path, {"seed": 1}, ("point",), {}, "sample points")
    assert "`force=True`" in str(refused.value)
    assert (tmp_path / CHECKPOINT).read_text() == "a user's notes\n", "refusing changes nothing"
    kept = Checkpoint.open(tmp_path, {"seed": 1}, ("point",), {}, "sample points", force=True)
    kept.add({"point": np.array([0])})
    kept.flush()
    assert (tmp_path / CHECKPOINT / "manifest.json").is_file()
