"""Dynamics a real service lives with (issue 12), each shown against its counterfactual.

Capacity that binds, staff turnover, funding that ends, diagnostic groups, peer
workers who differ, and the stratified analysis. Compared runs share their random
numbers (same base seed, same replicate seeds, draws keyed by site and person), so
a difference is the change's own effect and a period before the change is
identical to the bit. Every test states the margin it saw; ensembles are small
(4-8 replicates of scenarios that run in a fraction of a second).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import SCENARIOS_DIR
from peersim import RunResult, default_scenario, run, run_replicates
from peersim.core.results import GROUPS, OVERALL
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import load_scenario, scenario_from_dict
from peersim.core.streams import Seed, replicate_seed
from peersim.model import PeerSupportModel, collect
from peersim.model.hazard import one_year_scale, risk_at_one_year
from peersim.model.results import mantel_haenszel_odds_ratio

UNDER_RESOURCED = SCENARIOS_DIR / "service_under_resourced.toml"
SUSTAIN = SCENARIOS_DIR / "service_sustain_5_years.toml"
FUNDING_ENDS = SCENARIOS_DIR / "service_sustain_funding_ends.toml"


def edited(scenario: Scenario, edit: Callable[[dict[str, Any]], None]) -> Scenario:
    """Return ``scenario`` with ``edit`` applied to its plain data, validated again."""
    data = scenario.to_toml_dict()
    edit(data)
    return scenario_from_dict(data, source="<edited>")


def every_site(**values: Any) -> Callable[[dict[str, Any]], None]:
    """An edit that sets ``values`` at every site."""

    def edit(data: dict[str, Any]) -> None:
        for site in data["sites"]:
            site.update(values)

    return edit


def with_mechanisms(**values: float) -> Callable[[dict[str, Any]], None]:
    """An edit that sets mechanism strengths."""

    def edit(data: dict[str, Any]) -> None:
        data["mechanisms"].update(values)

    return edit


def replicates(scenario: Scenario, seed: int, n: int) -> list[RunResult]:
    return list(run_replicates(scenario, seed, n))


def mean_metric(results: list[RunResult], metric: str) -> float:
    return float(np.mean([r.metric(metric) for r in results]))


def by_year(result: RunResult, metric: str, site: str = OVERALL) -> pd.Series:
    """One metric of the ``years`` table, indexed by year."""
    years = result.years
    rows = years[(years["site"] == site) & (years["metric"] == metric)]
    return rows.set_index("year")["value"]


def mean_by_year(results: list[RunResult], metric: str) -> pd.Series:
    """A ``years`` metric averaged over replicates, indexed by year."""
    return pd.concat([by_year(r, metric) for r in results], axis=1).mean(axis=1)


# -- (a) capacity that binds -------------------------------------------------------------------


def test_strain_loop_and_posts_move_engagement_and_unmet_demand_in_an_under_resourced_service() -> None:
    base = load_scenario(UNDER_RESOURCED)

    def halve_posts(data: dict[str, Any]) -> None:
        for site in data["sites"]:
            site["n_peer_workers"] //= 2

    scenarios = {
        "as shipped": base,
        "strain loop off": edited(base, with_mechanisms(rel_strain=0.0)),
        "half the posts": edited(base, halve_posts),
    }
    runs = {label: replicates(s, 1, 8) for label, s in scenarios.items()}
    engagement = {label: mean_metric(r, "engagement_rate") for label, r in runs.items()}
    unmet = {label: mean_metric(r, "unmet_demand") for label, r in runs.items()}
    # Seen (8 replicates): engagement 0.505 as shipped, 0.547 with the strain loop off and
    # 0.211 with half the posts; unmet demand 0.090, 0.048 and 0.552. With the loop off
    # every replicate engaged more (by 0.011 to 0.071).
    assert engagement["strain loop off"] > engagement["as shipped"] + 0.02, engagement
    assert unmet["strain loop off"] < unmet["as shipped"] - 0.02, unmet
    assert engagement["half the posts"] < engagement["as shipped"] - 0.15, engagement
    assert unmet["half the posts"] > unmet["as shipped"] + 0.3, unmet


def test_capacity_binds_in_the_under_resourced_service_but_not_in_the_default_trial() -> None:
    scenario = load_scenario(UNDER_RESOURCED)
    result = run(scenario, 0)
    workers = result.workers
    series = result.timeseries
    caseload = series[series["metric"] == "caseload"].groupby("site")["value"].max()
    for site in scenario.sites:
        # Seen: every site's busiest peer worker held the cap (10), and the site's caseload
        # reached 3 posts x 10 = 30; 12% of the service's referrals were never met.
        assert workers.loc[workers["site"] == site.name, "peak_caseload"].max() == site.caseload_cap
        assert caseload[site.name] == site.caseload_cap * site.n_peer_workers
    assert result.metric("unmet_demand") > 0.05
    for seed in range(3):
        trial = run(default_scenario(), seed)
        # Seen: unmet demand 0 in seeds 0-2, though some peer workers reached their cap of 8.
        assert trial.metric("unmet_demand") == 0.0, seed
        assert (trial.patients.query("arm == 'peer_support'")["referred_week"] >= 0).all()


# -- (b) turnover ------------------------------------------------------------------------------


def test_ward_staff_turnover_wears_acceptance_down_year_after_year() -> None:
    base = load_scenario(SUSTAIN)
    turnover = replicates(edited(base, every_site(ward_staff_turnover_per_year=0.5)), 2, 4)
    none = replicates(edited(base, every_site(ward_staff_turnover_per_year=0.0)), 2, 4)
    gap = mean_by_year(none, "ward_acceptance") - mean_by_year(turnover, "ward_acceptance")
    # Seen (4 replicates): acceptance lower by 0.035 in year 1, widening to 0.096 in year 5:
    # newcomers arrive at the baseline, having missed the preparation before go-live.
    assert (gap > 0.015).all(), gap.round(3).to_dict()
    assert gap[5] > gap[1] + 0.02, gap.round(3).to_dict()
    assert (mean_by_year(none, "ward_staff_leavers") == 0).all()
    assert (mean_by_year(turnover, "ward_staff_leavers").loc[1:5] > 5).all()
    engagement = mean_by_year(none, "engagement_rate") - mean_by_year(turnover, "engagement_rate")
    # Seen: engagement lower by 0.014 to 0.033 in each of years 2-5 (mean 0.024), through
    # fewer referrals and less ward access.
    assert engagement.loc[2:5].mean() > 0.01, engagement.round(3).to_dict()


def run_stepped(scenario: Scenario, seed: Seed, nobody_leaves: bool) -> RunResult:
    """Run ``scenario``; with ``nobody_leaves`` every peer worker's leaving draw is set to 1.

    Leaving happens when a pre-drawn uniform number falls below the week's leaving
    probability, so setting the draws to 1 removes peer worker turnover and changes no
    other random number: the two runs are each other's counterfactual.
    """
    model = PeerSupportModel(scenario, rng=seed)
    if nobody_leaves:
        model.posts.u_leave[:] = 1.0
    model.run_model()
    return collect(model)


def test_peer_worker_turnover_leaves_vacancies_and_unmet_demand_behind() -> None:
    # Ward staff and supervisors stay, so peer workers are the only ones who leave.
    scenario = edited(
        load_scenario(UNDER_RESOURCED),
        every_site(ward_staff_turnover_per_year=0.0, supervisor_turnover_per_year=0.0),
    )
    vacancy_weeks = {site.name: site.dur_vacancy_weeks for site in scenario.sites}
    engagement, unmet, replaced = [], [], 0
    for index in range(6):
        seed = replicate_seed(4, index)
        turnover = run_stepped(scenario, seed, nobody_leaves=False)
        stayed = run_stepped(scenario, seed, nobody_leaves=True)
        assert len(stayed.workers) == sum(s.n_peer_workers for s in scenario.sites)
        assert (stayed.workers["end_week"] == -1).all()
        assert stayed.metric("vacancy_weeks") == 0.0
        workers = turnover.workers
        left = workers[workers["end_week"] >= 0]
        # Until the first peer worker leaves, the two runs are the same run.
        first_leaver = int(left["end_week"].min()) if len(left) else 10**6
        before = {
            name: r.timeseries[r.timeseries["week"] < first_leaver].reset_index(drop=True)
            for name, r in (("turnover", turnover), ("stayed", stayed))
        }
        pd.testing.assert_frame_equal(before["turnover"], before["stayed"])
        # Each replacement arrives new to the role, after the post's vacancy.
        replacements = workers[workers["hire"] >= 2]
        replaced += len(replacements)
        assert (replacements["experience_start"] == 0.0).all()
        ended = workers.set_index(["post", "hire"])["end_week"]
        for site, post, hire, start in (
            replacements[["site", "post", "hire", "start_week"]].to_numpy().tolist()
        ):
            assert start == ended[(post, hire - 1)] + vacancy_weeks[site] + 1
        engagement.append(turnover.metric("engagement_rate") - stayed.metric("engagement_rate"))
        unmet.append(turnover.metric("unmet_demand") - stayed.metric("unmet_demand"))
    # Seen (6 pairs): with turnover engagement fell by 0.033 on average (every pair lower,
    # by 0.003 to 0.076) and unmet demand rose by 0.064 (every pair higher, 0.003 to 0.151).
    assert replaced > 0
    assert np.mean(engagement) < -0.015, engagement
    assert np.mean(unmet) > 0.03, unmet


# -- (c) funding that ends ---------------------------------------------------------------------

STAFF_YEAR_METRICS = (
    "fidelity_index",
    "ward_acceptance",
    "peer_worker_leavers",
    "ward_staff_leavers",
    "vacant_post_weeks",
    "supervision_sessions",
)
"""Measures of the ``years`` table that belong to the weeks of the year (not to its admissions)."""


def test_funding_end_changes_nothing_before_it_and_runs_the_service_down_after() -> None:
    funded = load_scenario(SUSTAIN)
    ending = load_scenario(FUNDING_ENDS)
    end = ending.sites[0].funding_end_week
    assert end == 156
    # The two files differ only in the funding end (and their names).
    restored = edited(ending, every_site(funding_end_week=0))
    assert restored.model_copy(update={"name": funded.name, "description": funded.description}) == funded
    support_weeks = funded.protocol.support_weeks
    funded_runs, ending_runs = replicates(funded, 0, 6), replicates(ending, 0, 6)
    for a, b in zip(funded_runs, ending_runs, strict=True):
        # Identical to the bit before funding ends: every week's record up to week 156...
        series_a, series_b = (r.timeseries[r.timeseries["week"] <= end] for r in (a, b))
        pd.testing.assert_frame_equal(series_a.reset_index(drop=True), series_b.reset_index(drop=True))
        # ...years 1-2 whole, and year 3's staff measures (year 3's admissions are
        # still in support after week 156, so their outcomes may differ)...
        years_a, years_b = (r.years.set_index(["year", "site", "metric"])["value"] for r in (a, b))
        same = (years_a.index.get_level_values("year") <= 2) | (
            (years_a.index.get_level_values("year") == 3)
            & years_a.index.get_level_values("metric").isin(STAFF_YEAR_METRICS)
        )
        pd.testing.assert_series_equal(years_a[same], years_b[same])
        # ...and every participant whose support window closed before it.
        done = (a.patients["discharge_week"] + support_weeks < end).to_numpy()
        assert done.sum() > 500  # seen: 727 to 813 of about 1,500 participants
        pd.testing.assert_frame_equal(a.patients[done], b.patients[done])
    engagement = mean_by_year(funded_runs, "engagement_rate") - mean_by_year(ending_runs, "engagement_rate")
    unmet = mean_by_year(ending_runs, "unmet_demand") - mean_by_year(funded_runs, "unmet_demand")
    # Seen (6 replicates): year 5 engagement 0.680 funded vs 0.435 (lower by 0.245; in every
    # replicate, by 0.104 to 0.390); year 5 unmet demand 0.007 vs 0.303 (higher by 0.296,
    # 0.114 to 0.432 per replicate); the decline deepens, 0.068 in year 4 to 0.245 in year 5.
    assert engagement[5] > 0.12, engagement.round(3).to_dict()
    assert unmet[5] > 0.15, unmet.round(3).to_dict()
    assert engagement[5] > engagement[4], engagement.round(3).to_dict()
    vacant = [
        by_year(b, "vacant_post_weeks").loc[4:5].sum() - by_year(a, "vacant_post_weeks").loc[4:5].sum()
        for a, b in zip(funded_runs, ending_runs, strict=True)
    ]
    # Seen: 211 to 554 more vacant post-weeks in years 4-5 in each replicate (mean 367).
    assert min(vacant) > 0, vacant
    assert np.mean(vacant) > 150, vacant


# -- (d) diagnostic groups ---------------------------------------------------------------------

HEAVY_PD_SHARES = {"share_psychosis": 0.2, "share_personality_disorder": 0.6, "share_other": 0.2}


def groups_service(mechanisms: dict[str, float], shares: dict[str, float] = HEAVY_PD_SHARES) -> Scenario:
    """One large service site (about 1,500 participants) with the given group shares."""
    site = {
        "name": "site",
        "host": "nhs",
        "geography": "urban",
        "n_peer_workers": 4,
        "supervisor_hours_per_week": 6.0,
        "eligible_admissions_per_week": 15.0,
        **shares,
    }
    return scenario_from_dict(
        {
            "name": "groups",
            "mode": "service",
            "horizon": {"recruitment_weeks": 100, "follow_up_weeks": 52},
            "mechanisms": mechanisms,
            "sites": [site],
        }
    )


def group_values(result: RunResult, metric: str) -> pd.Series:
    groups = result.groups
    rows = groups[(groups["site"] == OVERALL) & (groups["metric"] == metric)]
    return rows.set_index("group")["value"]


def test_groups_differ_in_usual_care_readmission_as_declared_and_pool_to_the_declared_risk() -> None:
    hazard_ratios = {"psychosis": 1.0, "personality_disorder": 1.6, "other": 0.7}
    mechanisms = {
        "hr_readmit_personality_disorder": hazard_ratios["personality_disorder"],
        "hr_readmit_other": hazard_ratios["other"],
    }
    scenario = groups_service(mechanisms)
    results = replicates(scenario, 0, 4)
    control = pd.concat([group_values(r, "readmission_rate_control") for r in results], axis=1).mean(axis=1)
    # Seen (4 replicates, about 1,500 participants each): personality disorder 0.587,
    # psychosis 0.449, other 0.347.
    assert control["personality_disorder"] > control["psychosis"] + 0.05, control.to_dict()
    assert control["psychosis"] > control["other"] + 0.05, control.to_dict()
    mech = scenario.mechanisms
    shares = tuple(HEAVY_PD_SHARES.values())
    ratios = tuple(hazard_ratios[g] for g in GROUPS)
    scale = one_year_scale(mech.p_readmit_12m_usual_care, mech.rel_patient_heterogeneity, ratios, shares)
    for group, ratio in hazard_ratios.items():
        expected = risk_at_one_year(scale, mech.rel_patient_heterogeneity, (ratio,), (1.0,))
        # Seen: within 0.010 of the risk the scaled hazard implies (0.590, 0.440, 0.340).
        assert control[group] == pytest.approx(expected, abs=0.04), group
    pooled = mean_metric(results, "readmission_rate_control")
    unscaled = risk_at_one_year(
        one_year_scale(mech.p_readmit_12m_usual_care, mech.rel_patient_heterogeneity),
        mech.rel_patient_heterogeneity,
        ratios,
        shares,
    )
    # Seen: pooled usual care 0.513 against the declared 0.51; a hazard not scaled over
    # the groups would pool to 0.580 with these shares.
    assert pooled == pytest.approx(mech.p_readmit_12m_usual_care, abs=0.025)
    assert abs(unscaled - mech.p_readmit_12m_usual_care) > 0.05
    for result in results:
        assert group_values(result, "participants").sum() == len(result.patients)


def test_without_group_hazard_ratios_the_shares_do_not_move_usual_care_readmission() -> None:
    all_psychosis = {"share_psychosis": 1.0, "share_personality_disorder": 0.0, "share_other": 0.0}
    mixed = {"share_psychosis": 0.0, "share_personality_disorder": 0.5, "share_other": 0.5}

    def usual_care(mechanisms: dict[str, float], shares: dict[str, float]) -> pd.Series:
        return run(groups_service(mechanisms, shares), 7).patients["readmitted_usual_care"]

    off = {"hr_readmit_personality_disorder": 1.0, "hr_readmit_other": 1.0}
    pd.testing.assert_series_equal(usual_care(off, all_psychosis), usual_care(off, mixed))
    on = {"hr_readmit_personality_disorder": 1.6, "hr_readmit_other": 0.7}
    assert not usual_care(on, all_psychosis).equals(usual_care(on, mixed))


# -- (e) peer workers differ -------------------------------------------------------------------


def test_worker_spread_widens_the_differences_in_delivered_fidelity() -> None:
    def people(spread: float) -> pd.DataFrame:
        scenario = edited(default_scenario(), with_mechanisms(rel_worker_spread=spread))
        results = replicates(scenario, 0, 4)
        return pd.concat([r.workers.assign(replicate=i) for i, r in enumerate(results)])

    alike, spread = people(0.0), people(1.0)
    assert (alike["relational_skill"] == 1.0).all()
    assert (alike["drift_rate"] == 1.0).all()
    # Seen (182 people): log-SD of relational skill 0.282 (declared 0.3 at spread 1) and of
    # the drift rate 0.512 (declared 0.6, less after clipping to 0.4-2.5).
    assert np.log(spread["relational_skill"]).std() == pytest.approx(0.3, abs=0.05)
    assert 0.42 < np.log(spread["drift_rate"]).std() < 0.6

    def fidelity_sd(table: pd.DataFrame) -> tuple[float, float]:
        busy = table[table["contacts"] >= 20]
        within_site = busy.groupby(["replicate", "site"])["fidelity_index"].std().mean()
        return float(busy["fidelity_index"].std()), float(within_site)

    (overall_alike, within_alike), (overall_spread, within_spread) = fidelity_sd(alike), fidelity_sd(spread)
    # Seen (people with >= 20 contacts, about 104 in each): SD of delivered fidelity across
    # everyone 0.080 at spread 0 and 0.090 at spread 1; within a site, where supervision and
    # travel are shared, 0.018 and 0.044.
    assert within_spread > 1.5 * within_alike, (within_alike, within_spread)
    assert overall_spread > overall_alike, (overall_alike, overall_spread)


# -- (f) the stratified analysis ---------------------------------------------------------------


def test_mantel_haenszel_odds_ratio_by_hand() -> None:
    # Stratum 1: 10/40 readmitted with peer support, 20/40 without: ad/n = 10*20/80 = 2.5,
    # bc/n = 30*20/80 = 7.5. Stratum 2: 5/10 and 3/20: ad/n = 5*17/30, bc/n = 5*3/30 = 0.5.
    # Stratum 3 has no peer support arm and adds nothing. OR = (2.5 + 85/30) / (7.5 + 0.5) = 2/3.
    events_a, n_a = np.array([10.0, 5.0, 0.0]), np.array([40.0, 10.0, 0.0])
    events_b, n_b = np.array([20.0, 3.0, 4.0]), np.array([40.0, 20.0, 9.0])
    assert mantel_haenszel_odds_ratio(events_a, n_a, events_b, n_b) == pytest.approx(2.0 / 3.0, rel=1e-12)
    # One stratum alone is its own odds ratio: (10 * 20) / (30 * 20).
    one = mantel_haenszel_odds_ratio(events_a[:1], n_a[:1], events_b[:1], n_b[:1])
    assert one == pytest.approx(1.0 / 3.0, rel=1e-12)
    # No stratum with both arms: no estimate.
    assert np.isnan(mantel_haenszel_odds_ratio(events_a[2:], n_a[2:], events_b[2:], n_b[2:]))


def mantel_haenszel_from_patients(patients: pd.DataFrame, strata: list[str]) -> float:
    """The Mantel-Haenszel odds ratio of readmission, peer support vs usual care, over ``strata``."""
    numerator = denominator = 0.0
    for _, stratum in patients.groupby(strata):
        treated = stratum[stratum["arm"] == "peer_support"]["readmitted"]
        control = stratum[stratum["arm"] == "usual_care"]["readmitted"]
        if treated.empty or control.empty:
            continue
        a, b = treated.sum(), (~treated).sum()
        c, d = control.sum(), (~control).sum()
        n = len(stratum)
        numerator += a * d / n
        denominator += b * c / n
    return numerator / denominator


@pytest.mark.parametrize("seed", [0, 1])
def test_stratified_odds_ratio_is_mantel_haenszel_over_site_and_group(seed: int) -> None:
    result = run(default_scenario(), seed)
    patients = result.patients
    expected = mantel_haenszel_from_patients(patients, ["site", "group"])
    assert result.metric("itt_odds_ratio_stratified") == pytest.approx(expected, rel=1e-12)
    for site, rows in patients.groupby("site"):
        by_group = mantel_haenszel_from_patients(rows, ["group"])
        assert result.metric("itt_odds_ratio_stratified", str(site)) == pytest.approx(by_group, rel=1e-12)
    # Not the crude odds ratio: stratifying changes the estimate.
    assert result.metric("itt_odds_ratio_stratified") != result.metric("itt_odds_ratio")
