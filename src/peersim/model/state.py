"""The model's state as columns: participants, peer worker posts, ward staff, and a weekly ledger.

The many agents of one kind follow the same rules, so, as in Starsim, their
state is kept in arrays (one row per participant, post or staff member) that
the rules of :mod:`peersim.model.rules` update for everyone at once; each Mesa
agent is a view onto its row. Weeks are model steps (1 = first week of
recruitment); ``-1`` marks "none".

The :class:`WeekLedger` is what the rules of one week ask of and give to each
peer worker post: the minutes they demanded, the contacts they delivered and
the supervision they received. It is begun afresh every week.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from peersim.core.results import FIDELITY_DOMAINS
from peersim.model import constants as c


@dataclass(slots=True)
class PatientTable:
    """Columns of participant state; row ``i`` is participant ``i``."""

    site: np.ndarray
    offered: np.ndarray
    """Randomised to (trial) or offered (service) peer support."""
    admit_week: np.ndarray
    discharge_week: np.ndarray
    instability: np.ndarray
    """Latent standard-normal instability (scaled by ``rel_patient_heterogeneity``)."""
    group: np.ndarray
    """Diagnostic group, an index into :data:`~peersim.core.results.GROUPS`."""
    readmit_threshold: np.ndarray
    """Exp(1) draw: readmitted when the cumulative hazard passes it."""
    u_referral: np.ndarray
    u_access: np.ndarray
    u_contact_quality: np.ndarray
    u_ward_staff: np.ndarray
    u_invite: np.ndarray
    u_attend: np.ndarray
    referred: np.ndarray = field(init=False)
    referred_week: np.ndarray = field(init=False)
    """Week of referral, or -1."""
    allocated_week: np.ndarray = field(init=False)
    """Week of the first allocation to a peer worker, or -1."""
    unmet: np.ndarray = field(init=False)
    """Referred, but the support window closed before any peer worker was free (unmet demand)."""
    first_contact_gain: np.ndarray = field(init=False)
    """Relationship built in the first contact (0-1), or NaN before it."""
    peer_worker: np.ndarray = field(init=False)
    contacts: np.ndarray = field(init=False)
    contacts_pre_discharge: np.ndarray = field(init=False)
    invited: np.ndarray = field(init=False)
    relationship: np.ndarray = field(init=False)
    dose: np.ndarray = field(init=False)
    """Fidelity-weighted contacts received so far."""
    engaged_week: np.ndarray = field(init=False)
    """Week the participant reached the engagement threshold, or -1."""
    misses_in_row: np.ndarray = field(init=False)
    disengaged: np.ndarray = field(init=False)
    support_over: np.ndarray = field(init=False)
    cumulative_hazard: np.ndarray = field(init=False)
    hazard_settled: np.ndarray = field(init=False)
    """Support is over, so the rest of follow-up is already determined."""
    readmitted: np.ndarray = field(init=False)
    """Readmitted within follow-up (known once the hazard is settled)."""
    readmit_week: np.ndarray = field(init=False)
    """Weeks after discharge of the first readmission, or -1."""

    def __post_init__(self) -> None:
        n = len(self.site)
        self.referred = np.zeros(n, dtype=bool)
        self.referred_week = np.full(n, -1, dtype=np.int64)
        self.allocated_week = np.full(n, -1, dtype=np.int64)
        self.unmet = np.zeros(n, dtype=bool)
        self.first_contact_gain = np.full(n, np.nan)
        self.peer_worker = np.full(n, -1, dtype=np.int64)
        self.contacts = np.zeros(n, dtype=np.int64)
        self.contacts_pre_discharge = np.zeros(n, dtype=np.int64)
        self.invited = np.zeros(n, dtype=bool)
        self.relationship = np.full(n, c.RELATIONSHIP_START)
        self.dose = np.zeros(n)
        self.engaged_week = np.full(n, -1, dtype=np.int64)
        self.misses_in_row = np.zeros(n, dtype=np.int64)
        self.disengaged = np.zeros(n, dtype=bool)
        self.support_over = ~self.offered.copy()
        self.cumulative_hazard = np.zeros(n)
        self.hazard_settled = np.zeros(n, dtype=bool)
        self.readmitted = np.zeros(n, dtype=bool)
        self.readmit_week = np.full(n, -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.site)

    def caseloads(self, posts: int) -> np.ndarray:
        """Participants allocated to each of ``posts`` posts and still in support."""
        active = (self.peer_worker >= 0) & ~self.support_over
        return np.bincount(self.peer_worker[active], minlength=posts)

    def inpatients(self, week: int) -> np.ndarray:
        """Boolean mask of participants on the ward in ``week``."""
        return (self.admit_week <= week) & (week < self.discharge_week)


@dataclass(slots=True)
class PostTable:
    """Peer worker posts; row ``i`` is post ``i``.

    A post is held by one person at a time; when they leave it is vacant for the
    site's ``dur_vacancy_weeks`` and then filled by a newly trained peer worker,
    unless the site's funding has ended. The person's own traits (relational
    skill, drift rate, experience) are columns too; :attr:`people` keeps one
    record per person who has left.
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
    by_site: tuple[tuple[int, ...], ...]
    """Posts of each site, in post order."""
    trait_draws: np.ndarray
    """Random numbers of each post's first holders' traits, shape (posts, slots, 3)."""
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
    local_post: np.ndarray = field(init=False)
    """Position of each post among its site's posts (keys the person's stream)."""
    skill: np.ndarray = field(init=False)
    """Current holder's relational skill: multiplier on the relationship they build (1 = typical)."""
    drift_rate: np.ndarray = field(init=False)
    """Current holder's multiplier on fidelity drift without supervision (1 = typical)."""
    experience: np.ndarray = field(init=False)
    """Current holder's experience in the role, 0-1."""
    experience_start: np.ndarray = field(init=False)
    start_week: np.ndarray = field(init=False)
    """Week the current holder started."""
    person_contacts_start: np.ndarray = field(init=False)
    person_fidelity_start: np.ndarray = field(init=False)
    peak_caseload: np.ndarray = field(init=False)
    """Largest caseload of the current holder so far."""
    defunded: np.ndarray = field(init=False)
    """Vacant after the site's funding ended: never refilled."""
    people: list[tuple[int, int, int, int, int, float, float, float, float, int, float, int]] = field(
        init=False
    )
    """One record per person who has left (see :func:`peersim.model.rules.workers.person_record`)."""

    def __post_init__(self) -> None:
        n = len(self.site)
        self.fidelity = np.full((n, len(FIDELITY_DOMAINS)), c.FIDELITY_AFTER_TRAINING)
        self.strain = np.zeros(n)
        self.absent = np.zeros(n, dtype=bool)
        self.vacancy_weeks_left = np.zeros(n)
        self.weeks_since_supervision = np.zeros(n, dtype=np.int64)
        self.supervised = np.zeros(n, dtype=bool)
        self.hires = np.ones(n, dtype=np.int64)
        self.vacancy_weeks = np.zeros(n, dtype=np.int64)
        self.contacts_total = np.zeros(n, dtype=np.int64)
        self.fidelity_contact_sums = np.zeros((n, len(FIDELITY_DOMAINS)))
        self.strain_hit = np.array(c.FIDELITY_STRAIN_HIT)
        self.local_post = np.concatenate([np.arange(len(p)) for p in self.by_site]).astype(np.int64)
        self.skill = np.ones(n)
        self.drift_rate = np.ones(n)
        self.experience = np.zeros(n)
        self.experience_start = np.zeros(n)
        self.start_week = np.ones(n, dtype=np.int64)
        self.person_contacts_start = np.zeros(n, dtype=np.int64)
        self.person_fidelity_start = np.zeros((n, len(FIDELITY_DOMAINS)))
        self.peak_caseload = np.zeros(n, dtype=np.int64)
        self.defunded = np.zeros(n, dtype=bool)
        self.people = []

    def __len__(self) -> int:
        return len(self.site)

    @property
    def in_post(self) -> np.ndarray:
        """Posts held by someone (not vacant)."""
        return self.vacancy_weeks_left <= 0.0


@dataclass(slots=True)
class WardTable:
    """Ward staff; row ``i`` is one staff member.

    Acceptance (0-1) starts at the site baseline raised by team preparation
    (mechanism 1), moves with each ward contact, grows with ongoing joint work and
    regresses weekly towards the member's anchor. A member who leaves is replaced
    at once by a newcomer at the site's baseline acceptance, whose anchor is that
    baseline: they missed the preparation.
    """

    site: np.ndarray
    anchor: np.ndarray
    joint_work_rate: np.ndarray
    baseline: np.ndarray
    """Acceptance of an unprepared newcomer, per row."""
    p_leave: np.ndarray
    """Weekly chance the member in each row leaves."""
    u_leave: np.ndarray
    """Uniform numbers, shape (staff, weeks), for leaving."""
    leavers: np.ndarray = field(init=False)
    """Members who have left from each row so far."""
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
        self.leavers = np.zeros(n, dtype=np.int64)
        self.good_contacts = np.zeros(n, dtype=np.int64)
        self.poor_contacts = np.zeros(n, dtype=np.int64)
        self.counts = np.bincount(self.site)
        self.first_row = np.concatenate(([0], np.cumsum(self.counts)[:-1]))

    def __len__(self) -> int:
        return len(self.site)

    def site_acceptance(self) -> np.ndarray:
        """Mean acceptance per site, 0-1."""
        return np.bincount(self.site, weights=self.acceptance) / self.counts


@dataclass(slots=True)
class WeekLedger:
    """What this week's rules asked of and gave to each peer worker post.

    Attributes
    ----------
    demand
        Minutes asked of each post (boundary admin, ward visits, sessions).
    contacts
        Contacts delivered from each post.
    present
        Whether each post's peer worker is at work (read by supervisors).
    waited
        Weeks since each post was last supervised, as the week began.
    supervised
        Whether supervisors saw each post's peer worker (written by supervisors).
    week
        The week (1 = first).
    """

    demand: np.ndarray
    contacts: np.ndarray
    week: int = 0
    present: list[bool] = field(default_factory=list)
    waited: list[int] = field(default_factory=list)
    supervised: list[bool] = field(default_factory=list)
