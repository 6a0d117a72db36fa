"""The four kinds of agent: peer workers, supervisors, ward staff and patients.

Supervisors hold their own state and choose whom to supervise each week.
Peer workers, ward staff and patients are many and follow the same rules, so,
as in Starsim, their state is kept in columns (:mod:`peersim.model.state`) and
their rules run for all of them at once (:mod:`peersim.model.rules`); each of
these agents is a view onto its row, exposing the state a user would expect to
inspect on an agent. Mesa's ``model.agents_by_type`` is the one registry of them.
"""

from __future__ import annotations

import mesa
import numpy as np

from peersim.core.results import FIDELITY_DOMAINS, GROUPS, WEEKS_PER_YEAR
from peersim.core.scenario import Mechanisms, Site
from peersim.model import constants as c
from peersim.model.state import PatientTable, PostTable, WardTable, WeekLedger


class PeerWorker(mesa.Agent):
    """A peer worker post: the person in it, or a vacancy while it is being filled.

    The state lives in the model's :class:`~peersim.model.state.PostTable`; these
    properties read row :attr:`post` of it.
    """

    def __init__(
        self, model: mesa.Model, site_index: int, post: int, posts: PostTable, patients: PatientTable
    ) -> None:
        super().__init__(model)
        self.site_index = site_index
        self.post = post
        self._posts = posts
        self._patients = patients

    @property
    def fidelity(self) -> dict[str, float]:
        """Current practice per fidelity domain, 0-1 (1 = as the manual)."""
        row = self._posts.fidelity[self.post]
        return {name: float(v) for name, v in zip(FIDELITY_DOMAINS, row, strict=True)}

    @property
    def fidelity_index(self) -> float:
        """Mean of the four fidelity domains, 0-1."""
        return float(self._posts.fidelity[self.post].mean())

    @property
    def strain(self) -> float:
        """Work strain, 0-1."""
        return float(self._posts.strain[self.post])

    @property
    def in_post(self) -> bool:
        """Whether someone holds the post (it is not vacant)."""
        return bool(self._posts.vacancy_weeks_left[self.post] <= 0.0)

    @property
    def absent(self) -> bool:
        """Off work this week."""
        return bool(self._posts.absent[self.post])

    @property
    def caseload(self) -> int:
        """Participants allocated and still in support."""
        return int(self._patients.caseloads(len(self._posts))[self.post])

    @property
    def contacts_total(self) -> int:
        """Contacts delivered from this post so far."""
        return int(self._posts.contacts_total[self.post])

    @property
    def relational_skill(self) -> float:
        """The current holder's relational skill (1 = typical; mechanism 9)."""
        return float(self._posts.skill[self.post])

    @property
    def drift_rate(self) -> float:
        """The current holder's multiplier on fidelity drift without supervision (1 = typical)."""
        return float(self._posts.drift_rate[self.post])

    @property
    def experience(self) -> float:
        """The current holder's experience in the role, 0-1."""
        return float(self._posts.experience[self.post])


class Supervisor(mesa.Agent):
    """The supervisor (peer worker coordinator) of one site.

    Each week converts supervisor hours, less joint working across a host
    boundary (mechanism 2) and travel for in-person sessions (mechanism 4), into
    one-to-one supervision sessions, given to the present peer workers who have
    gone longest unsupervised (mechanism 3). Unused fractions of a session carry
    over, up to one more session than the team size. Some weeks the supervisor
    is away (:data:`~peersim.model.constants.SUPERVISOR_ABSENCE_PER_WEEK`), and
    they may leave (``supervisor_turnover_per_year``): the post is then vacant for
    the site's ``dur_vacancy_weeks`` and the team loses cohesion. No sessions are
    given, and none banked, while the supervisor is away or the post is vacant.

    Attributes
    ----------
    cohesion : float
        Team cohesion, 0-1: moves towards supervision coverage (scaled by
        ``rel_supervision`` and reduced by travel), and drops when someone leaves.
    sessions_delivered : int
        Supervision sessions so far.
    turnovers : int
        Supervisors who have left so far.
    weeks_without : int
        Weeks with no supervisor at work (away or post vacant).
    """

    def __init__(
        self,
        model: mesa.Model,
        site_index: int,
        site: Site,
        mechanisms: Mechanisms,
        post_list: tuple[int, ...],
        u_supervisor: np.ndarray,
    ) -> None:
        super().__init__(model)
        self.site_index = site_index
        p_leave = 1.0 - (1.0 - site.supervisor_turnover_per_year) ** (1.0 / WEEKS_PER_YEAR)
        weeks = np.arange(1, len(u_supervisor) + 1)
        self._away_weeks = frozenset(weeks[u_supervisor[:, 0] < c.SUPERVISOR_ABSENCE_PER_WEEK].tolist())
        """Weeks the supervisor is away (leave, sickness)."""
        self._leave_weeks = frozenset(weeks[u_supervisor[:, 1] < p_leave].tolist())
        """Weeks the supervisor leaves, if in post."""
        self._vacancy_weeks = site.dur_vacancy_weeks
        self.vacancy_weeks_left = 0.0
        self.turnovers = 0
        self.weeks_without = 0
        nfp = site.host == "not_for_profit"
        boundary = mechanisms.rel_host_boundary * c.BOUNDARY_SUPERVISOR_HOURS if nfp else 0.0
        self.hours_for_supervision = max(0.0, site.supervisor_hours_per_week - boundary)
        travel_hours = mechanisms.rel_geography * site.travel_minutes_one_way / 60.0
        self.hours_per_session = (
            c.SUPERVISION_SESSION_HOURS + 2.0 * travel_hours * c.SUPERVISION_IN_PERSON_SHARE
        )
        self._cohesion_target_scale = mechanisms.rel_supervision / (1.0 + travel_hours)
        self._sessions_per_week = self.hours_for_supervision / self.hours_per_session
        self.post_list: list[int] = list(post_list)
        """Peer worker posts this supervisor supervises."""
        self.bank = 0.0
        self.cohesion = 0.5
        self.sessions_delivered = 0
        self.sessions_this_week = 0

    def step(self, ledger: WeekLedger) -> None:
        """Deliver this week's supervision sessions, marking them in ``ledger``; update team cohesion."""
        present = ledger.present
        waited = ledger.waited
        team = [post for post in self.post_list if present[post]]
        week = ledger.week
        if self.vacancy_weeks_left > 0:
            self.vacancy_weeks_left -= 1.0
            at_work = False
        else:
            at_work = week not in self._away_weeks
        if at_work:
            self.bank = min(self.bank + self._sessions_per_week, len(team) + 1.0)
        else:
            self.weeks_without += 1
        n = min(int(self.bank), len(team)) if at_work else 0
        self.sessions_this_week = n
        if n:
            if n < len(team):
                team.sort(key=lambda post: -waited[post])
            supervised = ledger.supervised
            for post in team[:n]:
                supervised[post] = True
            self.bank -= n
            self.sessions_delivered += n
        coverage = n / len(team) if team else 0.0
        self.cohesion += c.COHESION_RATE * (coverage * self._cohesion_target_scale - self.cohesion)
        if week in self._leave_weeks and self.vacancy_weeks_left <= 0:
            self.turnovers += 1
            self.bank = 0.0
            self.vacancy_weeks_left = self._vacancy_weeks
            self.on_turnover()

    def on_turnover(self) -> None:
        """Lose cohesion when a peer worker leaves."""
        self.cohesion *= 1.0 - c.COHESION_LOSS_ON_TURNOVER


class WardStaff(mesa.Agent):
    """A member of ward staff, whose acceptance of peer workers evolves.

    The state lives in the model's :class:`~peersim.model.state.WardTable`; these
    properties read row :attr:`row` of it.
    """

    def __init__(self, model: mesa.Model, site_index: int, row: int, ward: WardTable) -> None:
        super().__init__(model)
        self.site_index = site_index
        self.row = row
        self._ward = ward

    @property
    def acceptance(self) -> float:
        """Acceptance of peer workers, 0-1."""
        return float(self._ward.acceptance[self.row])

    @property
    def good_contacts(self) -> int:
        """Ward contacts with peer workers that went well."""
        return int(self._ward.good_contacts[self.row])

    @property
    def poor_contacts(self) -> int:
        """Ward contacts with peer workers that went poorly."""
        return int(self._ward.poor_contacts[self.row])


class Patient(mesa.Agent):
    """A trial participant (or, in service mode, an eligible inpatient).

    The state lives in the model's :class:`~peersim.model.state.PatientTable`;
    these properties read row :attr:`row` of it.
    """

    def __init__(
        self,
        model: mesa.Model,
        row: int,
        patients: PatientTable,
        site_names: tuple[str, ...],
        engaged_min_contacts: int,
    ) -> None:
        super().__init__(model)
        self.row = row
        self._patients = patients
        self._site_names = site_names
        self._engaged_min_contacts = engaged_min_contacts

    @property
    def site(self) -> str:
        """Name of the participant's site."""
        return self._site_names[int(self._patients.site[self.row])]

    @property
    def group(self) -> str:
        """Diagnostic group (one of :data:`~peersim.core.results.GROUPS`)."""
        return GROUPS[int(self._patients.group[self.row])]

    @property
    def offered_peer_support(self) -> bool:
        """Randomised to (trial) or offered (service) peer support."""
        return bool(self._patients.offered[self.row])

    @property
    def admit_week(self) -> int:
        """Week of the index admission."""
        return int(self._patients.admit_week[self.row])

    @property
    def discharge_week(self) -> int:
        """Week of discharge from the index admission."""
        return int(self._patients.discharge_week[self.row])

    @property
    def peer_worker(self) -> PeerWorker | None:
        """Allocated peer worker post, if any."""
        post = int(self._patients.peer_worker[self.row])
        if post < 0:
            return None
        worker: PeerWorker = self.model.agents_by_type[PeerWorker].to_list()[post]
        return worker

    @property
    def contacts(self) -> int:
        """Peer support contacts so far (ward and community)."""
        return int(self._patients.contacts[self.row])

    @property
    def engaged(self) -> bool:
        """At least ``engaged_min_contacts`` contacts (ENRICH: 2)."""
        return self.contacts >= self._engaged_min_contacts

    @property
    def relationship(self) -> float:
        """Strength of the relationship with the peer worker, 0-1."""
        return float(self._patients.relationship[self.row])

    @property
    def readmitted(self) -> bool:
        """Readmitted by the current week."""
        p = self._patients
        week = int(p.readmit_week[self.row])
        return week >= 0 and int(p.discharge_week[self.row]) + week <= self.model.steps
