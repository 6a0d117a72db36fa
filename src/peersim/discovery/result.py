"""What a discovery was asked (:class:`DiscoveryInputs`) and what it found (:class:`DiscoveryResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from peersim.discovery.analysis import MAX_BOXES, MIN_DENSITY, Box
from peersim.discovery.design import Design
from peersim.planning.inputs import PlanningSite, Target
from peersim.sensitivity.inputs import FactorSpace
from peersim.uncertainty import Posterior

DEFAULT_N = 200
"""Design points when none are given (400 runs at 2 replicates: about 10 s on 2 cores, example site)."""
DEFAULT_REPLICATES = 2
"""Replicates per design point when none are given."""
FIGURE = "discover.png"
"""File name of the figure."""
DISCOVERY_FILES: tuple[str, ...] = ("discover.json", "discover.md", FIGURE, "runs.csv", "runs.parquet")
"""Files ``peersim discover --out`` writes."""


@dataclass(frozen=True)
class DiscoveryInputs:
    """Everything a discovery needs, checked.

    Attributes
    ----------
    site
        The one-site service-mode scenario the factors are applied to.
    space
        The factors (the dummy is added to the design).
    target
        The target each run meets or misses.
    n
        Design points (at least :data:`~peersim.discovery.design.MIN_N`).
    replicates
        Replicates per point (at least 1).
    seed
        Base seed of the design and of every run.
    posterior
        Each run draws its mechanism strengths from it; ``None`` for the site's point values.
    min_density, max_boxes
        Box choice (see :mod:`peersim.discovery.analysis`).
    """

    site: PlanningSite
    space: FactorSpace
    target: Target
    n: int = DEFAULT_N
    replicates: int = DEFAULT_REPLICATES
    seed: int = 0
    posterior: Posterior | None = None
    min_density: float = MIN_DENSITY
    max_boxes: int = MAX_BOXES

    @property
    def runs(self) -> int:
        """Runs asked for: design points x replicates."""
        return self.n * self.replicates


@dataclass(frozen=True)
class DiscoveryResult:
    """What a discovery found.

    Attributes
    ----------
    inputs
        What was asked.
    design
        The design points.
    table
        One row per run (point-major): ``point``, ``replicate``, each factor's
        applied value (a categorical factor's level by name), ``dummy``, the
        outcomes of :data:`TABLE_OUTCOMES` and the target's metric, ``met``
        (whether the run met the target), ``failed`` (the run raised; it is
        left out of PRIM) and ``box`` (the box holding the run, 0 for none).
    boxes
        The boxes found, in order; see :class:`~peersim.discovery.analysis.Box`.
    unchosen
        PRIM's trajectory of the search whose boxes all fell below ``min_density``
        (empty if none did).
    notes, warnings
        For the user: why the search stopped; boxes that restrict the dummy.
    failures
        Error of each run that raised, by ``(point, replicate)``.
    seconds
        Wall-clock time of the discovery.
    stamp
        Site name and hash, factors hash, versions.
    written
        Files written to the output directory (empty without one).
    """

    inputs: DiscoveryInputs
    design: Design
    table: pd.DataFrame
    boxes: tuple[Box, ...]
    unchosen: pd.DataFrame
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    failures: dict[tuple[int, int], str] = field(default_factory=dict)
    seconds: float = 0.0
    stamp: dict[str, Any] = field(default_factory=dict)
    written: tuple[Path, ...] = ()

    @property
    def target(self) -> Target:
        """The target."""
        return self.inputs.target

    @property
    def runs(self) -> int:
        """Runs that finished (and went to PRIM)."""
        return int((~self.table["failed"]).sum())

    @property
    def misses(self) -> int:
        """Runs that finished and missed the target."""
        finished = ~self.table["failed"]
        return int((finished & ~self.table["met"]).sum())

    @property
    def miss_share(self) -> float:
        """Share of the finished runs that missed the target (NaN if none finished)."""
        return self.misses / self.runs if self.runs else math.nan
