"""``peersim calibrate`` and ``peersim ppc`` as users run them: real subprocesses.

Bad input must give exit status 2 and one message naming the file and key path,
never a traceback. The independent bad-input invocations run concurrently
(each pays 2-5 s of imports).
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_peersim, town_and_county_toml
from peersim.calibration.workflow import CALIBRATION_FILES
from peersim.uncertainty import Posterior

Result = subprocess.CompletedProcess[str]

SCENARIO = town_and_county_toml(
    "cli_tiny",
    6,
    admissions=3,
    supervision=(4, 2),
    peer_workers=2,
    follow_up_weeks=12,
    names=("north", "south"),
)

TARGET = """
[[targets]]
name = "control"
metric = "{metric}"
sites = ["{site}"]
value = 0.3
low = {low}
high = {high}
source = "test"
confidence = "A"
"""


def targets_text(
    metric: str = "readmission_rate_control",
    site: str = "north",
    low: float = 0.1,
    high: float = 0.5,
    priors: str = '[priors]\nparameters = ["p_readmit_12m_usual_care", "p_attend_base"]\n',
    weight: str = "",
) -> str:
    body = TARGET.format(metric=metric, site=site, low=low, high=high) + weight
    return 'name = "cli_targets"\n' + priors + body


def peersim(args: list[str], cwd: Path, timeout: float = 300.0) -> Result:
    return run_peersim(args, cwd, timeout)


def assert_bad_input(result: Result, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("peersim: error: "), lines[0]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


QUICK_ARGS = ["--population", "10", "--generations", "1", "--ppc-draws", "10", "--jobs", "1"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("calibrate_cli")
    (folder / "scenario.toml").write_text(SCENARIO)
    (folder / "targets.toml").write_text(targets_text())
    return folder


@pytest.fixture(scope="module")
def first_run(workdir: Path) -> Result:
    """A real tiny calibration whose database the resume and version tests reuse."""
    return peersim(
        ["calibrate", "targets.toml", "--scenario", "scenario.toml", "--out", "run1", *QUICK_ARGS], workdir
    )


def test_calibrate_writes_posterior_and_report(first_run: Result, workdir: Path) -> None:
    assert first_run.returncode == 0, first_run.stderr
    for name in CALIBRATION_FILES:
        assert (workdir / "run1" / name).is_file(), name
    assert (workdir / "run1" / "history.db").is_file()
    assert "Posterior predictive check" in first_run.stdout
    assert re.search(r"^control +0\.3 \[0\.1, 0\.5\] +A ", first_run.stdout, re.MULTILINE), first_run.stdout
    assert "| control | point | 0.3 [0.1, 0.5] | A |" in (workdir / "run1" / "report.md").read_text()
    # peersim's line per generation; pyabc's own log lines only with --verbose.
    line = r"^generation 1 of 1: epsilon \S+, 10 of \d+ evaluations accepted"
    assert re.search(line, first_run.stderr, re.MULTILINE), first_run.stderr
    assert "t: 0, eps:" not in first_run.stderr


def test_resume_extends_the_database(first_run: Result, workdir: Path) -> None:
    assert first_run.returncode == 0, first_run.stderr
    args = ["calibrate", "targets.toml", "--scenario", "scenario.toml", "--db", "run1/history.db"]
    result = peersim(
        [*args, "--out", "run2", *QUICK_ARGS[:2], "--generations", "2", *QUICK_ARGS[4:]], workdir
    )
    assert result.returncode == 0, result.stderr
    assert "resumed run1/history.db after 1 generation(s)" in result.stderr
    generations = pd.read_csv(workdir / "run2" / "generations.csv")
    assert list(generations["t"]) == [0, 1]


@pytest.fixture(scope="module")
def bad_runs(first_run: Result, workdir: Path) -> dict[str, Result]:
    assert first_run.returncode == 0, first_run.stderr
    files = {
        "unknown_metric.toml": targets_text(metric="readmission_rate_controls"),
        "unknown_site.toml": targets_text(site="west"),
        "low_above_high.toml": targets_text(low=0.6, high=0.2),
        "wide_prior.toml": targets_text(priors="[priors.bounds]\np_attend_base = [0.0, 0.9]\n"),
        "reweighted.toml": targets_text(weight="weight = 3\n"),
    }
    for name, text in files.items():
        (workdir / name).write_text(text)
    unknown = Posterior(pd.DataFrame({"p_attend_base": [0.5]}), np.array([1.0]))
    unknown.save(workdir / "posterior_ok.parquet")
    frame = pd.read_parquet(workdir / "posterior_ok.parquet").rename(columns={"p_attend_base": "p_attend"})
    frame.to_parquet(workdir / "posterior_renamed.parquet")
    scenario = ["--scenario", "scenario.toml"]
    calls = {
        "unknown_metric": ["calibrate", "unknown_metric.toml", *scenario, "--out", "x1", *QUICK_ARGS],
        "unknown_site": ["calibrate", "unknown_site.toml", *scenario, "--out", "x2", *QUICK_ARGS],
        "low_above_high": ["calibrate", "low_above_high.toml", *scenario, "--out", "x3", *QUICK_ARGS],
        "wide_prior": ["calibrate", "wide_prior.toml", *scenario, "--out", "x4", *QUICK_ARGS],
        "other_targets_db": [
            "calibrate",
            "reweighted.toml",
            *scenario,
            "--db",
            "run1/history.db",
            "--out",
            "x5",
            *QUICK_ARGS,
        ],
        "outputs_exist": ["calibrate", "targets.toml", *scenario, "--out", "run1", *QUICK_ARGS],
        "posterior_mismatch": ["ppc", "targets.toml", *scenario, "--posterior", "posterior_renamed.parquet"],
        "missing_targets": ["calibrate", "absent.toml", *scenario, "--out", "x6"],
        # Output locations, checked before any simulation (issue 15).
        "out_under_file": ["calibrate", "targets.toml", *scenario, "--out", "a_file/x", *QUICK_ARGS],
        "db_under_file": ["calibrate", "targets.toml", *scenario, "--out", "x7", "--db", "a_file/h.db"],
        "db_is_folder": ["calibrate", "targets.toml", *scenario, "--out", "x7", "--db", "."],
        "out_in_proc": ["calibrate", "targets.toml", *scenario, "--out", "/proc/peersim", *QUICK_ARGS],
        "ppc_out_under_file": ["ppc", "targets.toml", *scenario, "-o", "a_file/x"],
        # Budgets beyond the declared maxima, refused with what they would cost.
        "huge_population": ["calibrate", "targets.toml", *scenario, "--out", "x7", "--population", "1000000"],
        "many_replicates": ["calibrate", "targets.toml", *scenario, "--out", "x7", "--replicates", "11"],
        "many_draws": ["ppc", "targets.toml", *scenario, "--draws", "20000"],
    }
    (workdir / "a_file").write_text("not a folder")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(peersim, args, workdir) for key, args in calls.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize(
    ("case", "fragments"),
    [
        ("unknown_metric", ("unknown_metric.toml: targets[0].metric", "'readmission_rate_controls'")),
        ("unknown_site", ("unknown_site.toml: targets[0].sites[0]", "unknown site 'west'", "north, south")),
        ("low_above_high", ("low_above_high.toml: targets[0]", "interval low 0.6 is above high 0.2")),
        ("wide_prior", ("wide_prior.toml: priors.bounds.p_attend_base", "outside the declared bounds")),
        ("other_targets_db", ("--db run1/history.db: made for a different calibration: targets", "--force")),
        ("outputs_exist", ("--out run1: already holds", "--force")),
        (
            "posterior_mismatch",
            ("posterior_renamed.parquet: column 'p_attend' is not a mechanism parameter",),
        ),
        ("missing_targets", ("absent.toml: no such file",)),
        ("out_under_file", ("--out a_file/x: is under a_file, which is a file, not a directory",)),
        ("db_under_file", ("--db a_file/h.db: its folder a_file: is a file, not a directory",)),
        ("db_is_folder", ("--db .: exists and is not a file",)),
        ("out_in_proc", ("--out /proc/peersim: cannot be created or written here (",)),
        ("ppc_out_under_file", ("--out a_file/x: is under a_file, which is a file",)),
        (
            "huge_population",
            (
                "--population 1000000 is more than the 10,000 allowed: the calibration asked for would be ",
                " model runs, about ",
                " on one core and ",
                " of memory; ask for fewer",
            ),
        ),
        ("many_replicates", ("--replicates 11 is more than the 10 allowed: ", " of memory; ask for fewer")),
        (
            "many_draws",
            ("--draws 20000 is more than the 10,000 allowed: ", "would be 40,000 model runs"),
        ),
    ],
)
def test_bad_input_exits_2_with_one_message(
    bad_runs: dict[str, Result], case: str, fragments: tuple[str, ...]
) -> None:
    assert_bad_input(bad_runs[case], *fragments)


def test_refused_database_is_left_untouched(bad_runs: dict[str, Result], workdir: Path) -> None:
    assert bad_runs["other_targets_db"].returncode == 2
    assert not (workdir / "x5").exists() or not any((workdir / "x5").iterdir())


def test_refused_locations_leave_nothing_behind(bad_runs: dict[str, Result], workdir: Path) -> None:
    assert bad_runs["db_under_file"].returncode == 2
    assert not (workdir / "x7").exists()  # the probe of --out removes what it created
    assert (workdir / "a_file").read_text() == "not a folder"
