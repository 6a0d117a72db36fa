"""Ctrl-C, output locations and full disks in ``peersim calibrate`` and ``peersim ppc``.

The command runs as a user runs it: a real subprocess in a session of its own,
and SIGINT goes to its whole process group, as a terminal sends Ctrl-C to the
foreground group (the parent, pyabc's forked workers, the pool's forkserver).
Each interrupt is sent once the command's own progress lines on stderr show
the phase it aims at. The library cases send SIGINT to this process from a
progress display, at an exact point of the run.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest

from conftest import _session_processes, command_env, peersim_command, run_peersim, town_and_county_toml
from peersim.calibration.inputs import targets_from_dict
from peersim.calibration.smc import (
    CalibrationProblem,
    CalibrationSettings,
    check_resumable,
    fingerprint,
    run_abc,
    stored_fingerprint,
)
from peersim.calibration.workflow import CALIBRATION_FILES, CHECK_FILES, calibrate, check_posterior
from peersim.core.scenario_files import parse_scenario
from peersim.errors import Interrupted, OutputsNotWritten
from peersim.executor import Progress
from peersim.uncertainty import default_posterior

SCENARIO = town_and_county_toml(
    "interrupt_tiny",
    6,
    admissions=3,
    supervision=(4, 2),
    peer_workers=2,
    follow_up_weeks=12,
    names=("north", "south"),
)
"""About 40 participants over 18 weeks: one evaluation takes about 0.03 s here."""

TARGETS = """
name = "interrupt_targets"
[priors]
parameters = ["p_readmit_12m_usual_care", "p_attend_base"]
[[targets]]
name = "control"
metric = "readmission_rate_control"
sites = ["north"]
value = 0.3
low = 0.1
high = 0.5
source = "test"
confidence = "A"
"""

TARGETS_DATA = {
    "name": "interrupt_targets",
    "priors": {"parameters": ["p_readmit_12m_usual_care", "p_attend_base"]},
    "targets": [
        {
            "name": "control",
            "metric": "readmission_rate_control",
            "sites": ["north"],
            "value": 0.3,
            "low": 0.1,
            "high": 0.5,
            "source": "test",
            "confidence": "A",
        }
    ],
}

EXIT_WITHIN_SECONDS = 20.0
"""Longest accepted time from the first Ctrl-C to the exit. Seen 0.8-3 s with the machine at a
load of 7 on 2 cores, most of it Python unloading pyabc's imports (SciPy, scikit-learn) at exit."""

GONE_WITHIN_SECONDS = 5.0
"""Every process of the command's session must be gone this long after it exited (seen: 0.05 s)."""


@dataclass
class Pressed:
    """What a command did after Ctrl-C."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    """From the first SIGINT to the exit."""
    orphans: list[str]


def ctrl_c(
    args: list[str],
    cwd: Path,
    after: str,
    delay: float = 0.0,
    presses: int = 1,
    gap: float = 0.15,
    ready: Callable[[], bool] | None = None,
) -> Pressed:
    """Run ``peersim ARGS``; once stderr says ``after`` (and ``ready()`` holds), press Ctrl-C."""
    env = command_env()
    with tempfile.TemporaryDirectory() as folder:
        err_path, out_path = Path(folder) / "stderr", Path(folder) / "stdout"
        with err_path.open("w") as err, out_path.open("w") as out:
            process = subprocess.Popen(
                peersim_command(*args), cwd=cwd, stdout=out, stderr=err, env=env, start_new_session=True
            )
        started = time.monotonic()
        while after not in err_path.read_text() or (ready is not None and not ready()):
            assert process.poll() is None, f"ended before {after!r}:\n{err_path.read_text()}"
            assert time.monotonic() - started < 300, f"no {after!r} after 300 s:\n{err_path.read_text()}"
            time.sleep(0.02)
        time.sleep(delay)
        first = time.monotonic()
        for press in range(presses):
            if press:
                time.sleep(gap)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(f"still running 120 s after Ctrl-C:\n{err_path.read_text()}") from None
        seconds = time.monotonic() - first
        orphans = _session_processes(process.pid, GONE_WITHIN_SECONDS)
        return Pressed(process.returncode, out_path.read_text(), err_path.read_text(), seconds, orphans)


def assert_clean_interrupt(pressed: Pressed) -> None:
    """Exit 130 soon, one message, no traceback, nothing left running."""
    assert pressed.returncode == 130, (pressed.returncode, pressed.stderr)
    assert "Traceback" not in pressed.stderr, pressed.stderr
    assert "KeyboardInterrupt" not in pressed.stderr, pressed.stderr
    assert pressed.stderr.count("interrupted") == 1, pressed.stderr
    assert pressed.seconds < EXIT_WITHIN_SECONDS, pressed.seconds
    assert pressed.orphans == [], pressed.orphans


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("calibrate_interrupts")
    (folder / "scenario.toml").write_text(SCENARIO)
    (folder / "targets.toml").write_text(TARGETS)
    return folder


@pytest.fixture(scope="module")
def problem() -> CalibrationProblem:
    scenario = parse_scenario(SCENARIO, source="scenario.toml")
    return CalibrationProblem.build(targets_from_dict(TARGETS_DATA, source="targets.toml"), scenario)


CALIBRATE = ["calibrate", "targets.toml", "--scenario", "scenario.toml", "--ppc-draws", "10"]


def test_ctrl_c_during_a_parallel_calibration_keeps_generations_and_resumes(workdir: Path) -> None:
    # Ctrl-C twice, 0.1 s apart, while generation 2 of a 2-process calibration runs: the second
    # press must not break the clean-up. Seen: exit 0.8-3 s after the first press.
    args = [*CALIBRATE, "--out", "run", "--population", "20", "--generations", "2", "--jobs", "2"]
    pressed = ctrl_c(args, workdir, after="generation 1 of 2:", presses=2, gap=0.1)
    assert_clean_interrupt(pressed)
    said = (
        r"interrupted; (\d) of 2 generation\(s\) kept\. They are in --db run/history\.db: "
        r"run again with the same arguments to resume from there"
    )
    found = re.search(said, pressed.stderr)
    assert found, pressed.stderr
    kept = int(found.group(1))
    assert kept >= 1
    assert stored_fingerprint(workdir / "run" / "history.db")[1] == kept  # what it says is what the db holds
    # The same command resumes from what was kept (only the database is in --out so far).
    assert sorted(p.name for p in (workdir / "run").iterdir()) == ["history.db"]
    again = run_peersim(args, workdir, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming after generation {kept}" in again.stderr
    assert list(pd.read_csv(workdir / "run" / "generations.csv")["t"]) == [0, 1]


def test_ctrl_c_in_the_calibration_sample_keeps_a_database_that_starts_afresh(
    workdir: Path, problem: CalibrationProblem
) -> None:
    # 600 particles: long enough (estimated at 16 s on 2 workers) to be announced first; the
    # calibration sample (600 evaluations, about 9 s) has started once the database exists.
    args = [*CALIBRATE, "--out", "early", "--population", "600", "--generations", "1", "--jobs", "2"]
    db = workdir / "early" / "history.db"
    pressed = ctrl_c(args, workdir, after="of simulation", delay=0.3, ready=db.exists)
    assert_clean_interrupt(pressed)
    announced = r"peersim: about \d+ s of simulation \(1,880 runs to calibrate and check\) on 2 workers"
    assert re.search(announced, pressed.stderr), pressed.stderr
    assert "interrupted; 0 of 1 generation(s) kept. Run again with the same arguments to start afresh" in (
        pressed.stderr
    )
    settings = CalibrationSettings(population=600, generations=1, ppc_draws=10, jobs=2)
    assert check_resumable(db, fingerprint(problem, settings)) == 0  # resumes as a new calibration


@pytest.mark.slow
def test_ctrl_c_during_the_check_of_a_calibration(workdir: Path) -> None:
    args = [
        *CALIBRATE[:-2],
        "--ppc-draws",
        "400",
        "--out",
        "late",
        "--population",
        "10",
        "--generations",
        "1",
    ]
    pressed = ctrl_c([*args, "--jobs", "2"], workdir, after="posterior predictive check:", delay=0.5)
    assert_clean_interrupt(pressed)
    assert (
        "interrupted; 1 of 1 generation(s) kept. They are in --db late/history.db: run again with the "
        "same arguments to resume from there (the posterior predictive check starts over)"
    ) in pressed.stderr
    assert sorted(p.name for p in (workdir / "late").iterdir()) == ["history.db"]


def test_ctrl_c_during_ppc(workdir: Path) -> None:
    args = ["ppc", "targets.toml", "--scenario", "scenario.toml", "--draws", "400", "--jobs", "2", "-o", "p"]
    pressed = ctrl_c(args, workdir, after="peersim ppc:", delay=1.0, presses=2)
    assert_clean_interrupt(pressed)
    assert "interrupted; 0 of 800 predictive draw(s) kept. Nothing was written; run again to check" in (
        pressed.stderr
    )
    assert not (workdir / "p").exists()


def sigint_on(label: Callable[[str], bool], presses: int = 2) -> Progress:
    """A progress display that sends SIGINT to this process when a phase whose label matches starts."""

    @contextmanager
    def progress(name: str, _total: int) -> Iterator[Callable[[int], None]]:
        if label(name):
            for _ in range(presses):
                os.kill(os.getpid(), signal.SIGINT)
        yield lambda _n: None

    return progress


def test_library_ctrl_c_raises_interrupted_and_the_call_resumes(
    problem: CalibrationProblem, tmp_path: Path
) -> None:
    db = tmp_path / "history.db"
    settings = CalibrationSettings(population=10, generations=3, seed=4, jobs=1)
    progress = sigint_on(lambda name: name.startswith("generation 2 of 3"))
    with pytest.raises(Interrupted) as caught:
        run_abc(problem, settings, db, progress=progress)
    # Two SIGINTs at the start of generation 2: the run stops there, keeping generation 1.
    assert (caught.value.kept, caught.value.total, caught.value.unit) == (1, 3, "generation(s)")
    assert caught.value.resume == (
        f"They are in `db` {db}: run again with the same arguments to resume from there"
    )
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handed back
    resumed = run_abc(problem, settings, db)
    assert resumed.resumed_from == 1
    assert list(resumed.populations["t"]) == [0, 1, 2]


def test_library_ctrl_c_in_the_check_writes_nothing(problem: CalibrationProblem, tmp_path: Path) -> None:
    out = tmp_path / "check"
    progress = sigint_on(lambda name: name.startswith("prior predictive"), presses=1)
    with pytest.raises(Interrupted) as caught:
        check_posterior(default_posterior(), problem, draws=10, seed=0, out=out, progress=progress)
    assert (caught.value.kept, caught.value.total) == (0, 20)
    assert not out.exists()


def test_outputs_the_disk_refuses_are_kept_elsewhere(problem: CalibrationProblem, tmp_path: Path) -> None:
    out, db = tmp_path / "out", tmp_path / "keep" / "history.db"
    settings = CalibrationSettings(population=10, generations=1, ppc_draws=10, seed=1, jobs=1)

    @contextmanager
    def progress(_name: str, _total: int) -> Iterator[Callable[[int], None]]:
        if not out.exists():
            out.write_text("in the way")  # the output folder's place is taken while the work runs
        yield lambda _n: None

    with pytest.raises(OutputsNotWritten) as caught:
        calibrate(problem, settings, db, out, progress=progress)
    kept = caught.value.kept
    assert kept is not None
    try:
        assert sorted(p.name for p in kept.iterdir()) == sorted(CALIBRATION_FILES)
        assert str(caught.value).startswith(f"`out` {out}: the outputs could not be written (")
        assert f"they were kept in {kept} instead" in str(caught.value)
        assert out.read_text() == "in the way"
        assert stored_fingerprint(db)[1] == 1  # the history is where it was asked to be
    finally:
        shutil.rmtree(kept)


def test_check_outputs_the_disk_refuses_are_kept_elsewhere(
    problem: CalibrationProblem, tmp_path: Path
) -> None:
    out = tmp_path / "check"

    @contextmanager
    def progress(_name: str, _total: int) -> Iterator[Callable[[int], None]]:
        if not out.exists():
            out.write_text("in the way")
        yield lambda _n: None

    with pytest.raises(OutputsNotWritten) as caught:
        check_posterior(default_posterior(), problem, draws=10, seed=0, out=out, progress=progress)
    kept = caught.value.kept
    assert kept is not None
    try:
        assert sorted(p.name for p in kept.iterdir()) == sorted(CHECK_FILES)
    finally:
        shutil.rmtree(kept)


@pytest.mark.slow
def test_full_disk_at_the_end_exits_4_naming_where_the_outputs_are(workdir: Path) -> None:
    # The output folder's place is taken by a file while the check runs: the outputs cannot be
    # written there, and the command says where it kept them instead.
    args = [*CALIBRATE[:-2], "--ppc-draws", "100", "--out", "taken", "--db", "taken.db"]
    env = {**os.environ, "MPLBACKEND": "Agg", "NO_COLOR": "1"}
    process = subprocess.Popen(
        peersim_command(*args, "--population", "10", "--generations", "1", "--jobs", "1"),
        cwd=workdir,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("posterior predictive check:"):
            (workdir / "taken").write_text("in the way")
            break
    rest = process.stderr.read()
    assert process.wait(timeout=300) == 4, "".join(lines) + rest
    message = rest.strip().splitlines()[-1]
    found = re.fullmatch(
        r"peersim: error: --out taken: the outputs could not be written \(.*\); "
        r"they were kept in (\S+) instead",
        message,
    )
    assert found, message
    kept = Path(found.group(1))
    try:
        assert sorted(p.name for p in kept.iterdir()) == sorted(CALIBRATION_FILES)
    finally:
        shutil.rmtree(kept)
    assert "Traceback" not in rest


def test_resume_into_an_output_folder_holding_only_its_database(
    problem: CalibrationProblem, tmp_path: Path
) -> None:
    # The default --db lives in --out: a folder holding it (and nothing else) is not foreign.
    out = tmp_path / "out"
    settings = CalibrationSettings(population=10, generations=1, ppc_draws=10, seed=2, jobs=1)
    run_abc(problem, settings, out / "history.db")
    run = calibrate(problem, replace(settings, generations=2), out / "history.db", out)
    assert run.outcome.resumed_from == 1
    assert sorted(p.name for p in out.iterdir()) == sorted([*CALIBRATION_FILES, "history.db"])


if sys.platform != "linux":  # pragma: no cover - the harness reads /proc
    pytestmark = pytest.mark.skip(reason="process sessions are read from /proc")


@pytest.mark.slow
def test_a_history_the_disk_refuses_keeps_its_generations(workdir: Path, problem: CalibrationProblem) -> None:
    # A file size limit of 50 kB (RLIMIT_FSIZE, with SIGXFSZ ignored) stands in for a full disk:
    # SQLite's writes fail once the history outgrows it (seen: after 2 of 3 generations of 20).
    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    args = [*CALIBRATE, "--out", "small", "--db", "small.db", "--population", "20", "--generations", "3"]
    result = subprocess.run(
        peersim_command(*args, "--jobs", "1"),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=small_files,  # only a limit and a signal disposition, before exec
        env={**os.environ, "MPLBACKEND": "Agg"},
        check=False,
    )
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    said = (
        r"peersim: error: --db small\.db: the calibration history could not be written \((.+)\); "
        r"it keeps (\d) generation\(s\) and is consistent\. Make room and run again to resume"
    )
    found = re.fullmatch(said, message)
    assert found, message
    kept = int(found.group(2))
    settings = CalibrationSettings(population=20, generations=3, ppc_draws=10, jobs=1)
    assert check_resumable(workdir / "small.db", fingerprint(problem, settings)) == kept
