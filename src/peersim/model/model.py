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
7. supervisors supervise, or are away or leave (``AgentSet.do``); peer workers
   update strain, fidelity, experience and turnover (vacant posts are refilled
   with new people until funding ends);
8. ward staff acceptance moves with joint work and regresses to its anchor;
   some ward staff leave and are replaced by unprepared newcomers;
9. the week's record and the outcome tally, which Mesa's DataCollector reads.

What Mesa's tools see
---------------------
``datacollector`` holds one row per step (week) with these columns, all sites
pooled (see :mod:`peersim.model.observe`):

* ``ward_acceptance``, ``pw_strain``, ``fidelity_index``, ``caseload``: staff state
  and active caseload, as in the ``timeseries`` table (frozen after delivery);
* ``engagement_rate``, ``readmission_rate_intervention``, ``readmission_rate_control``:
  outcomes so far (:data:`~peersim.model.observe.OUTCOME_METRICS`); at the last
  step they equal the ``overall`` rows of the run's ``metrics`` table;
* ``participants_offered``, ``participants_followed_up``: their denominators so far;
* ``engagement_rate_year_Y`` and the two readmission rates ``..._year_Y``: the same
  for the cohort admitted in service year ``Y`` (one set per year with admissions);
  at the last step engagement and intervention readmission equal the ``years`` table.

``mesa.batch_run(PeerSupportModel, {"scenario": [a, b]}, rng=[0, 1])`` gives these
columns, and seed ``rng=s`` is the run ``peersim.run(scenario, s)``. For
SolaraViz, whose Reset rebuilds the model from keyword parameters, use
:class:`peersim.model.site_model.SiteModel`.
"""

from __future__ import annotations

from functools import partial

import mesa
import numpy as np
from mesa.datacollection import DataCollector

from peersim.core.scenario import Scenario
from peersim.core.streams import MESA_STREAM_CODE, Seed, as_seed_sequence, child_sequence
from peersim.model.agents import Patient, PeerWorker, Supervisor, WardStaff
from peersim.model.observe import POOLED_METRICS, OutcomeTally, WeeklyRecord
from peersim.model.rules import contacts, readmission, referral, staffing, ward
from peersim.model.rules.readmission import usual_care_readmitted
from peersim.model.rules.week import week_state
from peersim.model.setup import set_up
from peersim.model.state import WeekLedger


class PeerSupportModel(mesa.Model):
    """Peer support for people leaving psychiatric wards, at one or more sites.

    Parameters
    ----------
    scenario
        A validated :class:`~peersim.core.scenario.Scenario`.
    rng
        Seed: a non-negative ``int`` or a :class:`numpy.random.SeedSequence`. All
        model randomness is drawn from named streams spawned from it; ``rng=s``
        gives the run of ``peersim.run(scenario, s)``. ``None`` is refused.

    Attributes
    ----------
    spec : Scenario
        The peersim scenario (``Model.scenario`` is reserved by Mesa for its own
        experimental scenarios).
    setup : Setup
        What the run fixed before its first week (see :mod:`peersim.model.setup`).
    patients, posts, ward : PatientTable, PostTable, WardTable
        State of the participants, peer worker posts and ward staff, one row per
        :class:`Patient`, :class:`PeerWorker` and :class:`WardStaff` agent.
    ledger : WeekLedger
        What the current week's rules asked of and gave to each post.
    record : WeeklyRecord
        The weekly per-site record, which ``datacollector`` reads.
    tally : OutcomeTally
        Engagement and readmission so far, pooled and per service year, which
        ``datacollector`` reads.
    n_weeks : int
        Steps until every participant has finished follow-up; ``running`` turns
        false after that many steps.
    delivery_weeks : int
        Steps until the week after the last participant's support window closes.
    datacollector : mesa.DataCollector
        Weekly model-level series: ward acceptance, strain, fidelity, caseload,
        engagement and readmission so far, overall and per service year (see
        "What Mesa's tools see" in :mod:`peersim.model.model`).
    """

    def __init__(self, scenario: Scenario, rng: Seed = 0) -> None:
        if rng is None:  # mesa.batch_run(..., iterations=n) passes rng=None
            raise TypeError(
                "PeerSupportModel needs a seed, got rng=None: give mesa.batch_run rng=[0, 1, ...] "
                "(one run per seed) instead of iterations="
            )
        root = as_seed_sequence(rng)
        super().__init__(rng=np.random.default_rng(child_sequence(root, MESA_STREAM_CODE)))
        self.spec = scenario
        self.seed_sequence = root
        self.setup, self.patients, self.posts, self.ward = set_up(scenario, root)
        self.delivery_weeks = self.setup.delivery_weeks
        self.n_weeks = self.setup.n_weeks
        for post, site in enumerate(self.posts.site.tolist()):
            PeerWorker(self, site, post, self.posts, self.patients)
        for index, site in enumerate(scenario.sites):
            draws = self.setup.supervisor_draws[index]
            Supervisor(self, index, site, scenario.mechanisms, self.posts.by_site[index], draws)
        for row, site in enumerate(self.ward.site.tolist()):
            WardStaff(self, site, row, self.ward)
        names = tuple(s.name for s in scenario.sites)
        for row in range(len(self.patients)):
            Patient(self, row, self.patients, names, scenario.protocol.engaged_min_contacts)
        self.supervisors = self.agents_by_type[Supervisor]
        """Supervisors in site order (Mesa's own set, which keeps creation order)."""
        n_posts = len(self.posts)
        self.ledger = WeekLedger(np.zeros(n_posts), np.zeros(n_posts, dtype=np.int64))
        self.record = WeeklyRecord(self.delivery_weeks, self.setup.post_site, self.ward.counts)
        usual_care = usual_care_readmitted(self.patients, self.setup) if scenario.mode == "service" else None
        self.tally = OutcomeTally(self.patients, self.setup.follow_up_weeks, self.delivery_weeks, usual_care)
        reporters = {name: partial(_pooled, metric=name) for name in POOLED_METRICS}
        reporters.update({name: partial(_outcome, metric=name) for name in self.tally.columns})
        self.datacollector = DataCollector(model_reporters=reporters)

    def step(self) -> None:
        """Advance the model by one week.

        After :attr:`delivery_weeks` no participant can receive support and every
        readmission is already settled, so later steps only advance time.
        """
        week = self.steps
        if week > self.delivery_weeks:
            self.tally.update(week)
            self.datacollector.collect(self)
            self.running = week < self.n_weeks
            return
        setup, patients, posts = self.setup, self.patients, self.posts
        staffing.begin_week(posts, week, setup)
        now = week_state(posts, self.ward, setup)
        ledger = WeekLedger(
            demand=np.where(now.in_post, setup.boundary_minutes, 0.0),
            contacts=np.zeros(len(posts), dtype=np.int64),
            week=week,
        )
        self.ledger = ledger

        referral.refer(patients, week, now)
        referral.allocate(patients, posts, week, setup)
        contacts.ward_visits(patients, self.ward, ledger, week, now, setup)
        referral.discharge(patients, week, now, setup)
        contacts.community_sessions(patients, ledger, week, now, setup)
        readmission.readmissions(patients, week, setup)

        ledger.present = now.present.tolist()
        ledger.waited = posts.weeks_since_supervision.tolist()
        ledger.supervised = [False] * len(posts)
        self.supervisors.do("step", ledger)
        posts.supervised = np.array(ledger.supervised, dtype=bool)
        supervisors = self.supervisors.to_list()
        cohesion = np.array([s.cohesion for s in supervisors])
        leavers = staffing.end_week(posts, patients, ledger, week, cohesion, setup)
        for post in leavers:
            supervisors[int(posts.site[post])].on_turnover()
        ward_leavers = ward.ward_week(self.ward, week)
        caseloads = patients.caseloads(len(posts))
        np.maximum(posts.peak_caseload, caseloads, out=posts.peak_caseload)
        self.record.add(
            week,
            now,
            caseloads,
            ledger.contacts,
            [s.sessions_this_week for s in supervisors],
        )
        if leavers or ward_leavers.size:
            self.record.add_turnover(week, posts.site[leavers], self.ward.site[ward_leavers])
        self.tally.update(week)
        self.datacollector.collect(self)
        self.running = week < self.n_weeks

    def run_model(self) -> None:
        """Step until every participant has completed follow-up."""
        while self.running:
            self.step()

    def timeseries(self) -> np.ndarray:
        """Weekly per-site records of the delivery phase so far, ``(weeks, sites, metrics)``.

        Metrics are :data:`~peersim.core.results.TIMESERIES_METRICS`: mean ward
        acceptance (0-1), mean strain and fidelity index of posts in post as the
        week began (0-1), engaged share of offered participants admitted by then,
        active caseload, vacant posts, supervision sessions and contacts that week.
        """
        return self.record.series(min(self.steps, self.delivery_weeks), self.patients)


def _pooled(model: PeerSupportModel, metric: str) -> float:
    """Return the latest week's value of ``metric`` over all sites (a DataCollector reporter)."""
    return model.record.pooled[metric]


def _outcome(model: PeerSupportModel, metric: str) -> float:
    """Return ``metric``'s value so far (a DataCollector reporter; see :class:`OutcomeTally`)."""
    return model.tally.values[metric]
