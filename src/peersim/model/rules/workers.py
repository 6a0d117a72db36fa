"""Peer workers as people: the traits each person brings to a post, and what they leave behind.

A post is held by a sequence of people. Each person's traits are drawn for them
alone, keyed by site, post and hire number: the first
:data:`TRAIT_SLOTS` holders of a post take their slot of the site's ``worker``
stream (drawn once, when the run is set up), later ones their own child stream
(:func:`peersim.core.streams.worker_stream`). So a change that alters who is
hired when never shifts anyone else's traits (mechanism 9):

* **relational skill**, a multiplier on the relationship they build with a
  participant (log-normal, log-SD ``0.3 x rel_worker_spread``);
* **drift rate**, a multiplier on how fast their practice drifts without
  supervision (log-normal, log-SD ``0.6 x rel_worker_spread``);
* **experience**, 0-1: a post's first holder arrives with some (uniform on 0 to
  :data:`~peersim.model.constants.FIRST_COHORT_EXPERIENCE_MAX`), a replacement
  with none; it grows with weeks in post and, with ``rel_experience``, steadies
  their practice.

With ``rel_worker_spread = 0`` everyone has skill and drift rate 1; with
``rel_experience = 0`` experience changes nothing.
"""

from __future__ import annotations

import math

import numpy as np

from peersim.core.scenario import Mechanisms
from peersim.core.streams import worker_stream
from peersim.model import constants as c
from peersim.model.state import PostTable

PERSON_COLUMNS: tuple[str, ...] = (
    "site",
    "post",
    "hire",
    "start_week",
    "end_week",
    "relational_skill",
    "drift_rate",
    "experience_start",
    "experience_end",
    "contacts",
    "fidelity_index",
    "peak_caseload",
)
"""Columns of a person's record (the ``workers`` table of a run, after ``site`` is named)."""

PERSON_DTYPES: tuple[type, ...] = (
    np.int64,
    np.int64,
    np.int64,
    np.int64,
    np.int64,
    np.float64,
    np.float64,
    np.float64,
    np.float64,
    np.int64,
    np.float64,
    np.int64,
)
"""Type of each of :data:`PERSON_COLUMNS` (so that a table with no one in it keeps them)."""

EXPERIENCE_GROWTH = 1.0 - math.exp(-1.0 / c.EXPERIENCE_WEEKS)
"""Weekly share of the gap to full experience closed."""

TRAIT_SLOTS = 16
"""Holders per post whose trait draws come pre-drawn from the site's ``worker`` stream."""


def trait_draws(rng: np.random.Generator, posts: int) -> np.ndarray:
    """Draw the traits of the first :data:`TRAIT_SLOTS` holders of ``posts`` posts, shape (posts, slots, 3).

    The last axis is two standard normal numbers (skill, drift rate) and one
    uniform number (experience).
    """
    normal = rng.standard_normal((posts, TRAIT_SLOTS, 2))
    uniform = rng.random((posts, TRAIT_SLOTS, 1))
    return np.concatenate([normal, uniform], axis=2)


def start_people(
    posts: PostTable, rows: np.ndarray, week: int, mech: Mechanisms, root: np.random.SeedSequence
) -> None:
    """Start a new person in each post of ``rows`` in ``week``, drawing their traits.

    Parameters
    ----------
    rows
        Posts whose new holder starts now; ``posts.hires`` already counts them.
    week
        Week they start (1 = first).
    """
    low, high = c.TRAIT_CLIP
    spread = mech.rel_worker_spread
    for post in np.asarray(rows).tolist():
        hire = int(posts.hires[post])
        if hire <= TRAIT_SLOTS:
            z_skill, z_drift, u_experience = posts.trait_draws[post, hire - 1].tolist()
        else:
            rng = worker_stream(root, int(posts.site[post]), int(posts.local_post[post]), hire)
            z_skill, z_drift = rng.standard_normal(2).tolist()
            u_experience = float(rng.random())
        posts.skill[post] = min(max(math.exp(spread * c.SKILL_LOG_SD * z_skill), low), high)
        posts.drift_rate[post] = min(max(math.exp(spread * c.DRIFT_LOG_SD * z_drift), low), high)
        first = c.FIRST_COHORT_EXPERIENCE_MAX * u_experience if hire == 1 else 0.0
        posts.experience[post] = first
        posts.experience_start[post] = first
        posts.start_week[post] = week
        posts.person_contacts_start[post] = posts.contacts_total[post]
        posts.person_fidelity_start[post] = posts.fidelity_contact_sums[post]
        posts.peak_caseload[post] = 0


def drift_multiplier(posts: PostTable, mech: Mechanisms) -> np.ndarray:
    """Each holder's multiplier on fidelity drift: their own rate, steadied by experience."""
    if mech.rel_experience == 0.0:
        return posts.drift_rate
    steadied = 1.0 + mech.rel_experience * (c.EXPERIENCE_REFERENCE - posts.experience)
    result: np.ndarray = posts.drift_rate * steadied
    return result


def gain_experience(posts: PostTable, held: np.ndarray, all_held: bool) -> None:
    """Add a week's experience to everyone who held their post all week (``all_held``: every post)."""
    gain = EXPERIENCE_GROWTH * (1.0 - posts.experience)
    posts.experience += gain if all_held else held * gain


def person_record(
    posts: PostTable, post: int, end_week: int
) -> tuple[int, int, int, int, int, float, float, float, float, int, float, int]:
    """Return the record of the person in ``post`` (:data:`PERSON_COLUMNS`; end week -1: still in post)."""
    contacts = int(posts.contacts_total[post] - posts.person_contacts_start[post])
    sums = posts.fidelity_contact_sums[post] - posts.person_fidelity_start[post]
    fidelity = sum(sums.tolist()) / len(sums) / contacts if contacts else float("nan")
    return (
        int(posts.site[post]),
        post,
        int(posts.hires[post]),
        int(posts.start_week[post]),
        end_week,
        float(posts.skill[post]),
        float(posts.drift_rate[post]),
        float(posts.experience_start[post]),
        float(posts.experience[post]),
        contacts,
        fidelity,
        int(posts.peak_caseload[post]),
    )
