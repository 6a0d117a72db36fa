"""What this week's staff state implies for everyone: presence, fidelity and the probabilities.

Gathered once a week, before the participant rules run, from the posts and
ward staff as the week began (:func:`week_state`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peersim.model import constants as c
from peersim.model.logistic import expit
from peersim.model.setup import Setup
from peersim.model.state import PostTable, WardTable


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
    relationship_target: np.ndarray
    """Relationship later contacts move towards, per post: relational fidelity as it
    shapes relationships (mechanism 5) times the holder's relational skill (mechanism 9), at most 1."""
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


def week_state(posts: PostTable, ward: WardTable, setup: Setup) -> WeekState:
    """Gather this week's :class:`WeekState` from the posts and ward staff as the week begins.

    Ward acceptance raises referral, ward access and invitations (mechanism 1);
    a host boundary lowers access and invitations (mechanism 2); fidelity and
    strain set the first contact's gain, attendance and ward contact quality
    (mechanisms 5 and 7). Relational fidelity shapes the relationship a contact
    builds in proportion to ``rel_fidelity_engagement`` (at its off value, as if
    every peer worker practised at the reference fidelity), times the peer
    worker's own relational skill (mechanism 9).
    """
    mech = setup.mechanisms
    fidelity = posts.fidelity
    fidelity_index = fidelity.sum(axis=1) / fidelity.shape[1]  # = mean, without its overhead
    above_reference = fidelity_index - c.FIDELITY_REFERENCE
    relational = 0.5 * (fidelity[:, 0] + fidelity[:, 1])
    weight = mech.rel_fidelity_engagement / c.FIDELITY_RELATIONSHIP_STRENGTH
    shaped = c.FIDELITY_REFERENCE + weight * (relational - c.FIDELITY_REFERENCE)
    if weight > 1.0:  # up to 1, fidelity's own range (0.3-1) keeps it within 0-1
        shaped = np.minimum(np.maximum(shaped, 0.0), 1.0)
    target = np.minimum(shaped * posts.skill, 1.0)
    strain = posts.strain.copy()
    acceptance = ward.site_acceptance()
    shift = mech.rel_acceptance_access * (acceptance - 0.5)
    in_post = posts.in_post
    return WeekState(
        acceptance=acceptance,
        in_post=in_post,
        present=in_post & ~posts.absent,
        relational_fidelity=relational,
        relationship_target=target,
        fidelity_index=fidelity_index,
        strain=strain,
        minutes_available=posts.minutes_available,
        post_session_minutes=setup.session_minutes,
        p_referral=expit(setup.referral_logit + shift),
        p_access=expit(setup.access_logit + shift - setup.boundary_access),
        p_invite=expit(setup.invite_logit + shift - setup.boundary_authority),
        first_contact_gain=c.FIRST_CONTACT_GAIN * target * (1.0 - 0.5 * strain),
        attend_logit=setup.attend_logit + mech.rel_fidelity_engagement * above_reference,
        good_contact_logit=setup.good_contact_logit
        + c.GOOD_CONTACT_FIDELITY_LOGIT * above_reference
        - c.GOOD_CONTACT_STRAIN_LOGIT * strain,
        good_contact_site_logit=setup.boundary_contact,
    )
