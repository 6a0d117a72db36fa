"""The Mesa model of peer support for discharge from psychiatric wards.

Time resolution
---------------
One step is **one week**. Peer support is organised in weeks (weekly then
fortnightly sessions, weekly supervision, admissions counted per week), lengths of
stay are several weeks (mean about 5), so a weekly step keeps the ward phase
intact: a participant is on the ward for whole weeks, during which their peer
worker can meet them before discharge, and discharge planning happens in the
discharge week. A daily step would multiply the work by seven with no new
behaviour, and an event queue would cost more per event than a vectorised week.
Weekly steps over about 118 weeks (40 recruitment + up to 26 in hospital + 52
follow-up) let a 590-participant, 7-site trial run in tens of milliseconds.

Order within a week
-------------------
1. peer workers draw absence; boundary admin is charged;
2. ward staff refer (service mode) and referred participants are allocated;
3. ward visits (contacts before discharge, ward staff feedback);
4. discharges and discharge-planning invitations;
5. community sessions within peer worker capacity;
6. readmission hazards;
7. supervisors supervise (``AgentSet.do``); peer workers update strain,
   fidelity and turnover;
8. ward staff acceptance moves with joint work and regresses to its anchor;
9. records and Mesa's DataCollector.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import mesa
import numpy as np
from mesa.datacollection import DataCollector

from peersim.model import constants as c
from peersim.model import patient_rules as rules
from peersim.model import staff
from peersim.model.agents import Patient, PeerWorker, Supervisor, WardStaff
from peersim.model.patient_rules import _sigmoid, logit
from peersim.model.patients import PatientTable, build_patients
from peersim.model.readmission import baseline_cumulative_hazard
from peersim.model.staff import PostTable, WardTable, build_posts, build_ward
from peersim.scenario import Scenario
from peersim.streams import MESA_STREAM_CODE, Seed, as_seed_sequence, child_sequence

TIMESERIES_METRICS: tuple[str, ...] = (
    "ward_acceptance",
    "pw_strain",
    "fidelity_index",
    "engagement_rate",
    "caseload",
    "vacancies",
    "supervision_sessions",
    "contacts",
)
"""Per-site weekly records kept by the model (see :meth:`PeerSupportModel.timeseries`)."""


@dataclass(frozen=True, slots=True)
class WeekState:
    """Staff state and the probabilities it implies, gathered once a week.

    Per-site arrays are indexed by site; per-post arrays by peer worker post.
    Logits are log-odds terms that the participant rules add to their own.
    """

    acceptance: np.ndarray
    """Mean ward staff acceptance per site, 0-1."""
    in_post: np.ndarray
    present: np.ndarray
    relational_fidelity: np.ndarray
    fidelity_index: np.ndarray
    strain: np.ndarray
    minutes_available: np.ndarray
    post_session_minutes: np.ndarray
    """Minutes per community session including the round trip, per post."""
    p_referral: np.ndarray
    """Weekly referral probability per site."""
    p_access: np.ndarray
    """Weekly ward access probability per site."""
    p_invite: np.ndarray
    """Discharge-planning invitation probability per site."""
    first_contact_gain: np.ndarray
    """Relationship built by a first contact, per post."""
    attend_logit: np.ndarray
    """Attendance log-odds from the base rate and the peer worker's fidelity, per post."""
    good_contact_logit: np.ndarray
    """Log-odds of a good ward contact from fidelity and strain, per post."""
    good_contact_site_logit: np.ndarray
    """Log-odds of a good ward contact lost across a host boundary, per site."""


class PeerSupportModel(mesa.Model):
    """Peer support for people leaving psychiatric wards, at one or more sites.

    Parameters
    ----------
    scenario
        A validated :class:`~peersim.scenario.Scenario`.
    rng
        Seed: a non-negative ``int`` or a :class:`numpy.random.SeedSequence`. All
        model randomness is drawn from named streams spawned from it.

    Attributes
    ----------
    spec : Scenario
        The peersim scenario (``Model.scenario`` is reserved by Mesa for its own
        experimental scenarios).
    patients : PatientTable
        Participant state, one row per :class:`Patient` agent.
    posts : PostTable
        Peer worker state, one row per :class:`PeerWorker` agent (a post).
    ward : WardTable
        Ward staff state, one row per :class:`WardStaff` agent.
    n_weeks : int
        Steps until every participant has finished follow-up; ``running`` turns
        false after that many steps.
    delivery_weeks : int
        Steps until the week after the last participant's support window closes.
    datacollector : mesa.DataCollector
        Weekly model-level series (ward acceptance, strain, fidelity, engagement).
    """

    def __init__(self, scenario: Scenario, rng: Seed = 0) -> None:
        root = as_seed_sequence(rng)
        super().__init__(rng=np.random.default_rng(child_sequence(root, MESA_STREAM_CODE)))
        self.spec = scenario
        self.seed_sequence = root
        sites = scenario.sites
        mech = scenario.mechanisms
        self.travel_hours = np.array([s.travel_minutes_one_way / 60.0 for s in sites])
        self.not_for_profit = np.array([s.host == "not_for_profit" for s in sites], dtype=float)
        self.patients: PatientTable = build_patients(scenario, root)
        self.patients.relationship[:] = c.RELATIONSHIP_START

        last_discharge = int(self.patients.discharge_week.max(initial=scenario.horizon.recruitment_weeks))
        # Support ends, and readmission is settled, in the week after the window closes.
        self.delivery_weeks = last_discharge + scenario.protocol.support_weeks + 1
        self.n_weeks = max(last_discharge + scenario.horizon.follow_up_weeks, self.delivery_weeks)
        self.baseline_cumulative = baseline_cumulative_hazard(
            mech.p_readmit_12m_usual_care, mech.rel_patient_heterogeneity, scenario.horizon.follow_up_weeks
        )
        self.baseline_hazard = np.diff(self.baseline_cumulative, prepend=0.0)

        self.posts: PostTable = build_posts(scenario, root, self.delivery_weeks)
        self.ward: WardTable = build_ward(scenario)
        self.peer_workers = [PeerWorker(self, int(s), post) for post, s in enumerate(self.posts.site)]
        self.supervisors_by_site = [Supervisor(self, index) for index in range(len(sites))]
        self.ward_staff = [WardStaff(self, int(s), row) for row, s in enumerate(self.ward.site)]
        self.patient_agents = [Patient(self, row) for row in range(len(self.patients))]

        self._boundary_minutes = (
            c.BOUNDARY_PEER_WORKER_MINUTES * mech.rel_host_boundary * self.not_for_profit[self.posts.site]
        )
        session_minutes = np.array(
            [
                scenario.protocol.dur_session_minutes + 2.0 * mech.rel_geography * s.travel_minutes_one_way
                for s in sites
            ]
        )
        self._post_session_minutes = session_minutes[self.posts.site]
        protocol = scenario.protocol
        k = np.arange(protocol.support_weeks + 1)
        self.session_weeks = (k >= 1) & (
            (k <= protocol.weekly_session_weeks) | ((k - protocol.weekly_session_weeks) % 2 == 0)
        )
        """Whether a community session is scheduled in each week ``k`` after discharge."""
        self.attend_offset = -(
            c.HETEROGENEITY_ATTENDANCE_LOGIT * mech.rel_patient_heterogeneity * self.patients.instability
            + c.TRAVEL_MISS_LOGIT_PER_HOUR * mech.rel_geography * self.travel_hours[self.patients.site]
        )
        """Each participant's fixed attendance log-odds from instability and travel."""
        self._referral_logit = logit(c.P_REFERRAL_REF)
        self._access_logit = logit(mech.p_ward_access_base)
        self._invite_logit = logit(c.P_INVITE_REF)
        self._attend_logit = logit(mech.p_attend_base)
        self._good_contact_logit = logit(c.P_GOOD_CONTACT_REF)
        boundary = mech.rel_host_boundary * self.not_for_profit
        self._boundary_access = c.BOUNDARY_ACCESS_LOGIT * boundary
        self._boundary_authority = c.BOUNDARY_AUTHORITY_LOGIT * boundary
        self._boundary_contact = -c.BOUNDARY_CONTACT_LOGIT * boundary
        """Log-odds of ward access, invitation and a good contact lost across a host boundary, per site."""
        self._post_site_onehot = (self.posts.site[:, None] == np.arange(len(sites))).astype(float)
        self.week_demand = np.zeros(len(self.posts))
        self._per_post = np.empty((6, len(self.posts)))
        self.week_contacts = np.zeros(len(self.posts), dtype=np.int64)
        self.week_present: list[bool] = []
        """Which posts' peer workers are at work this week (read by supervisors)."""
        self.week_since_supervision: list[int] = []
        """Weeks since each post was last supervised, as the week began."""
        self.week_supervised: list[bool] = []
        """Which posts' peer workers supervisors saw this week (written by supervisors)."""
        self.engaged_week = np.full(len(self.patients), -1, dtype=np.int64)
        """Week each participant reached the engagement threshold, or -1."""
        self._records = np.full((self.delivery_weeks, len(sites), len(TIMESERIES_METRICS)), np.nan)
        self._overall: dict[str, float] = dict.fromkeys(TIMESERIES_METRICS, float("nan"))
        self.datacollector = DataCollector(
            model_reporters={
                name: partial(PeerSupportModel.overall, metric=name)
                for name in ("ward_acceptance", "pw_strain", "fidelity_index", "caseload")
            }
        )

    # -- helpers used by the rules ----------------------------------------------------------

    def caseloads(self) -> np.ndarray:
        """Participants currently allocated to each post and still in support."""
        p = self.patients
        active = (p.peer_worker >= 0) & ~p.support_over
        return np.bincount(p.peer_worker[active], minlength=len(self.posts))

    def release_caseload(self, post: int) -> None:
        """Return a leaver's participants to the waiting list, weakening relationships."""
        p = self.patients
        rows = ((p.peer_worker == post) & ~p.support_over).nonzero()[0]
        p.peer_worker[rows] = -1
        p.relationship[rows] *= c.RELATIONSHIP_KEPT_ON_HANDOVER

    def _week_state(self) -> WeekState:
        posts = self.posts
        mech = self.spec.mechanisms
        fidelity = posts.fidelity
        fidelity_index = fidelity.sum(axis=1) / fidelity.shape[1]  # = mean, without its overhead
        above_reference = fidelity_index - c.FIDELITY_REFERENCE
        relational = 0.5 * (fidelity[:, 0] + fidelity[:, 1])
        strain = posts.strain.copy()
        acceptance = self.ward.site_acceptance()
        shift = mech.rel_acceptance_access * (acceptance - 0.5)
        in_post = posts.in_post
        return WeekState(
            acceptance=acceptance,
            in_post=in_post,
            present=in_post & ~posts.absent,
            relational_fidelity=relational,
            fidelity_index=fidelity_index,
            strain=strain,
            minutes_available=posts.minutes_available,
            post_session_minutes=self._post_session_minutes,
            p_referral=_sigmoid(self._referral_logit + shift),
            p_access=_sigmoid(self._access_logit + shift - self._boundary_access),
            p_invite=_sigmoid(self._invite_logit + shift - self._boundary_authority),
            first_contact_gain=c.FIRST_CONTACT_GAIN * relational * (1.0 - 0.5 * strain),
            attend_logit=self._attend_logit + mech.rel_fidelity_engagement * above_reference,
            good_contact_logit=self._good_contact_logit
            + c.GOOD_CONTACT_FIDELITY_LOGIT * above_reference
            - c.GOOD_CONTACT_STRAIN_LOGIT * strain,
            good_contact_site_logit=self._boundary_contact,
        )

    # -- the week -------------------------------------------------------------------------

    def step(self) -> None:
        """Advance the model by one week.

        After :attr:`delivery_weeks` no participant can receive support and every
        readmission is already settled, so later steps only advance time.
        """
        week = self.steps
        if week > self.delivery_weeks:
            self.datacollector.collect(self)
            self.running = week < self.n_weeks
            return
        staff.begin_week(self, week)
        state = self._week_state()
        self.week_demand = np.where(state.in_post, self._boundary_minutes, 0.0)
        self.week_contacts = np.zeros(len(self.posts), dtype=np.int64)

        rules.refer(self, week, state)
        rules.allocate(self, week)
        rules.ward_visits(self, week, state)
        rules.discharge(self, week, state)
        rules.community_sessions(self, week, state)
        rules.readmissions(self, week)

        self.week_present = state.present.tolist()
        self.week_since_supervision = self.posts.weeks_since_supervision.tolist()
        self.week_supervised = [False] * len(self.posts)
        self.agents_by_type[Supervisor].do("step")
        self.posts.supervised = np.array(self.week_supervised, dtype=bool)
        cohesion = np.array([s.cohesion for s in self.supervisors_by_site])
        staff.end_week(self, week, cohesion)
        staff.ward_week(self)
        self._record(week, state)
        self.datacollector.collect(self)
        self.running = week < self.n_weeks

    def run_model(self) -> None:
        """Step until every participant has completed follow-up."""
        while self.running:
            self.step()

    # -- observation ----------------------------------------------------------------------

    def _record(self, week: int, state: WeekState) -> None:
        """Store this week's per-site row: staff state as the week began, flows as it ended."""
        per_post = self._per_post
        per_post[0] = state.in_post
        per_post[1] = state.strain * state.in_post
        per_post[2] = state.fidelity_index * state.in_post
        per_post[3] = self.caseloads()
        per_post[4] = ~state.in_post
        per_post[5] = self.week_contacts
        sums = per_post @ self._post_site_onehot
        held = sums[0]
        mean = np.divide(sums[1:3], held, out=np.full((2, len(held)), np.nan), where=held > 0)
        row = self._records[week - 1]
        row[:, 0] = state.acceptance
        row[:, 1:3] = mean.T
        row[:, 4:6] = sums[3:5].T
        row[:, 6] = [s.sessions_this_week for s in self.supervisors_by_site]
        row[:, 7] = sums[5]
        total_held = held.sum()
        self._overall = {
            "ward_acceptance": float(self.ward.acceptance.sum() / len(self.ward)),
            "pw_strain": float(sums[1].sum() / total_held) if total_held else float("nan"),
            "fidelity_index": float(sums[2].sum() / total_held) if total_held else float("nan"),
            "caseload": float(sums[3].sum()),
        }

    def overall(self, metric: str) -> float:
        """Latest weekly value of a metric over all sites (frozen after delivery).

        Parameters
        ----------
        metric
            ``"ward_acceptance"`` (mean over staff, 0-1), ``"pw_strain"`` or
            ``"fidelity_index"`` (mean over posts in post, 0-1), or ``"caseload"``
            (participants in support).
        """
        return self._overall[metric]

    def timeseries(self) -> np.ndarray:
        """Weekly per-site records of the delivery phase so far, ``(weeks, sites, metrics)``.

        Metrics are :data:`TIMESERIES_METRICS`: mean ward acceptance (0-1), mean
        strain and fidelity index of posts in post as the week began (0-1), engaged
        share of offered participants admitted by then, active caseload, vacant
        posts, supervision sessions and contacts that week.
        """
        weeks = min(self.steps, self.delivery_weeks)
        records = self._records[:weeks].copy()
        records[:, :, TIMESERIES_METRICS.index("engagement_rate")] = self._engagement_series(weeks)
        return records

    def _engagement_series(self, weeks: int) -> np.ndarray:
        """Engaged share of offered participants admitted by each week, per site."""
        p = self.patients
        n_sites = len(self.spec.sites)
        offered = p.offered
        started = np.zeros((weeks + 1, n_sites))
        engaged = np.zeros((weeks + 1, n_sites))
        admit = np.minimum(p.admit_week[offered], weeks + 1)
        keep = admit <= weeks
        np.add.at(started, (admit[keep], p.site[offered][keep]), 1.0)
        when = self.engaged_week[offered]
        hit = (when > 0) & (when <= weeks)
        np.add.at(engaged, (when[hit], p.site[offered][hit]), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (np.cumsum(engaged, axis=0) / np.cumsum(started, axis=0))[1:]
