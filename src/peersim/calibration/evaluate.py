"""Calibration's simulations: the model function ABC-SMC evaluates, and predictive draws.

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

Several studies. :class:`StudiesModel` runs every study's scenario with the
same draw of the shared strengths (and each study's own baseline) and returns
all studies' discrepancies, under their prefixed names. Study ``k`` of an
evaluation is seeded :func:`study_seed` ``(evaluation seed, k)``, its replicate
``r`` that sequence's ``r``-th child: still a pure function of (parameters, base seed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from peersim.calibration.inputs import BoundTargets, Priors, Study
from peersim.core.scenario import Mechanisms, Scenario
from peersim.core.streams import child_sequence, replicate_seed
from peersim.errors import RunsFailedError
from peersim.executor import Executor, LocalExecutor, Progress, TaskFailure, no_progress
from peersim.io.estimates import Workload
from peersim.simulation import Runner, estimated_seconds, run
from peersim.uncertainty import PER_STUDY_PARAMS, Posterior

CALIBRATION_SEED_KEY = 0x43414C
"""First spawn-key word of evaluation seeds ("CAL"); replicate seeds of ``peersim run`` are ``(i,)``."""

STUDY_SEED_KEY = 0x535459
"""Spawn-key word of a study's seed under an evaluation seed ("STY"), followed by the study's index."""

MAX_PREDICTIVE_DRAWS = 10_000
"""Most posterior predictive draws of a check (100 times the default of 100).

A check runs as many prior predictive draws again: 20,000 runs of the embedded
default are about half an hour on one core here; an interval's 2.5% and 97.5%
points are well placed long before.
"""

BYTES_PER_DRAW = 2_000
"""Rough memory of one predictive draw this process keeps (its row of target values, with overhead)."""

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


def study_seed(root: np.random.SeedSequence, index: int) -> np.random.SeedSequence:
    """Seed of study ``index`` (0-based, in the order the targets files were given) in one evaluation."""
    return child_sequence(root, STUDY_SEED_KEY, index)


@dataclass(frozen=True)
class StudiesModel:
    """Picklable model function of a calibration to several studies (see the module docstring).

    Attributes
    ----------
    studies
        The studies, each with its scenario and (prefixed) targets, in order.
    names
        Calibrated parameter names (the order of the seed key): shared strengths
        and per-study baselines (``Study.baseline``).
    seed
        Base seed.
    replicates
        Runs of each study's scenario averaged per sample (at least 1).
    """

    studies: tuple[Study, ...]
    names: tuple[str, ...]
    seed: int
    replicates: int = 1

    __name__ = "peersim"
    """Model name pyabc records in its database."""

    def scenario_for(self, study: Study, parameters: Mapping[str, float]) -> Scenario:
        """``study``'s scenario with the sample's shared strengths and its own baseline."""
        baselines = {s.baseline for s in self.studies if s.baseline is not None}
        values = {name: parameters[name] for name in self.names if name not in baselines}
        if study.baseline is not None:
            (name,) = PER_STUDY_PARAMS
            values[name] = parameters[study.baseline]
        return with_mechanisms(study.scenario, values)

    def simulate(self, parameters: Mapping[str, float]) -> dict[str, float]:
        """Each (prefixed) target's statistic, averaged over the replicates of its study (NaN if never)."""
        root = evaluation_seed(self.seed, parameters, list(self.names))
        out: dict[str, float] = {}
        for index, study in enumerate(self.studies):
            scenario = self.scenario_for(study, parameters)
            seed = study_seed(root, index)
            sums = dict.fromkeys(study.targets.names, 0.0)
            counts = dict.fromkeys(study.targets.names, 0)
            for replicate in range(self.replicates):
                for name, value in study.targets.values(
                    run(scenario, replicate_seed(seed, replicate))
                ).items():
                    if math.isfinite(value):
                        sums[name] += value
                        counts[name] += 1
            out.update({name: sums[name] / counts[name] if counts[name] else math.nan for name in sums})
        return out

    def discrepancies(self, values: Mapping[str, float]) -> dict[str, float]:
        """Standardised discrepancy of every study's targets (see ``BoundTarget.discrepancy``)."""
        out = {}
        for study in self.studies:
            for target in study.targets.targets:
                value = values[target.name]
                out[target.name] = target.discrepancy(value) if math.isfinite(value) else MISSING_DISCREPANCY
        return out

    def __call__(self, parameters: Mapping[str, float]) -> dict[str, float]:
        """Summary statistics pyabc compares with the observation (all zeros)."""
        return self.discrepancies(self.simulate(parameters))


@dataclass(frozen=True)
class PredictiveTask:
    """One predictive replicate: what ``peersim run`` with ``posterior`` would run as replicate ``index``."""

    scenario: Scenario
    targets: BoundTargets
    posterior: Posterior
    seed: int
    index: int


def predictive_values(task: PredictiveTask) -> dict[str, float]:
    """Target statistics of one predictive replicate (module-level for executors)."""
    result = Runner(task.posterior).replicate(task.scenario, task.seed, task.index)
    return task.targets.values(result)


def predictive_estimate(scenario: Scenario, draws: int) -> Workload:
    """Rough serial time and memory of a check: ``draws`` posterior and as many prior predictive runs."""
    runs = 2 * draws
    return Workload(runs, runs * estimated_seconds(scenario), runs * BYTES_PER_DRAW, "to check the posterior")


def predictive_draws(
    posterior: Posterior,
    scenario: Scenario,
    targets: BoundTargets,
    draws: int,
    seed: int,
    executor: Executor | None = None,
    progress: Progress = no_progress,
    label: str = "predictive draws",
) -> pd.DataFrame:
    """Simulate ``draws`` predictive replicates; one row per replicate, one column per target.

    Replicate ``i`` is replicate ``i`` of base seed ``seed`` as ``peersim run``
    makes it: its particle drawn from the replicate seed's posterior stream, one
    study-sized run.

    Parameters
    ----------
    progress
        Progress display: one phase of ``draws`` units named ``label``, advanced
        as each draw finishes.

    Raises
    ------
    peersim.errors.RunsFailedError
        If a replicate fails (a model error, not bad input).
    """
    posterior.check_against(scenario)
    tasks = [PredictiveTask(scenario, targets, posterior, seed, index) for index in range(draws)]
    own = executor is None
    pool: Executor = LocalExecutor(1) if executor is None else executor
    rows: dict[int, dict[str, float]] = {}
    try:
        with progress(label, draws) as advance:
            for index, outcome in pool.imap_unordered(predictive_values, tasks):
                if isinstance(outcome, TaskFailure):
                    raise RunsFailedError(f"predictive replicate {index} failed: {outcome.error}")
                rows[index] = outcome
                advance(1)
    finally:
        if own:
            pool.close()
    frame = pd.DataFrame([rows[i] for i in range(draws)], columns=targets.names)
    frame.insert(0, "replicate", range(draws))
    return frame


PRIOR_SAMPLE_KEY = 0x505249
"""Spawn-key word of the generator that draws prior samples for the prior predictive ("PRI")."""


def prior_sample(
    priors: Priors, fixed: dict[str, float], n: int, seed: int, studies: dict[str, str] | None = None
) -> Posterior:
    """``n`` equally weighted draws from the priors, as a posterior-shaped object (seeded).

    ``studies``: each study's scenario name, for priors with per-study baselines
    (:attr:`peersim.uncertainty.Posterior.studies`).
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(PRIOR_SAMPLE_KEY,)))
    particles = pd.DataFrame({p.name: rng.uniform(p.low, p.high, n) for p in priors.priors})
    return Posterior(particles, np.ones(n), fixed=dict(fixed), source="<prior>", studies=dict(studies or {}))
