"""The model's one record of its weeks: a row per site, and the pooled values Mesa's DataCollector reads.

Each delivery week adds one row per site of :data:`~peersim.core.results.TIMESERIES_METRICS`:
staff state as the week began (ward acceptance, strain and fidelity of the posts
in post), and what the week did (caseload, vacancies, supervision sessions,
contacts). The pooled values (all sites together) are computed from the same
sums, so the DataCollector and the ``timeseries`` table never disagree.
"""

from __future__ import annotations

import numpy as np

from peersim.core.results import TIMESERIES_METRICS
from peersim.model.rules.week import WeekState
from peersim.model.state import PatientTable

POOLED_METRICS: tuple[str, ...] = ("ward_acceptance", "pw_strain", "fidelity_index", "caseload")
"""Metrics pooled over sites each week, for Mesa's DataCollector."""


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
