"""Planning with real runs on a tiny site: common random numbers, the search, infeasible answers.

Every plan here runs in this process (``LocalExecutor(1)``) except where the
test is about workers; the tiny site runs in a few tens of milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from peersim.cli.plan import print_summary
from peersim.core.results import METRICS
from peersim.core.streams import replicate_seed
from peersim.errors import PeersimInputError
from peersim.executor import LocalExecutor
from peersim.io.files import OutputDirectory
from peersim.planning.analysis import plan_frame
from peersim.planning.evaluate import OUTCOMES, OutcomeStore, Request, evaluate
from peersim.planning.report import PLAN_OUTPUTS, answer_lines, plan_json, plan_markdown, write_plan_outputs
from peersim.planning.workflow import PlanInputs, PlanResult, plan, prepare
from test_planning_fixtures import SMALL_LEVERS, rerun, write_inputs

SEED = 3


def _plan(tmp_path: Path, levers: str = SMALL_LEVERS, **options: Any) -> tuple[PlanInputs, PlanResult]:
    site, costs = write_inputs(tmp_path, levers)
    inputs = prepare(site, costs, seed=SEED, **options)
    with LocalExecutor(1) as executor:
        return inputs, plan(inputs, executor)


@pytest.fixture(scope="module")
def feasible(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlanInputs, PlanResult]:
    """A target the grid can reach, with a budget that allows it."""
    return _plan(
        tmp_path_factory.mktemp("feasible"),
        budget=90_000.0,
        targets=["engagement_rate>=0.4"],
        replicates=24,
    )


def test_outcomes_do_not_depend_on_workers(tmp_path: Path) -> None:
    inputs = prepare(*write_inputs(tmp_path), replicates=6, seed=SEED)
    scenario = inputs.site.scenario
    request = [Request(0, scenario, 6)]
    one, two = OutcomeStore(), OutcomeStore()
    with LocalExecutor(1) as executor:
        evaluate(request, one, SEED, executor)
    with LocalExecutor(2) as executor:
        evaluate(request, two, SEED, executor)
    assert np.array_equal(one.array(0, 6), two.array(0, 6), equal_nan=True)
    # Adding replicates later runs only the missing ones and keeps the earlier rows.
    with LocalExecutor(1) as executor:
        ran = evaluate([Request(0, scenario, 8)], one, SEED, executor)
    assert ran == 2
    assert np.array_equal(one.array(0, 6), two.array(0, 6), equal_nan=True)


def test_usual_care_counterfactual_is_shared_by_every_plan(feasible: tuple[PlanInputs, PlanResult]) -> None:
    _inputs, result = feasible
    frames = list(result.frames.values())
    assert len(frames) >= 3
    n = min(len(f) for f in frames)
    control = np.stack([f["readmission_rate_control"].to_numpy()[:n] for f in frames])
    participants = np.stack([f["participants"].to_numpy()[:n] for f in frames])
    # Levers change who engages, never who is admitted or what usual care would have done.
    assert np.all(control == control[0]), "the counterfactual must be identical across plans (CRN)"
    assert np.all(participants == participants[0])
    averted = np.concatenate([f["readmissions_averted_per_100"].to_numpy() for f in frames])
    assert np.all(averted >= 0), "with CRN peer support never causes a readmission usual care would avoid"


def test_prediction_and_ranking_of_the_tiny_site(feasible: tuple[PlanInputs, PlanResult]) -> None:
    inputs, result = feasible
    rows = {row.metric: row for row in result.prediction}
    for metric in (
        "engagement_rate",
        "fidelity_index",
        "readmission_rate_intervention",
        "readmission_rate_control",
    ):
        row = rows[metric]
        assert 0 <= row.lo <= row.mean <= row.hi <= 1, row
        assert row.ci_lo <= row.mean <= row.ci_hi, row
        assert row.n == inputs.replicates
    averted = rows["readmissions_averted_per_100"].mean
    assert averted == pytest.approx(
        100 * (rows["readmission_rate_control"].mean - rows["readmission_rate_intervention"].mean)
    )
    assert rows["net_cost"].mean == pytest.approx(rows["cost_total"].mean - rows["readmission_savings"].mean)
    steps = {step.lever: step for step in result.ranking.steps}
    assert set(steps) == {"supervisor_hours_per_week", "team_prep_sessions"}
    for step in steps.values():
        assert step.ranked
        assert step.delta_committed > 0
        assert step.gain_lo <= step.gain <= step.gain_hi
        assert step.per_10k == pytest.approx(step.gain / step.delta_cost * 10_000)
    per = [s.per_10k for s in result.ranking.steps]
    assert per == sorted(per, reverse=True), "ranked steps come in order of gain per unit cost"


def test_recommended_plan_is_within_budget_and_meets_targets_in_a_fresh_rerun(
    feasible: tuple[PlanInputs, PlanResult],
) -> None:
    inputs, result = feasible
    assert result.search.status == "feasible", answer_lines(result)
    index = result.search.recommended
    assert index is not None
    stats = result.stats[index]
    assert inputs.budget is not None
    assert stats.cost_hi <= inputs.budget
    assert stats.lower >= inputs.probability
    # No cheaper plan in the grid was accepted: every plan costing less fails the screen or the confirmation.
    for spec in result.plans:
        row = result.frontier.loc[result.frontier["plan"] == spec.index].iloc[0]
        if row["cost_total"] < stats.cost_mean:
            assert row["wilson_lower"] < inputs.probability or row["replicates"] < inputs.replicates

    with LocalExecutor(1) as executor:
        again = rerun(inputs, result.plans[index], seed=SEED + 1000, replicates=40, executor=executor)
    assert again.cost_mean <= inputs.budget, (again.cost_mean, inputs.budget)
    assert again.share >= inputs.probability, (
        f"fresh re-run met the target in {again.successes}/{again.n} replicates (share {again.share:.3f}); "
        f"the search accepted it with {stats.successes}/{stats.n}"
    )
    # Margins seen (seed 3, re-run seed 1003, mechanism strengths from the shipped posterior): accepted
    # with 23/24 (lower bound 0.83), the re-run met the target in 39/40 (share 0.975, 0.175 above 0.8);
    # expected cost about GBP 54,000 of 90,000. (At the point values, `use_posterior=False`: another
    # plan, accepted with 24/24 and met in 35/40 of the re-run.)


def test_budget_below_every_plan_reaching_the_target(tmp_path: Path) -> None:
    # At the point values: the site's own yearly cost includes travel per session delivered, which
    # the posterior moves across the budget (the cheapest plan cost GBP 43,778 with the shipped
    # posterior of 2026-12-02 and 45,143 at the point values), and this test is about the answer
    # when the site as given is over budget, not about where the posterior puts it.
    _inputs, result = _plan(
        tmp_path, budget=45_000.0, targets=["engagement_rate>=0.4"], replicates=12, use_posterior=False
    )
    s = result.search
    assert result.current_over_budget, "the tiny site as given costs more than GBP 45,000"
    assert s.status in ("infeasible_budget", "infeasible_targets")
    if s.status == "infeasible_budget":
        assert s.cheapest_reaching is not None
        assert result.stats[s.cheapest_reaching].cost_mean > 45_000
    assert s.best_values_within_budget["engagement_rate>=0.4"]["metric"] == "engagement_rate"
    text = " ".join(answer_lines(result))
    assert "Infeasible as given" in text, text
    assert "GBP 45,000" in text, text


def test_unreachable_target_reports_the_best_achievable(tmp_path: Path) -> None:
    inputs, result = _plan(tmp_path, targets=["engagement_rate>=0.99"], replicates=12)
    s = result.search
    assert s.status == "infeasible_targets"
    assert s.recommended is None
    assert s.cheapest_reaching is None
    best = s.best_values_within_budget["engagement_rate>=0.99"]
    means = result.frontier["engagement_rate"]
    assert best["value"] == pytest.approx(means.max()), "the best expected value over the grid is reported"
    assert s.best_overall is not None
    assert best["replicates"] == inputs.replicates, "the best value is reported at the full count"
    text = " ".join(answer_lines(result))
    assert "No plan in the lever grid meets engagement_rate>=0.99" in text
    assert "met the targets in any of its replicates" in text, text


def test_without_targets_a_budget_buys_the_best_expected_engagement(tmp_path: Path) -> None:
    _inputs, result = _plan(tmp_path, budget=60_000.0, replicates=12)
    s = result.search
    assert s.status == "best_within_budget", answer_lines(result)
    assert s.recommended is not None
    chosen = result.stats[s.recommended]
    assert chosen.cost_hi <= 60_000
    affordable = result.frontier[result.frontier["cost_total_hi"] <= 60_000]
    # The recommendation is confirmed at the full count; screened means of others are noisier.
    assert chosen.means["engagement_rate"] >= affordable["engagement_rate"].max() - 0.05


def test_report_and_json_are_complete(
    feasible: tuple[PlanInputs, PlanResult], capsys: pytest.CaptureFixture[str]
) -> None:
    inputs, result = feasible
    document = plan_json(result, ["frontier_engagement.png"])
    text = json.dumps(document, allow_nan=False)  # no NaN leaks into the document
    assert json.loads(text)["search"]["status"] == "feasible"
    assert document["prediction"]["metrics"]["engagement_rate"]["n"] == inputs.replicates
    assert document["posterior"]["source"] == "<embedded default_posterior.parquet>", "the default"
    assert {"recommended", "current"} <= set(document["search"]["plans"])
    assert document["costs"]["unit_costs"]["readmission"] == inputs.costs.unit.readmission
    markdown = plan_markdown(result, {"engagement_rate": "frontier_engagement.png"}, "peersim plan site.toml")
    for heading in (
        "## Answer",
        "## Prediction",
        "## Which lever buys the most",
        "## Assumptions",
        "## Appendix",
    ):
        assert heading in markdown, heading
    assert "![Yearly cost against expected engagement_rate](frontier_engagement.png)" in markdown
    assert "Wilson" in markdown
    assert "**Posterior**: `<embedded default_posterior.parquet>`" in markdown
    print_summary(result)
    summary = capsys.readouterr().out
    assert "Lever ranking: gain in engagement_rate per GBP 10,000 of added yearly cost:" in summary
    assert "Prediction for the site as given" in summary
    assert "mechanism strengths drawn from <embedded default_posterior.parquet> (" in summary, summary
    assert "team preparation sessions 0 -> 3" in summary


def test_outputs_are_written_into_the_directory_and_not_over_existing_ones(
    feasible: tuple[PlanInputs, PlanResult], tmp_path: Path
) -> None:
    _inputs, result = feasible
    document = plan_json(result, ["frontier_engagement.png", "frontier_readmissions.png"])
    written = write_plan_outputs(OutputDirectory(tmp_path / "out"), result, document, "peersim plan x")
    assert sorted(path.name for path in written) == sorted(PLAN_OUTPUTS)
    assert json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8")) == document
    outcomes = pd.read_parquet(tmp_path / "out" / "outcomes.parquet")
    assert set(outcomes["plan"]) == set(result.frames)
    assert {"scenario_hash", "seed", "version"} <= set(outcomes.columns)
    assert "peersim plan x" in (tmp_path / "out" / "plan.md").read_text(encoding="utf-8")
    with pytest.raises(PeersimInputError, match="`force=True`"):
        write_plan_outputs(OutputDirectory(tmp_path / "out"), result, document)


def test_outcome_columns_cover_every_headline_metric() -> None:
    assert set(METRICS) <= set(OUTCOMES)


def test_plan_frame_scales_to_a_year(feasible: tuple[PlanInputs, PlanResult]) -> None:
    inputs, result = feasible
    frame = result.frames[result.current]
    scale = 52 / inputs.site.scenario.horizon.recruitment_weeks
    expected = frame["readmissions_averted_per_100"] / 100 * frame["participants"] * scale
    assert np.allclose(frame["readmissions_averted_per_year"], expected)
    store = OutcomeStore()
    store.rows[result.current] = dict(enumerate(frame[list(OUTCOMES)].to_numpy()))
    again = plan_frame(store, result.plans[result.current], len(frame), inputs.site, inputs.costs)
    assert np.allclose(again["cost_total"], frame["cost_total"])
    assert np.all(again["cost_committed"] == result.plans[result.current].cost.committed)


def test_posterior_draws_are_shared_by_every_plan_of_a_replicate(tmp_path: Path) -> None:
    from peersim.uncertainty import Posterior, posterior_rng

    particles = pd.DataFrame({"p_readmit_12m_usual_care": [0.35, 0.6], "p_attend_base": [0.5, 0.8]})
    path = Posterior(particles, np.array([1.0, 1.0]), source="<test>").save(tmp_path / "posterior.parquet")
    site, costs = write_inputs(tmp_path)
    inputs = prepare(site, costs, posterior_path=path, replicates=8, seed=SEED)
    assert inputs.posterior is not None
    with LocalExecutor(1) as executor:
        result = plan(inputs, executor)
    frames = list(result.frames.values())
    control = np.stack([f["readmission_rate_control"].to_numpy()[:8] for f in frames])
    assert np.all(control == control[0]), "every plan of a replicate runs with the same particle"
    # Replicates whose draw is the high-readmission particle show more usual-care readmission.
    drawn = np.array(
        [
            inputs.posterior.draw(posterior_rng(replicate_seed(SEED, i)))["p_readmit_12m_usual_care"]
            for i in range(8)
        ]
    )
    assert set(drawn) == {0.35, 0.6}, drawn
    # Seen (seed 3): 0.354 in the five replicates drawing 0.6, 0.228 in the three drawing 0.35.
    assert control[0][drawn == 0.6].mean() > control[0][drawn == 0.35].mean()
    document = plan_json(result)
    assert document["posterior"]["particles"] == 2
    assert "one weighted particle" in plan_markdown(result, {})


@pytest.mark.slow
def test_dask_cluster_gives_the_same_outcomes(tmp_path: Path) -> None:
    from peersim.executor import DaskExecutor

    inputs = prepare(*write_inputs(tmp_path), replicates=6, seed=SEED)
    request = [Request(0, inputs.site.scenario, 6)]
    local, cluster = OutcomeStore(), OutcomeStore()
    with LocalExecutor(1) as executor:
        evaluate(request, local, SEED, executor)
    with DaskExecutor(workers=2) as executor:
        evaluate(request, cluster, SEED, executor)
    assert np.array_equal(local.array(0, 6), cluster.array(0, 6), equal_nan=True)


def test_no_open_levers_still_predicts(tmp_path: Path) -> None:
    inputs, result = _plan(tmp_path, levers="", replicates=4)
    assert inputs.space.size == 1
    assert result.ranking.steps == ()
    assert result.search.status == "no_recommendation"
    assert result.runs == 4
    document = json.loads(json.dumps(plan_json(result), allow_nan=False))
    assert document["search"]["plans"]["current"]["share_meeting_targets"] is None, "no targets, no share"
    assert "No recommendation" in " ".join(answer_lines(result))


def test_a_plan_draws_mechanisms_from_the_shipped_posterior_unless_told_not_to(tmp_path: Path) -> None:
    from peersim import run
    from peersim.planning.evaluate import outcome_row
    from peersim.planning.report import NO_POSTERIOR_TEXT
    from peersim.uncertainty import DEFAULT_POSTERIOR_RESOURCE

    site, costs = write_inputs(tmp_path, levers="")
    drawn = prepare(site, costs, replicates=4, seed=SEED)
    point = prepare(site, costs, replicates=4, seed=SEED, use_posterior=False)
    posterior = drawn.posterior
    assert posterior is not None, "the shipped posterior is the default, as for peersim run and compare"
    assert point.posterior is None
    shipped = f"<embedded {DEFAULT_POSTERIOR_RESOURCE}>"
    assert posterior.source == shipped
    scenario = drawn.site.scenario
    points = scenario.mechanisms.model_dump()
    mechanisms = [posterior.mechanisms_for(scenario, replicate_seed(SEED, i)) for i in range(4)]
    for name in posterior.parameters:
        assert all(values[name] != points[name] for values in mechanisms), (name, points[name])
    with LocalExecutor(1) as executor:
        with_posterior = plan(drawn, executor)
        without = plan(point, executor)
    # Each replicate ran with its drawn mechanism values, and without a posterior with the point values.
    ran = with_posterior.frames[with_posterior.current][list(OUTCOMES)].to_numpy()
    ran_point = without.frames[without.current][list(OUTCOMES)].to_numpy()
    for i in range(4):
        seed = replicate_seed(SEED, i)
        expected = outcome_row(run(posterior.apply_to(scenario, seed), seed))
        assert np.array_equal(ran[i], expected, equal_nan=True), i
        assert np.array_equal(ran_point[i], outcome_row(run(scenario, seed)), equal_nan=True), i
    assert not np.array_equal(ran, ran_point, equal_nan=True)

    document = plan_json(with_posterior)
    assert document["posterior"]["source"] == shipped
    assert document["posterior"]["embedded_default"] is True
    assert document["posterior"]["particles"] == posterior.n
    ess = posterior.effective_sample_size
    assert document["posterior"]["effective_sample_size"] == pytest.approx(ess, abs=0.05)
    markdown = plan_markdown(with_posterior, {})
    assert f"`{shipped}`, {posterior.n} particles" in markdown, markdown
    assert "one weighted particle drawn per replicate" in markdown

    bare = plan_json(without)
    assert bare["posterior"]["source"] is None
    assert bare["posterior"]["note"] == NO_POSTERIOR_TEXT
    assert "scenario's point values" in plan_markdown(without, {})


def test_a_posterior_file_and_no_posterior_contradict(tmp_path: Path) -> None:
    site, costs = write_inputs(tmp_path)
    with pytest.raises(PeersimInputError, match="`posterior` and `use_posterior=False` contradict"):
        prepare(site, costs, posterior_path=tmp_path / "posterior.parquet", use_posterior=False)


def test_over_budget_only_by_its_cost_interval_says_so(feasible: tuple[PlanInputs, PlanResult]) -> None:
    import dataclasses

    inputs, result = feasible
    index = result.search.recommended
    assert index is not None
    cost = result.stats[index]
    # A budget between the expected cost and the upper end of its interval: over budget by the rule.
    budget = (cost.cost_mean + cost.cost_hi) / 2
    assert cost.cost_mean < budget < cost.cost_hi
    search = dataclasses.replace(result.search, status="infeasible_budget", cheapest_reaching=index)
    over = dataclasses.replace(result, inputs=dataclasses.replace(inputs, budget=budget), search=search)
    text = " ".join(answer_lines(over))
    assert f"is GBP {cost.cost_hi - budget:,.0f} over budget" in text, text
    assert "-GBP" not in text, "never a negative amount over budget"
