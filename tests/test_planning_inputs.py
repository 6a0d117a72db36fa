"""Planning inputs, before any simulation: costs files, lever grids, targets, Wilson bounds."""

from __future__ import annotations

import importlib
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peersim.core.parameters import SITE_PARAMS
from peersim.errors import PeersimInputError, ScenarioError
from peersim.planning.analysis import PlanStats, pareto
from peersim.planning.inputs import (
    LEVERS,
    TARGET_METRICS,
    CostsError,
    PlanningSite,
    check_budget,
    load_costs,
    load_planning_site,
    min_replicates,
    parse_costs,
    parse_target,
    parse_targets,
)
from peersim.planning.levers import PlanCost, PlanSpec, lever_space, plan_cost, travel_cost
from peersim.planning.search import search, stages
from peersim.planning.workflow import prepare
from peersim.stats import wilson_bounds
from test_planning_fixtures import SMALL_LEVERS, TINY_SITE, tiny_costs, write_inputs

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def site(tmp_path: Path) -> PlanningSite:
    path, _ = write_inputs(tmp_path)
    return load_planning_site(path)


def test_packaged_costs_file_is_the_shipped_one() -> None:
    shipped = (REPO / "scenarios" / "costs_default.toml").read_bytes()
    packaged = (REPO / "src" / "peersim" / "data" / "costs_default.toml").read_bytes()
    assert packaged == shipped, (
        "src/peersim/data/costs_default.toml must be a copy of scenarios/costs_default.toml"
    )


def test_default_costs_load_and_say_where_figures_come_from() -> None:
    costs = load_costs(None)
    assert costs.currency == "GBP"
    assert all(value >= 0 for value in costs.unit.model_dump().values())
    for tag in ("[published", "[derived]", "[assumption]"):
        assert tag in costs.text, tag
    assert set(costs.file.levers) <= set(LEVERS)


def test_example_site_plans_with_the_default_costs() -> None:
    inputs = prepare(REPO / "scenarios" / "new_site_example.toml", None, replicates=40)
    assert inputs.site.scenario.mode == "service"
    assert inputs.site.site.host == "not_for_profit"
    assert inputs.site.site.geography == "rural"
    assert inputs.space.size == 288, inputs.space.size
    assert inputs.screen_replicates == 4


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (
            ("supervisor_hour = 34.31", "supervisor_hour = -5"),
            ("unit_costs.supervisor_hour", "-5", "negative"),
        ),
        (
            ("readmission = 16_000", "readmision = 16_000"),
            ("unit_costs.readmision", "unknown key", "readmission"),
        ),
        (("team_prep_session = 645\n", ""), ("unit_costs.team_prep_session", "required key is missing")),
        (('price_year = "2024/25"', "price_year = "), ("malformed TOML",)),
        (("[basis]", "[basis]\nweeks = 3"), ("basis.weeks", "unknown key", "working_weeks_per_year")),
    ],
)
def test_bad_costs_files_name_file_and_key(
    tmp_path: Path, edit: tuple[str, str], fragments: tuple[str, ...]
) -> None:
    text = tiny_costs(SMALL_LEVERS)
    assert edit[0] in text, edit[0]
    path = tmp_path / "bad_costs.toml"
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(CostsError) as caught:
        load_costs(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_missing_costs_file(tmp_path: Path) -> None:
    with pytest.raises(CostsError, match="no such file"):
        load_costs(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("levers", "fragments"),
    [
        (
            "supervision = { values = [2, 4] }\n",
            ("levers.supervision", "unknown lever", "supervisor_hours_per_week"),
        ),
        ("caseload_cap = { values = [8, 60] }\n", ("levers.caseload_cap.values[1]", "60", "1 to 50")),
        (
            "team_prep_sessions = { values = [1.5] }\n",
            ("levers.team_prep_sessions.values[0]", "whole number"),
        ),
        ('host = { values = ["charity"] }\n', ("levers.host.values[0]", "'charity'", "nhs")),
        ("supervisor_hours_per_week = { values = [0, 4] }\n", ("values[0]", "more than 0")),
        ("caseload_cap = { values = [8], add = [1] }\n", ("levers.caseload_cap", "exactly one")),
        ("caseload_cap = { steps = [1] }\n", ("levers.caseload_cap.steps", "unknown key", "values, add")),
        ('caseload_cap = { values = ["eight"] }\n', ("levers.caseload_cap.values[0]", "not a number")),
    ],
)
def test_bad_levers_name_file_and_key(
    tmp_path: Path, site: PlanningSite, levers: str, fragments: tuple[str, ...]
) -> None:
    path = tmp_path / "levers.toml"
    path.write_text(tiny_costs(levers), encoding="utf-8")
    with pytest.raises(CostsError) as caught:
        lever_space(load_costs(path), site)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_grid_includes_the_site_and_drops_offsets_outside_bounds(site: PlanningSite) -> None:
    costs = parse_costs(
        tiny_costs("n_peer_workers = { add = [-2, -1, 1] }\ncaseload_cap = { values = [10, 12] }\n"),
        source="levers.toml",
    )
    space = lever_space(costs, site)
    levers = {lever.name: lever for lever in space.levers}
    # n_peer_workers is 2: -2 gives 0 posts, which is no peer support, so it is dropped with a note.
    assert levers["n_peer_workers"].values == (1, 2, 3)
    assert any("n_peer_workers" in note for note in space.dropped), space.dropped
    # The site's own caseload cap (8) is added to the listed values.
    assert levers["caseload_cap"].values == (8, 10, 12)
    assert space.size == 9
    plans = space.plans()
    assert site.current in plans
    assert all(plan["supervisor_hours_per_week"] == 1.5 for plan in plans), "closed levers stay as given"


def test_ranking_steps_go_up_or_down_or_switch(site: PlanningSite) -> None:
    costs = parse_costs(
        tiny_costs(
            "caseload_cap = { values = [4, 8] }\nteam_prep_sessions = { values = [2] }\n"
            'host = { values = ["nhs"] }\n'
        ),
        source="levers.toml",
    )
    steps = {lever.name: lever.step() for lever in lever_space(costs, site).levers}
    assert steps["caseload_cap"] == (4, "down"), "at the top of its values the step goes down"
    assert steps["team_prep_sessions"] == (2, "up")
    assert steps["host"] == ("nhs", "switch")


def test_grid_larger_than_the_limit_is_refused(site: PlanningSite) -> None:
    costs = parse_costs(
        tiny_costs("caseload_cap = { values = [1, 2, 3, 4, 5, 6, 7, 8, 9] }\n"), source="c.toml"
    )
    with pytest.raises(CostsError, match="9 plans"):
        lever_space(costs, site, max_plans=5)


def test_plan_cost_components(site: PlanningSite) -> None:
    costs = load_costs(None)
    unit, basis = costs.unit, costs.basis
    base = dict(site.current)
    cost = plan_cost(base, costs, "not_for_profit")
    # Peer workers: 2 posts x 22.5 h / 37.5 h = 1.2 FTE; supervision: 1.5 h x working weeks.
    assert cost.peer_workers == pytest.approx(1.2 * unit.peer_worker_fte_per_year)
    assert cost.supervision == pytest.approx(1.5 * basis.working_weeks_per_year * unit.supervisor_hour)
    assert cost.team_preparation == 0.0
    assert cost.host_change == 0.0
    assert cost.committed == pytest.approx(sum(v for k, v in cost.as_dict().items() if k != "committed"))
    more = plan_cost(
        {**base, "supervisor_hours_per_week": 3.0, "team_prep_sessions": 4}, costs, "not_for_profit"
    )
    assert more.supervision == pytest.approx(2 * cost.supervision), "supervision cost is linear in hours"
    assert more.team_preparation == pytest.approx(4 * unit.team_prep_session)
    priced = parse_costs(
        load_costs(None).text.replace("host_change_per_year = 0", "host_change_per_year = 5000")
    )
    assert plan_cost({**base, "host": "nhs"}, priced, "not_for_profit").host_change == 5000
    assert plan_cost(base, priced, "not_for_profit").host_change == 0, (
        "the site's own host costs nothing extra"
    )
    # Travel: a return journey per community session, scaled to a year.
    assert travel_cost(10.0, 45.0, 2.0, costs) == pytest.approx(10 * 2 * 2 * 45 * unit.travel_per_minute)
    assert np.allclose(
        travel_cost(np.array([0.0, 10.0]), 45.0, 2.0, costs), [0.0, 1800 * unit.travel_per_minute]
    )


def test_site_must_be_one_site_in_service_mode(tmp_path: Path) -> None:
    trial = tmp_path / "trial.toml"
    trial.write_text(TINY_SITE.replace('mode = "service"', 'mode = "trial"'), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"trial\.toml: mode is 'trial'.*service mode"):
        load_planning_site(trial)
    two = tmp_path / "two.toml"
    second = TINY_SITE[TINY_SITE.index("[[sites]]") :].replace('"tinysite"', '"other"')
    two.write_text(TINY_SITE + "\n" + second, encoding="utf-8")
    with pytest.raises(ScenarioError, match="2 sites"):
        load_planning_site(two)


def test_targets_parse_and_refuse_bad_ones() -> None:
    target = parse_target("engagement_rate >= 0.5")
    assert (target.metric, target.op, target.value, target.text) == (
        "engagement_rate",
        ">=",
        0.5,
        "engagement_rate>=0.5",
    )
    assert parse_target("readmission_rate_intervention<=0.45").higher_is_better is False
    assert target.met(np.array([0.49, 0.5, np.nan])).tolist() == [False, True, False], (
        "missing values never meet"
    )
    with pytest.raises(PeersimInputError) as caught:
        parse_target("happiness>=1")
    assert "unknown metric 'happiness'" in str(caught.value)
    assert "readmissions_averted_per_100" in str(caught.value), "the message lists the valid metrics"
    for bad, fragment in (("engagement_rate>0.5", "use >= or <="), ("engagement_rate>=high", "not a number")):
        with pytest.raises(PeersimInputError, match=fragment):
            parse_target(bad)
    with pytest.raises(PeersimInputError, match="twice"):
        parse_targets(["engagement_rate>=0.5", "engagement_rate>=0.6"])
    assert "readmissions_averted_per_100" in TARGET_METRICS


def test_wilson_bounds_match_the_textbook_interval() -> None:
    # Two-sided 95% Wilson interval of 8/10 is 0.490 to 0.943 (one-sided bounds at 97.5%).
    lower, upper = wilson_bounds(8, 10, confidence=0.975)
    assert lower == pytest.approx(0.4902, abs=5e-4)
    assert upper == pytest.approx(0.9433, abs=5e-4)
    assert wilson_bounds(0, 0) == (0.0, 1.0)
    # All successes: the lower bound is n / (n + z^2); 11 replicates are the fewest to reach 0.8.
    assert min_replicates(0.8) == 11
    assert wilson_bounds(11, 11)[0] >= 0.8 > wilson_bounds(10, 10)[0]
    assert wilson_bounds(37, 40)[0] >= 0.8 > wilson_bounds(36, 40)[0]


def test_prepare_refuses_too_few_replicates_for_a_target(tmp_path: Path) -> None:
    site, costs = write_inputs(tmp_path)
    with pytest.raises(PeersimInputError, match="at least 11 replicates"):
        prepare(site, costs, targets=["engagement_rate>=0.4"], replicates=10)
    with pytest.raises(PeersimInputError, match="`budget`"):
        prepare(site, costs, budget=-1.0, replicates=12)
    with pytest.raises(
        PeersimInputError, match="`screen_replicates` 13: must be between 2 and `replicates` 12"
    ):
        prepare(site, costs, replicates=12, screen_replicates=13)
    for bad in (math.nan, math.inf, -0.5):
        with pytest.raises(PeersimInputError, match="finite amount of 0 or more"):
            check_budget(bad)
    assert check_budget(None) is None
    assert check_budget(0) == 0.0
    assert prepare(site, costs, replicates=10).targets == ()


def test_stages_double_up_to_the_full_count() -> None:
    assert stages(4, 40) == [8, 16, 32, 40]
    assert stages(4, 12) == [8, 12]
    assert stages(12, 12) == [12]


def test_pareto_keeps_plans_no_cheaper_plan_beats() -> None:
    cost = np.array([1.0, 2.0, 3.0, 3.0, 4.0])
    value = np.array([0.1, 0.05, 0.3, 0.2, math.nan])
    assert pareto(cost, value).tolist() == [True, False, True, False, False]


def test_levers_come_from_the_declared_source() -> None:
    declared = {name for name, spec in SITE_PARAMS.items() if spec.kind == "lever"}
    assert set(LEVERS) == declared | {"host"}


class FakeRuns:
    """Plans whose every replicate meets the target with a fixed chance, for the search alone (no model)."""

    def __init__(
        self, site: PlanningSite, costs: Sequence[float], meets: Sequence[bool], screen: int
    ) -> None:
        self._plans = [
            PlanSpec(i, dict(site.current), site.scenario, PlanCost(cost, 0.0, 0.0, 0.0, 0.0))
            for i, cost in enumerate(costs)
        ]
        self.meets = list(meets)
        self.held = [screen] * len(costs)
        self.calls: list[tuple[list[int], int]] = []

    @property
    def plans(self) -> list[PlanSpec]:
        return self._plans

    def frame(self, index: int) -> pd.DataFrame:  # pragma: no cover - the search reads statistics only
        raise NotImplementedError

    def stats(self, index: int) -> PlanStats:
        n = self.held[index]
        # A plan that does not always meet the target meets it in every other replicate.
        successes = n if self.meets[index] else n // 2
        lower, upper = wilson_bounds(successes, n)
        cost = self._plans[index].cost.committed
        means = {"engagement_rate": successes / n}
        return PlanStats(index, n, 0, cost, cost, cost, means, successes, {}, lower, upper)

    def ensure(self, indices: Sequence[int], replicates: int) -> None:
        self.calls.append((list(indices), replicates))
        for index in indices:
            self.held[index] = max(self.held[index], replicates)


def test_search_confirms_in_cost_order_and_stops_at_the_cheapest_accepted(site: PlanningSite) -> None:
    # Plan 0 is cheapest but meets the target only half the time; plan 1 always does; plan 2 always
    # does but commits more than plan 1 costs, so it is never taken into confirmation.
    runs = FakeRuns(site, costs=[40_000.0, 50_000.0, 60_000.0], meets=[False, True, True], screen=4)
    target = parse_target("engagement_rate>=0.4")
    found = search(runs, [target], budget=55_000.0, replicates=16, chunk=1)
    assert found.status == "feasible"
    assert found.recommended == 1
    assert found.candidates == 3, "2 of 4 cannot rule out 0.8 yet"
    assert found.tried == 2
    assert found.confirmed == [1], "plan 0 is ruled out on the way, plan 2 never tried"
    assert runs.calls == [([0], 8), ([1], 8), ([1], 16)]
    assert runs.held[2] == 4


def test_old_planning_module_paths_still_import_and_warn() -> None:
    for old, name in (("peersim.planning.costs", "load_costs"), ("peersim.planning.targets", "parse_target")):
        sys.modules.pop(old, None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(old)
        assert getattr(module, name) is getattr(importlib.import_module("peersim.planning.inputs"), name)
        assert any(issubclass(w.category, DeprecationWarning) for w in caught), old
    assert importlib.import_module("peersim.planning.targets").wilson_bounds is wilson_bounds
