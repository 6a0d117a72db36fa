"""Setting a run up: every table built, every random number drawn, every constant derived.

:func:`set_up` turns a scenario and a seed into the model's state tables
(:mod:`peersim.model.state`) and a :class:`Setup`: what stays fixed for the
whole run (the protocol's calendar, each participant's fixed attendance
offset, the baseline hazard, the log-odds terms of each rule). The weekly
rules of :mod:`peersim.model.rules` read these and change only the tables.

Every random number a participant or a post will ever need is drawn here,
once, from the site's named streams, so a lever that changes *which* draws are
used never shifts *other* participants' draws (common random numbers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from peersim.core.results import GROUPS, WEEKS_PER_YEAR
from peersim.core.scenario import Mechanisms, Scenario, Site
from peersim.core.streams import site_stream
from peersim.model import constants as c
from peersim.model.hazard import baseline_cumulative_hazard
from peersim.model.logistic import logit
from peersim.model.rules.workers import start_people, trait_draws
from peersim.model.state import PatientTable, PostTable, WardTable


@dataclass(frozen=True, slots=True)
class Setup:
    """What a run fixes before its first week; per-site arrays by site, per-post by post.

    Attributes
    ----------
    mechanisms
        The scenario's mechanism strengths.
    service_mode
        Everyone eligible is offered support (else a 1:1 randomised trial).
    support_weeks, engaged_min_contacts, follow_up_weeks
        The protocol's support window (weeks), contacts that count as engaged,
        and follow-up after discharge (weeks).
    caseload_caps, vacancy_weeks
        Per site: most participants per peer worker (unlimited when the capacity
        switch is off), and weeks a post stays vacant after its peer worker leaves.
    first_deadline, support_end
        Per participant: the week by which a first peer worker must be found
        (discharge plus the maximum wait), and the week their support window
        closes (discharge plus the support weeks).
    funding_end
        Per site: the week from which vacant posts are not refilled, or 0 (never).
    funding_ends
        Whether any site's funding ends.
    delivery_weeks
        Steps until the week after the last participant's support window closes.
    n_weeks
        Steps until every participant has finished follow-up.
    baseline_cumulative, baseline_hazard
        Baseline cumulative and weekly readmission hazard at ``0..follow_up_weeks``.
    session_weeks
        Whether a community session is scheduled in each week ``k`` after discharge.
    attend_offset
        Each participant's fixed attendance log-odds from instability, travel and
        diagnostic group.
    log_hazard_offset
        Each participant's fixed log readmission hazard ratio from instability and
        diagnostic group.
    boundary_minutes, session_minutes
        Per post: weekly minutes lost to cross-organisation admin, and minutes
        per community session including the round trip.
    referral_logit, access_logit, invite_logit, attend_logit, good_contact_logit
        Log-odds of each rule at its reference conditions.
    boundary_access, boundary_authority, boundary_contact
        Per site: log-odds of ward access and invitation lost, and of a good
        contact changed, across a host boundary.
    post_site
        One-hot matrix ``(posts, sites)`` of each post's site.
    """

    mechanisms: Mechanisms
    service_mode: bool
    support_weeks: int
    engaged_min_contacts: int
    follow_up_weeks: int
    caseload_caps: tuple[int, ...]
    vacancy_weeks: tuple[float, ...]
    first_deadline: np.ndarray
    support_end: np.ndarray
    funding_end: np.ndarray
    funding_ends: bool
    delivery_weeks: int
    n_weeks: int
    baseline_cumulative: np.ndarray
    baseline_hazard: np.ndarray
    session_weeks: np.ndarray
    attend_offset: np.ndarray
    log_hazard_offset: np.ndarray
    boundary_minutes: np.ndarray
    session_minutes: np.ndarray
    referral_logit: float
    access_logit: float
    invite_logit: float
    attend_logit: float
    good_contact_logit: float
    boundary_access: np.ndarray
    boundary_authority: np.ndarray
    boundary_contact: np.ndarray
    post_site: np.ndarray
    root: np.random.SeedSequence
    """The run's root seed, from which each new peer worker's stream is spawned."""
    supervisor_draws: tuple[np.ndarray, ...]
    """Per site: the supervisor's uniform numbers, shape (weeks, 2), for being away and leaving."""


UNLIMITED_CASELOAD = 1_000_000
"""Caseload cap used when the capacity switch is off."""


def set_up(
    scenario: Scenario, root: np.random.SeedSequence
) -> tuple[Setup, PatientTable, PostTable, WardTable]:
    """Build a run's tables and fixed terms from a scenario and its root seed."""
    sites = scenario.sites
    mech = scenario.mechanisms
    protocol = scenario.protocol
    patients = build_patients(scenario, root)
    last_discharge = int(patients.discharge_week.max(initial=scenario.horizon.recruitment_weeks))
    # Support ends, and readmission is settled, in the week after the window closes.
    delivery_weeks = last_discharge + protocol.support_weeks + 1
    posts, supervisor_draws = build_posts(scenario, root, delivery_weeks)
    ward = build_ward(scenario, root, delivery_weeks)

    travel_hours = np.array([s.travel_minutes_one_way / 60.0 for s in sites])
    not_for_profit = np.array([s.host == "not_for_profit" for s in sites], dtype=float)
    cumulative = baseline_cumulative_hazard(
        mech.p_readmit_12m_usual_care,
        mech.rel_patient_heterogeneity,
        scenario.horizon.follow_up_weeks,
        mech.group_hazard_ratios,
        expected_group_shares(scenario),
    )
    caps = tuple(s.caseload_cap if scenario.switches.capacity else UNLIMITED_CASELOAD for s in sites)
    log_hr = np.log(np.array(mech.group_hazard_ratios))
    log_or = np.log(np.array(mech.group_attend_odds_ratios))
    session_minutes = np.array(
        [protocol.dur_session_minutes + 2.0 * mech.rel_geography * s.travel_minutes_one_way for s in sites]
    )
    k = np.arange(protocol.support_weeks + 1)
    boundary = mech.rel_host_boundary * not_for_profit
    setup = Setup(
        mechanisms=mech,
        service_mode=scenario.mode == "service",
        support_weeks=protocol.support_weeks,
        engaged_min_contacts=protocol.engaged_min_contacts,
        follow_up_weeks=scenario.horizon.follow_up_weeks,
        caseload_caps=caps,
        vacancy_weeks=tuple(s.dur_vacancy_weeks for s in sites),
        first_deadline=patients.discharge_week + min(protocol.dur_max_wait_weeks, protocol.support_weeks),
        support_end=patients.discharge_week + protocol.support_weeks,
        funding_end=np.array([s.funding_end_week for s in sites], dtype=np.int64),
        funding_ends=any(s.funding_end_week > 0 for s in sites),
        delivery_weeks=delivery_weeks,
        n_weeks=max(last_discharge + scenario.horizon.follow_up_weeks, delivery_weeks),
        baseline_cumulative=cumulative,
        baseline_hazard=np.diff(cumulative, prepend=0.0),
        session_weeks=(k >= 1)
        & ((k <= protocol.weekly_session_weeks) | ((k - protocol.weekly_session_weeks) % 2 == 0)),
        attend_offset=log_or[patients.group]
        - (
            c.HETEROGENEITY_ATTENDANCE_LOGIT * mech.rel_patient_heterogeneity * patients.instability
            + c.TRAVEL_MISS_LOGIT_PER_HOUR * mech.rel_geography * travel_hours[patients.site]
        ),
        log_hazard_offset=mech.rel_patient_heterogeneity * patients.instability + log_hr[patients.group],
        boundary_minutes=c.BOUNDARY_PEER_WORKER_MINUTES * mech.rel_host_boundary * not_for_profit[posts.site],
        session_minutes=session_minutes[posts.site],
        referral_logit=logit(c.P_REFERRAL_REF),
        access_logit=logit(mech.p_ward_access_base),
        invite_logit=logit(c.P_INVITE_REF),
        attend_logit=logit(mech.p_attend_base),
        good_contact_logit=logit(c.P_GOOD_CONTACT_REF),
        boundary_access=c.BOUNDARY_ACCESS_LOGIT * boundary,
        boundary_authority=c.BOUNDARY_AUTHORITY_LOGIT * boundary,
        boundary_contact=-c.BOUNDARY_CONTACT_LOGIT * boundary,
        post_site=(posts.site[:, None] == np.arange(len(sites))).astype(float),
        root=root,
        supervisor_draws=supervisor_draws,
    )
    return setup, patients, posts, ward


def expected_group_shares(scenario: Scenario) -> tuple[float, ...]:
    """Return the expected share of participants in each diagnostic group, admission-weighted over sites."""
    rates = np.array([s.eligible_admissions_per_week for s in scenario.sites])
    shares = np.array([s.group_shares for s in scenario.sites])
    pooled = rates @ shares / rates.sum()
    return tuple(float(v) for v in pooled)


def _site_columns(
    scenario: Scenario, site: Site, site_index: int, root: np.random.SeedSequence
) -> dict[str, np.ndarray]:
    weeks = scenario.horizon.recruitment_weeks
    rate = site.eligible_admissions_per_week
    if scenario.switches.patient_flow:
        flow = site_stream(root, site_index, "flow")
        per_week = flow.poisson(rate, size=weeks)
        admit = np.repeat(np.arange(1, weeks + 1), per_week)
        mu = np.log(site.dur_stay_weeks_mean) - c.STAY_LOG_SD**2 / 2
        stay = np.clip(np.rint(flow.lognormal(mu, c.STAY_LOG_SD, size=len(admit))), 1, c.MAX_STAY_WEEKS)
    else:
        per_week = np.diff(np.floor(rate * np.arange(weeks + 1) + 0.5)).astype(np.int64)
        admit = np.repeat(np.arange(1, weeks + 1), per_week)
        stay = np.full(len(admit), np.clip(np.rint(site.dur_stay_weeks_mean), 1, c.MAX_STAY_WEEKS))
    n = len(admit)

    randomisation = site_stream(root, site_index, "randomisation")
    u_arm = randomisation.random(n)
    offered = np.ones(n, dtype=bool) if scenario.mode == "service" else u_arm < 0.5

    patient = site_stream(root, site_index, "patient")
    instability = patient.standard_normal(n)
    threshold = patient.exponential(1.0, size=n)
    u_group = patient.random(n)

    ward = site_stream(root, site_index, "ward")
    shape = (n, c.MAX_STAY_WEEKS)
    columns = {
        "u_referral": ward.random(shape),
        "u_access": ward.random(shape),
        "u_contact_quality": ward.random(shape),
        "u_ward_staff": ward.random(shape),
        "u_invite": ward.random(n),
    }
    attendance = site_stream(root, site_index, "attendance")
    support_weeks = max(scenario.protocol.support_weeks, 1)
    columns["u_attend"] = attendance.random((n, support_weeks))
    cumulative_shares = np.cumsum(site.group_shares)
    group = np.minimum(np.searchsorted(cumulative_shares, u_group, side="right"), len(GROUPS) - 1)
    return {
        "site": np.full(n, site_index, dtype=np.int64),
        "offered": offered,
        "admit_week": admit.astype(np.int64),
        "discharge_week": (admit + stay).astype(np.int64),
        "instability": instability,
        "group": group.astype(np.int64),
        "readmit_threshold": threshold,
        **columns,
    }


def build_patients(scenario: Scenario, root: np.random.SeedSequence) -> PatientTable:
    """Generate every participant of every site, with their random numbers.

    Admissions per week are Poisson with the site's rate over the recruitment
    window; length of stay is log-normal with the site's mean, rounded to whole
    weeks and capped at :data:`~peersim.model.constants.MAX_STAY_WEEKS` (with
    the patient-flow switch off: a steady rate and the mean stay). Each
    participant's diagnostic group is drawn from the site's shares on the
    site's ``patient`` stream, after their instability and threshold.
    """
    parts = [_site_columns(scenario, site, index, root) for index, site in enumerate(scenario.sites)]
    merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return PatientTable(**merged)


def build_posts(
    scenario: Scenario, root: np.random.SeedSequence, weeks: int
) -> tuple[PostTable, tuple[np.ndarray, ...]]:
    """Create every site's peer worker posts with their staff-stream draws for ``weeks`` weeks.

    Each site's ``staff`` stream gives first its supervisor's draws, shape
    ``(weeks, 2)`` (away, leaving), then each post's, ``(posts, weeks, 2)``
    (absence, leaving). Each post's first holder starts in week 1 with traits
    of their own (:func:`peersim.model.rules.workers.start_people`).

    Returns
    -------
    tuple
        The posts, and each site's supervisor draws.
    """
    mech = scenario.mechanisms
    capacity = scenario.switches.capacity
    sites, minutes, travel, u_absence, u_leave, by_site, traits = [], [], [], [], [], [], []
    supervisors = []
    first = 0
    for index, site in enumerate(scenario.sites):
        n = site.n_peer_workers
        staff = site_stream(root, index, "staff")
        supervisors.append(staff.random((weeks, 2)))
        draws = staff.random((n, weeks, 2))
        sites.append(np.full(n, index, dtype=np.int64))
        hours = site.peer_worker_hours_per_week * 60.0 * (1.0 - site.other_duties_share)
        minutes.append(np.full(n, hours if capacity else np.inf))
        hit = c.FIDELITY_TRAVEL_HIT_PER_HOUR * mech.rel_geography * site.travel_minutes_one_way / 60.0
        travel.append(np.full(n, hit))
        u_absence.append(draws[:, :, 0])
        u_leave.append(draws[:, :, 1])
        traits.append(trait_draws(site_stream(root, index, "worker"), n))
        by_site.append(tuple(range(first, first + n)))
        first += n
    posts = PostTable(
        site=np.concatenate(sites),
        minutes_available=np.concatenate(minutes),
        travel_hit=np.concatenate(travel),
        u_absence=np.concatenate(u_absence),
        u_leave=np.concatenate(u_leave),
        by_site=tuple(by_site),
        trait_draws=np.concatenate(traits),
    )
    start_people(posts, np.arange(len(posts)), 1, mech, root)
    return posts, tuple(supervisors)


def build_ward(scenario: Scenario, root: np.random.SeedSequence, weeks: int) -> WardTable:
    """Create every site's ward staff at their prepared acceptance, with ``weeks`` weeks of turnover draws."""
    mech = scenario.mechanisms
    sites, anchors, rates, baselines, p_leave, u_leave = [], [], [], [], [], []
    for index, site in enumerate(scenario.sites):
        prep_level = 1.0 - math.exp(-site.team_prep_sessions / c.PREP_SESSIONS_SCALE)
        base = site.ward_acceptance_baseline
        anchor = base + mech.rel_prep_acceptance * (1.0 - base) * prep_level
        rate = mech.rel_prep_acceptance * c.JOINT_WORK_RATE * site.team_joint_work_hours_per_month * 12 / 52
        n = site.n_ward_staff
        sites.append(np.full(n, index, dtype=np.int64))
        anchors.append(np.full(n, anchor))
        rates.append(np.full(n, rate))
        baselines.append(np.full(n, base))
        weekly = 1.0 - (1.0 - site.ward_staff_turnover_per_year) ** (1.0 / WEEKS_PER_YEAR)
        p_leave.append(np.full(n, weekly))
        u_leave.append(site_stream(root, index, "ward_staff").random((n, weeks)))
    return WardTable(
        site=np.concatenate(sites),
        anchor=np.concatenate(anchors),
        joint_work_rate=np.concatenate(rates),
        baseline=np.concatenate(baselines),
        p_leave=np.concatenate(p_leave),
        u_leave=np.concatenate(u_leave),
    )
