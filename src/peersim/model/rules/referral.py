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
        referred = p.u_referral[idx, week - p.admit_week[idx]] < now.p_referral[p.site[idx]]
        p.referred[idx[referred]] = True


def allocate(patients: PatientTable, posts: PostTable, week: int, setup: Setup) -> None:
    """Give each waiting referred participant to the least-loaded peer worker in post.

    A participant waits while no post at their site has room under the caseload
    cap; one whose support window ends while waiting never starts.
    """
    p = patients
    support_end = p.discharge_week + setup.support_weeks
    waiting = (p.referred & (p.peer_worker < 0) & ~p.support_over & (week < support_end)).nonzero()[0]
    if not waiting.size:
        return
    caseload = p.caseloads(len(posts)).tolist()
    in_post = posts.in_post.tolist()
    for row in waiting.tolist():
        site_index = int(p.site[row])
        cap = setup.caseload_caps[site_index]
        best, room = -1, 0
        for post in posts.by_site[site_index]:
            free = cap - caseload[post]
            if in_post[post] and free > room:
                best, room = post, free
        if best >= 0:
            p.peer_worker[row] = best
            caseload[best] += 1


def discharge(patients: PatientTable, week: int, now: WeekState, setup: Setup) -> None:
    """Discharge participants whose stay ends this week.

    Offered participants not referred on the ward are handed over at discharge:
    always in trial mode (the research team allocates every participant), with a
    fixed probability in service mode. Allocated peer workers may be invited to
    discharge planning, more often where ward staff accept them and less across
    a host boundary (authority); an invitation strengthens the relationship.
    """
    p = patients
    idx = ((p.discharge_week == week) & ~p.support_over).nonzero()[0]
    if not idx.size:
        return
    late = idx[~p.referred[idx]]
    if setup.service_mode:
        late = late[p.u_referral_after_discharge[late] < c.P_REFERRAL_AFTER_DISCHARGE]
    p.referred[late] = True
    allocated = idx[p.peer_worker[idx] >= 0]
    invited = allocated[p.u_invite[allocated] < now.p_invite[p.site[allocated]]]
    p.invited[invited] = True
    p.relationship[invited] = np.minimum(1.0, p.relationship[invited] + c.INVITE_BONUS)
