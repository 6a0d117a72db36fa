"""Peer workers' weeks: absence, strain, fidelity, leaving and the vacancies that follow.

Like participants, peer worker posts are columns (:class:`~peersim.model.state.PostTable`)
updated for everyone at once; :class:`~peersim.model.agents.PeerWorker` agents
are views onto one row.
"""

from __future__ import annotations

import numpy as np

from peersim.model import constants as c
from peersim.model.rules.workers import drift_multiplier, gain_experience, person_record, start_people
from peersim.model.setup import Setup
from peersim.model.state import PatientTable, PostTable, WeekLedger


def begin_week(posts: PostTable, week: int, setup: Setup) -> None:
    """Draw each peer worker's absence this week; more likely under strain (mechanism 7)."""
    slope = setup.mechanisms.rel_strain * c.ABSENCE_PER_STRAIN
    posts.absent = posts.in_post & (posts.u_absence[:, week - 1] < slope * posts.strain)


def end_week(
    posts: PostTable,
    patients: PatientTable,
    ledger: WeekLedger,
    week: int,
    cohesion: np.ndarray,
    setup: Setup,
) -> list[int]:
    """Update strain, fidelity and staffing after the week's work; return the posts whose peer worker left.

    Strain moves :data:`~peersim.model.constants.STRAIN_ADJUST_RATE` of the way
    towards a target set by workload (minutes asked over minutes available) and
    isolation (1 - team cohesion); a supervision session relieves it. Fidelity
    drifts towards :data:`~peersim.model.constants.FIDELITY_FLOOR` (half as fast
    in a fully cohesive team), is pulled towards 1 by supervision (mechanism 3),
    and is eroded by strain and, in the community domain, by travel (mechanism 4).
    Each person's drift is scaled by their own rate, steadied by experience
    (mechanism 9). Peer workers leave with a probability rising with strain;
    their post is then vacant and their participants wait for another peer
    worker. Once the site's funding has ended, vacant posts stay vacant.

    Parameters
    ----------
    cohesion
        Team cohesion per site, 0-1.
    """
    mech = setup.mechanisms
    held = posts.in_post  # held all week: in post as it began and still in post now
    all_held = bool(held.all())
    if not all_held:
        vacant = ~held & ~posts.defunded
        if setup.funding_ends:
            unfunded = vacant & funding_over(setup, posts.site, week)
            if unfunded.any():
                posts.defunded |= unfunded
                posts.vacancy_weeks_left[unfunded] = np.inf
                vacant &= ~unfunded
        posts.vacancy_weeks_left[vacant] -= 1.0
        posts.vacancy_weeks[vacant] += 1
        refilled = vacant & posts.in_post
        if refilled.any():
            hire(posts, refilled.nonzero()[0], week + 1, setup)
        held = held & posts.in_post
    contacts = ledger.contacts
    posts.contacts_total += contacts
    posts.fidelity_contact_sums += contacts[:, None] * posts.fidelity

    team = cohesion[posts.site]
    load = np.where(posts.absent, 0.0, ledger.demand / posts.minutes_available)
    target = c.STRAIN_LOAD_WEIGHT * load + c.STRAIN_ISOLATION_WEIGHT * (1.0 - team)
    strain = posts.strain + c.STRAIN_ADJUST_RATE * (target - posts.strain)
    strain -= posts.supervised * (c.SUPERVISION_STRAIN_RELIEF * mech.rel_supervision)
    posts.strain = np.where(held, np.minimum(np.maximum(strain, 0.0), 1.0), posts.strain)

    drift = c.FIDELITY_DRIFT_PER_WEEK * (1.0 - 0.5 * team) * drift_multiplier(posts, mech)
    pull = posts.supervised * (c.SUPERVISION_PULL * mech.rel_supervision)
    fidelity = posts.fidelity
    fidelity += (drift * (c.FIDELITY_FLOOR - fidelity.T) + pull * (1.0 - fidelity.T)).T
    fidelity -= posts.strain[:, None] * posts.strain_hit
    fidelity[:, 3] -= posts.travel_hit
    np.minimum(np.maximum(fidelity, c.FIDELITY_FLOOR, out=fidelity), 1.0, out=fidelity)
    posts.weeks_since_supervision = np.where(posts.supervised, 0, posts.weeks_since_supervision + 1)
    gain_experience(posts, held, all_held)

    p_leave = c.TURNOVER_BASE_PER_WEEK + mech.rel_strain * c.TURNOVER_PER_STRAIN * posts.strain
    leavers: list[int] = (held & (posts.u_leave[:, week - 1] < p_leave)).nonzero()[0].tolist()
    for post in leavers:
        leave(posts, patients, post, week, setup)
    return leavers


def funding_over(setup: Setup, sites: np.ndarray, week: int) -> np.ndarray:
    """Return whether, at each of ``sites`` (indices), posts vacant in ``week`` are no longer refilled."""
    end = setup.funding_end[sites]
    over: np.ndarray = (end > 0) & (week >= end)
    return over


def hire(posts: PostTable, rows: np.ndarray, week: int, setup: Setup) -> None:
    """Start a newly trained peer worker, with their own traits, in each post of ``rows`` in ``week``."""
    posts.vacancy_weeks_left[rows] = 0.0
    posts.hires[rows] += 1
    posts.fidelity[rows] = c.FIDELITY_AFTER_TRAINING
    posts.strain[rows] = 0.0
    posts.weeks_since_supervision[rows] = 0
    start_people(posts, rows, week, setup.mechanisms, setup.root)


def leave(posts: PostTable, patients: PatientTable, post: int, week: int, setup: Setup) -> None:
    """Let the peer worker of ``post`` go in ``week``: participants wait; the post is vacant or refilled.

    After the site's funding end week a post that falls vacant is never refilled.
    """
    posts.people.append(person_record(posts, post, week))
    release_caseload(patients, post)
    posts.absent[post] = False
    site = int(posts.site[post])
    if setup.funding_ends and funding_over(setup, posts.site[post], week):
        posts.defunded[post] = True
        posts.vacancy_weeks_left[post] = np.inf
        return
    vacancy_weeks = setup.vacancy_weeks[site]
    if vacancy_weeks > 0:
        posts.vacancy_weeks_left[post] = vacancy_weeks
    else:
        hire(posts, np.array([post]), week + 1, setup)


def release_caseload(patients: PatientTable, post: int) -> None:
    """Return a leaver's participants to the waiting list, weakening relationships."""
    p = patients
    rows = ((p.peer_worker == post) & ~p.support_over).nonzero()[0]
    p.peer_worker[rows] = -1
    p.relationship[rows] *= c.RELATIONSHIP_KEPT_ON_HANDOVER
