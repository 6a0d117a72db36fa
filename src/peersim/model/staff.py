"""Peer worker posts and ward staff as columns, with their weekly rules.

Like participants, staff state is held in arrays (one row per peer worker post or
ward staff member) and updated for everyone at once; :class:`PeerWorker` and
:class:`WardStaff` agents are views onto one row. Supervisors, few and with
discrete choices to make, remain ordinary agents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from peersim.model import constants as c
from peersim.scenario import Scenario
from peersim.streams import site_stream

if TYPE_CHECKING:
    from peersim.model.model import PeerSupportModel


@dataclass(slots=True)
class PostTable:
    """Peer worker posts; row ``i`` is post ``i``.

    A post is held by one person at a time; when they leave it is vacant for the
    site's ``dur_vacancy_weeks`` and then filled by a newly trained peer worker.
    """

    site: np.ndarray
    minutes_available: np.ndarray
    """Minutes a week for participant work: contracted hours less admin."""
    travel_hit: np.ndarray
    """Weekly loss in the strengths/community domain from travel."""
    u_absence: np.ndarray
    """Uniform numbers, shape (posts, weeks), for weekly absence."""
    u_leave: np.ndarray
    """Uniform numbers, shape (posts, weeks), for leaving."""
    fidelity: np.ndarray = field(init=False)
    """Practice in the four fidelity domains, shape (posts, 4), each 0-1."""
    strain: np.ndarray = field(init=False)
    absent: np.ndarray = field(init=False)
    vacancy_weeks_left: np.ndarray = field(init=False)
    weeks_since_supervision: np.ndarray = field(init=False)
    supervised: np.ndarray = field(init=False)
    hires: np.ndarray = field(init=False)
    vacancy_weeks: np.ndarray = field(init=False)
    contacts_total: np.ndarray = field(init=False)
    fidelity_contact_sums: np.ndarray = field(init=False)
    """Sum over delivered contacts of the fidelity at the time, shape (posts, 4)."""
    strain_hit: np.ndarray = field(init=False)
    """Weekly fidelity lost per unit of strain, per domain (``constants.FIDELITY_STRAIN_HIT``)."""

    def __post_init__(self) -> None:
        n = len(self.site)
        self.fidelity = np.full((n, len(c.FIDELITY_DOMAINS)), c.FIDELITY_AFTER_TRAINING)
        self.strain = np.zeros(n)
        self.absent = np.zeros(n, dtype=bool)
        self.vacancy_weeks_left = np.zeros(n)
        self.weeks_since_supervision = np.zeros(n, dtype=np.int64)
        self.supervised = np.zeros(n, dtype=bool)
        self.hires = np.ones(n, dtype=np.int64)
        self.vacancy_weeks = np.zeros(n, dtype=np.int64)
        self.contacts_total = np.zeros(n, dtype=np.int64)
        self.fidelity_contact_sums = np.zeros((n, len(c.FIDELITY_DOMAINS)))
        self.strain_hit = np.array(c.FIDELITY_STRAIN_HIT)

    def __len__(self) -> int:
        return len(self.site)

    @property
    def in_post(self) -> np.ndarray:
        """Posts held by someone (not vacant)."""
        return self.vacancy_weeks_left <= 0.0

    @property
    def present(self) -> np.ndarray:
        """Posts whose peer worker can see participants this week."""
        return (self.vacancy_weeks_left <= 0.0) & ~self.absent

    @property
    def fidelity_index(self) -> np.ndarray:
        """Mean of the four domains per post, 0-1."""
        return self.fidelity.sum(axis=1) / self.fidelity.shape[1]  # = mean, without its overhead

    @property
    def relational_fidelity(self) -> np.ndarray:
        """Mean of the trust and reciprocity domains per post, 0-1."""
        return self.fidelity[:, :2].mean(axis=1)


def build_posts(scenario: Scenario, root: np.random.SeedSequence, weeks: int) -> PostTable:
    """Create every site's peer worker posts with their staff-stream draws."""
    mech = scenario.mechanisms
    sites, minutes, travel, u_absence, u_leave = [], [], [], [], []
    for index, site in enumerate(scenario.sites):
        n = site.n_peer_workers
        draws = site_stream(root, index, "staff").random((n, weeks, 2))
        sites.append(np.full(n, index, dtype=np.int64))
        minutes.append(np.full(n, site.peer_worker_hours_per_week * 60.0 * (1.0 - c.ADMIN_SHARE)))
        hit = c.FIDELITY_TRAVEL_HIT_PER_HOUR * mech.rel_geography * site.travel_minutes_one_way / 60.0
        travel.append(np.full(n, hit))
        u_absence.append(draws[:, :, 0])
        u_leave.append(draws[:, :, 1])
    return PostTable(
        site=np.concatenate(sites),
        minutes_available=np.concatenate(minutes),
        travel_hit=np.concatenate(travel),
        u_absence=np.concatenate(u_absence),
        u_leave=np.concatenate(u_leave),
    )


def begin_week(model: PeerSupportModel, week: int) -> None:
    """Draw each peer worker's absence this week; more likely under strain (mechanism 7)."""
    posts = model.posts
    slope = model.spec.mechanisms.rel_strain * c.ABSENCE_PER_STRAIN
    posts.absent = posts.in_post & (posts.u_absence[:, week - 1] < slope * posts.strain)


def end_week(model: PeerSupportModel, week: int, cohesion: np.ndarray) -> None:
    """Update strain, fidelity and staffing after the week's work.

    Strain moves :data:`~peersim.model.constants.STRAIN_ADJUST_RATE` of the way
    towards a target set by workload (minutes asked over minutes available) and
    isolation (1 - team cohesion); a supervision session relieves it. Fidelity
    drifts towards :data:`~peersim.model.constants.FIDELITY_FLOOR` (half as fast
    in a fully cohesive team), is pulled towards 1 by supervision (mechanism 3),
    and is eroded by strain and, in the community domain, by travel (mechanism 4).
    Peer workers leave with a probability rising with strain; their post is then
    vacant and their participants wait for another peer worker.

    Parameters
    ----------
    cohesion
        Team cohesion per site, 0-1.
    """
    posts = model.posts
    mech = model.spec.mechanisms
    held = posts.in_post  # held all week: in post as it began and still in post now
    if not held.all():
        vacant = ~held
        posts.vacancy_weeks_left[vacant] -= 1.0
        posts.vacancy_weeks[vacant] += 1
        refilled = vacant & posts.in_post
        if refilled.any():
            _hire(posts, refilled)
        held = held & posts.in_post
    contacts = model.week_contacts
    posts.contacts_total += contacts
    posts.fidelity_contact_sums += contacts[:, None] * posts.fidelity

    team = cohesion[posts.site]
    load = np.where(posts.absent, 0.0, model.week_demand / posts.minutes_available)
    target = c.STRAIN_LOAD_WEIGHT * load + c.STRAIN_ISOLATION_WEIGHT * (1.0 - team)
    strain = posts.strain + c.STRAIN_ADJUST_RATE * (target - posts.strain)
    strain -= posts.supervised * (c.SUPERVISION_STRAIN_RELIEF * mech.rel_supervision)
    posts.strain = np.where(held, np.minimum(np.maximum(strain, 0.0), 1.0), posts.strain)

    drift = c.FIDELITY_DRIFT_PER_WEEK * (1.0 - 0.5 * team)
    pull = posts.supervised * (c.SUPERVISION_PULL * mech.rel_supervision)
    fidelity = posts.fidelity
    fidelity += (drift * (c.FIDELITY_FLOOR - fidelity.T) + pull * (1.0 - fidelity.T)).T
    fidelity -= posts.strain[:, None] * posts.strain_hit
    fidelity[:, 3] -= posts.travel_hit
    np.minimum(np.maximum(fidelity, c.FIDELITY_FLOOR, out=fidelity), 1.0, out=fidelity)
    posts.weeks_since_supervision = np.where(posts.supervised, 0, posts.weeks_since_supervision + 1)

    p_leave = c.TURNOVER_BASE_PER_WEEK + mech.rel_strain * c.TURNOVER_PER_STRAIN * posts.strain
    leavers = (held & (posts.u_leave[:, week - 1] < p_leave)).nonzero()[0]
    for post in leavers.tolist():
        _leave(model, post)


def _hire(posts: PostTable, rows: np.ndarray) -> None:
    posts.vacancy_weeks_left[rows] = 0.0
    posts.hires[rows] += 1
    posts.fidelity[rows] = c.FIDELITY_AFTER_TRAINING
    posts.strain[rows] = 0.0
    posts.weeks_since_supervision[rows] = 0


def _leave(model: PeerSupportModel, post: int) -> None:
    posts = model.posts
    site_index = int(posts.site[post])
    vacancy = model.spec.sites[site_index].dur_vacancy_weeks
    model.release_caseload(post)
    model.supervisors_by_site[site_index].on_turnover()
    posts.absent[post] = False
    if vacancy > 0:
        posts.vacancy_weeks_left[post] = vacancy
    else:
        _hire(posts, np.array([post]))


@dataclass(slots=True)
class WardTable:
    """Ward staff; row ``i`` is one staff member.

    Acceptance (0-1) starts at the site baseline raised by team preparation
    (mechanism 1), moves with each ward contact, grows with ongoing joint work and
    regresses weekly towards its prepared anchor.
    """

    site: np.ndarray
    anchor: np.ndarray
    joint_work_rate: np.ndarray
    acceptance: np.ndarray = field(init=False)
    good_contacts: np.ndarray = field(init=False)
    poor_contacts: np.ndarray = field(init=False)
    first_row: np.ndarray = field(init=False)
    """Row of each site's first staff member."""
    counts: np.ndarray = field(init=False)
    """Staff members per site."""

    def __post_init__(self) -> None:
        n = len(self.site)
        self.acceptance = self.anchor.copy()
        self.good_contacts = np.zeros(n, dtype=np.int64)
        self.poor_contacts = np.zeros(n, dtype=np.int64)
        self.counts = np.bincount(self.site)
        self.first_row = np.concatenate(([0], np.cumsum(self.counts)[:-1]))

    def __len__(self) -> int:
        return len(self.site)

    def site_acceptance(self) -> np.ndarray:
        """Mean acceptance per site, 0-1."""
        return np.bincount(self.site, weights=self.acceptance) / self.counts


def build_ward(scenario: Scenario) -> WardTable:
    """Create every site's ward staff at their prepared starting acceptance."""
    mech = scenario.mechanisms
    sites, anchors, rates = [], [], []
    for index, site in enumerate(scenario.sites):
        prep_level = 1.0 - math.exp(-site.team_prep_sessions / c.PREP_SESSIONS_SCALE)
        base = site.ward_acceptance_baseline
        anchor = base + mech.rel_prep_acceptance * (1.0 - base) * prep_level
        rate = mech.rel_prep_acceptance * c.JOINT_WORK_RATE * site.team_joint_work_hours_per_month * 12 / 52
        sites.append(np.full(site.n_ward_staff, index, dtype=np.int64))
        anchors.append(np.full(site.n_ward_staff, anchor))
        rates.append(np.full(site.n_ward_staff, rate))
    return WardTable(
        site=np.concatenate(sites), anchor=np.concatenate(anchors), joint_work_rate=np.concatenate(rates)
    )


def ward_contacts(model: PeerSupportModel, sites: np.ndarray, picks: np.ndarray, good: np.ndarray) -> None:
    """Apply this week's ward contacts, in order, to the staff members they meet.

    Contact ``i`` at site ``sites[i]`` meets the staff member that ``picks[i]``
    (uniform on 0-1) selects. A good contact closes ``rel_contact_feedback`` of
    the gap to full acceptance; a poor one removes that share of current
    acceptance (the feedback loop of mechanism 1).
    """
    ward = model.ward
    rows = ward.first_row[sites] + (picks * ward.counts[sites]).astype(np.int64)
    rate = model.spec.mechanisms.rel_contact_feedback
    acceptance = ward.acceptance.tolist()
    for row, is_good in zip(rows.tolist(), good.tolist(), strict=True):
        a = acceptance[row]
        acceptance[row] = a + rate * (1.0 - a) if is_good else a - rate * a
    ward.acceptance[:] = acceptance
    np.add.at(ward.good_contacts, rows[good], 1)
    np.add.at(ward.poor_contacts, rows[~good], 1)


def ward_week(model: PeerSupportModel) -> None:
    """Weekly: ongoing joint work raises acceptance; it regresses to its anchor."""
    ward = model.ward
    a = ward.acceptance
    a += ward.joint_work_rate * (1.0 - a) + c.ACCEPTANCE_REGRESSION * (ward.anchor - a)
    np.minimum(np.maximum(a, 0.0, out=a), 1.0, out=a)
