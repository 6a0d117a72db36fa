"""Named, seeded random streams: every random draw in peersim comes from here.

One :class:`numpy.random.SeedSequence` per run is split into named streams per site
(Starsim-style), each keyed by a fixed integer code so that:

* the same seed gives the same numbers in any process;
* adding a stream or a site at the end does not change existing draws;
* scenario comparisons use common random numbers: a lever that does not touch a
  process does not change that process's draws.

Streams are keyed by a site's *position* in the scenario, so two scenarios whose
sites are listed in the same order share their random numbers site by site.
"""

from __future__ import annotations

import numpy as np

from peersim.errors import PeersimInputError

STREAM_CODES: dict[str, int] = {
    "flow": 1,
    "randomisation": 2,
    "patient": 3,
    "attendance": 4,
    "ward": 5,
    "staff": 6,
    "ward_staff": 7,
    "worker": 9,
}
"""Integer key of each named stream; never renumber an existing entry."""

MESA_STREAM_CODE = 99
"""Key of the generator handed to :class:`mesa.Model` (peersim itself never uses it)."""

MAX_SEED = 2**63 - 1
"""Largest base seed: seeds are stored as 64-bit integers in every table and history."""

Seed = int | np.random.SeedSequence


def check_seed(seed: int, term: str = "`seed`") -> int:
    """Return ``seed`` if it is a base seed the streams and tables accept.

    Raises
    ------
    PeersimInputError
        If ``seed`` is not an integer from 0 to :data:`MAX_SEED`, naming ``term``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise PeersimInputError(f"{term} must be a whole number, got {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise PeersimInputError(f"{term} {seed} is out of range; allowed 0 to {MAX_SEED} (2**63 - 1)")
    return int(seed)


def as_seed_sequence(seed: Seed) -> np.random.SeedSequence:
    """Return ``seed`` as a :class:`~numpy.random.SeedSequence`.

    Raises
    ------
    TypeError
        If ``seed`` is neither a non-negative ``int`` nor a ``SeedSequence``.
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise TypeError(f"seed must be a non-negative int or a SeedSequence, got {seed!r}")


def child_sequence(root: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """Return the sequence at ``root``'s spawn key extended by ``key``."""
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, *key))


def site_stream(root: np.random.SeedSequence, site_index: int, name: str) -> np.random.Generator:
    """Return the generator of stream ``name`` for the site at ``site_index``."""
    return np.random.default_rng(child_sequence(root, site_index, STREAM_CODES[name]))


def worker_stream(root: np.random.SeedSequence, site_index: int, post: int, hire: int) -> np.random.Generator:
    """Return the generator of the person who is hire ``hire`` (1 = first) of post ``post`` at a site.

    ``post`` counts the site's posts from 0. A person's traits come from draws
    keyed to them alone, so a change that alters who is hired when never shifts
    the traits of anyone else (the first holders of a post use pre-drawn slots of
    the site's ``worker`` stream; see :mod:`peersim.model.rules.workers`).
    """
    key = (site_index, STREAM_CODES["worker"], post, hire)
    return np.random.default_rng(child_sequence(root, *key))


def replicate_seed(seed: Seed, index: int) -> np.random.SeedSequence:
    """Return replicate ``index``'s seed: child ``index`` of ``SeedSequence(seed).spawn``.

    Equal to ``replicate_seeds(seed, n)[index]`` for any ``n > index``, without
    spawning the others, so any worker can build any replicate's seed.
    """
    root = as_seed_sequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, index))


def replicate_seeds(seed: Seed, n: int) -> list[np.random.SeedSequence]:
    """Spawn ``n`` independent replicate seeds from one base seed.

    Replicate ``i`` is the same whatever ``n`` is, so adding replicates never changes
    the earlier ones.
    """
    root = as_seed_sequence(seed)
    # A fresh copy, so the result does not depend on earlier spawn() calls on root.
    fresh = np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key)
    return fresh.spawn(n)
