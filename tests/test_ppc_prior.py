"""The prior predictive check beside the posterior's: what each target taught, flags, ``ppc --json``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import run_peersim, town_and_county_toml
from peersim.calibration.analysis import (
    INFORMATIVE_GAIN,
    PARAMETER_VERDICTS,
    observed_percentile,
    parameter_verdict,
    posterior_predictive,
    prior_cannot_meet,
    target_verdict,
)
from peersim.calibration.inputs import bind_targets, targets_from_dict
from peersim.calibration.report import target_records
from peersim.calibration.smc import CalibrationProblem
from peersim.calibration.workflow import CheckResult, check_posterior
from peersim.cli.ppc import print_check
from peersim.core.scenario_files import parse_scenario
from peersim.uncertainty import Posterior

SCENARIO_TOML = town_and_county_toml("ppc_prior", 12, admissions=5, supervision=(6, 2), peer_workers=3)
SCENARIO = parse_scenario(SCENARIO_TOML, source="<ppc_prior>")

AT_DEFAULTS = Posterior(
    pd.DataFrame({"p_readmit_12m_usual_care": [0.51], "p_attend_base": [0.6]}), np.array([1.0])
)
"""All weight on the declared defaults (one particle: every spread ratio is 0)."""

CONTROL = {
    "metric": "readmission_rate_control",
    "value": 0.35,
    "low": 0.25,
    "high": 0.45,
    "source": "test",
    "confidence": "A",
}
UNREACHABLE = {
    # Engagement among 60 peer-support participants: seen at most 0.87 under the priors
    # (10 draws, p_attend_base up to 0.95), far below 0.99.
    "name": "engaged_unreachable",
    "metric": "engagement_rate",
    "value": 0.995,
    "low": 0.99,
    "high": 1.0,
    "source": "test",
    "confidence": "A",
}
NEVER = {
    # Half-year usual-care readmission: seen at most 0.61 under the priors (p_12m up to 0.7).
    "name": "control_never",
    "metric": "readmission_rate_control",
    "at_least": 0.95,
    "source": "test",
    "confidence": "V",
}
TARGET_LIST: list[dict[str, Any]] = [{"name": "control", **CONTROL}, UNREACHABLE, NEVER]
TARGETS = {
    "name": "ppc_prior_test",
    "priors": {"parameters": ["p_attend_base", "p_readmit_12m_usual_care"]},
    "targets": TARGET_LIST,
}


# --- the verdict rule, on synthetic draws (no simulation) -------------------------------------


@pytest.mark.parametrize(
    ("prior_passed", "posterior_passed", "prior_share", "posterior_share", "verdict"),
    [
        (True, True, 0.80, 0.85, "already met"),  # gain 0.05 < 0.10
        (True, True, 0.50, 0.60, "informative"),  # gain 0.10: clearly higher
        (True, True, math.nan, 0.60, "already met"),  # no share to compare: no gain shown
        (False, True, 0.20, 0.25, "informative"),  # the priors fail, the posterior passes
        (False, False, 0.00, 0.00, "missed"),
        (True, False, 0.90, 0.40, "missed"),  # the posterior fails whatever the prior did
        (None, True, math.nan, 0.90, "met"),  # no prior draws
    ],
)
def test_target_verdict_rule(
    prior_passed: bool | None,
    posterior_passed: bool,
    prior_share: float,
    posterior_share: float,
    verdict: str,
) -> None:
    assert INFORMATIVE_GAIN == 0.10
    assert target_verdict(prior_passed, posterior_passed, prior_share, posterior_share) == verdict


def test_flag_and_parameter_verdicts() -> None:
    assert prior_cannot_meet(False, 0.0)
    assert prior_cannot_meet(False, 0.01)
    assert not prior_cannot_meet(False, 0.05)  # failing, but some prior draws meet it
    assert not prior_cannot_meet(True, 0.0)  # a point target inside a wide prior interval
    assert not prior_cannot_meet(None, math.nan)
    assert parameter_verdict(0.3) == "identified"
    assert parameter_verdict(0.5) == "identified"
    assert parameter_verdict(0.7) == "partly informed"
    assert parameter_verdict(0.95) == "not informed: stays at its prior"
    assert parameter_verdict(math.nan) == "not informed: stays at its prior"
    disguised = "identified only because a target sets it directly (an input in disguise)"
    assert parameter_verdict(0.1, "control_readmission") == disguised == PARAMETER_VERDICTS["set directly"]
    assert parameter_verdict(0.9, "control_readmission") == "not informed: stays at its prior"


def test_observed_percentile_counts_ties_half() -> None:
    values = np.array([0.1, 0.2, 0.3, 0.4, np.nan])
    assert observed_percentile(0.25, values) == 50.0
    assert observed_percentile(0.3, values) == 62.5
    assert observed_percentile(0.05, values) == 0.0
    assert math.isnan(observed_percentile(0.3, np.array([np.nan])))


def test_the_verdict_of_each_target_on_a_synthetic_table() -> None:
    names = ["already", "informative", "sharpened", "missed"]
    raw = {
        "name": "synthetic",
        "targets": [{"name": name, **CONTROL} for name in names]
        + [{**NEVER, "name": "ordinal_missed"}, {**NEVER, "name": "ordinal_learnt", "at_least": 0.3}],
    }
    bound = bind_targets(targets_from_dict(raw), SCENARIO)
    grid = np.linspace(0.0, 1.0, 101)
    prior = {
        "already": 0.2 + 0.3 * grid,  # 0.20-0.50: 0.35 inside its 95% interval; 67% in [0.25, 0.45]
        "informative": 0.6 + 0.3 * grid,  # 0.60-0.90: observed below every draw
        "sharpened": 0.102 + 0.5 * grid,  # 0.102-0.602: passes; 40 of 101 in [0.25, 0.45]
        "missed": 0.6 + 0.3 * grid,
        "ordinal_missed": 0.3 + 0.2 * grid,  # never >= 0.95
        "ordinal_learnt": 0.001 + 0.4 * grid,  # 26 of 101 >= 0.3
    }
    posterior = {
        "already": 0.2 + 0.3 * grid,
        "informative": 0.3 + 0.1 * grid,
        "sharpened": 0.3 + 0.1 * grid,  # all inside [0.25, 0.45]
        "missed": 0.6 + 0.3 * grid,
        "ordinal_missed": 0.3 + 0.2 * grid,
        "ordinal_learnt": 0.251 + 0.2 * grid,  # 76 of 101 >= 0.3
    }
    table = posterior_predictive(pd.DataFrame(posterior), bound, pd.DataFrame(prior)).set_index("target")
    assert table["verdict"].to_dict() == {
        "already": "already met",
        "informative": "informative",
        "sharpened": "informative",
        "missed": "missed",
        "ordinal_missed": "missed",
        "ordinal_learnt": "informative",
    }
    assert table["prior_cannot_meet"].to_dict() == {
        "already": False,
        "informative": True,  # no prior draw inside [0.25, 0.45]
        "sharpened": False,
        "missed": True,
        "ordinal_missed": True,
        "ordinal_learnt": False,
    }
    assert table.loc["already", "prior_share_meeting"] == pytest.approx(67 / 101)
    assert table.loc["sharpened", "share_gain"] == pytest.approx(1 - 40 / 101)
    assert table.loc["already", "prior_percentile"] == pytest.approx(50.0, abs=1.0)  # mid-way in 0.2-0.5
    assert table.loc["informative", "prior_percentile"] == 0.0
    assert math.isnan(
        table["posterior_percentile"].to_dict()["ordinal_learnt"]
    )  # ordinal: share is its location
    assert table.loc["ordinal_learnt", "posterior_share_meeting"] == pytest.approx(76 / 101)
    # Same rule for both: the point interval is the 2.5-97.5 percentiles of the draws.
    assert table.loc["informative", "prior_lo"] == pytest.approx(0.6 + 0.3 * 0.025)
    assert not table.loc["informative", "prior_passed"]
    assert table.loc["informative", "posterior_passed"]
    # The peersim 0.1 columns stay, as the posterior's.
    assert (table["passed"] == table["posterior_passed"]).all()
    assert (table["simulated_lo"] == table["posterior_lo"]).all()
    assert (table["share_meeting"] == table["posterior_share_meeting"]).all()
    assert set(table["sets_parameter"]) == {"p_readmit_12m_usual_care"}  # all on control readmission
    records = {r["name"]: r for r in target_records(table.reset_index())}
    assert records["ordinal_learnt"]["posterior_predictive"]["observed_percentile"] is None


# --- real runs (10 draws each on a 120-participant trial) --------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[CheckResult, Path]:
    out = tmp_path_factory.mktemp("ppc_prior") / "check"
    problem = CalibrationProblem.build(targets_from_dict(TARGETS, source="t.toml"), SCENARIO)
    result, _ = check_posterior(AT_DEFAULTS, problem, draws=10, seed=0, out=out)
    return result, out


def test_the_prior_predictive_check_is_reported(written: tuple[CheckResult, Path]) -> None:
    result, out = written
    table = result.ppc.set_index("target")
    assert (table["prior_n_draws"] == 10).all()
    assert table[["prior_median", "prior_lo", "prior_hi", "prior_share_meeting"]].notna().all().all()
    assert table["prior_passed"].dtype == bool
    # Seen: control readmission under the priors 0.21-0.61, at the defaults 0.23-0.47 (10 draws).
    assert table["prior_lo"].to_dict()["control"] < 0.35 < table["prior_hi"].to_dict()["control"]
    assert table.loc["control", "prior_passed"]
    assert table.loc["control", "posterior_passed"]
    report = (out / "report.md").read_text()
    assert "## Prior and posterior predictive check" in report
    header = "| target | kind | observed | confidence | prior median [95%] | prior meets | prior pass |"
    assert header in report
    assert "targets were already met under the priors: they did not inform the calibration" in report
    ident = pd.read_csv(out / "identifiability.csv").set_index("parameter")
    # One particle: spread ratio 0 for both; the control readmission target sets one directly.
    assert ident.loc["p_readmit_12m_usual_care", "verdict"] == PARAMETER_VERDICTS["set directly"]
    assert ident.loc["p_readmit_12m_usual_care", "set_by"] == "control, control_never"
    assert ident.loc["p_attend_base", "verdict"] == "identified"
    assert "Set directly by a target (inputs in disguise): p_readmit_12m_usual_care (by control" in report


def test_targets_the_priors_cannot_meet_are_flagged(
    written: tuple[CheckResult, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    result, out = written
    table = result.ppc.set_index("target")
    assert table.loc["engaged_unreachable", "prior_share_meeting"] == 0.0
    assert table.loc["control_never", "prior_share_meeting"] == 0.0
    assert table["prior_cannot_meet"].to_dict() == {
        "control": False,
        "engaged_unreachable": True,
        "control_never": True,
    }
    assert table.loc["engaged_unreachable", "verdict"] == "missed"
    # The table
    print_check(result.ppc, result.identifiability)
    printed = capsys.readouterr().out
    lines = {line.split()[0]: line for line in printed.splitlines() if line.strip()}
    assert "PRIORS CANNOT MEET" in lines["engaged_unreachable"]
    assert "PRIORS CANNOT MEET" in lines["control_never"]
    assert "PRIORS CANNOT MEET" not in lines["control"]
    assert "FLAG engaged_unreachable: the priors cannot meet it" in printed
    assert "of 3 targets were already met under the priors" in printed
    # The report
    report = (out / "report.md").read_text()
    assert "| engaged_unreachable | point | 0.995 [0.99, 1] | A |" in report
    rows = [line for line in report.splitlines() if line.startswith("| engaged_unreachable |")]
    assert len(rows) == 2  # the targets, then the predictive check
    row = rows[1]
    assert row.endswith("| missed | PRIORS CANNOT MEET |")
    assert "FLAG control_never: the priors cannot meet it" in report
    # The JSON record
    record = json.loads((out / "calibration.json").read_text())
    flags = {t["name"]: t["prior_cannot_meet"] for t in record["targets"]}
    assert flags == {"control": False, "engaged_unreachable": True, "control_never": True}
    assert record["predictive_summary"]["prior_cannot_meet"] == ["engaged_unreachable", "control_never"]
    assert record["target_set"] == "ppc_prior_test (t.toml)"
    assert "ppc" not in record  # replaced by "targets"


def test_ppc_json_contract(tmp_path: Path) -> None:
    (tmp_path / "scenario.toml").write_text(SCENARIO_TOML)
    (tmp_path / "targets.toml").write_text(
        'name = "cli_prior"\n[priors]\nparameters = ["p_attend_base", "p_readmit_12m_usual_care"]\n'
        + "".join(
            "\n[[targets]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in target.items())
            for target in TARGET_LIST
        )
    )
    AT_DEFAULTS.save(tmp_path / "posterior.parquet")
    args = ["ppc", "targets.toml", "--scenario", "scenario.toml", "--posterior", "posterior.parquet"]
    result = run_peersim([*args, "--draws", "10", "--jobs", "1", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert document["posterior"]["source"] == "posterior.parquet"
    assert document["posterior"]["particles"] == 1
    assert document["posterior"]["effective_sample_size"] == 1.0
    assert [t["name"] for t in document["targets"]] == ["control", "engaged_unreachable", "control_never"]
    keys = {"median", "lo", "hi", "share_meeting", "passed", "observed_percentile", "n_draws"}
    for target in document["targets"]:
        assert {"name", "kind", "observed", "confidence", "verdict", "prior_cannot_meet"} <= set(target)
        assert set(target["prior_predictive"]) == keys
        assert set(target["posterior_predictive"]) == keys
        assert target["prior_predictive"]["n_draws"] == 10
        assert isinstance(target["prior_predictive"]["passed"], bool)
    by_name = {t["name"]: t for t in document["targets"]}
    assert by_name["control"]["kind"] == "point"
    assert by_name["control"]["observed"] == "0.35 [0.25, 0.45]"
    assert by_name["control_never"]["kind"] == "ordinal"
    assert by_name["control_never"]["posterior_predictive"]["observed_percentile"] is None
    assert by_name["engaged_unreachable"]["prior_cannot_meet"] is True
    parameters = {p["parameter"]: p for p in document["parameters"]}
    assert set(parameters) == {"p_attend_base", "p_readmit_12m_usual_care"}
    assert parameters["p_readmit_12m_usual_care"]["spread_ratio"] == 0.0
    assert parameters["p_readmit_12m_usual_care"]["verdict"] == PARAMETER_VERDICTS["set directly"]
    assert document["draws"] == 10
    assert document["written"] == []
