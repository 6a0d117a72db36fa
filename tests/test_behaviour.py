"""Behavioural tests: the study's contrasts, shown with the margins they have.

Margins seen when these tests were written (seed 0, replicates as below) are
quoted beside each assertion; the assertions leave room for platform noise but
would fail if the contrast disappeared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peersim import default_scenario, load_scenario, run_replicates
from peersim.core.scenario import Scenario
from peersim.ensemble.summary import stack_metrics, summarise

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def overall_means(scenario: Scenario, replicates: int, seed: int = 0) -> dict[str, float]:
    summary = summarise(stack_metrics(run_replicates(scenario, seed, replicates)))
    overall = summary[summary["site"] == "overall"]
    return dict(zip(overall["metric"], overall["mean"], strict=True))


@pytest.fixture(scope="module")
def archetypes() -> tuple[dict[str, float], dict[str, float]]:
    high = overall_means(load_scenario(SCENARIOS / "archetype_high.toml"), 20)
    low = overall_means(load_scenario(SCENARIOS / "archetype_low.toml"), 20)
    return high, low


@pytest.fixture(scope="module")
def default_trial() -> dict[str, float]:
    return overall_means(default_scenario(), 10)


def test_archetypes_have_the_same_participants() -> None:
    high = next(run_replicates(load_scenario(SCENARIOS / "archetype_high.toml"), 3, 1))
    low = next(run_replicates(load_scenario(SCENARIOS / "archetype_low.toml"), 3, 1))
    columns = ["arm", "admit_week", "discharge_week"]
    assert high.patients[columns].equals(low.patients[columns])


def test_high_archetype_engages_more_than_low(archetypes: tuple[dict[str, float], dict[str, float]]) -> None:
    high, low = archetypes
    # Seen: 0.91 vs 0.34 (gap 0.57) over 20 replicates.
    assert high["engagement_rate"] - low["engagement_rate"] > 0.3, (
        high["engagement_rate"],
        low["engagement_rate"],
    )
    # Seen: 9.5 vs 1.5 mean contacts.
    assert high["mean_contacts"] > 2 * low["mean_contacts"]


def test_high_archetype_has_higher_fidelity(archetypes: tuple[dict[str, float], dict[str, float]]) -> None:
    high, low = archetypes
    # Seen: 0.88 vs 0.57 (gap 0.31).
    assert high["fidelity_index"] - low["fidelity_index"] > 0.2, (
        high["fidelity_index"],
        low["fidelity_index"],
    )
    for domain in (
        "trusting_relationships",
        "reciprocity_mutuality",
        "leadership_choice_control",
        "strengths_community",
    ):
        assert high[f"fidelity_{domain}"] > low[f"fidelity_{domain}"]


def test_high_archetype_has_better_ward_relations_and_less_strain(
    archetypes: tuple[dict[str, float], dict[str, float]],
) -> None:
    high, low = archetypes
    # Seen: acceptance 0.82 vs 0.40; strain 0.14 vs 0.37; supervision 307 vs 48 sessions.
    assert high["ward_acceptance"] - low["ward_acceptance"] > 0.2
    assert low["pw_strain"] - high["pw_strain"] > 0.1
    assert high["supervision_sessions"] > 3 * low["supervision_sessions"]


def test_default_trial_control_readmission_near_half(default_trial: dict[str, float]) -> None:
    # Seen: 0.50 (ENRICH control arm about 51% [A]).
    assert 0.44 <= default_trial["readmission_rate_control"] <= 0.57


def test_default_trial_itt_effect_small(default_trial: dict[str, float]) -> None:
    # Seen: odds ratio 0.84, risk difference -0.046 (ENRICH: OR about 0.8, CI including 1 [A]).
    assert 0.65 <= default_trial["itt_odds_ratio"] < 1.0
    assert -0.12 <= default_trial["itt_risk_difference"] < 0.0


def test_default_trial_engaged_readmitted_less(default_trial: dict[str, float]) -> None:
    # Seen: 0.41 engaged vs 0.57 not engaged (gap 0.16).
    gap = default_trial["readmission_rate_not_engaged"] - default_trial["readmission_rate_engaged"]
    assert gap > 0.05, gap


def test_default_trial_scale_matches_enrich(default_trial: dict[str, float]) -> None:
    # ENRICH: 590 participants [V]; seen 601 on average.
    assert 540 <= default_trial["participants"] <= 660
    # Engagement (>= 2 contacts) share seen 0.72; not a published ENRICH figure, kept plausible.
    assert 0.5 <= default_trial["engagement_rate"] <= 0.9


def test_itt_odds_ratio_varies_by_replicate_but_centres_below_one() -> None:
    stacked = stack_metrics(run_replicates(default_scenario(), 5, 8))
    ratios = stacked[(stacked["site"] == "overall") & (stacked["metric"] == "itt_odds_ratio")]["value"]
    # Seen: 8 replicates spread 0.70-0.95, median 0.83.
    assert ratios.std() > 0.0
    assert float(np.median(ratios)) < 1.0
