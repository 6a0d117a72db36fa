"""Weekly rules for participants, applied to every participant at once.

Each function reads the model's per-site and per-post state, updates the
:class:`~peersim.model.patients.PatientTable` in place, and adds the minutes it asked
of each peer worker post to ``model.week_demand`` and its contacts to
``model.week_contacts``. Probabilities are logistic in the stated log-odds terms;
every uniform number used was pre-drawn for that participant and that week.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from peersim.model import constants as c
from peersim.model.staff import ward_contacts

if TYPE_CHECKING:
    from peersim.model.model import PeerSupportModel, WeekState


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def logit(p: float) -> float:
    """Return the log-odds of probability ``p`` (0 < p < 1)."""
    return float(np.log(p / (1.0 - p)))


def inpatients(model: PeerSupportModel, week: int) -> np.ndarray:
    """Boolean mask of participants on the ward in ``week``."""
    p = model.patients
    return (p.admit_week <= week) & (week < p.discharge_week)


def refer(model: PeerSupportModel, week: int, state: WeekState) -> None:
    """Ward staff refer offered inpatients to the peer support service.

    Each week on the ward, ward staff refer with a probability that rises with
    their acceptance (mechanism 1). Participants not referred by discharge are
    handed over then (see :func:`discharge`).
    """
    p = model.patients
    idx = (p.offered & ~p.referred & inpatients(model, week)).nonzero()[0]
    if idx.size:
        referred = p.u_referral[idx, week - p.admit_week[idx]] < state.p_referral[p.site[idx]]
        p.referred[idx[referred]] = True


def allocate(model: PeerSupportModel, week: int) -> None:
    """Give each waiting referred participant to the least-loaded peer worker in post.

    A participant waits while no post at their site has room under the caseload
    cap; one whose support window ends while waiting never starts.
    """
    p = model.patients
    support_end = p.discharge_week + model.spec.protocol.support_weeks
    waiting = (p.referred & (p.peer_worker < 0) & ~p.support_over & (week < support_end)).nonzero()[0]
    if not waiting.size:
        return
    caseload = model.caseloads().tolist()
    in_post = model.posts.in_post.tolist()
    for row in waiting.tolist():
        site_index = int(p.site[row])
        cap = model.spec.sites[site_index].caseload_cap
        best, room = -1, 0
        for post in model.supervisors_by_site[site_index].post_list:
            free = cap - caseload[post]
            if in_post[post] and free > room:
                best, room = post, free
        if best >= 0:
            p.peer_worker[row] = best
            caseload[best] += 1


def record_contacts(model: PeerSupportModel, rows: np.ndarray, state: WeekState, week: int) -> None:
    """Count one contact for each participant in ``rows`` with their peer worker.

    A first contact builds the relationship in proportion to the peer worker's
    relational fidelity and time to spare (less strain); later contacts move it
    towards that fidelity. The dose grows by the peer worker's fidelity index.
    """
    p = model.patients
    posts = p.peer_worker[rows]
    before = p.contacts[rows]
    r = p.relationship[rows]
    r += np.where(
        before == 0, state.first_contact_gain[posts], c.CONTACT_GAIN * (state.relational_fidelity[posts] - r)
    )
    p.relationship[rows] = np.minimum(r, 1.0)
    p.contacts[rows] = before + 1
    p.dose[rows] += state.fidelity_index[posts]
    model.week_contacts += np.bincount(posts, minlength=len(model.week_contacts))
    model.engaged_week[rows[before + 1 == model.spec.protocol.engaged_min_contacts]] = week


def ward_visits(model: PeerSupportModel, week: int, state: WeekState) -> None:
    """Peer workers try to meet allocated participants on the ward before discharge.

    Access rises with ward acceptance and falls across a host boundary
    (mechanisms 1 and 2); visits fit within the peer worker's hours (in order of
    admission). Each visit is a contact with one ward staff member,
    whose acceptance moves up after a good contact and down after a poor one.
    """
    p = model.patients
    idx = (inpatients(model, week) & (p.peer_worker >= 0)).nonzero()[0]
    if not idx.size:
        return
    idx = idx[state.present[p.peer_worker[idx]]]
    ward_week = week - p.admit_week[idx]
    sites = p.site[idx]
    met = p.u_access[idx, ward_week] < state.p_access[sites]
    visited, ward_week, sites = idx[met], ward_week[met], sites[met]
    if not visited.size:
        return
    posts = p.peer_worker[visited]
    room = np.maximum(0.0, state.minutes_available - model.week_demand)
    capacity = np.floor(room / c.WARD_VISIT_MINUTES)
    if (np.bincount(posts, minlength=len(capacity)) > capacity).any():
        fits = _rank_within(posts) < capacity[posts]
        visited, ward_week, sites, posts = visited[fits], ward_week[fits], sites[fits], posts[fits]
        if not visited.size:
            return
    model.week_demand += c.WARD_VISIT_MINUTES * np.bincount(posts, minlength=len(model.week_demand))
    record_contacts(model, visited, state, week)
    p.contacts_pre_discharge[visited] += 1

    quality = _sigmoid(state.good_contact_logit[posts] + state.good_contact_site_logit[sites])
    good = p.u_contact_quality[visited, ward_week] < quality
    ward_contacts(model, sites, p.u_ward_staff[visited, ward_week], good)


def discharge(model: PeerSupportModel, week: int, state: WeekState) -> None:
    """Discharge participants whose stay ends this week.

    Offered participants not referred on the ward are handed over at discharge:
    always in trial mode (the research team allocates every participant), with a
    fixed probability in service mode. Allocated peer workers may be invited to
    discharge planning, more often where ward staff accept them and less across
    a host boundary (authority); an invitation strengthens the relationship.
    """
    p = model.patients
    idx = ((p.discharge_week == week) & ~p.support_over).nonzero()[0]
    if not idx.size:
        return
    late = idx[~p.referred[idx]]
    if model.spec.mode == "service":
        late = late[p.u_referral_after_discharge[late] < c.P_REFERRAL_AFTER_DISCHARGE]
    p.referred[late] = True
    allocated = idx[p.peer_worker[idx] >= 0]
    invited = allocated[p.u_invite[allocated] < state.p_invite[p.site[allocated]]]
    p.invited[invited] = True
    p.relationship[invited] = np.minimum(1.0, p.relationship[invited] + c.INVITE_BONUS)


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """Position of each element among the elements of its group, in input order."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.searchsorted(sorted_groups, sorted_groups, side="left")
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - starts
    return rank


def community_sessions(model: PeerSupportModel, week: int, state: WeekState) -> None:
    """Deliver this week's scheduled community sessions after discharge.

    Sessions are weekly for ``weekly_session_weeks`` then fortnightly. A peer
    worker sees participants in order of admission until their hours, less the
    round-trip travel of each session, run out (mechanisms 4 and 7). Attendance
    is logistic in fidelity (mechanism 5), relationship, latent instability and
    travel; two misses in a row end engagement.
    """
    p = model.patients
    protocol = model.spec.protocol
    open_ = (~p.support_over & (p.discharge_week < week)).nonzero()[0]
    if not open_.size:
        return
    k = week - p.discharge_week[open_]
    finished = k > protocol.support_weeks
    if finished.any():
        p.support_over[open_[finished]] = True
        open_, k = open_[~finished], k[~finished]
    posts = p.peer_worker[open_]
    scheduled = (posts >= 0) & model.session_weeks[k]
    rows, k, posts = open_[scheduled], k[scheduled], posts[scheduled]
    if not rows.size:
        return
    present = state.present[posts]
    asked = np.bincount(posts, minlength=len(model.week_demand))
    room = np.maximum(0.0, state.minutes_available - model.week_demand)
    capacity = np.floor(room / state.post_session_minutes)
    model.week_demand += np.where(state.present, asked * state.post_session_minutes, 0.0)
    overbooked = bool((asked > capacity).any())
    seen = present & (_rank_within(posts) < capacity[posts]) if overbooked else present
    if not seen.all():
        cancelled = rows[~seen]
        p.relationship[cancelled] = np.maximum(0.0, p.relationship[cancelled] - c.CANCEL_LOSS)
        rows, k, posts = rows[seen], k[seen], posts[seen]
    x = (
        state.attend_logit[posts]
        + c.RELATIONSHIP_LOGIT * (p.relationship[rows] - 0.5)
        + model.attend_offset[rows]
    )
    attended = p.u_attend[rows, k - 1] < _sigmoid(x)
    came, missed = rows[attended], rows[~attended]
    if came.size:
        record_contacts(model, came, state, week)
        p.misses_in_row[came] = 0
    if missed.size:
        misses = p.misses_in_row[missed] + 1
        p.misses_in_row[missed] = misses
        p.relationship[missed] = np.maximum(0.0, p.relationship[missed] - c.MISS_LOSS)
        gone = missed[misses >= c.MAX_MISSES_IN_ROW]
        p.disengaged[gone] = True
        p.support_over[gone] = True


def readmissions(model: PeerSupportModel, week: int) -> None:
    """Advance readmission for discharged participants.

    The weekly hazard is the Weibull baseline times ``exp(sigma * z - effect)``,
    where ``z`` is latent instability and ``effect`` grows with the
    fidelity-weighted dose (mechanism 6). While a participant is in support their
    dose can still change, so their hazard is accumulated week by week, and a
    readmission ends support. Once support is over the rest of their follow-up is
    fixed, so it is *settled*: the week the cumulative hazard would pass their
    threshold is found directly, exactly as weekly accumulation would find it.
    """
    p = model.patients
    follow_up = model.spec.horizon.follow_up_weeks
    k = week - p.discharge_week
    live = ((k >= 1) & (k <= follow_up) & ~p.hazard_settled).nonzero()[0]
    if live.size:
        kl = k[live]
        p.cumulative_hazard[live] += model.baseline_hazard[kl] * _hazard_multiplier(model, live)
        now = live[p.cumulative_hazard[live] >= p.readmit_threshold[live]]
        p.readmitted[now] = True
        p.readmit_week[now] = k[now]
        p.support_over[now] = True
        p.hazard_settled[now] = True
    done = (p.support_over & ~p.hazard_settled & (k >= 0)).nonzero()[0]
    if done.size:
        _settle(model, done, np.minimum(k[done], follow_up))


def _hazard_multiplier(model: PeerSupportModel, rows: np.ndarray) -> np.ndarray:
    p = model.patients
    mech = model.spec.mechanisms
    effect = mech.rel_dose_readmission * (1.0 - np.exp(-p.dose[rows] / c.DOSE_SCALE_CONTACTS))
    return np.exp(mech.rel_patient_heterogeneity * p.instability[rows] - effect)


def _settle(model: PeerSupportModel, rows: np.ndarray, weeks_done: np.ndarray) -> None:
    """Fix the remaining follow-up of ``rows``, whose hazard can no longer change."""
    p = model.patients
    cumulative = model.baseline_cumulative
    target = cumulative[weeks_done] + (p.readmit_threshold[rows] - p.cumulative_hazard[rows]) / (
        _hazard_multiplier(model, rows)
    )
    when = np.searchsorted(cumulative, target, side="left")
    hit = when < len(cumulative)
    p.readmitted[rows[hit]] = True
    p.readmit_week[rows[hit]] = when[hit]
    p.hazard_settled[rows] = True


def usual_care_readmitted(model: PeerSupportModel) -> np.ndarray:
    """Counterfactual: whether each participant is readmitted without peer support.

    Uses the participant's own instability and threshold (common random numbers),
    with no dose effect.
    """
    p = model.patients
    sigma = model.spec.mechanisms.rel_patient_heterogeneity
    return model.baseline_cumulative[-1] * np.exp(sigma * p.instability) >= p.readmit_threshold
