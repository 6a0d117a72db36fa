"""``peersim plan`` keeps its work: outputs checked first, resume, Ctrl-C, bounded sizes; exit 3: no answer.

The plans here are of the tiny site (a few tens of milliseconds a run) over a
6-plan grid with 12 replicates. Interruptions are real ``KeyboardInterrupt``s:
raised from the progress display at a known point in-process (in the middle of
the search's confirmation stage, the hardest place to resume from), and a
real SIGINT to the process group of a real ``peersim plan``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conftest import group_gone, run_peersim, start_peersim
from peersim.errors import Interrupted, OutputsNotWritten, PeersimInputError
from peersim.executor import LocalExecutor, Progress, no_progress
from peersim.io.checkpoint import CHECKPOINT
from peersim.planning.report import PLAN_OUTPUTS, plan_json
from peersim.planning.result import PlanResult
from peersim.planning.workflow import MAX_REPLICATES, MAX_SCREEN_RUNS, plan, plan_workload, prepare
from test_planning_fixtures import write_inputs

LEVERS = """\
supervisor_hours_per_week = { values = [1.5, 4, 8] }
team_prep_sessions = { values = [0, 3] }
"""
"""A 3 x 2 grid around the tiny site (supervision 1.5 h, no team preparation)."""

OPTIONS: dict[str, Any] = {
    "budget": 90_000.0,
    "targets": ["engagement_rate>=0.4"],
    "replicates": 12,
    "seed": 3,
}
"""A problem the grid can answer: the search confirms candidates at 8, then 12 replicates."""

TABLES = ("plans.csv", "ranking.csv", "prediction.csv")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_inputs(tmp_path_factory.mktemp("inputs"), LEVERS)


@pytest.fixture(scope="module")
def uninterrupted(
    files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[PlanResult, Path]:
    """The plan made in one go, with its outputs written."""
    out = tmp_path_factory.mktemp("whole") / "plan"
    with LocalExecutor(1) as executor:
        return plan(prepare(*files, **OPTIONS), executor, out=out), out


def stop_in(phase: str, after: int) -> Progress:
    """A progress display raising KeyboardInterrupt, as Ctrl-C does, after ``after`` runs of ``phase``."""
    seen = [0]

    @contextmanager
    def progress(label: str, _total: int) -> Iterator[Callable[[int], None]]:
        def advance(n: int) -> None:
            if label == phase:
                seen[0] += n
                if seen[0] >= after:
                    raise KeyboardInterrupt

        yield advance

    return progress


def _interrupt(files: tuple[Path, Path], out: Path | None, progress: Progress, **options: Any) -> Interrupted:
    inputs = prepare(*files, **{**OPTIONS, **options})
    with LocalExecutor(1) as executor, pytest.raises(Interrupted) as caught:
        plan(inputs, executor, progress, out=out)
    return caught.value


def _document(result: PlanResult) -> dict[str, Any]:
    document = plan_json(result)
    document.pop("seconds")  # the one number that differs between two runs of the same plan
    return document


def _same_files(one: Path, two: Path) -> None:
    for name in TABLES:
        assert (one / name).read_text() == (two / name).read_text(), name
    pd.testing.assert_frame_equal(
        pd.read_parquet(one / "outcomes.parquet"), pd.read_parquet(two / "outcomes.parquet"), check_exact=True
    )
    documents = [json.loads((folder / "plan.json").read_text()) for folder in (one, two)]
    for document in documents:
        document.pop("seconds")
    assert documents[0] == documents[1]


def test_a_plan_interrupted_while_confirming_resumes_to_the_same_answer(
    files: tuple[Path, Path], uninterrupted: tuple[PlanResult, Path], tmp_path: Path
) -> None:
    whole, whole_out = uninterrupted
    assert whole.search.status == "feasible", whole.search
    assert whole.search.tried >= 1, "the search confirmed candidates (the stage interrupted here)"
    out = tmp_path / "plan"
    stopped = _interrupt(files, out, stop_in("plan: confirm", after=4))
    screen = plan_workload(prepare(*files, **OPTIONS)).runs
    # The screen (48 runs: both levers have a step) and the first task of the confirmation (4
    # replicates) were kept; the rest of the search was not run.
    assert stopped.kept == screen + 4, stopped
    assert stopped.kept < whole.runs, stopped
    assert stopped.total >= stopped.kept
    assert stopped.resume == f"Run again with `out` {out} to resume"
    assert not (out / "plan.md").exists()
    print(f"kept {stopped.kept} of {stopped.total} runs asked for (screen about {screen})")

    with LocalExecutor(2) as executor:  # another number of workers: the answer does not depend on it
        resumed = plan(prepare(*files, **OPTIONS), executor, out=out)
    assert resumed.resumed == stopped.kept, "every kept run is used again, none run twice"
    assert resumed.runs == whole.runs
    assert _document(resumed) == _document(whole)
    pd.testing.assert_frame_equal(resumed.frontier, whole.frontier, check_exact=True)
    assert resumed.frames.keys() == whole.frames.keys()
    for index, frame in whole.frames.items():
        pd.testing.assert_frame_equal(resumed.frames[index], frame, check_exact=True)
    _same_files(out, whole_out)
    assert {p.name for p in resumed.written} == set(PLAN_OUTPUTS)


def test_without_out_an_interruption_says_nothing_was_kept(files: tuple[Path, Path]) -> None:
    stopped = _interrupt(files, None, stop_in("plan: screen", after=8))
    assert stopped.kept == 0
    assert stopped.total > 0
    assert "Nothing is kept without `out`" in str(stopped), str(stopped)


def test_a_checkpoint_of_another_seed_is_refused_unless_forced(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "plan"
    _interrupt(files, out, stop_in("plan: screen", after=8))
    with pytest.raises(PeersimInputError) as refused:
        _interrupt(files, out, no_progress, seed=4)
    message = str(refused.value)
    assert f"`out` {out}: checkpoint/ keeps the finished plan runs of other work" in message, message
    assert "`seed` 3 there, 4 now" in message, message
    with LocalExecutor(1) as executor:
        forced = plan(prepare(*files, **{**OPTIONS, "seed": 4}), executor, out=out, force=True)
    assert forced.resumed == 0
    assert (out / "plan.md").is_file()


def test_a_checkpoint_of_another_posterior_choice_is_refused_unless_forced(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    # Kept with the shipped posterior (the default), resumed without one: the runs kept are other runs.
    out = tmp_path / "plan"
    stopped = _interrupt(files, out, stop_in("plan: screen", after=8))
    assert stopped.kept > 0
    with pytest.raises(PeersimInputError) as refused:
        _interrupt(files, out, no_progress, use_posterior=False)
    message = str(refused.value)
    assert "checkpoint/ keeps the finished plan runs of other work" in message, message
    assert "`posterior` (digest)" in message, message
    with LocalExecutor(1) as executor:
        forced = plan(prepare(*files, **OPTIONS, use_posterior=False), executor, out=out, force=True)
    assert forced.resumed == 0
    assert forced.inputs.posterior is None
    assert json.loads((out / "plan.json").read_text())["posterior"]["source"] is None


def test_other_targets_reuse_the_runs_kept(files: tuple[Path, Path], tmp_path: Path) -> None:
    # Targets and budget only decide which runs are asked for; the runs kept stay valid.
    out = tmp_path / "plan"
    stopped = _interrupt(files, out, stop_in("plan: screen", after=16))
    with LocalExecutor(1) as executor:
        other = plan(prepare(*files, **{**OPTIONS, "targets": ["engagement_rate>=0.45"]}), executor, out=out)
        fresh = plan(prepare(*files, **{**OPTIONS, "targets": ["engagement_rate>=0.45"]}), executor)
    assert other.resumed == stopped.kept
    assert _document(other) == _document(fresh)


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_an_unusable_out_is_refused_before_any_run(
    files: tuple[Path, Path], tmp_path: Path, where: str
) -> None:
    (tmp_path / "afile").write_text("a user's file\n")
    out = tmp_path / "afile" / "x" if where == "under_a_file" else Path("/proc/peersim-test/x")
    phases: list[str] = []

    @contextmanager
    def recording(label: str, _total: int) -> Iterator[Callable[[int], None]]:
        phases.append(label)
        yield lambda _n: None

    inputs = prepare(*files, **OPTIONS)
    with LocalExecutor(1) as executor, pytest.raises(PeersimInputError, match="`out`") as refused:
        plan(inputs, executor, recording, out=out)
    assert phases == [], "refused only after running"
    assert str(out) in str(refused.value)


def test_outputs_the_disk_refuses_are_kept_elsewhere(files: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "plan"

    @contextmanager
    def break_out(_label: str, _total: int) -> Iterator[Callable[[int], None]]:
        def advance(_n: int) -> None:
            # Mid-run the output directory becomes a regular file: every later write there fails.
            if out.is_dir():
                out.rename(tmp_path / "moved")
                out.write_text("not a directory any more\n")

        yield advance

    inputs = prepare(*files, **OPTIONS)
    with (
        LocalExecutor(1) as executor,
        pytest.warns(UserWarning, match="can no longer be kept"),
        pytest.raises(OutputsNotWritten) as refused,
    ):
        plan(inputs, executor, break_out, out=out)
    kept = refused.value.kept
    assert kept is not None
    assert str(kept) in str(refused.value)
    assert {p.name for p in kept.iterdir()} >= set(PLAN_OUTPUTS)
    assert "## Answer" in (kept / "plan.md").read_text()


def test_replicate_counts_beyond_the_maxima_are_refused_with_time_and_memory(tmp_path: Path) -> None:
    site, costs = write_inputs(tmp_path, LEVERS)
    with pytest.raises(PeersimInputError) as refused:
        prepare(site, costs, replicates=MAX_REPLICATES * 100)
    message = str(refused.value)
    assert f"`replicates` {MAX_REPLICATES * 100:,} is more than the {MAX_REPLICATES:,}" in message, message
    assert "on one core" in message, message
    assert "of memory" in message, message
    # 6 x 6 x 6 = 216 plans screened at 10,000 replicates each: over the screen's maximum.
    (tmp_path / "big").mkdir()
    big = write_inputs(
        tmp_path / "big",
        "supervisor_hours_per_week = { values = [1.5, 2, 3, 4, 5, 6] }\n"
        "team_prep_sessions = { values = [0, 1, 2, 3, 4, 5] }\n"
        "caseload_cap = { values = [4, 5, 6, 7, 8, 9] }\n",
    )
    with pytest.raises(PeersimInputError) as screen:
        prepare(*big, replicates=MAX_REPLICATES, screen_replicates=MAX_REPLICATES)
    assert f"`screen_replicates` {MAX_REPLICATES:,} over the 216 plans" in str(screen.value), str(
        screen.value
    )
    assert f"more than the {MAX_SCREEN_RUNS:,} runs" in str(screen.value)


def test_the_workload_of_the_screen_is_said_before_it_starts(files: tuple[Path, Path]) -> None:
    work = plan_workload(prepare(*files, **OPTIONS))
    # 6 plans at 4 screening replicates, and the site and its 2 lever steps at 12.
    assert work.runs == 6 * 4 + 3 * (12 - 4)
    assert work.text(2).endswith(
        f"({work.runs} runs to screen 6 plans, then more to confirm the best) on 2 workers"
    )


# --------------------------------------------------------------------------- the real command


def test_ctrl_c_stops_peersim_plan_cleanly_and_the_same_command_resumes(
    files: tuple[Path, Path], uninterrupted: tuple[PlanResult, Path]
) -> None:
    cwd = files[0].parent
    args = [
        "plan",
        "site.toml",
        "--costs",
        "costs.toml",
        "--budget",
        "90000",
        "--target",
        "engagement_rate>=0.4",
    ]
    args += ["--replicates", "12", "--seed", "3", "--jobs", "2", "--out", "interrupted"]
    process = start_peersim(args, cwd)
    deadline = time.monotonic() + 600
    while not list((cwd / "interrupted" / CHECKPOINT).glob("part-*.parquet")):
        assert process.poll() is None, f"ended before keeping a run: {process.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint part appeared"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the command and its workers alike
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=120)  # a guard against a hang, not a speed test
    print(f"exited {time.monotonic() - sent:.2f} s after SIGINT")
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("peersim: interrupted; "), stderr
    assert "plan run(s) asked for so far kept. Run again with --out interrupted to resume" in line, line
    kept = int(line.removeprefix("peersim: interrupted; ").split(" of ")[0])
    assert kept >= 1, line
    assert group_gone(process.pid), "worker processes outlived the command"

    again = run_peersim([*args, "--json"], cwd=cwd, timeout=600)
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    whole = plan_json(uninterrupted[0], document["figures"])
    for each in (document, whole):
        each.pop("seconds")
        each["site"].pop("file")
        each["costs"].pop("file")
    assert document == whole, "the resumed command gives the uninterrupted answer"


@pytest.mark.parametrize(
    ("asked", "status", "reason"),
    [
        (
            ("--target", "engagement_rate>=0.95"),
            "infeasible_targets",
            "--target engagement_rate>=0.95: no plan in the lever grid meets them with probability >= 0.8; "
            "see the answer for the plan most likely to",
        ),
        (
            ("--budget", "1000"),
            "no_budget_plan",
            "--budget 1000: no plan in the lever grid fits the budget of GBP 1,000 "
            "(the site as given costs GBP ",
        ),
    ],
)
def test_no_answer_exits_3_with_one_line_and_still_writes_the_report(
    files: tuple[Path, Path], asked: tuple[str, ...], status: str, reason: str
) -> None:
    cwd = files[0].parent
    out = f"unanswered_{status}"
    args = [
        "plan",
        "site.toml",
        "--costs",
        "costs.toml",
        *asked,
        "--replicates",
        "12",
        "--jobs",
        "1",
        "--out",
        out,
    ]
    result = run_peersim(args, cwd=cwd)
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    reasons = [line for line in result.stderr.splitlines() if line.startswith("peersim: no answer: ")]
    assert len(reasons) == 1, result.stderr
    assert reasons[0].startswith(f"peersim: no answer: {reason}"), reasons[0]
    report = cwd / out
    assert {p.name for p in report.iterdir()} >= set(PLAN_OUTPUTS)
    assert json.loads((report / "plan.json").read_text())["search"]["status"] == status
