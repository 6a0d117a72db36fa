"""Posterior predictive checks, identifiability and the report, on posteriors with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from peersim.calibration.posterior import Posterior
from peersim.calibration.priors import build_priors
from peersim.calibration.report import (
    NOT_INFORMED_RATIO,
    identifiability,
    posterior_predictive,
    ppc_figure,
    predictive_draws,
)
from peersim.calibration.smc import CalibrationProblem
from peersim.calibration.targets import bind_targets, targets_from_dict
from peersim.calibration.workflow import CHECK_FILES, check_posterior
from peersim.errors import PeersimInputError
from peersim.parameters import MECHANISM_PARAMS
from peersim.scenario_io import parse_scenario

SCENARIO = parse_scenario(
    """
name = "ppc"
[horizon]
recruitment_weeks = 12
follow_up_weeks = 26
[[sites]]
name = "town"
host = "nhs"
geography = "urban"
n_peer_workers = 3
supervisor_hours_per_week = 6
eligible_admissions_per_week = 5
[[sites]]
name = "county"
host = "not_for_profit"
geography = "rural"
n_peer_workers = 3
supervisor_hours_per_week = 2
eligible_admissions_per_week = 5
""",
    source="<ppc>",
)

AT_DEFAULTS = Posterior(
    pd.DataFrame({"p_readmit_12m_usual_care": [0.51], "p_attend_base": [0.6]}), np.array([1.0])
)
"""All weight on the declared defaults: predictions are the model's own noise at the defaults."""


def targets(*extra: dict[str, object]) -> dict[str, object]:
    base = [
        {
            "name": "control_plausible",  # 26-week follow-up: about 0.35 at the 12-month default 0.51
            "metric": "readmission_rate_control",
            "value": 0.35,
            "low": 0.25,
            "high": 0.45,
            "source": "test",
            "confidence": "A",
        },
        {
            "name": "control_impossible",
            "metric": "readmission_rate_control",
            "value": 0.95,
            "low": 0.9,
            "high": 0.99,
            "source": "test",
            "confidence": "A",
        },
        {
            "name": "nhs_engages_more",
            "metric": "engagement_rate",
            "compare": "difference",
            "a": {"sites": ["town"]},
            "b": {"sites": ["county"]},
            "at_least": 0.0,
            "source": "test",
            "confidence": "V",
        },
        {
            "name": "nhs_engages_less",
            "metric": "engagement_rate",
            "compare": "difference",
            "a": {"sites": ["town"]},
            "b": {"sites": ["county"]},
            "at_most": 0.0,
            "source": "test",
            "confidence": "V",
        },
    ]
    return {
        "name": "ppc_test",
        "priors": {"parameters": ["p_attend_base", "p_readmit_12m_usual_care"]},
        "targets": base + list(extra),
    }


@pytest.fixture(scope="module")
def checked() -> tuple[pd.DataFrame, pd.DataFrame]:
    bound = bind_targets(targets_from_dict(targets()), SCENARIO)
    draws = predictive_draws(AT_DEFAULTS, SCENARIO, bound, draws=30, seed=0)
    return draws, posterior_predictive(draws, bound)


def test_ppc_passes_what_the_model_produces_and_fails_what_it_cannot(
    checked: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    draws, table = checked
    result = table.set_index("target")
    # Seen: control readmission median 0.34, 95% interval [0.23, 0.45] (30 draws).
    assert result.loc["control_plausible", "passed"]
    assert (
        result.loc["control_plausible", "simulated_lo"]
        < 0.35
        < result.loc["control_plausible", "simulated_hi"]
    )
    # 0.95 is far above anything one run produces at p = 0.51 (seen max 0.47).
    assert not result.loc["control_impossible", "passed"]
    assert result.loc["control_impossible", "share_meeting"] == 0.0
    # The NHS urban site engages more than the rural not-for-profit one in nearly every draw
    # (seen: 29 of 30 draws, median gap 0.30), so the opposite constraint fails.
    assert result.loc["nhs_engages_more", "passed"]
    assert not result.loc["nhs_engages_less", "passed"]
    shares = result["share_meeting"]
    assert shares["nhs_engages_more"] + shares["nhs_engages_less"] >= 1.0  # ties meet both
    assert len(draws) == 30
    assert isinstance(ppc_figure(table, draws, bind_targets(targets_from_dict(targets()), SCENARIO)), Figure)


def test_ppc_draws_are_the_replicates_run_would_make(checked: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from peersim.calibration.posterior import PosteriorReplicateTask, run_posterior_replicate

    draws, _ = checked
    replicate = run_posterior_replicate(PosteriorReplicateTask(SCENARIO, 0, 4, AT_DEFAULTS))
    assert draws.loc[4, "control_plausible"] == replicate.metric("readmission_rate_control")


def test_identifiability_flags_what_the_posterior_did_not_narrow() -> None:
    priors = build_priors(targets_from_dict(targets()))
    rng = np.random.default_rng(1)
    attend = MECHANISM_PARAMS["p_attend_base"]
    posterior = Posterior(
        pd.DataFrame(
            {
                "p_attend_base": rng.uniform(attend.low, attend.high, 2000),  # the prior itself
                "p_readmit_12m_usual_care": rng.normal(0.5, 0.01, 2000).clip(0.3, 0.7),
            }
        ),
        np.ones(2000),
    )
    table = identifiability(posterior, priors).set_index("parameter")
    # Uniform draws: ratio 1 within sampling noise (seen 1.00); normal SD 0.01 vs prior SD 0.115: 0.09.
    assert table.loc["p_attend_base", "spread_ratio"] == pytest.approx(1.0, abs=0.05)
    assert not table.loc["p_attend_base", "informed"]
    assert table.loc["p_readmit_12m_usual_care", "spread_ratio"] < 0.2
    assert table.loc["p_readmit_12m_usual_care", "informed"]
    assert table.loc["p_readmit_12m_usual_care", "posterior_q05"] == pytest.approx(
        0.5 - 1.645 * 0.01, abs=0.003
    )
    assert NOT_INFORMED_RATIO == 0.8


def test_check_posterior_writes_the_report(tmp_path: Path) -> None:
    problem = CalibrationProblem.build(targets_from_dict(targets(), source="t.toml"), SCENARIO)
    result, written = check_posterior(AT_DEFAULTS, problem, draws=10, seed=2, out=tmp_path)
    assert sorted(p.name for p in written) == sorted(CHECK_FILES)
    report = (tmp_path / "report.md").read_text()
    assert "## Posterior predictive check" in report
    assert "| control_impossible | point | 0.95 [0.9, 0.99] |" in report
    assert f"{int(result.ppc['passed'].sum())} of 4 targets pass." in report
    # The prior predictive runs on the same replicate seeds, for comparison.
    assert set(result.draws["draws_from"]) == {"posterior", "prior"}
    prior_share = result.ppc.set_index("target")["prior_share_meeting"]
    assert prior_share["control_impossible"] == 0.0  # no prior value reaches 0.9 in 26 weeks
    with pytest.raises(PeersimInputError, match="already holds"):
        check_posterior(AT_DEFAULTS, problem, draws=10, seed=2, out=tmp_path)


def test_a_posterior_without_the_calibrated_parameters_is_refused() -> None:
    problem = CalibrationProblem.build(targets_from_dict(targets(), source="t.toml"), SCENARIO)
    only_one = Posterior(pd.DataFrame({"p_attend_base": [0.6]}), np.array([1.0]), source="one.parquet")
    with pytest.raises(PeersimInputError, match=r"^one.parquet: has no column for calibrated parameter"):
        check_posterior(only_one, problem, draws=10, seed=0, out=None)
