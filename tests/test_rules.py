"""Unit tests of individual agent rules on tiny seeded models."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

from peersim import PeerSupportModel, run
from peersim.core.results import FIDELITY_DOMAINS
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import scenario_from_dict
from peersim.model import PeerWorker, Supervisor, WardStaff
from peersim.model import constants as c
from peersim.model.hazard import baseline_cumulative_hazard, one_year_scale, risk_at_one_year
from peersim.model.rules.contacts import rank_within
from peersim.model.rules.readmission import settle
from peersim.model.rules.ward import ward_contacts
from peersim.model.rules.week import WeekState, week_state
from peersim.model.rules.workers import drift_multiplier


def tiny(
    site: dict[str, Any] | None = None, mechanisms: dict[str, float] | None = None, **top: Any
) -> Scenario:
    base = {
        "name": "tiny",
        "host": "nhs",
        "geography": "urban",
        "n_peer_workers": 3,
        "supervisor_hours_per_week": 2.5,
        "eligible_admissions_per_week": 1.5,
    }
    return scenario_from_dict(
        {
            "name": "tiny",
            "horizon": {"recruitment_weeks": 12, "follow_up_weeks": 26},
            "sites": [{**base, **(site or {})}],
            "mechanisms": mechanisms or {},
            **top,
        }
    )


def test_supervisor_turns_hours_into_sessions_for_the_longest_waiting() -> None:
    model = PeerSupportModel(tiny(), rng=1)
    supervisor = model.agents_by_type[Supervisor].to_list()[0]
    assert supervisor.hours_per_session == pytest.approx(c.SUPERVISION_SESSION_HOURS + 2 * 0.25 * 0.5)
    per_week = 2.5 / supervisor.hours_per_session
    for _ in range(20):
        model.step()
    present_all_along = model.posts.absent.sum() == 0
    assert supervisor.sessions_delivered <= math.floor(20 * per_week) + 1
    if present_all_along:
        assert supervisor.sessions_delivered >= math.floor(20 * per_week) - 3
    # Fewer sessions than peer workers each week, so nobody waits much longer than the rest.
    waits = model.posts.weeks_since_supervision[model.posts.in_post]
    assert waits.max() - waits.min() <= math.ceil(3 / per_week) + 1


def test_fidelity_drifts_to_the_floor_without_supervision() -> None:
    model = PeerSupportModel(tiny(mechanisms={"rel_supervision": 0.0}), rng=2)
    start = model.posts.fidelity.copy()
    for _ in range(60):
        model.step()
    in_post = model.posts.in_post & (model.posts.hires == 1)
    assert (model.posts.fidelity[in_post] < start[in_post]).all()
    assert model.posts.fidelity[in_post].max() < c.FIDELITY_FLOOR + 0.1


def test_supervision_holds_fidelity_up() -> None:
    model = PeerSupportModel(tiny({"supervisor_hours_per_week": 12.0}), rng=2)
    for _ in range(40):
        model.step()
    # With a session a week the equilibrium sits well above the post-training 0.75.
    assert model.posts.fidelity[model.posts.in_post].mean() > 0.8


def test_ward_contacts_apply_the_feedback_formula_in_order() -> None:
    model = PeerSupportModel(tiny({"n_ward_staff": 4}, {"rel_contact_feedback": 0.1}), rng=3)
    before = model.ward.acceptance.copy()
    # Two contacts with staff member 1 (good, then poor) and one poor with member 3.
    ward_contacts(
        model.ward, np.array([0, 0, 0]), np.array([0.3, 0.3, 0.9]), np.array([True, False, False]), 0.1
    )
    a = before[1] + 0.1 * (1 - before[1])
    assert model.ward.acceptance[1] == pytest.approx(a - 0.1 * a)
    assert model.ward.acceptance[3] == pytest.approx(before[3] * 0.9)
    assert model.ward.acceptance[[0, 2]] == pytest.approx(before[[0, 2]])
    staff = sorted(model.agents_by_type[WardStaff], key=lambda w: w.row)
    assert (staff[1].good_contacts, staff[1].poor_contacts, staff[3].poor_contacts) == (1, 1, 1)


def test_team_preparation_raises_starting_acceptance() -> None:
    cold = PeerSupportModel(tiny({"team_prep_sessions": 0, "ward_acceptance_baseline": 0.4}), rng=0)
    prepared = PeerSupportModel(tiny({"team_prep_sessions": 6, "ward_acceptance_baseline": 0.4}), rng=0)
    assert cold.ward.acceptance.mean() == pytest.approx(0.4)
    expected = 0.4 + 0.6 * 0.6 * (1 - math.exp(-6 / c.PREP_SESSIONS_SCALE))  # rel_prep_acceptance 0.6
    assert prepared.ward.acceptance.mean() == pytest.approx(expected)


def test_rank_within_groups_keeps_input_order() -> None:
    groups = np.array([2, 0, 2, 1, 0, 2])
    assert rank_within(groups).tolist() == [0, 0, 1, 0, 1, 2]


def test_capacity_limits_contacts_per_peer_worker() -> None:
    # 4 hours a week less other duties (20%) = 192 minutes; a ward visit costs 60 and a rural
    # community session 60 + 2 x 45 = 150 minutes.
    scenario = tiny(
        {"geography": "rural", "peer_worker_hours_per_week": 4.0, "n_peer_workers": 1, "caseload_cap": 10},
        mode="service",
    )
    model = PeerSupportModel(scenario, rng=4)
    minutes = 4.0 * 60 * (1 - scenario.sites[0].other_duties_share)
    busiest = 0.0
    while model.running:
        ward_before = int(model.patients.contacts_pre_discharge.sum())
        model.step()
        ward = int(model.patients.contacts_pre_discharge.sum()) - ward_before
        community = int(model.ledger.contacts.sum()) - ward
        used = ward * c.WARD_VISIT_MINUTES + community * 150.0
        assert used <= minutes
        busiest = max(busiest, used)
    assert busiest >= 150.0  # the limit was actually reached


def test_allocation_prefers_the_least_loaded_peer_worker() -> None:
    model = PeerSupportModel(tiny({"caseload_cap": 2, "n_peer_workers": 2}, mode="service"), rng=5)
    for _ in range(15):
        model.step()
        loads = model.patients.caseloads(len(model.posts))
        assert loads.max() <= 2
        assert loads.max() - loads.min() <= 1 or loads.min() == 2


def test_settling_matches_week_by_week_accumulation() -> None:
    model = PeerSupportModel(tiny(), rng=6)
    p = model.patients
    rows = np.arange(min(40, len(p)))
    p.dose[rows] = np.linspace(0, 8, len(rows))
    p.cumulative_hazard[rows] = 0.0
    p.readmitted[rows] = False
    p.readmit_week[rows] = -1
    start = np.full(len(rows), 3)
    settle(p, rows, start, model.setup)
    settled = p.readmit_week[rows].copy()

    mech = model.spec.mechanisms
    effect = mech.rel_dose_readmission * (1 - np.exp(-p.dose[rows] / c.DOSE_SCALE_CONTACTS))
    multiplier = np.exp(model.setup.log_hazard_offset[rows] - effect)
    increments = np.diff(model.setup.baseline_cumulative)
    for i, row in enumerate(rows):
        total, week = 0.0, -1
        for k in range(4, len(model.setup.baseline_cumulative)):
            total += increments[k - 1] * multiplier[i]
            if total >= p.readmit_threshold[row]:
                week = k
                break
        assert settled[i] == week, (row, settled[i], week)


@pytest.mark.parametrize(("p", "sigma"), [(0.3, 0.0), (0.51, 0.5), (0.7, 1.5)])
def test_baseline_hazard_gives_the_declared_one_year_risk(p: float, sigma: float) -> None:
    scale = one_year_scale(p, sigma)
    assert risk_at_one_year(scale, sigma) == pytest.approx(p, abs=1e-9)
    rng = np.random.default_rng(0)
    z = rng.standard_normal(400_000)
    monte_carlo = np.mean(1 - np.exp(-scale * np.exp(sigma * z)))
    assert monte_carlo == pytest.approx(p, abs=0.003)
    cumulative = baseline_cumulative_hazard(p, sigma, 52)
    assert cumulative[0] == 0.0
    assert cumulative[52] == pytest.approx(scale)
    assert (np.diff(cumulative) > 0).all()
    assert np.diff(cumulative)[0] > np.diff(cumulative)[-1]  # front-loaded risk


def test_agents_are_views_of_the_columns() -> None:
    model = PeerSupportModel(tiny(), rng=7)
    for _ in range(10):
        model.step()
    worker = model.agents_by_type[PeerWorker].to_list()[0]
    assert worker.fidelity_index == pytest.approx(model.posts.fidelity[worker.post].mean())
    assert set(worker.fidelity) == set(FIDELITY_DOMAINS)
    assert worker.caseload == int(model.patients.caseloads(len(model.posts))[worker.post])
    assert model.datacollector.get_model_vars_dataframe().shape[0] == 10


def test_peer_support_never_raises_an_individuals_readmission() -> None:
    # Common random numbers: each participant's usual-care outcome uses the same
    # threshold, so a lower cumulative hazard can only delay or avoid readmission.
    patients = run(tiny(mode="service"), 8).patients
    assert not (patients["readmitted"] & ~patients["readmitted_usual_care"]).any()
    assert patients["readmitted"].sum() <= patients["readmitted_usual_care"].sum()


def _fidelity_twins(mechanisms: dict[str, float]) -> tuple[WeekState, WeekState, np.ndarray]:
    """The week's state of two copies of a model's posts that differ only in fidelity (0.4 vs 0.95).

    Also returns the relational skill of the posts' holders.
    """
    model = PeerSupportModel(tiny(mechanisms=mechanisms), rng=9)
    for _ in range(6):
        model.step()
    low, high = copy.deepcopy(model.posts), copy.deepcopy(model.posts)
    low.fidelity[:] = 0.4
    high.fidelity[:] = 0.95
    return week_state(low, model.ward, model.setup), week_state(high, model.ward, model.setup), low.skill


def test_fidelity_engagement_off_cuts_every_path_from_fidelity_to_attendance() -> None:
    shaped_by_fidelity = ("relationship_target", "first_contact_gain", "attend_logit")
    low, high, skill = _fidelity_twins({"rel_fidelity_engagement": 0.0})
    for name in shaped_by_fidelity:
        np.testing.assert_array_equal(getattr(low, name), getattr(high, name), err_msg=name)
    # Off, every peer worker relates as one at the reference fidelity would, times their skill.
    np.testing.assert_allclose(low.relationship_target, np.minimum(c.FIDELITY_REFERENCE * skill, 1.0))
    on_low, on_high, _ = _fidelity_twins({})
    for name in shaped_by_fidelity:
        assert (getattr(on_high, name) > getattr(on_low, name)).all(), name


def test_drift_multiplier_ignores_experience_when_experience_is_off() -> None:
    model = PeerSupportModel(tiny(), rng=10)
    posts = model.posts
    posts.experience[:] = np.linspace(0.0, 1.0, len(posts))
    off = model.spec.mechanisms.model_copy(update={"rel_experience": 0.0})
    np.testing.assert_array_equal(drift_multiplier(posts, off), posts.drift_rate)
    on = drift_multiplier(posts, model.spec.mechanisms)
    # rel_experience 0.5: a novice drifts 1.25 times their own rate, a veteran 0.75 times.
    np.testing.assert_allclose(on / posts.drift_rate, 1.0 + 0.5 * (0.5 - posts.experience))
