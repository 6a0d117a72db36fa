"""The design of a discovery: a seeded Latin hypercube over the factors, and the seed of every run.

Points
------
``n`` points of a Latin hypercube (:class:`scipy.stats.qmc.LatinHypercube`,
scrambled) over the factors plus the ``dummy``, drawn from a generator seeded
with the child :data:`SAMPLER_KEY` of the base seed: the same seed gives the
same points on any machine and with any number of workers. Each unit
coordinate is stretched over the factor's sampling bounds
(:attr:`~peersim.sensitivity.inputs.Factor.sample_bounds`, widened by 0.5 for
integers) and rounded where the factor needs it
(:meth:`~peersim.sensitivity.inputs.FactorSpace.applied`): whole values of an
integer factor are equally likely, and a categorical factor takes each of its
two levels at exactly half the points (up to one).

Runs
----
Replicate ``r`` of point ``i`` runs on its own seed, the child
``(RUNS_KEY, i, r)`` of the base seed (:func:`run_seed`). Runs are independent
draws, not common random numbers: with a posterior, each run draws its own
particle (:class:`peersim.simulation.Runner`), so the runs sample the
uncertainty about the mechanism strengths and the model's own randomness as
well as the factors, and a box's density is an estimate of the chance of
missing the target under its conditions. (On common random numbers every
point's replicate ``r`` would draw the same particle, and ``replicates``
particles would stand for the whole posterior.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peersim.core.streams import Seed, as_seed_sequence, child_sequence
from peersim.errors import PeersimInputError
from peersim.sensitivity.inputs import FactorSpace

SAMPLER_KEY = 2**30 + 21
"""Spawn key, under the base seed, of the Latin hypercube's random numbers."""

RUNS_KEY = 2**30 + 22
"""Spawn key, under the base seed, of the seeds of the runs (:func:`run_seed`)."""

MIN_N = 20
"""Fewest design points: PRIM's smallest box holds 5% of the runs, so fewer leave it nothing to peel."""


@dataclass(frozen=True)
class Design:
    """Design points over a factor space plus the dummy.

    Attributes
    ----------
    space
        The factors (the dummy is not among them).
    unit
        The Latin hypercube in the unit cube, shape ``(n, factors + 1)``, the dummy last.
    values
        Applied values of the factors at each point, shape ``(n, factors)``: rounded
        for integer factors, the level's code (0 or 1) for categorical ones.
    dummy
        The dummy's value at each point, in [0, 1) (no parameter reads it).
    seed
        Base seed.
    """

    space: FactorSpace
    unit: np.ndarray
    values: np.ndarray
    dummy: np.ndarray
    seed: int

    @property
    def n(self) -> int:
        """Number of design points."""
        return int(self.values.shape[0])


def check_n(n: int) -> int:
    """Return ``n`` if it is a usable number of design points.

    Raises
    ------
    PeersimInputError
        If ``n`` is below :data:`MIN_N`.
    """
    if n < MIN_N:
        raise PeersimInputError(
            f"`n` {n}: use at least {MIN_N} design points (PRIM's smallest box holds 5% of the runs)"
        )
    return n


def make_design(space: FactorSpace, n: int, seed: int = 0) -> Design:
    """Sample ``n`` Latin hypercube points over ``space`` and the dummy.

    Parameters
    ----------
    space
        Factors to vary.
    n
        Design points, at least :data:`MIN_N`.
    seed
        Base seed (0 or more); the sampler uses its child :data:`SAMPLER_KEY`.
    """
    from scipy.stats import qmc

    check_n(n)
    d = len(space.factors) + 1
    rng = np.random.default_rng(child_sequence(as_seed_sequence(seed), SAMPLER_KEY))
    unit = qmc.LatinHypercube(d, scramble=True, rng=rng).random(n)
    bounds = np.array([f.sample_bounds for f in space.factors], dtype=float).reshape(-1, 2)
    sampled = bounds[:, 0] + unit[:, :-1] * (bounds[:, 1] - bounds[:, 0])
    return Design(space, unit, space.applied(sampled), unit[:, -1].copy(), seed)


def run_seed(seed: Seed, point: int, replicate: int) -> np.random.SeedSequence:
    """Seed of replicate ``replicate`` at design point ``point``: child ``(RUNS_KEY, point, replicate)``."""
    return child_sequence(as_seed_sequence(seed), RUNS_KEY, point, replicate)
