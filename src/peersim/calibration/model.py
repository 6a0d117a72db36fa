"""The model function calibration evaluates: mechanism values in, target statistics out.

For one parameter sample, :class:`CalibrationModel` runs the scenario with those
mechanism strengths ``replicates`` times and averages each target's statistic
over the replicates (the replicates of one sample share nothing but the
parameters; replicate ``r`` uses ``replicate_seed(evaluation_seed, r)``).

Seeds. pyabc evaluates samples in worker processes that it forks and reseeds
from the operating system, so a seeded generator (or a counter) held by the
model function would be copied into every worker and hand out the same seeds
twice. Instead each evaluation's seed is derived from the base seed and the
exact parameter values (:func:`evaluation_seed`): the simulated statistics are
then a pure function of ``(parameters, base seed)``, whichever process or
machine evaluates them, and any particle can be re-simulated exactly. Nothing
here touches global ``np.random`` or ``random``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from peersim.api import run
from peersim.calibration.targets import BoundTargets
from peersim.scenario import Mechanisms, Scenario
from peersim.streams import replicate_seed

CALIBRATION_SEED_KEY = 0x43414C
"""First spawn-key word of evaluation seeds ("CAL"); replicate seeds of ``peersim run`` are ``(i,)``."""

MISSING_DISCREPANCY = 100.0
"""Discrepancy given to a target that a run cannot compute (e.g. no non-engaged
participants at a site): far outside any observation, so such samples are rejected."""


def with_mechanisms(scenario: Scenario, values: Mapping[str, float]) -> Scenario:
    """Return ``scenario`` with the given mechanism strengths replaced (validated).

    Raises
    ------
    pydantic.ValidationError
        If a value is outside its declared bounds or a name is unknown.
    """
    merged = {**scenario.mechanisms.model_dump(), **{k: float(v) for k, v in values.items()}}
    return scenario.model_copy(update={"mechanisms": Mechanisms(**merged)})


def evaluation_seed(seed: int, parameters: Mapping[str, float], names: list[str]) -> np.random.SeedSequence:
    """Seed of one evaluation: the base seed keyed by the exact parameter values.

    Parameters
    ----------
    seed
        Base seed of the calibration (non-negative).
    parameters
        The sample's values.
    names
        Order in which the values enter the key.
    """
    vector = np.array([float(parameters[name]) for name in names], dtype=np.float64)
    words = vector.view(np.uint32).tolist()
    return np.random.SeedSequence(seed, spawn_key=(CALIBRATION_SEED_KEY, *words))


@dataclass(frozen=True)
class CalibrationModel:
    """Picklable model function for pyabc: ``parameters -> {target: discrepancy}``.

    Attributes
    ----------
    scenario
        The scenario whose mechanisms are replaced by each sample.
    targets
        Targets bound to ``scenario``.
    names
        Calibrated parameter names (the order of the seed key).
    seed
        Base seed.
    replicates
        Runs averaged per sample (at least 1).
    """

    scenario: Scenario
    targets: BoundTargets
    names: tuple[str, ...]
    seed: int
    replicates: int = 1

    __name__ = "peersim"
    """Model name pyabc records in its database."""

    def simulate(self, parameters: Mapping[str, float]) -> dict[str, float]:
        """Each target's statistic averaged over the replicates (NaN if never computable)."""
        scenario = with_mechanisms(self.scenario, {name: parameters[name] for name in self.names})
        root = evaluation_seed(self.seed, parameters, list(self.names))
        sums = dict.fromkeys(self.targets.names, 0.0)
        counts = dict.fromkeys(self.targets.names, 0)
        for index in range(self.replicates):
            values = self.targets.values(run(scenario, replicate_seed(root, index)))
            for name, value in values.items():
                if math.isfinite(value):
                    sums[name] += value
                    counts[name] += 1
        return {name: sums[name] / counts[name] if counts[name] else math.nan for name in sums}

    def discrepancies(self, values: Mapping[str, float]) -> dict[str, float]:
        """Standardised discrepancy of each target (see ``BoundTarget.discrepancy``)."""
        out = {}
        for target in self.targets.targets:
            value = values[target.name]
            out[target.name] = target.discrepancy(value) if math.isfinite(value) else MISSING_DISCREPANCY
        return out

    def __call__(self, parameters: Mapping[str, float]) -> dict[str, float]:
        """Summary statistics pyabc compares with the observation (all zeros)."""
        return self.discrepancies(self.simulate(parameters))
