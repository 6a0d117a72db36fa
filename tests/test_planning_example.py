"""The shipped example: a rural site whose peer workers a not-for-profit would employ.

The issue asks whether, for such a site, supervision and team preparation rank
above adding peer worker hours. Plans draw their mechanism strengths from the
shipped posterior (calibrated to approximate published figures, not to data
from real services), so these tests record what the model says with that
posterior; they are not evidence about real services.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from peersim.executor import LocalExecutor
from peersim.planning.report import answer_lines
from peersim.planning.workflow import plan, prepare
from test_planning_fixtures import rerun, tiny_costs

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "scenarios" / "new_site_example.toml"

RANKING_LEVERS = """\
supervisor_hours_per_week = { values = [2.5, 5] }
team_prep_sessions = { values = [0, 2] }
n_peer_workers = { add = [0, 1] }
peer_worker_hours_per_week = { values = [22.5, 30] }
"""
"""One step up for each resourcing lever of the example (16 plans; no search without targets)."""


def test_rural_not_for_profit_ranking(tmp_path: Path) -> None:
    costs = tmp_path / "costs.toml"
    costs.write_text(tiny_costs(RANKING_LEVERS), encoding="utf-8")
    inputs = prepare(EXAMPLE, costs, replicates=12, screen_replicates=2, seed=11)
    with LocalExecutor(2) as executor:
        result = plan(inputs, executor)
    steps = {step.lever: step for step in result.ranking.steps}
    order = [step.lever for step in result.ranking.steps]
    assert all(step.ranked for step in steps.values()), "every step adds resourcing cost"
    # What the model says (seed 11, 12 replicates, the shipped posterior), gain in engagement per
    # GBP 10,000 with 95% intervals: team preparation 0 -> 2 +0.24 (0.11 to 0.37), supervision
    # 2.5 -> 5 +0.16 (0.11 to 0.22), peer worker hours 22.5 -> 30 +0.001 (-0.004 to 0.005), a fifth
    # peer worker post -0.010 (-0.020 to 0.001; more posts share the same supervisor hours). The
    # smallest gap between the intervals is about 0.10; the test asks only that they do not overlap.
    # (At the point values, `use_posterior=False`: +0.60, +0.20, +0.000 and -0.009.)
    for better in ("team_prep_sessions", "supervisor_hours_per_week"):
        for worse in ("peer_worker_hours_per_week", "n_peer_workers"):
            low, high = steps[better].per_10k_lo, steps[worse].per_10k_hi
            assert low is not None
            assert high is not None
            assert low > high, (order, better, low, worse, high)
    # Both also raise engagement outright, not only per unit cost.
    assert steps["team_prep_sessions"].gain_lo > 0
    assert steps["supervisor_hours_per_week"].gain_lo > 0
    assert result.search.status == "no_recommendation"


@pytest.mark.slow
def test_example_plan_with_default_costs_holds_in_a_fresh_rerun() -> None:
    """The shipped example with the shipped costs: the full grid (288 plans), then a fresh re-run."""
    budget = 100_000.0
    inputs = prepare(EXAMPLE, None, budget=budget, targets=["engagement_rate>=0.5"], replicates=40, seed=0)
    with LocalExecutor(2) as executor:
        result = plan(inputs, executor)
        assert result.search.status == "feasible", answer_lines(result)
        index = result.search.recommended
        assert index is not None
        again = rerun(inputs, result.plans[index], seed=2024, replicates=60, executor=executor)
    # Seen (seed 0, the shipped posterior; re-run seed 2024, 60 replicates): recommended 3 posts,
    # 5 supervisor hours a week, 2 team preparation sessions, caseload cap 12, NHS-hosted, accepted
    # with 38/40 (lower bound 0.86); the re-run met the target in 56/60 (share 0.93, 0.13 above 0.8)
    # at an expected GBP 74,592 a year, GBP 25,408 under budget. (At the point values,
    # `use_posterior=False`: 3 posts, 2 team preparation sessions, NHS-hosted, 39/40, re-run 59/60.)
    assert result.stats[index].cost_hi <= budget
    assert again.cost_mean <= budget, (again.cost_mean, budget)
    assert again.share >= inputs.probability, (again.successes, again.n)
