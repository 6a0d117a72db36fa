"""From the ward to a caseload: referral, allocation to a peer worker, and discharge.

Each rule updates the :class:`~peersim.model.state.PatientTable` in place for
every participant at once; every uniform number it uses was drawn for that
participant and that week when the run was set up.
"""

from __future__ import annotations

import numpy as np

from peersim.model import constants as c
from peersim.model.rules.week import WeekState
from peersim.model.setup import Setup
from peersim.model.state import PatientTable, PostTable


def refer(patients: PatientTable, week: int, now: WeekState) -> None:
    """Ward staff refer offered inpatients to the peer support service.

    Each week on the ward, ward staff refer with a probability that rises with
    their acceptance (mechanism 1). Participants not referred by discharge are
    handed over then (see :func:`discharge`).
    """
    p = patients
    idx = (p.offered & ~p.referred & p.inpatients(week)).nonzero()[0]
    if idx.size:
        referred = idx[p.u_referral[idx, week - p.admit_week[idx]] < now.p_referral[p.site[idx]]]
        p.referred[referred] = True
        p.referred_week[referred] = week


def allocate(patients: PatientTable, posts: PostTable, week: int, setup: Setup) -> None:
    """Give each waiting referred participant to the least-loaded peer worker in post.

    A participant waits (in order of admission) while no post at their site has
    room under the caseload cap. A first allocation must come within the
    protocol's ``dur_max_wait_weeks`` of discharge: a referral still waiting then
    lapses as **unmet demand**. A participant whose peer worker left waits for
    another until their support window closes, and their support then ends.
    """
    p = patients
    waiting = (p.referred & (p.peer_worker < 0) & ~p.support_over).nonzero()[0]
    if not waiting.size:
        return
    never = p.allocated_week[waiting] < 0
    deadline = np.where(never, setup.first_deadline[waiting], setup.support_end[waiting])
    expired = week >= deadline
    if expired.any():
        p.support_over[waiting[expired]] = True
        p.unmet[waiting[expired & never]] = True
        waiting = waiting[~expired]
        if not waiting.size:
            return
    caseload = p.caseloads(len(posts)).tolist()
    in_post = posts.in_post.tolist()
    caps = setup.caseload_caps
    for row, site_index in zip(waiting.tolist(), p.site[waiting].tolist(), strict=True):
        cap = caps[site_index]
        best, room = -1, 0
        for post in posts.by_site[site_index]:
            free = cap - caseload[post]
            if in_post[post] and free > room:
                best, room = post, free
        if best >= 0:
            p.peer_worker[row] = best
            caseload[best] += 1
            if p.allocated_week[row] < 0:
                p.allocated_week[row] = week


def discharge(patients: PatientTable, week: int, now: WeekState, setup: Setup) -> None:
    """Discharge participants whose stay ends this week.

    Offered participants not referred on the ward are referred at discharge (in
    trial mode the research team allocates every participant; in service mode
    everyone eligible is demand for the service). Allocated peer workers may be invited to
    discharge planning, more often where ward staff accept them and less across
    a host boundary (authority); an invitation strengthens the relationship.
    """
    p = patients
    idx = ((p.discharge_week == week) & ~p.support_over).nonzero()[0]
    if not idx.size:
        return
    late = idx[~p.referred[idx]]
    p.referred[late] = True
    p.referred_week[late] = week
    allocated = idx[p.peer_worker[idx] >= 0]
    invited = allocated[p.u_invite[allocated] < now.p_invite[p.site[allocated]]]
    p.invited[invited] = True
    p.relationship[invited] = np.minimum(1.0, p.relationship[invited] + c.INVITE_BONUS)
