"""Sample designs: SALib samplers, the dummy factor, and the random numbers of each point.

Three methods, each through SALib's explicit functions:

* ``"sobol"``: :func:`SALib.sample.sobol.sample` (Saltelli's scheme on a scrambled
  Sobol' sequence), ``N`` base samples, a power of 2; ``N (D + 2)`` points, or
  ``N (2D + 2)`` with second-order indices (``D`` counts the dummy).
* ``"morris"``: :func:`SALib.sample.morris.sample`, ``N`` trajectories on a
  4-level grid; ``N (D + 1)`` points.
* ``"pawn"``: :func:`SALib.sample.latin.sample`, ``N`` Latin hypercube points.

Every design's first ``N // 2`` base samples (Sobol' blocks, Morris trajectories,
Latin rows) are themselves a valid design of that size, which the convergence
check re-analyses.

Random numbers: common, except across the dummy
-----------------------------------------------
Points run on common random numbers: replicate ``r`` of every point uses
``replicate_seed(seed, r)`` (stream group 0). The one exception is tied to the
dummy factor, so that *changing only the dummy changes only the random numbers*
(and never a parameter):

* Sobol': in base block ``i``, the two cross-samples whose only swapped column is
  the dummy (``AB_dummy``, and ``BA_dummy`` with second order) run on fresh
  random numbers of their own (group ``i + 1``). ``A``, ``B`` and every other
  cross-sample share group 0, so the variance SALib normalises by, and the
  differences it takes for real factors, are on common random numbers.
* Morris: in trajectory ``t`` the points from the dummy's step onwards run on
  group ``t + 1``; every other step compares points of one group.
* PAWN: points whose dummy lies in the upper half of its range each run on a
  group of their own; the others share group 0.

Group ``g > 0`` runs replicate ``r`` on the seed with spawn key
``(RESEED_KEY, g, r)`` under the base seed (see :func:`point_seed`). Fresh groups
per block (rather than one shared alternative) make the dummy's index an average
over many independent draws of the noise, so its bootstrap interval is honest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from peersim.core.streams import Seed, as_seed_sequence, replicate_seed
from peersim.errors import PeersimInputError
from peersim.io.estimates import bytes_text
from peersim.sensitivity.inputs import DUMMY, FactorSpace

Method = Literal["sobol", "morris", "pawn"]
METHODS: tuple[Method, ...] = ("sobol", "morris", "pawn")

RESEED_KEY = 2**30 + 3
"""Spawn key, under the base seed, of the fresh random numbers of stream groups above 0."""

SAMPLER_KEY = 2**30 + 1
"""Spawn key, under the base seed, of the sampler's random numbers."""

ANALYSIS_KEY = 2**30 + 2
"""Spawn key, under the base seed, of the bootstrap resampling in the analysis."""

MORRIS_LEVELS = 4
"""Grid levels of the Morris design."""

MIN_N: dict[str, int] = {"sobol": 8, "morris": 4, "pawn": 40}
"""Smallest ``N`` per method, so that the ``N/2`` convergence check has something to compare."""

DEFAULT_N: dict[str, int] = {"sobol": 256, "morris": 40, "pawn": 1024}
"""``N`` used when none is given."""

MAX_POINTS = 1_000_000
"""Most sample points one design may have (Sobol' ``N = 2**16`` with 12 factors is 917,504).

This process holds the design, the replicate outputs and the analysis's
bootstrap for every point: about :data:`BYTES_PER_POINT` each, 1.5 GiB at the
maximum, and a million points of the default scenario take about a day of
simulation per replicate on one core.
"""

BYTES_PER_POINT = 1600
"""Memory (bytes) this process holds per sample point, besides the design and output arrays.

Measured as the peak resident memory, above that of the imports, of Sobol', Morris and
PAWN analyses of the Ishigami function over 40,000 to 400,000 points: 480 (PAWN), 620
(Morris) and 1,170 (Sobol') bytes a point; SALib's bootstrap dominates. Rounded up.
"""


def design_memory(points: int, factors: int, replicates: int = 1, outputs: int = 1) -> float:
    """Return the bytes this process holds for a design of ``points`` over ``factors`` (dummy included).

    :data:`BYTES_PER_POINT`, plus the design row, its random-number group and the
    replicate outputs (8 bytes each).
    """
    return float(points) * (BYTES_PER_POINT + 8 * (factors + 1 + replicates * outputs))


def check_n(method: Method, n: int) -> tuple[int, str | None]:
    """Return the ``N`` to use for ``method`` and a note when it differs from the one asked for.

    Sobol' needs a power of 2: other values are rounded up, with a note.

    Raises
    ------
    PeersimInputError
        If ``method`` is unknown or ``n`` is below the method's minimum.
    """
    if method not in METHODS:
        raise PeersimInputError(f"`method`: unknown method {method!r}; use one of {', '.join(METHODS)}")
    smallest = MIN_N[method]
    used, note = n, None
    if method == "sobol" and n >= 1 and n & (n - 1):
        used = 1 << (n - 1).bit_length()
        note = f"Sobol' sampling needs N to be a power of 2: using N = {used} (asked for {n})"
    if used < smallest:
        raise PeersimInputError(
            f"`n` {n} is too small for {method}: use at least {smallest} "
            f"({_unit(method)}; the convergence check re-analyses N/2)"
        )
    return used, note


def points_for(method: Method, n: int, d: int, second_order: bool = False) -> int:
    """Sample points of a design with ``n`` base samples and ``d`` factors (dummy included)."""
    if method == "sobol":
        return n * (2 * d + 2 if second_order else d + 2)
    if method == "morris":
        return n * (d + 1)
    return n


def check_points(method: Method, n: int, d: int, second_order: bool = False) -> int:
    """Return the points of the design asked for, refusing more than :data:`MAX_POINTS`.

    Raises
    ------
    PeersimInputError
        Naming ``n``, the points it asks for and the memory they would take.
    """
    points = points_for(method, n, d, second_order)
    if points > MAX_POINTS:
        raise PeersimInputError(
            f"`n` {n} asks for {points:,} sample points ({method}, {d} factors with the dummy), more than "
            f"the {MAX_POINTS:,} one design may have; they alone would take "
            f"{bytes_text(design_memory(points, d))} of memory. Use a smaller `n`"
        )
    return points


def _unit(method: Method) -> str:
    return {"sobol": "base samples", "morris": "trajectories", "pawn": "sample points"}[method]


@dataclass(frozen=True)
class Design:
    """A sample design over a factor space plus the dummy.

    Attributes
    ----------
    method
        ``"sobol"``, ``"morris"`` or ``"pawn"``.
    n
        Base samples (Sobol'), trajectories (Morris) or points (PAWN).
    problem
        SALib problem: names (real factors then ``dummy``) and sampling bounds.
    X
        Sampled values, one row per point, one column per name (raw, before rounding).
    stream
        Random-number group of each point: 0 for the common random numbers, ``g > 0``
        for fresh ones (see the module docstring).
    second_order
        Whether a Sobol' design supports second-order indices.
    notes
        Things the user should know (e.g. ``N`` rounded up).
    """

    method: Method
    n: int
    problem: dict[str, Any]
    X: np.ndarray
    stream: np.ndarray
    second_order: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        """Factor names, the dummy last."""
        return list(self.problem["names"])

    @property
    def step(self) -> int:
        """Points per base sample: a Sobol' block, a Morris trajectory, or 1."""
        d = len(self.names)
        if self.method == "sobol":
            return 2 * d + 2 if self.second_order else d + 2
        if self.method == "morris":
            return d + 1
        return 1

    @property
    def points(self) -> int:
        """Number of sample points."""
        return int(self.X.shape[0])

    def head(self, n: int) -> slice:
        """Rows of the design made of its first ``n`` base samples."""
        return slice(0, n * self.step)


def problem_for(space: FactorSpace) -> dict[str, Any]:
    """Return the SALib problem of ``space`` with the dummy factor added last (bounds 0 to 1)."""
    names = [*space.labels, DUMMY]
    bounds = [list(f.sample_bounds) for f in space.factors] + [[0.0, 1.0]]
    return {"num_vars": len(names), "names": names, "bounds": bounds}


def make_design(
    space: FactorSpace, method: Method, n: int, seed: Seed = 0, second_order: bool = False
) -> Design:
    """Sample a design for ``space`` (plus the dummy) with SALib.

    Parameters
    ----------
    space
        Factors to vary.
    method
        ``"sobol"``, ``"morris"`` or ``"pawn"``.
    n
        Base samples, trajectories or points; checked with :func:`check_n`.
    seed
        Base seed; the sampler uses its own child stream (:data:`SAMPLER_KEY`).
    second_order
        Sobol' only: sample for second-order indices too (``N (2D + 2)`` points).
    """
    n, note = check_n(method, n)
    problem = problem_for(space)
    check_points(method, n, problem["num_vars"], second_order and method == "sobol")
    rng = np.random.default_rng(_child(seed, SAMPLER_KEY))
    d = problem["num_vars"]
    if method == "sobol":
        from SALib.sample import sobol as sobol_sample

        X = sobol_sample.sample(problem, n, calc_second_order=second_order, scramble=True, seed=rng)
        step = 2 * d + 2 if second_order else d + 2
        stream = np.zeros((n, step), dtype=np.int64)
        stream[:, d] = np.arange(1, n + 1)  # AB_dummy: the dummy is the last of the d columns
        if second_order:
            stream[:, 2 * d] = np.arange(1, n + 1)  # BA_dummy
        stream = stream.reshape(-1)
    elif method == "morris":
        from SALib.sample import morris as morris_sample

        X = morris_sample.sample(problem, n, num_levels=MORRIS_LEVELS, seed=rng)
        dummy = X[:, -1].reshape(n, d + 1)
        moved = dummy != dummy[:, :1]  # from the dummy's step to the end of the trajectory
        stream = (moved * np.arange(1, n + 1)[:, None]).reshape(-1).astype(np.int64)
    else:
        from SALib.sample import latin

        X = latin.sample(problem, n, seed=rng)
        upper = X[:, -1] >= 0.5
        stream = np.where(upper, np.cumsum(upper), 0).astype(np.int64)
    problem = {k: v for k, v in problem.items() if k != "sample_scaled"}
    return Design(
        method=method,
        n=n,
        problem=problem,
        X=np.asarray(X, dtype=float),
        stream=stream,
        second_order=second_order and method == "sobol",
        notes=(note,) if note else (),
    )


def point_seed(seed: Seed, stream: int, replicate: int) -> np.random.SeedSequence:
    """Seed of one replicate at a point of stream group ``stream``.

    Group 0 (common random numbers) is ``replicate_seed(seed, replicate)``;
    group ``g > 0`` is the child ``(RESEED_KEY, g, replicate)`` of the base seed.
    """
    if stream == 0:
        return replicate_seed(seed, replicate)
    root = as_seed_sequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, RESEED_KEY, stream, replicate))


def _child(seed: Seed, key: int) -> np.random.SeedSequence:
    root = as_seed_sequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, key))
