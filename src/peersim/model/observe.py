"""What the model observes of its weeks, for its tables and for Mesa's DataCollector.

:class:`WeeklyRecord` is the one record of the delivery weeks: each week adds one
row per site of :data:`~peersim.core.results.TIMESERIES_METRICS`: staff state as
the week began (ward acceptance, strain and fidelity of the posts in post), and
what the week did (caseload, vacancies, supervision sessions, contacts). The
pooled values (all sites together) are computed from the same sums, so the
DataCollector and the ``timeseries`` table never disagree.

:class:`OutcomeTally` keeps running counts of the participants' outcomes so far
(engagement, readmission in each arm), over all sites and per service year, so
the DataCollector can report them every week without scanning the participants;
at the last week they equal the run's ``metrics`` and ``years`` tables.
"""

from __future__ import annotations

import numpy as np

from peersim.core.results import TIMESERIES_METRICS, WEEKS_PER_YEAR
from peersim.model.rules.week import WeekState
from peersim.model.state import PatientTable

POOLED_METRICS: tuple[str, ...] = ("ward_acceptance", "pw_strain", "fidelity_index", "caseload")
"""Metrics pooled over sites each week, for Mesa's DataCollector."""
OUTCOME_METRICS: tuple[str, ...] = (
    "engagement_rate",
    "readmission_rate_intervention",
    "readmission_rate_control",
)
"""Outcomes so far, over all sites and per service year, for Mesa's DataCollector (each 0-1).

* ``engagement_rate``: share of the peer support arm admitted so far that has had at
  least ``engaged_min_contacts`` contacts so far;
* ``readmission_rate_intervention``: share of the peer support arm whose follow-up
  has ended by this week that was readmitted within follow-up (NaN until the first
  follow-up ends);
* ``readmission_rate_control``: the same for the control arm in trial mode, and for
  everyone's usual-care counterfactual in service mode (as the ``metrics`` table).
"""
COUNT_METRICS: tuple[str, ...] = ("participants_offered", "participants_followed_up")
"""Denominators so far, over all sites: peer support arm admitted, and participants
(both arms) whose follow-up has ended. Both never decrease."""


def year_column(metric: str, year: int) -> str:
    """DataCollector column of ``metric`` for the cohort admitted in service ``year`` (1 = weeks 1-52)."""
    return f"{metric}_year_{year}"


class WeeklyRecord:
    """Weekly per-site rows of the delivery phase, ``(weeks, sites, metrics)``.

    Parameters
    ----------
    weeks
        Delivery weeks to hold.
    post_site
        One-hot matrix ``(posts, sites)`` of each post's site.
    staff_counts
        Ward staff members per site (weights of pooled acceptance).
    """

    def __init__(self, weeks: int, post_site: np.ndarray, staff_counts: np.ndarray) -> None:
        n_posts, n_sites = post_site.shape
        self.rows = np.full((weeks, n_sites, len(TIMESERIES_METRICS)), np.nan)
        self.pooled: dict[str, float] = dict.fromkeys(POOLED_METRICS, float("nan"))
        """Latest week's values over all sites (frozen after delivery)."""
        self._post_site = post_site
        self._staff_counts = staff_counts
        self._per_post = np.empty((7, n_posts))
        self.fidelity_contacts = np.zeros((weeks, n_sites))
        """Sum over the week's contacts of the peer worker's fidelity index, per site."""
        self.peer_worker_leavers = np.zeros((weeks, n_sites))
        """Peer workers who left each week, per site."""
        self.ward_staff_leavers = np.zeros((weeks, n_sites))
        """Ward staff who left each week, per site."""

    def add(
        self, week: int, now: WeekState, caseloads: np.ndarray, contacts: np.ndarray, sessions: list[int]
    ) -> None:
        """Store week ``week``'s per-site row and pooled values.

        Parameters
        ----------
        week
            The week (1 = first week).
        now
            Staff state as the week began.
        caseloads, contacts
            Per post: participants in support now, and contacts delivered this week.
        sessions
            Supervision sessions delivered this week, per site.
        """
        per_post = self._per_post
        per_post[0] = now.in_post
        per_post[1] = now.strain * now.in_post
        per_post[2] = now.fidelity_index * now.in_post
        per_post[3] = caseloads
        per_post[4] = ~now.in_post
        per_post[5] = contacts
        np.multiply(contacts, now.fidelity_index, out=per_post[6])
        sums = per_post @ self._post_site
        self.fidelity_contacts[week - 1] = sums[6]
        held = sums[0]
        mean = np.divide(sums[1:3], held, out=np.full((2, len(held)), np.nan), where=held > 0)
        row = self.rows[week - 1]
        row[:, 0] = now.acceptance
        row[:, 1:3] = mean.T
        row[:, 4:6] = sums[3:5].T
        row[:, 6] = sessions
        row[:, 7] = sums[5]
        total_held = held.sum()
        counts = self._staff_counts
        self.pooled = {
            "ward_acceptance": float((now.acceptance * counts).sum() / counts.sum()),
            "pw_strain": float(sums[1].sum() / total_held) if total_held else float("nan"),
            "fidelity_index": float(sums[2].sum() / total_held) if total_held else float("nan"),
            "caseload": float(sums[3].sum()),
        }

    def add_turnover(self, week: int, peer_worker_sites: np.ndarray, ward_staff_sites: np.ndarray) -> None:
        """Count the peer workers and ward staff who left in ``week``, given each leaver's site."""
        n_sites = self.rows.shape[1]
        if peer_worker_sites.size:
            self.peer_worker_leavers[week - 1] += np.bincount(peer_worker_sites, minlength=n_sites)
        if ward_staff_sites.size:
            self.ward_staff_leavers[week - 1] += np.bincount(ward_staff_sites, minlength=n_sites)

    def series(self, weeks: int, patients: PatientTable) -> np.ndarray:
        """Return the first ``weeks`` rows, with the engaged share of offered participants by each week."""
        records = self.rows[:weeks].copy()
        records[:, :, TIMESERIES_METRICS.index("engagement_rate")] = _engagement(
            patients, weeks, records.shape[1]
        )
        return records


def _engagement(p: PatientTable, weeks: int, n_sites: int) -> np.ndarray:
    """Engaged share of offered participants admitted by each week, per site."""
    offered = p.offered
    started = np.zeros((weeks + 1, n_sites))
    engaged = np.zeros((weeks + 1, n_sites))
    admit = np.minimum(p.admit_week[offered], weeks + 1)
    keep = admit <= weeks
    np.add.at(started, (admit[keep], p.site[offered][keep]), 1.0)
    when = p.engaged_week[offered]
    hit = (when > 0) & (when <= weeks)
    np.add.at(engaged, (when[hit], p.site[offered][hit]), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.cumsum(engaged, axis=0) / np.cumsum(started, axis=0))[1:]


class OutcomeTally:
    """Running counts of engagement and readmission so far, pooled and per admission year.

    Participants belong to the service year of their admission (year 1 = weeks
    1-52), as in the ``years`` table. A participant counts as followed up from the
    week their follow-up window closes (discharge week plus ``follow_up_weeks``):
    by then whether they were readmitted within follow-up is final. Each week
    touches only the participants who engaged or were followed up that week.

    Parameters
    ----------
    patients
        The participants (read, never changed).
    follow_up_weeks
        Weeks of follow-up after discharge.
    delivery_weeks
        Weeks in which contacts can happen (no one engages later).
    usual_care
        Service mode: each participant's usual-care counterfactual readmission,
        and the control arm is everyone. ``None`` in trial mode: the control arm
        is the participants not offered peer support, and their own readmission.
    """

    def __init__(
        self,
        patients: PatientTable,
        follow_up_weeks: int,
        delivery_weeks: int,
        usual_care: np.ndarray | None,
    ) -> None:
        p = patients
        self._patients = p
        self._delivery_weeks = delivery_weeks
        self._usual_care = usual_care
        self._cohort = (p.admit_week - 1) // WEEKS_PER_YEAR
        self.years = max(int(self._cohort.max(initial=0)) + 1, 1)
        """Service years in which participants are admitted (at least 1)."""
        offered_admit = np.zeros((int(p.admit_week.max(initial=0)) + 1, self.years))
        np.add.at(offered_admit, (p.admit_week[p.offered], self._cohort[p.offered]), 1.0)
        self._admitted = np.cumsum(offered_admit, axis=0)
        close = p.discharge_week + follow_up_weeks
        self._close_order = np.argsort(close, kind="stable")
        self._close_sorted = close[self._close_order]
        self.first_follow_up_week = int(self._close_sorted[0]) if close.size else None
        """Week the first participant's follow-up ends (readmission rates are NaN before), or ``None``."""
        self._closed_to = 0
        """Participants followed up so far: the first ``_closed_to`` of ``_close_order``."""
        self._counts = np.zeros((6, self.years))
        """Per year: engaged, admitted (peer support arm); readmitted, followed up (peer
        support arm); readmitted, followed up (control)."""
        arm = np.where(p.offered, 3, 5) if usual_care is None else np.full(len(p), 3)
        self._follow_up_key = arm * self.years + self._cohort
        """Index into the flattened counts of each participant's followed-up cell (its
        readmitted cell is one row up); in service mode also the control cells two rows on."""
        self._year_columns = [[year_column(m, y) for m in OUTCOME_METRICS] for y in range(1, self.years + 1)]
        self.columns: tuple[str, ...] = (
            *OUTCOME_METRICS,
            *COUNT_METRICS,
            *(name for year in self._year_columns for name in year),
        )
        """The DataCollector columns, in order."""
        self.values: dict[str, float] = {}
        """Latest week's value of each of :attr:`columns`."""
        self.update(0)

    def update(self, week: int) -> None:
        """Count week ``week``'s newly engaged and newly followed-up participants; once a week, in order."""
        p = self._patients
        counts = self._counts
        cohort = self._cohort
        changed = week == 0
        if week < len(self._admitted):
            counts[1] = self._admitted[week]
            changed = True
        if 0 < week <= self._delivery_weeks:
            engaged = np.flatnonzero(p.engaged_week == week)
            if engaged.size:
                counts[0] += np.bincount(cohort[engaged[p.offered[engaged]]], minlength=self.years)
                changed = True
        end = int(np.searchsorted(self._close_sorted, week, side="right"))
        if end > self._closed_to:
            self._count_followed_up(self._close_order[self._closed_to : end])
            self._closed_to = end
            changed = True
        if changed:
            self._set_values()

    def _count_followed_up(self, rows: np.ndarray) -> None:
        n = self.years
        key = self._follow_up_key[rows]
        readmitted = self._patients.readmitted[rows]
        if self._usual_care is None:
            keys: tuple[np.ndarray, ...] = (key, key[readmitted] - n)
        else:
            keys = (key, key + 2 * n, key[readmitted] - n, key[self._usual_care[rows]] + n)
        self._counts += np.bincount(np.concatenate(keys), minlength=6 * n).reshape(6, n)

    def _set_values(self) -> None:
        rows = self._counts.tolist()
        values = {
            metric: _ratio(sum(rows[2 * m]), sum(rows[2 * m + 1])) for m, metric in enumerate(OUTCOME_METRICS)
        }
        values["participants_offered"] = float(sum(rows[1]))
        values["participants_followed_up"] = float(self._closed_to)
        for y, names in enumerate(self._year_columns):
            for m, name in enumerate(names):
                values[name] = _ratio(rows[2 * m][y], rows[2 * m + 1][y])
        self.values = values


def _ratio(num: float, den: float) -> float:
    """``num / den``, NaN when ``den`` is 0."""
    return num / den if den > 0 else float("nan")
