"""Bad input across every command, from one table: exit code, one clear line, no traceback, no lost files.

Each case runs the real console entry (:func:`peersim.cli.app.main`) in this
process, so a case costs milliseconds instead of a subprocess's 2 s of imports;
an exception escaping ``main`` fails the case just as a traceback would.
``test_cli.py`` and the interruption tests run the console script itself.

Every case asserts:

* the exit status from the README's exit-code table (2 for bad input);
* stderr is exactly one line, starting ``peersim: error:`` and naming what is
  wrong (the file and key path, or the option), or for a malformed option
  Click's usage error naming the option;
* nothing is printed on stdout and no file in the working folder changed, was
  added or removed, except what the case says may appear;
* no simulation started (each case must fail in well under a second of work).

Add a case by adding a row to :data:`CASES`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import SCENARIOS_DIR, TINY_TOML, main_in_process
from peersim.cli.common import EXIT_BAD_INPUT, EXIT_CODES
from peersim.uncertainty import default_posterior

SITE = str(SCENARIOS_DIR / "new_site_example.toml")
COSTS = (SCENARIOS_DIR / "costs_default.toml").read_text(encoding="utf-8")
FACTORS = (SCENARIOS_DIR / "factors_default.toml").read_text(encoding="utf-8")
TARGETS = (Path(__file__).resolve().parents[1] / "calibration" / "targets.toml").read_text(encoding="utf-8")


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


FILES: dict[str, str] = {
    "tiny.toml": TINY_TOML,
    "tiny_service.toml": _replace(
        _replace(TINY_TOML, 'mode = "trial"', 'mode = "service"'),
        "follow_up_weeks = 26",
        "follow_up_weeks = 40",
    ),
    "tiny_longer.toml": _replace(TINY_TOML, "follow_up_weeks = 26", "follow_up_weeks = 30"),
    "overall.toml": _replace(TINY_TOML, 'name = "north"', 'name = "overall"'),
    "overall_upper.toml": _replace(TINY_TOML, 'name = "south"', 'name = "Overall"'),
    "malformed.toml": _replace(TINY_TOML, 'name = "tiny"', 'name = "tiny'),
    "afile": "not a directory\n",
    "scen/a.toml": TINY_TOML,
    "scen/b.toml": TINY_TOML,
    "notes/readme.txt": "my own notes\n",
    "cost_huge.toml": _replace(COSTS, "readmission = 16_000", "readmission = 1e308"),
    "cost_inf.toml": _replace(COSTS, "readmission = 16_000", "readmission = inf"),
    "cost_nan.toml": _replace(COSTS, "readmission = 16_000", "readmission = nan"),
    "cost_negative.toml": _replace(COSTS, "readmission = 16_000", "readmission = -5"),
    "cost_lever_negative.toml": _replace(
        COSTS, "n_peer_workers = { add = [-1, 0, 1] }", "n_peer_workers = { values = [-10, 4] }"
    ),
    "cost_lever_empty.toml": _replace(
        COSTS, "n_peer_workers = { add = [-1, 0, 1] }", "n_peer_workers = { values = [] }"
    ),
    "cost_unknown_lever.toml": _replace(
        COSTS, "n_peer_workers = { add = [-1, 0, 1] }", "n_peer_worker = { add = [-1, 0, 1] }"
    ),
    "cost_malformed.toml": _replace(COSTS, 'currency = "GBP"', 'currency = "GBP'),
    "targets_rate_17.toml": _replace(
        _replace(TARGETS, "value = 0.51", "value = 1.7"), "high = 0.59", "high = 1.9"
    ),
    "targets_unknown_metric.toml": _replace(
        TARGETS, 'metric = "readmission_rate_control"', 'metric = "readmission_rate_contrl"'
    ),
    "targets_malformed.toml": _replace(TARGETS, 'name = "enrich_default"', 'name = "enrich_default'),
    "factors_inverted.toml": _replace(FACTORS, "low = 1\nhigh = 12", "low = 12\nhigh = 1"),
    "factors_unknown.toml": _replace(
        FACTORS, 'name = "supervisor_hours_per_week"', 'name = "supervisor_hours"'
    ),
    # The dynamics of a real service (issue 12).
    "shares_sum.toml": _replace(TINY_TOML, "caseload_cap = 4\n", "caseload_cap = 4\nshare_psychosis = 0.9\n"),
    "funding_before_start.toml": _replace(
        TINY_TOML, "caseload_cap = 3\n", "caseload_cap = 3\nfunding_end_week = -4\n"
    ),
    "horizon_too_long.toml": _replace(TINY_TOML, "recruitment_weeks = 8", "recruitment_weeks = 400"),
    "duties_negative.toml": _replace(
        TINY_TOML, "caseload_cap = 4\n", "caseload_cap = 4\nother_duties_share = -0.1\n"
    ),
    "switch_unknown.toml": TINY_TOML + "\n[switches]\ncapacty = false\n",
    "switch_not_boolean.toml": TINY_TOML + '\n[switches]\ncapacity = "no"\n',
}
"""The working folder of every case: valid and broken input files."""

HUGE = str(10**9)


@dataclass(frozen=True)
class Case:
    """One bad input and what the command must say."""

    argv: tuple[str, ...]
    names: tuple[str, ...]
    """Fragments the message must contain (file, key path, option, range...)."""
    exit: int = EXIT_BAD_INPUT
    usage: bool = False
    """A malformed option: Click's usage error (three lines) instead of one line."""
    reports: bool = False
    """The command reports on stdout what was good (``validate`` with some valid files)."""


def _out_cases() -> dict[str, Case]:
    """An unusable ``--out`` for every command that writes: under a regular file, and under /proc."""
    commands: dict[str, tuple[str, ...]] = {
        "run": ("run", "tiny.toml", "-n", "2"),
        "compare": ("compare", "tiny.toml", "--set", "north.caseload_cap=5", "-n", "2"),
        "plot": ("plot", "store"),
        "ppc": ("ppc", "--draws", "10"),
        "calibrate": ("calibrate", "--quick"),
        "sensitivity": ("sensitivity", "--scenario", "tiny.toml", "-m", "morris", "--n", "4"),
        "plan": ("plan", SITE, "-n", "11", "--screen-replicates", "4"),
    }
    cases = {}
    for name, argv in commands.items():
        cases[f"{name}_out_under_file"] = Case((*argv, "--out", "afile/x"), ("--out", "afile", "is a file"))
        cases[f"{name}_out_proc"] = Case((*argv, "--out", "/proc/peersim-x"), ("--out", "/proc/peersim-x"))
    cases["run_out_folder_of_scenarios"] = Case(
        ("run", "tiny.toml", "-n", "2", "--out", "scen"), ("--out", "scen", "a.toml", "--force")
    )
    cases["compare_out_folder_of_notes"] = Case(
        ("compare", "tiny.toml", "--set", "north.caseload_cap=5", "-n", "2", "--out", "notes"),
        ("--out", "notes", "readme.txt", "--force"),
    )
    cases["sensitivity_out_folder_of_scenarios"] = Case(
        ("sensitivity", "--scenario", "tiny.toml", "-m", "morris", "--n", "4", "--out", "scen"),
        ("--out", "scen", "a.toml"),
    )
    cases["plan_out_folder_of_notes"] = Case(
        ("plan", SITE, "-n", "11", "--screen-replicates", "4", "--out", "notes"),
        ("--out", "notes", "readme.txt"),
    )
    cases["plot_out_scenario_file"] = Case(("plot", "store", "--out", "tiny.toml"), ("--out", "tiny.toml"))
    return cases


CASES: dict[str, Case] = {
    **_out_cases(),
    # Sizes beyond the declared maxima: refused with the time they would take, before any work.
    "run_huge_n": Case(("run", "tiny.toml", "-n", HUGE), ("--replicates", "1,000,000,000", "on one core")),
    "compare_huge_n": Case(
        ("compare", "tiny.toml", "--set", "north.caseload_cap=5", "-n", HUGE), ("--replicates", "on one core")
    ),
    "sensitivity_huge_n": Case(("sensitivity", "--scenario", "tiny.toml", "--n", str(2**40)), ("--n",)),
    "calibrate_huge_population": Case(("calibrate", "--population", HUGE), ("--population",)),
    "ppc_huge_draws": Case(("ppc", "--draws", HUGE), ("--draws",)),
    "plan_huge_replicates": Case(("plan", SITE, "-n", HUGE), ("--replicates",)),
    # Seeds outside what the streams and tables hold.
    **{
        f"{command}_seed_2_64": Case((command, *argv, "--seed", str(2**64)), ("--seed",), usage=True)
        for command, argv in {
            "run": ("tiny.toml",),
            "compare": ("tiny.toml", "tiny.toml"),
            "sensitivity": (),
            "calibrate": (),
            "ppc": (),
            "plan": (SITE,),
        }.items()
    },
    "run_negative_seed": Case(("run", "tiny.toml", "--seed", "-1"), ("--seed",), usage=True),
    "run_zero_replicates": Case(("run", "tiny.toml", "-n", "0"), ("--replicates",), usage=True),
    # Names and values that cannot mean two things.
    "site_named_overall": Case(("run", "overall.toml"), ("overall.toml", "sites[0].name", "reserved")),
    "site_named_Overall": Case(
        ("run", "overall_upper.toml"), ("overall_upper.toml", "sites[1].name", "reserved")
    ),
    "validate_site_named_overall": Case(("validate", "overall.toml"), ("overall.toml", "reserved")),
    "repeated_set": Case(
        ("run", "tiny.toml", "--set", "north.caseload_cap=5", "--set", "north.caseload_cap=6"),
        ("tiny.toml", "north.caseload_cap=6", "north.caseload_cap=5", "once"),
    ),
    "repeated_set_two_spellings": Case(
        ("run", "tiny.toml", "--set", "north.caseload_cap=5", "--set", "sites.north.caseload_cap=6"),
        ("sites.north.caseload_cap=6", "once"),
    ),
    "set_nan": Case(
        ("run", "tiny.toml", "--set", "north.supervisor_hours_per_week=nan"),
        ("tiny.toml", "sites[0].supervisor_hours_per_week", "nan"),
    ),
    "set_unknown_site": Case(("run", "tiny.toml", "--set", "east.caseload_cap=5"), ("east", "north, south")),
    "set_without_value": Case(("run", "tiny.toml", "--set", "north.caseload_cap="), ("no value",)),
    "compare_mode_and_horizon": Case(
        ("compare", "tiny.toml", "tiny_service.toml", "-n", "2"),
        ("tiny_service", "mode service instead of trial", "follow_up_weeks 40", "--allow-design-change"),
    ),
    "compare_horizon": Case(
        ("compare", "tiny.toml", "tiny_longer.toml", "-n", "2"), ("follow_up_weeks 30 instead of 26",)
    ),
    "compare_one_replicate": Case(
        ("compare", "tiny.toml", "tiny.toml", "-n", "1"), ("--replicates", "2"), usage=True
    ),
    "compare_nothing_to_compare": Case(("compare", "tiny.toml"), ("WHATIF", "--set")),
    "plan_target_out_of_range": Case(
        ("plan", SITE, "-t", "engagement_rate>=1.7"), ("--target", "engagement_rate", "0 to 1", "1.7")
    ),
    "plan_target_negative_rate": Case(("plan", SITE, "-t", "fidelity_index<=-0.1"), ("--target", "-0.1")),
    "plan_targets_contradict": Case(
        ("plan", SITE, "-t", "engagement_rate>=0.5", "-t", "engagement_rate<=0.3"),
        ("engagement_rate>=0.5", "engagement_rate<=0.3", "contradict"),
    ),
    "plan_target_unknown_metric": Case(("plan", SITE, "-t", "engagment>=0.5"), ("engagment", "metrics are")),
    "plan_target_operator": Case(("plan", SITE, "-t", "engagement_rate>0.5"), (">=", "<=")),
    "plan_target_not_a_number": Case(("plan", SITE, "-t", "engagement_rate>=half"), ("'half'",)),
    "plan_budget_negative": Case(("plan", SITE, "--budget", "-5"), ("--budget",)),
    "plan_cost_huge": Case(
        ("plan", SITE, "-c", "cost_huge.toml"), ("cost_huge.toml", "unit_costs.readmission")
    ),
    "plan_cost_inf": Case(("plan", SITE, "-c", "cost_inf.toml"), ("cost_inf.toml", "unit_costs.readmission")),
    "plan_cost_nan": Case(("plan", SITE, "-c", "cost_nan.toml"), ("cost_nan.toml", "unit_costs.readmission")),
    "plan_cost_negative": Case(
        ("plan", SITE, "-c", "cost_negative.toml"),
        ("cost_negative.toml", "unit_costs.readmission", "negative"),
    ),
    "plan_lever_negative": Case(
        ("plan", SITE, "-c", "cost_lever_negative.toml"), ("levers.n_peer_workers.values[0]", "-10")
    ),
    "plan_lever_empty": Case(
        ("plan", SITE, "-c", "cost_lever_empty.toml"), ("levers.n_peer_workers.values",)
    ),
    "plan_lever_unknown": Case(("plan", SITE, "-c", "cost_unknown_lever.toml"), ("levers.n_peer_worker",)),
    "plan_costs_malformed": Case(
        ("plan", SITE, "-c", "cost_malformed.toml"), ("cost_malformed.toml", "malformed")
    ),
    "plan_costs_missing": Case(("plan", SITE, "-c", "absent.toml"), ("absent.toml", "no such file")),
    "plan_site_trial_mode": Case(("plan", "tiny.toml"), ("tiny.toml",)),
    "calibrate_target_out_of_range": Case(
        ("calibrate", "targets_rate_17.toml", "--quick"),
        ("targets_rate_17.toml", "targets[0]", "1.7", "0 to 1"),
    ),
    "calibrate_target_unknown_metric": Case(
        ("calibrate", "targets_unknown_metric.toml", "--quick"),
        ("targets_unknown_metric.toml", "readmission_rate_contrl"),
    ),
    "calibrate_targets_malformed": Case(
        ("calibrate", "targets_malformed.toml", "--quick"), ("targets_malformed.toml", "malformed")
    ),
    "calibrate_targets_missing": Case(("calibrate", "absent.toml"), ("absent.toml", "no such file")),
    "ppc_target_out_of_range": Case(("ppc", "targets_rate_17.toml"), ("targets_rate_17.toml", "1.7")),
    "ppc_posterior_missing": Case(
        ("ppc", "--posterior", "absent.parquet"), ("absent.parquet", "no such file")
    ),
    "run_posterior_not_parquet": Case(
        ("run", "tiny.toml", "--posterior", "tiny.toml"), ("tiny.toml", "Parquet")
    ),
    "run_posterior_and_no_posterior": Case(
        ("run", "tiny.toml", "--posterior", "partial.parquet", "--no-posterior"),
        ("--posterior", "--no-posterior"),
    ),
    "sensitivity_factors_inverted": Case(
        ("sensitivity", "factors_inverted.toml"), ("factors_inverted.toml",)
    ),
    "sensitivity_factors_unknown": Case(
        ("sensitivity", "factors_unknown.toml"), ("factors_unknown.toml", "supervisor_hours")
    ),
    "sensitivity_unknown_output": Case(("sensitivity", "--outputs", "engagment"), ("engagment",)),
    # Missing and malformed files, per command.
    "run_missing_scenario": Case(("run", "absent.toml"), ("absent.toml", "no such file")),
    "run_scenario_is_directory": Case(("run", "scen"), ("scen", "not a file")),
    "run_malformed": Case(("run", "malformed.toml"), ("malformed.toml", "malformed TOML", "line 2")),
    "compare_missing_whatif": Case(("compare", "tiny.toml", "absent.toml"), ("absent.toml", "no such file")),
    "plot_scenario_file": Case(("plot", "tiny.toml"), ("tiny.toml", "not a run store")),
    "plot_missing_store": Case(("plot", "absent"), ("absent",)),
    "sensitivity_missing_scenario": Case(("sensitivity", "--scenario", "absent.toml"), ("absent.toml",)),
    "calibrate_missing_scenario": Case(("calibrate", "--scenario", "absent.toml"), ("absent.toml",)),
    "plan_missing_site": Case(("plan", "absent.toml"), ("absent.toml", "no such file")),
    "validate_missing": Case(("validate", "absent.toml"), ("absent.toml", "no such file")),
    "validate_malformed": Case(
        ("validate", "tiny.toml", "malformed.toml"), ("malformed.toml",), reports=True
    ),
    "calibrate_db_under_file": Case(("calibrate", "--quick", "--db", "afile/history.db"), ("--db", "afile")),
    "plan_budget_nan": Case(("plan", SITE, "--budget", "nan"), ("--budget",)),
    "run_set_unknown_mode": Case(("run", "tiny.toml", "--set", "mode=lab"), ("tiny.toml", "mode", "lab")),
    "run_set_zero_recruitment": Case(
        ("run", "tiny.toml", "--set", "horizon.recruitment_weeks=0"), ("horizon.recruitment_weeks", "0")
    ),
    "run_set_unknown_key": Case(
        ("run", "tiny.toml", "--set", "north.supervisor_hours=4"),
        ("sites[0].supervisor_hours", "unknown key"),
    ),
    "sensitivity_unknown_method": Case(("sensitivity", "--method", "fast"), ("fast",)),
    # The dynamics of a real service (issue 12), through `validate` and `run`.
    **{
        f"{command}_{name}": Case((command, file), (file, *names))
        for command in ("validate", "run")
        for name, file, names in (
            ("group_shares_sum", "shares_sum.toml", ("sites[0]", "share_psychosis", "must sum to 1")),
            (
                "funding_before_start",
                "funding_before_start.toml",
                ("sites[1].funding_end_week", "-4", "before the service starts"),
            ),
            ("horizon_too_long", "horizon_too_long.toml", ("horizon.recruitment_weeks", "400", "1 to 260")),
            ("duties_negative", "duties_negative.toml", ("sites[0].other_duties_share", "-0.1", "0 to 0.6")),
            ("switch_unknown", "switch_unknown.toml", ("switches.capacty", "unknown key", "patient_flow")),
            ("switch_not_boolean", "switch_not_boolean.toml", ("switches.capacity", "true or false", "'no'")),
        )
    },
    # Options.
    "unknown_option": Case(("run", "--replicate", "2"), ("--replicate",), usage=True),
    "executor_unknown": Case(("run", "--executor", "mpi"), ("--executor",), usage=True),
    "scheduler_without_dask": Case(
        ("run", "tiny.toml", "--scheduler", "tcp://127.0.0.1:1"), ("--scheduler",)
    ),
}
"""Every bad input of issue 15, and more: name -> case."""


def _hashes(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cases' working folder: the input files, a posterior missing a column, a small run store."""
    root = tmp_path_factory.mktemp("bad-inputs")
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    particles = default_posterior().to_frame().drop(columns=["rel_strain"])
    particles.to_parquet(root / "partial.parquet", index=False)
    code, _out, err = main_in_process(
        ["run", "tiny.toml", "-n", "2", "--no-posterior", "--out", "store"], root
    )
    assert code == 0, err
    return root


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, workdir: Path) -> None:
    case = CASES[name]
    before = _hashes(workdir)
    started = time.perf_counter()
    code, stdout, stderr = main_in_process(list(case.argv), workdir)
    seconds = time.perf_counter() - started
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == case.exit, f"exit {code} ({EXIT_CODES.get(code)}), stderr: {stderr}"
    assert "Traceback" not in stderr
    if case.usage:
        assert lines[-1].startswith("Error:"), stderr
    else:
        assert len(lines) == 1, f"{len(lines)} lines: {stderr}"
        assert lines[0].startswith("peersim: error: "), stderr
    message = lines[-1]
    for fragment in case.names:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    for fragment in ("np.float64", "Traceback", "Input should", "after validation"):
        assert fragment not in message, message
    if case.reports:
        assert "malformed" not in stdout
    else:
        assert stdout == ""
    after = _hashes(workdir)
    assert after == before, f"files changed: {set(after) ^ set(before)}"
    # Refused before any simulation: the plan and calibration cases would run for minutes,
    # so a refusal after work would blow this. Refusals took 0.01-0.6 s alone; under a load
    # of 8 on 2 cores, `plan` took up to 9 s, because its pool's forkserver starts first.
    assert seconds < 30.0, f"took {seconds:.1f} s: did work start before the check?"


def test_exit_code_table_is_in_readme() -> None:
    """The README's exit-code table is the one the commands use."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = {
        int(cells[1]): cells[2]
        for line in readme.splitlines()
        if (cells := [c.strip() for c in line.split("|")]) and len(cells) == 4 and cells[1].isdigit()
    }
    assert rows == EXIT_CODES


def test_the_table_covers_every_case_of_the_issue() -> None:
    """The cases of issue 15 (its 17 tracebacks, 12 silent acceptances and wording) are all rows."""
    from_issue = {
        "run_out_under_file", "run_out_proc", "compare_out_under_file", "plot_out_proc", "ppc_out_under_file",
        "calibrate_out_under_file", "sensitivity_out_under_file", "plan_out_under_file",
        "run_huge_n", "compare_huge_n", "sensitivity_huge_n", "site_named_overall", "run_seed_2_64",
        "plan_target_out_of_range", "calibrate_target_out_of_range", "plan_targets_contradict",
        "plan_cost_huge", "plan_lever_negative", "compare_mode_and_horizon", "repeated_set",
        "run_out_folder_of_scenarios", "set_nan", "plot_scenario_file",
    }  # fmt: skip
    assert from_issue <= set(CASES)
    assert len(CASES) >= 90, len(CASES)


def test_a_partial_posterior_is_used_with_a_warning(workdir: Path) -> None:
    """Accepted, not refused: a posterior of some mechanisms is what calibrating a subset makes."""
    code, stdout, stderr = main_in_process(
        ["run", "tiny.toml", "-n", "2", "--posterior", "partial.parquet"], workdir
    )
    assert code == 0, stderr
    assert "peersim: warning: partial.parquet" in stderr
    assert "rel_strain" in stderr
    assert "drawn from partial.parquet" in stdout


def test_a_byte_order_mark_is_accepted(workdir: Path, tmp_path: Path) -> None:
    """Windows editors save UTF-8 with a byte-order mark; it is not a TOML error."""
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbf" + TINY_TOML.encode("utf-8"))
    code, stdout, stderr = main_in_process(["validate", "bom.toml"], tmp_path)
    assert code == 0, stderr
    assert "bom.toml" in stdout
