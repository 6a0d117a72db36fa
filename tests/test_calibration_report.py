"""Posterior predictive checks, identifiability and the report, on posteriors with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from conftest import town_and_county
from peersim.calibration.analysis import NOT_INFORMED_RATIO, identifiability, posterior_predictive
from peersim.calibration.evaluate import predictive_draws
from peersim.calibration.figures import ppc_figure
from peersim.calibration.inputs import bind_targets, build_priors, targets_from_dict
from peersim.calibration.report import report_markdown
from peersim.calibration.smc import CalibrationProblem
from peersim.calibration.workflow import CHECK_FILES, check_posterior
from peersim.core.parameters import MECHANISM_PARAMS
from peersim.errors import PeersimInputError
from peersim.simulation import Runner
from peersim.uncertainty import Posterior

SCENARIO = town_and_county("ppc", 12, admissions=5, supervision=(6, 2), peer_workers=3)

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
    draws, _ = checked
    replicate = Runner(AT_DEFAULTS).replicate(SCENARIO, 0, 4)
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


GOLDEN_REPORT = (
    "# Calibration report: golden\n"
    "\n"
    "- **population**: 20\n"
    "- **effective_sample_size**: 12.3\n"
    "- **sampler**: pyabc SingleCoreSampler (reproducible)\n"
    "\n"
    "**Few effective particles (ESS 12.3 < 50):** the posterior rests on a handful of particles, so "
    "its intervals and spread ratios are rough. Raise --population (and --generations) for results "
    "to rely on.\n"
    "\n"
    "## Targets\n"
    "\n"
    "| target | observed | confidence | weight | source |\n"
    "|---|---|---|---|---|\n"
    "| control | 0.35 [0.25, 0.45] | A | 2.000 | test |\n"
    "| nhs_engages_more | >= 0 | V | 1.000 | test |\n"
    "\n"
    "## Generations\n"
    "\n"
    "| t | epsilon | samples | particles | acceptance_rate | wall_time |\n"
    "|---|---|---|---|---|---|\n"
    "| 0 | 2.500 | 40 | 20 | 0.500 | 3.000 |\n"
    "| 1 | 1.250 | 52 | 20 | 0.385 | 4.500 |\n"
    "\n"
    "## Parameters: prior against posterior\n"
    "\n"
    "Spread ratio = weighted posterior SD / prior SD: up to 0.5 the parameter is identified, up to "
    "0.8 partly informed, above 0.8 the targets did not inform it and it stays at its prior "
    "(informed = no). A parameter a target sets directly (`set_by`) is narrowed only because that "
    "target feeds it straight back: an input in disguise, not something the calibration learnt. "
    "Intervals are the weighted 5th-95th percentiles.\n"
    "\n"
    "| parameter | prior_low | prior_high | posterior_mean | posterior_q05 | posterior_q95 | "
    "spread_ratio | informed | verdict |\n"
    "|---|---|---|---|---|---|---|---|---|\n"
    "| p_attend_base | 0.300 | 0.950 | 0.600 | 0.350 | 0.900 | 0.950 | no | not informed: stays at "
    "its prior |\n"
    "| p_readmit_12m_usual_care | 0.300 | 0.700 | 0.500 | 0.450 | 0.550 | 0.250 | yes | identified "
    "only because a target sets it directly (an input in disguise) |\n"
    "\n"
    "Not informed: p_attend_base.\n"
    "\n"
    "Set directly by a target (inputs in disguise): p_readmit_12m_usual_care (by control).\n"
    "\n"
    "![Prior against posterior marginals](marginals.png)\n"
    "\n"
    "## Prior and posterior predictive check\n"
    "\n"
    "Each posterior draw is one replicate as `peersim run` with this posterior makes it (one "
    "study-sized run, its mechanisms drawn from the posterior); each prior draw is the same "
    "replicate with its mechanisms drawn from the priors instead, i.e. before calibration. The same "
    "rule judges both: a point target passes when the observed value lies in the simulated 95% "
    "interval (median [2.5th, 97.5th percentiles] shown); an ordinal target when at least 50% of "
    "draws meet it. `meets`: share of draws inside the observed interval (point) or meeting the "
    "constraint (ordinal). `observed pctl`: where a point observation falls among the draws (percent "
    "of draws below it); for an ordinal target the share meeting is where it falls.\n"
    "\n"
    "Verdict: a target the priors already pass, whose share meeting the posterior raises by less "
    "than 0.10, is `already met`: it cannot fail the check, so it taught the calibration little or "
    "nothing. A target no more than 1% of the prior draws meet (its prior check failing) is flagged "
    "`PRIORS CANNOT MEET`.\n"
    "\n"
    "| target | kind | observed | confidence | prior median [95%] | prior meets | prior pass | "
    "posterior median [95%] | posterior meets | posterior pass | observed pctl prior / posterior | "
    "verdict | flag |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    "| control | point | 0.35 [0.25, 0.45] | A | 0.400 [0.200, 0.600] | 0.400 | yes | 0.340 [0.230, "
    "0.450] | 0.900 | yes | 25 / 55 | informative |  |\n"
    "| nhs_engages_more | ordinal | >= 0 | V | - | 0.000 | no | - | 0.000 | no | - | missed | PRIORS "
    "CANNOT MEET |\n"
    "\n"
    "- **informative**: the priors miss it (or meet it in clearly fewer draws) and the posterior "
    "meets it: it informed the calibration.\n"
    "- **missed**: the posterior fails it: the calibrated model cannot meet it.\n"
    "\n"
    "1 of 2 targets pass the posterior predictive check; 1 of 2 already pass under the priors.\n"
    "\n"
    "0 of 2 targets were already met under the priors: they did not inform the calibration.\n"
    "\n"
    "Missed (the calibrated model cannot meet them): nhs_engages_more.\n"
    "\n"
    "FLAG nhs_engages_more: the priors cannot meet it: almost no prior predictive draw does, so the "
    "calibration, which starts from the priors, can hardly reach it; check the target or widen the "
    "priors.\n"
    "\n"
    "![Prior and posterior predictive check](ppc.png)\n"
)
"""What :func:`test_the_report_reads_as_before` renders: prior and posterior predictive side by side."""


def test_the_report_reads_as_before() -> None:
    # From the template now: every line, table cell and number format as before (NaN as "-").
    listed = targets()["targets"]
    assert isinstance(listed, list)
    raw = {
        "name": "golden",
        "priors": {"parameters": ["p_attend_base", "p_readmit_12m_usual_care"]},
        "targets": [{**listed[0], "name": "control", "weight": 2}, listed[2]],
    }
    populations = pd.DataFrame(
        {
            "t": [0, 1],
            "epsilon": [2.5, 1.25],
            "samples": [40, 52],
            "particles": [20, 20],
            "acceptance_rate": [0.5, 20 / 52],
            "wall_time": [3.0, 4.5],
        }
    )
    ident = pd.DataFrame(
        {
            "parameter": ["p_attend_base", "p_readmit_12m_usual_care"],
            "prior_low": [0.3, 0.3],
            "prior_high": [0.95, 0.7],
            "posterior_mean": [0.6, 0.5],
            "posterior_q05": [0.35, 0.45],
            "posterior_q95": [0.9, 0.55],
            "prior_sd": [0.19, 0.12],
            "posterior_sd": [0.18, 0.03],
            "spread_ratio": [0.95, 0.25],
            "informed": [False, True],
        }
    )
    nan = np.nan
    ppc = pd.DataFrame(
        {
            "target": ["control", "nhs_engages_more"],
            "kind": ["point", "ordinal"],
            "observed": ["0.35 [0.25, 0.45]", ">= 0"],
            "confidence": ["A", "V"],
            "weight": [2.0, 1.0],
            "sets_parameter": ["p_readmit_12m_usual_care", ""],
            "prior_median": [0.40, nan],
            "prior_lo": [0.20, nan],
            "prior_hi": [0.60, nan],
            "prior_share_meeting": [0.4, 0.0],
            "prior_passed": [True, False],
            "prior_percentile": [25.0, nan],
            "posterior_median": [0.34, nan],
            "posterior_lo": [0.23, nan],
            "posterior_hi": [0.45, nan],
            "posterior_share_meeting": [0.9, 0.0],
            "posterior_passed": [True, False],
            "posterior_percentile": [55.0, nan],
            "prior_n_draws": [10, 0],
            "n_draws": [10, 0],
            "share_gain": [0.5, 0.0],
            "verdict": ["informative", "missed"],
            "prior_cannot_meet": [False, True],
        }
    )
    text = report_markdown(
        title="Calibration report: golden",
        summary={
            "population": 20,
            "effective_sample_size": 12.3,
            "sampler": "pyabc SingleCoreSampler (reproducible)",
        },
        populations=populations,
        ident=ident,
        ppc=ppc,
        targets=bind_targets(targets_from_dict(raw), SCENARIO),
        figures={"marginals": "marginals.png", "ppc": "ppc.png"},
    )
    assert text == GOLDEN_REPORT


def test_check_posterior_writes_the_report(tmp_path: Path) -> None:
    problem = CalibrationProblem.build(targets_from_dict(targets(), source="t.toml"), SCENARIO)
    result, written = check_posterior(AT_DEFAULTS, problem, draws=10, seed=2, out=tmp_path)
    assert sorted(p.name for p in written) == sorted(CHECK_FILES)
    report = (tmp_path / "report.md").read_text()
    assert "## Prior and posterior predictive check" in report
    row = next(line for line in report.splitlines() if line.startswith("| control_impossible | point |"))
    assert row.endswith("| missed | PRIORS CANNOT MEET |")  # no draw reaches 0.9 in 26 weeks
    passed = int(result.ppc["passed"].sum())
    assert f"{passed} of 4 targets pass the posterior predictive check" in report
    # The prior predictive runs on the same replicate seeds, for comparison.
    assert set(result.draws["draws_from"]) == {"posterior", "prior"}
    table = result.ppc.set_index("target")
    assert table.loc["control_impossible", "prior_share_meeting"] == 0.0  # none reaches 0.9 in 26 weeks
    assert table.loc["control_impossible", "prior_cannot_meet"]
    assert table.loc["control_impossible", "verdict"] == "missed"
    with pytest.raises(PeersimInputError, match="already holds"):
        check_posterior(AT_DEFAULTS, problem, draws=10, seed=2, out=tmp_path)


def test_a_posterior_without_the_calibrated_parameters_is_refused() -> None:
    problem = CalibrationProblem.build(targets_from_dict(targets(), source="t.toml"), SCENARIO)
    only_one = Posterior(pd.DataFrame({"p_attend_base": [0.6]}), np.array([1.0]), source="one.parquet")
    with pytest.raises(PeersimInputError, match=r"^one.parquet: has no column for calibrated parameter"):
        check_posterior(only_one, problem, draws=10, seed=0, out=None)
