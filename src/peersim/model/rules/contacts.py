"""Contacts between peer workers and participants: ward visits and community sessions.

Each rule adds the minutes it asked of each peer worker post to the week's
:class:`~peersim.model.state.WeekLedger` and its contacts to the ledger's
count, so that later rules see what time is left. Probabilities are logistic in
the stated log-odds terms; every uniform number used was pre-drawn for that
participant and that week.
"""

from __future__ import annotations

import numpy as np

from peersim.model import constants as c
from peersim.model.logistic import expit
from peersim.model.rules.ward import ward_contacts
from peersim.model.rules.week import WeekState
from peersim.model.setup import Setup
from peersim.model.state import PatientTable, WardTable, WeekLedger


def record_contacts(
    patients: PatientTable, rows: np.ndarray, ledger: WeekLedger, week: int, now: WeekState, setup: Setup
) -> None:
    """Count one contact for each participant in ``rows`` with their peer worker.

    A first contact builds the relationship in proportion to the peer worker's
    relationship target (relational fidelity and skill) and time to spare (less
    strain); later contacts move it towards that target. The dose grows by the
    peer worker's fidelity index.
    """
    p = patients
    posts = p.peer_worker[rows]
    before = p.contacts[rows]
    first = before == 0
    r = p.relationship[rows]
    gain = now.first_contact_gain[posts]
    r += np.where(first, gain, c.CONTACT_GAIN * (now.relationship_target[posts] - r))
    if first.any():
        p.first_contact_gain[rows[first]] = gain[first]
    p.relationship[rows] = np.minimum(r, 1.0)
    p.contacts[rows] = before + 1
    p.dose[rows] += now.fidelity_index[posts]
    ledger.contacts += np.bincount(posts, minlength=len(ledger.contacts))
    p.engaged_week[rows[before + 1 == setup.engaged_min_contacts]] = week


def ward_visits(
    patients: PatientTable, ward: WardTable, ledger: WeekLedger, week: int, now: WeekState, setup: Setup
) -> None:
    """Peer workers try to meet allocated participants on the ward before discharge.

    Access rises with ward acceptance and falls across a host boundary
    (mechanisms 1 and 2); visits fit within the peer worker's hours (in order of
    admission). Each visit is a contact with one ward staff member,
    whose acceptance moves up after a good contact and down after a poor one.
    """
    p = patients
    idx = (p.inpatients(week) & (p.peer_worker >= 0)).nonzero()[0]
    if not idx.size:
        return
    idx = idx[now.present[p.peer_worker[idx]]]
    ward_week = week - p.admit_week[idx]
    sites = p.site[idx]
    met = p.u_access[idx, ward_week] < now.p_access[sites]
    visited, ward_week, sites = idx[met], ward_week[met], sites[met]
    if not visited.size:
        return
    posts = p.peer_worker[visited]
    room = np.maximum(0.0, now.minutes_available - ledger.demand)
    capacity = np.floor(room / c.WARD_VISIT_MINUTES)
    if (np.bincount(posts, minlength=len(capacity)) > capacity).any():
        fits = rank_within(posts) < capacity[posts]
        visited, ward_week, sites, posts = visited[fits], ward_week[fits], sites[fits], posts[fits]
        if not visited.size:
            return
    ledger.demand += c.WARD_VISIT_MINUTES * np.bincount(posts, minlength=len(ledger.demand))
    record_contacts(p, visited, ledger, week, now, setup)
    p.contacts_pre_discharge[visited] += 1

    quality = expit(now.good_contact_logit[posts] + now.good_contact_site_logit[sites])
    good = p.u_contact_quality[visited, ward_week] < quality
    ward_contacts(
        ward, sites, p.u_ward_staff[visited, ward_week], good, setup.mechanisms.rel_contact_feedback
    )


def rank_within(groups: np.ndarray) -> np.ndarray:
    """Position of each element among the elements of its group, in input order."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.searchsorted(sorted_groups, sorted_groups, side="left")
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - starts
    return rank


def community_sessions(
    patients: PatientTable, ledger: WeekLedger, week: int, now: WeekState, setup: Setup
) -> None:
    """Deliver this week's scheduled community sessions after discharge.

    Sessions are weekly for ``weekly_session_weeks`` then fortnightly. A peer
    worker sees participants in order of admission until their hours, less the
    round-trip travel of each session, run out (mechanisms 4 and 7). Attendance
    is logistic in fidelity (mechanism 5), relationship, latent instability and
    travel; two misses in a row end engagement.
    """
    p = patients
    open_ = (~p.support_over & (p.discharge_week < week)).nonzero()[0]
    if not open_.size:
        return
    k = week - p.discharge_week[open_]
    finished = k > setup.support_weeks
    if finished.any():
        p.support_over[open_[finished]] = True
        open_, k = open_[~finished], k[~finished]
    posts = p.peer_worker[open_]
    scheduled = (posts >= 0) & setup.session_weeks[k]
    rows, k, posts = open_[scheduled], k[scheduled], posts[scheduled]
    if not rows.size:
        return
    present = now.present[posts]
    asked = np.bincount(posts, minlength=len(ledger.demand))
    room = np.maximum(0.0, now.minutes_available - ledger.demand)
    capacity = np.floor(room / now.post_session_minutes)
    ledger.demand += np.where(now.present, asked * now.post_session_minutes, 0.0)
    overbooked = bool((asked > capacity).any())
    seen = present & (rank_within(posts) < capacity[posts]) if overbooked else present
    if not seen.all():
        cancelled = rows[~seen]
        p.relationship[cancelled] = np.maximum(0.0, p.relationship[cancelled] - c.CANCEL_LOSS)
        rows, k, posts = rows[seen], k[seen], posts[seen]
    x = (
        now.attend_logit[posts]
        + c.RELATIONSHIP_LOGIT * (p.relationship[rows] - 0.5)
        + setup.attend_offset[rows]
    )
    attended = p.u_attend[rows, k - 1] < expit(x)
    came, missed = rows[attended], rows[~attended]
    if came.size:
        record_contacts(p, came, ledger, week, now, setup)
        p.misses_in_row[came] = 0
    if missed.size:
        misses = p.misses_in_row[missed] + 1
        p.misses_in_row[missed] = misses
        p.relationship[missed] = np.maximum(0.0, p.relationship[missed] - c.MISS_LOSS)
        gone = missed[misses >= c.MAX_MISSES_IN_ROW]
        p.disengaged[gone] = True
        p.support_over[gone] = True
