"""ABC-SMC calibration with pyabc: problem, settings, database handling and the run.

* **Distance.** Each target contributes its standardised discrepancy (see
  :meth:`~peersim.calibration.inputs.BoundTarget.discrepancy`; the observation
  is 0 for every target). pyabc's :class:`AdaptivePNormDistance` (p = 2)
  rescales them every generation by their median absolute deviation over all
  simulated samples (Prangle 2017), floored at 1 (:func:`floored_mad`), so a
  target is never weighted beyond its own stated uncertainty and an ordinal
  constraint that most samples meet is not dropped; the targets' weights are
  fixed multipliers on top.
* **Epsilon.** :class:`QuantileEpsilon`: each generation's threshold is the
  weighted median of the previous generation's distances.
* **Proposals.** pyabc's :class:`MultivariateNormalTransition` with its
  bandwidth scaled by :data:`TRANSITION_SCALING`; see there why.
* **Stopping.** After ``generations`` generations, or when the acceptance rate
  falls below ``min_acceptance_rate``.
* **Several studies.** :meth:`CalibrationProblem.load` takes several targets
  files, each naming its own scenario: the mechanism strengths are shared, each
  study keeps its sites and its own usual-care baseline
  (``p_readmit_12m_usual_care@STUDY``), and the distance sums every study's
  discrepancies (target names prefixed ``STUDY.``); see
  :class:`~peersim.calibration.evaluate.StudiesModel`.
* **Database.** pyabc's SQLite history. The run metadata stores a fingerprint of
  the peersim version, the model's source, the scenario, the targets, the priors,
  the seed and the replicates (of every study; for one study exactly the keys
  and values it always had, so existing databases resume). An existing database with the same fingerprint is
  resumed (``ABCSMC.load``) up to ``generations`` in total (one that holds no
  generation yet starts over, as a new one would); one with another
  fingerprint is refused; ``force=True`` deletes it and starts over.
* **Samplers.** ``jobs == 1``: pyabc's single-core sampler (exactly
  reproducible). ``jobs > 1``: :class:`MulticoreEvalParallelSampler`. Dask:
  :class:`DaskDistributedSampler` on the cluster :class:`peersim.executor.DaskExecutor`
  builds, evaluating samples in batches. Each sampler reports its generation
  through :class:`GenerationReport` (a progress display and one line per
  generation); the multicore sampler's workers ignore Ctrl-C, and are stopped
  by the parent when it takes one.
* **Budget.** Population, generations and replicates have declared maxima
  (:data:`MAX_POPULATION`, :data:`MAX_GENERATIONS`, :data:`MAX_REPLICATES`);
  :func:`calibration_estimate` says roughly how long and how much memory a budget
  takes, before it starts and when it is refused.
* **Ctrl-C.** :func:`run_abc` defers Ctrl-C (:func:`peersim.executor.deferred_interrupts`)
  to the samplers' next check between evaluations, so it never lands in a
  database write; it stops within a second or so, keeps every generation
  already in the database and raises :class:`~peersim.errors.Interrupted`; the
  same call resumes (:func:`stop_on_interrupt`).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import pandas as pd

from peersim.calibration.evaluate import (
    MAX_PREDICTIVE_DRAWS,
    CalibrationModel,
    StudiesModel,
    predictive_estimate,
)
from peersim.calibration.inputs import (
    BoundTargets,
    Priors,
    Study,
    TargetSet,
    bind_studies,
    build_study_priors,
    combined_targets,
    default_targets,
    load_targets,
    study_scenario,
)
from peersim.core.parameters import MECHANISM_PARAMS
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import DEFAULT_SCENARIO_SOURCE, default_scenario, load_scenario
from peersim.core.streams import check_seed
from peersim.errors import Interrupted, OutputsNotWritten, PeersimInputError
from peersim.executor import (
    Backend,
    DaskExecutor,
    ExecutorKind,
    Interrupts,
    Progress,
    deferred_interrupts,
    no_progress,
    sigint_ignored,
)
from peersim.io.estimates import Workload
from peersim.io.files import check_writable
from peersim.io.inputs import check_count
from peersim.io.provenance import model_source_digest, package_version
from peersim.simulation import estimated_seconds
from peersim.uncertainty import PER_STUDY_PARAMS, Posterior, study_parameter

FINGERPRINT_KEY = "peersim_fingerprint"
"""Key of the fingerprint in pyabc's run metadata (``ABCSMC.json_parameters``)."""

TRANSITION_SCALING = 3.0
"""Multiplier on the bandwidth of pyabc's multivariate normal proposal kernel.

With pyabc's default (1: Silverman's rule), importance weights degenerate when
many parameters are weakly informed, because the kernel density estimate of 13
dimensions from 200 particles is too rough: in the first default calibration the
effective sample size fell to 6-17 of 200 by generation 2-4. On a 13-parameter
toy problem of the same shape (3 informed parameters, single-core, 200
particles, 6 generations, 2 seeds) the final ESS was 1 with scaling 1, 22-26 with
1.5, 21-82 with 2 and 104-119 with 3, while samples per generation rose by about
15%; with scaling 1 an uninformed parameter's posterior SD shrank to 0.06-0.16
of a prior SD of 0.29, a spurious "informed" flag, and at 3 it stayed 0.28.
(Sampling on the logit scale of each prior range did not help: Gaussian kernels
under-cover the heavy logistic tails.)
"""

DASK_BATCH_SIZE = 50
"""Samples per Dask task: at 1 the per-task overhead made pyabc's Dask sampler ~15x slower."""

MAX_POPULATION = 10_000
"""Most particles per generation: 50 times the full budget's 200.

The default calibration's sixth generation drew 11 samples per particle; at
10,000 particles that is about 110,000 evaluations in one generation, which
pyabc holds in memory (about 0.2 GB) and which take hours on a few cores.
"""

MAX_GENERATIONS = 30
"""Most generations in total: five times the full budget's 6.

Each generation needs more samples than the last (about 1.4 times in the default
calibration) until the acceptance rate reaches ``min_acceptance_rate``; beyond
about 15 generations the threshold hardly moves and the run only grows longer.
"""

MAX_REPLICATES = 10
"""Most runs averaged per evaluation: more shrinks the simulated noise far below one study's."""

FIRST_SAMPLES_PER_PARTICLE = 2.1
"""Samples drawn per accepted particle in the first generation (default calibration: 418 for 200)."""

SAMPLES_GROWTH = 1.42
"""Growth of samples per particle from one generation to the next.

In the default calibration (``calibration/default/generations.csv``) they went
2.1, 2.6, 4.1, 5.6, 9.5 and 11.1: about 2.1 x 1.42^t, 35 evaluations per
particle over 6 generations (measured: 7,031 for 200 particles).
"""

BYTES_PER_SAMPLE = 2_000
"""Memory of one sample pyabc holds during a generation, rejected ones included.

A :class:`pyabc.Particle` with 13 parameters and 6 statistics measured 1.4 kB
(``tracemalloc``); rounded up for pyabc's bookkeeping around it.
"""


@dataclass(frozen=True)
class CalibrationSettings:
    """Budget and machinery of one calibration.

    Attributes
    ----------
    population
        Particles per generation (10 to :data:`MAX_POPULATION`).
    generations
        Generations in total, counting any already in a resumed database
        (1 to :data:`MAX_GENERATIONS`).
    replicates
        Runs averaged per sample (1 to :data:`MAX_REPLICATES`). The default 1 matches the observations:
        each is one study-sized realisation, and averaging R runs would shrink
        the simulated noise to 1/R of a study's, overstating what one study
        can tell apart.
    seed
        Base seed of the model evaluations (and of pyabc's proposals).
    ppc_draws
        Posterior predictive draws for the checks (10 to
        :data:`peersim.calibration.evaluate.MAX_PREDICTIVE_DRAWS`).
    jobs
        Worker processes (default: CPU cores).
    executor
        ``"local"`` or ``"dask"``.
    scheduler
        Dask scheduler address; with ``"dask"`` and none, a local cluster.
    min_acceptance_rate
        Stop once a generation accepts fewer than this share of its samples.
    """

    population: int = 200
    generations: int = 6
    replicates: int = 1
    seed: int = 0
    ppc_draws: int = 100
    jobs: int | None = None
    executor: ExecutorKind = "local"
    scheduler: str | None = None
    min_acceptance_rate: float = 0.005

    def __post_init__(self) -> None:
        """Check the least values, the seed and the machinery (maxima: :func:`check_budget`)."""
        checks = [
            ("population", self.population, 10),
            ("generations", self.generations, 1),
            ("replicates", self.replicates, 1),
            ("ppc_draws", self.ppc_draws, 10),
        ]
        for name, value, least in checks:
            check_count(value, name, least)
        check_seed(self.seed)
        Backend(self.executor, self.jobs, self.scheduler)  # checks jobs and the scheduler

    @property
    def workers(self) -> int:
        """Worker processes to use locally."""
        return self.jobs if self.jobs is not None else (os.cpu_count() or 1)


FULL = CalibrationSettings()
"""Default budget of a full calibration (see benchmarks/bench_calibration.py for its time)."""

QUICK = CalibrationSettings(population=40, generations=3, replicates=1, ppc_draws=40)
"""``--quick``: a small budget for demos and tests (about a minute on 2 cores)."""


@dataclass(frozen=True)
class CalibrationProblem:
    """What is calibrated: scenario, targets bound to it, and priors; or several such studies.

    Attributes
    ----------
    scenario
        One study: its scenario. Several: the first study's (use :attr:`studies`).
    targets
        One study: its bound targets. Several: every study's targets, named
        ``STUDY.target``, as one set (the tables of the check; their statistics
        come from each study's own scenario).
    priors
        Shared strengths, then per-study baselines (``p_readmit_12m_usual_care@STUDY``).
    studies
        The studies, in the order given; built from ``scenario`` and ``targets`` if omitted.
    """

    scenario: Scenario
    targets: BoundTargets
    priors: Priors
    studies: tuple[Study, ...] = ()

    def __post_init__(self) -> None:
        """Make the one study of a problem built from a scenario and targets."""
        if not self.studies:
            study = Study(self.targets.target_set.spec.name, self.scenario, self.targets, self.scenario.name)
            object.__setattr__(self, "studies", (study,))

    @classmethod
    def build(cls, target_set: TargetSet, scenario: Scenario) -> CalibrationProblem:
        """Bind targets to the scenario and build the priors (raises PeersimInputError)."""
        return cls.build_studies([target_set], [(scenario, scenario.name)])

    @classmethod
    def build_studies(
        cls, target_sets: Sequence[TargetSet], scenarios: Sequence[tuple[Scenario, str]]
    ) -> CalibrationProblem:
        """Bind each targets file to its scenario (with where it came from) and build the priors.

        One file is :meth:`build`. Several make a multi-study problem (see
        :func:`~peersim.calibration.inputs.bind_studies` and
        :func:`~peersim.calibration.inputs.build_study_priors`).

        Raises
        ------
        PeersimInputError
            As those do, naming the file and the key.
        """
        studies = bind_studies(tuple(target_sets), tuple(scenarios))
        priors = build_study_priors(studies)
        if len(studies) == 1:
            return cls(studies[0].scenario, studies[0].targets, priors, studies)
        (baseline,) = PER_STUDY_PARAMS
        names = set(priors.names)
        studies = tuple(
            replace(
                study, baseline=name if (name := study_parameter(baseline, study.name)) in names else None
            )
            for study in studies
        )
        return cls(studies[0].scenario, combined_targets(studies), priors, studies)

    @classmethod
    def load(
        cls, targets: Path | Sequence[Path] | None = None, scenario: Path | None = None
    ) -> CalibrationProblem:
        """Read targets files and their scenarios and build the problem.

        Parameters
        ----------
        targets
            A targets file, several, or ``None`` for the packaged defaults.
        scenario
            With one targets file (or none): its scenario, for a file without a
            ``scenario`` key (default: the embedded default); with the key, it
            must be the same scenario. With several targets files it is refused:
            each names its own.

        Raises
        ------
        PeersimInputError
            For a missing, malformed or invalid file, naming the file and the key
            path; a ``scenario`` that conflicts with the targets file's; several
            targets files with ``scenario`` given, or one of them without a
            ``scenario`` key; and whatever :meth:`build_studies` refuses.
        """
        paths = [targets] if isinstance(targets, str | Path) else list(targets or [])
        if len(paths) <= 1:
            target_set = load_targets(paths[0]) if paths else default_targets()
            named = study_scenario(target_set)
            if scenario is None:
                chosen = named if named is not None else (default_scenario(), DEFAULT_SCENARIO_SOURCE)
            else:
                given = load_scenario(scenario)
                if named is not None and named[0].hash != given.hash:
                    raise PeersimInputError(
                        f"`scenario` {scenario}: conflicts with the scenario {target_set.source} names "
                        f"(scenario = {target_set.spec.scenario!r}, {named[1]}); give one of them, not both"
                    )
                chosen = (given, str(scenario))
            return cls.build_studies([target_set], [chosen])
        if scenario is not None:
            raise PeersimInputError(
                f"`scenario` {scenario}: applies to a single targets file only; with {len(paths)} targets "
                'files each names its own scenario in a top-level scenario = "FILE" key'
            )
        target_sets = [load_targets(path) for path in paths]
        scenarios = []
        for target_set in target_sets:
            named = study_scenario(target_set)
            if named is None:
                raise PeersimInputError(
                    f"{target_set.source}: scenario: missing; with several targets files each names the "
                    'scenario its targets refer to: scenario = "my_service.toml" (relative to the targets '
                    'file) or scenario = "enrich_trial" (the embedded default)'
                )
            scenarios.append(named)
        return cls.build_studies(target_sets, scenarios)

    @property
    def multi(self) -> bool:
        """Whether this calibrates several studies at once."""
        return len(self.studies) > 1

    @property
    def study_scenarios(self) -> dict[str, str]:
        """Each study's scenario name, by study, for the posterior (empty for one study)."""
        return {study.name: study.scenario.name for study in self.studies} if self.multi else {}

    @property
    def label(self) -> str:
        """The targets' name(s), for reports."""
        return " + ".join(study.targets.target_set.spec.name for study in self.studies)

    @property
    def source(self) -> str:
        """The targets file(s), for messages."""
        return " + ".join(study.targets.target_set.source for study in self.studies)

    @property
    def fixed(self) -> dict[str, float]:
        """Mechanism values held at the scenario's values (not calibrated).

        Several studies: the strengths no study calibrates, where every study's
        scenario has the same value (the others stay at each scenario's value), never
        the per-study baseline.
        """
        values = self.scenario.mechanisms.model_dump()
        if not self.multi:
            return {k: float(v) for k, v in values.items() if k not in self.priors.names}
        fixed = {}
        for name in values:
            if name in self.priors.names or name in PER_STUDY_PARAMS:
                continue
            seen = {float(getattr(study.scenario.mechanisms, name)) for study in self.studies}
            if len(seen) == 1:
                fixed[name] = seen.pop()
        return fixed

    def model(self, settings: CalibrationSettings) -> CalibrationModel | StudiesModel:
        """Return the model function pyabc evaluates."""
        if self.multi:
            return StudiesModel(self.studies, tuple(self.priors.names), settings.seed, settings.replicates)
        return CalibrationModel(
            self.scenario, self.targets, tuple(self.priors.names), settings.seed, settings.replicates
        )


def expected_samples(population: int, generation: int, min_acceptance_rate: float = 0.0) -> float:
    """Rough samples pyabc draws in ``generation`` (0-based) to accept ``population`` particles.

    :data:`FIRST_SAMPLES_PER_PARTICLE` growing by :data:`SAMPLES_GROWTH` a
    generation, up to ``1 / min_acceptance_rate``, where pyabc stops.
    """
    most = 1.0 / min_acceptance_rate if min_acceptance_rate > 0 else 1e6
    per_particle = FIRST_SAMPLES_PER_PARTICLE * SAMPLES_GROWTH ** min(generation, 200)
    return population * min(per_particle, most)


def calibration_estimate(
    problem: CalibrationProblem, settings: CalibrationSettings, completed: int = 0
) -> Workload:
    """Rough serial time and memory of what a calibration still has to do.

    Runs: pyabc's calibration sample (``population`` runs, for a new database),
    the expected samples of each generation from ``completed`` on
    (:func:`expected_samples`) times ``replicates``, and the posterior and prior
    predictive draws of the check. Memory: the largest generation's samples,
    which pyabc holds at once (:data:`BYTES_PER_SAMPLE`). The acceptance of
    other targets can differ from the default calibration's by a factor of a few.
    """
    todo = max(settings.generations - completed, 0)
    counted = min(todo, 1000)  # beyond, every generation is at pyabc's lowest acceptance
    samples = [
        expected_samples(settings.population, t, settings.min_acceptance_rate)
        for t in range(completed, completed + counted)
    ]
    evaluations = sum(samples) + (todo - counted) * max(samples, default=0.0)
    evaluations += settings.population if completed == 0 else 0
    runs, seconds, check_memory = 0, 0.0, 0.0
    for study in problem.studies:  # each evaluation runs every study's scenario
        check = predictive_estimate(study.scenario, settings.ppc_draws)
        study_runs = round(evaluations * settings.replicates) + check.runs
        runs += study_runs
        seconds += study_runs * estimated_seconds(study.scenario)
        check_memory += check.memory
    memory = max(max(samples, default=0.0) * BYTES_PER_SAMPLE, check_memory)
    return Workload(runs, seconds, memory, "to calibrate and check")


def check_budget(problem: CalibrationProblem, settings: CalibrationSettings, completed: int = 0) -> Workload:
    """Refuse a budget beyond the declared maxima; return the estimate of what is left to do.

    Raises
    ------
    PeersimInputError
        Naming the first setting beyond its maximum (:data:`MAX_POPULATION`,
        :data:`MAX_GENERATIONS`, :data:`MAX_REPLICATES`,
        :data:`~peersim.calibration.evaluate.MAX_PREDICTIVE_DRAWS`), with the
        time and memory the calibration asked for would take.
    """
    maxima = (
        ("population", settings.population, MAX_POPULATION),
        ("generations", settings.generations, MAX_GENERATIONS),
        ("replicates", settings.replicates, MAX_REPLICATES),
        ("ppc_draws", settings.ppc_draws, MAX_PREDICTIVE_DRAWS),
    )
    for name, value, most in maxima:
        if value > most:
            asked = calibration_estimate(problem, settings, 0)
            raise PeersimInputError(
                f"`{name}` {value} is more than the {most:,} allowed: the calibration asked for would be "
                f"{asked.cost_text()}; ask for fewer"
            )
    return calibration_estimate(problem, settings, completed)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(problem: CalibrationProblem, settings: CalibrationSettings) -> dict[str, str]:
    """Return what must match for a database to be resumed (all values are strings).

    One study: the keys and values it has always had (a test pins them, so
    that existing databases resume). Several: ``scenario`` and ``targets`` join
    every study's scenario hash and targets digest with ``+``, and ``studies``
    names the studies, in order.
    """
    declared = {name: [spec.low, spec.high] for name, spec in MECHANISM_PARAMS.items()}
    studies = problem.studies
    parts = {
        "format": "1",
        "transition_scaling": str(TRANSITION_SCALING),
        "peersim_version": package_version(),
        "model_source": model_source_digest(),
        "declared_bounds": _digest(declared),
        "scenario": "+".join(study.scenario.hash for study in studies),
        "targets": "+".join(study.targets.target_set.fingerprint for study in studies),
        "priors": _digest(problem.priors.as_dict()),
        "fixed": _digest(problem.fixed),
        "seed": str(settings.seed),
        "replicates": str(settings.replicates),
    }
    if problem.multi:
        parts["studies"] = ",".join(study.name for study in studies)
    return parts


_FINGERPRINT_MEANING = {
    "format": "database format",
    "transition_scaling": "proposal kernel scaling",
    "peersim_version": "peersim version",
    "model_source": "model version (source code of peersim.model)",
    "declared_bounds": "declared parameter bounds",
    "scenario": "scenario",
    "targets": "targets",
    "studies": "studies (the targets files' names)",
    "priors": "priors",
    "fixed": "fixed mechanism values",
    "seed": "`seed`",
    "replicates": "`replicates`",
}


def floored_mad(*, samples: np.ndarray, **kwargs: Any) -> np.ndarray:
    """Scale of each statistic for pyabc's adaptive distance: MAD, at least 1.

    ``samples`` has shape ``(n_samples, n_statistics)`` of standardised
    discrepancies; a scale of 1 is the observation's own uncertainty.
    """
    samples = np.asarray(samples, dtype=float)
    mad = np.nanmedian(np.abs(samples - np.nanmedian(samples, axis=0)), axis=0)
    return np.maximum(np.nan_to_num(mad, nan=1.0), 1.0)


@dataclass
class CalibrationOutcome:
    """Result of :func:`run_abc`."""

    posterior: Posterior
    populations: pd.DataFrame
    """One row per generation: t, epsilon, samples, particles, wall_time (s), acceptance_rate."""
    fingerprint: dict[str, str]
    resumed_from: int
    """Generations already in the database when this run started (0 for a new one)."""
    seconds: float
    db: Path
    notes: list[str] = field(default_factory=list)

    @property
    def generations(self) -> int:
        """Generations in the history."""
        return len(self.populations)

    @property
    def evaluations(self) -> int:
        """Model evaluations over all generations (excluding the calibration sample)."""
        return int(self.populations["samples"].sum())


def _db_url(db: Path) -> str:
    return f"sqlite:///{db.resolve()}"


def stored_fingerprint(db: Path) -> tuple[dict[str, str], int]:
    """Fingerprint and completed generations of an existing peersim calibration database.

    Raises
    ------
    PeersimInputError
        If ``db`` is not a pyabc database made by ``peersim calibrate``.
    """
    import pyabc  # heavy: pyabc (about 1 s), loaded only when a calibration runs

    try:
        history = pyabc.History(_db_url(db), create=False)
        runs = history.all_runs()
        if not runs:
            raise ValueError("it holds no ABC-SMC run")
        history.id = runs[-1].id
        raw = history.get_abc().json_parameters
        last = history.max_t  # None: interrupted before pyabc stored its first (pre-)population
        completed = 0 if last is None else int(last) + 1
    except Exception as error:  # sqlalchemy, pyabc version checks: all mean "not usable"
        raise PeersimInputError(
            f"`db` {db}: not a pyabc calibration database ({type(error).__name__}: {error}); "
            "use another `db`, or `force=True` to replace it"
        ) from None
    try:
        options = ast.literal_eval(raw) if raw else {}
        found = options[FINGERPRINT_KEY]
        if not isinstance(found, dict):
            raise TypeError
    except (ValueError, SyntaxError, KeyError, TypeError):
        raise PeersimInputError(
            f"`db` {db}: a pyabc database not made by peersim calibrate (no {FINGERPRINT_KEY}); "
            "use another `db`, or `force=True` to replace it"
        ) from None
    return {str(k): str(v) for k, v in found.items()}, completed


def check_resumable(db: Path, expected: dict[str, str]) -> int:
    """Completed generations of ``db`` if its fingerprint matches ``expected``.

    Raises
    ------
    PeersimInputError
        Naming the database and what differs (targets, scenario, model version...).
    """
    found, completed = stored_fingerprint(db)
    differ = [key for key in expected if found.get(key) != expected[key]]
    if differ:
        what = ", ".join(
            f"{_FINGERPRINT_MEANING.get(key, key)} ({found.get(key, 'none')} in the database, "
            f"{expected[key]} now)"
            for key in differ
        )
        raise PeersimInputError(
            f"`db` {db}: made for a different calibration: {what}. It cannot be resumed; "
            "use another `db`, or `force=True` to delete it and start over"
        )
    return completed


def _delete_db(db: Path) -> None:
    for path in (db, db.with_name(db.name + "-journal")):
        if path.exists():
            path.unlink()


def seed_pyabc_global_state(seed: int, generation: int) -> None:
    """Seed numpy's *global* generator, which pyabc itself draws from.

    pyabc samples priors and proposals with ``np.random`` globals and offers no
    generator argument. This is the only place peersim touches that state; the
    model never reads it (its seeds come from :func:`evaluation_seed`). Worker
    processes of pyabc's parallel samplers reseed it from the operating system,
    so only single-core sampling is reproducible.
    """
    state = np.random.SeedSequence(seed, spawn_key=(0xABC, generation)).generate_state(1)[0]
    np.random.seed(int(state))  # noqa: NPY002 - pyabc's own global state, see docstring


class _StopOnInterrupt:
    """Turn an interrupt into :class:`~peersim.errors.Interrupted` (see :func:`stop_on_interrupt`)."""

    def __init__(self, stopped: Callable[[], Interrupted]) -> None:
        self._stopped = stopped

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if value is None or not _caused_by_interrupt(value):
            return False
        with sigint_ignored():
            error = self._stopped()
        raise error from None


def stop_on_interrupt(stopped: Callable[[], Interrupted]) -> contextlib.AbstractContextManager[None]:
    """Turn Ctrl-C inside the block into the :class:`~peersim.errors.Interrupted` that ``stopped()`` builds.

    A :class:`KeyboardInterrupt` leaving the block, or an error raised while
    one unwound (a database session cut short, say), is replaced by
    ``stopped()``, which says what was kept; further Ctrl-C are ignored while
    it looks. Where Ctrl-C may only stop the work at safe points, the block
    runs under :func:`peersim.executor.deferred_interrupts`.
    """
    return _StopOnInterrupt(stopped)


def _caused_by_interrupt(error: BaseException | None) -> bool:
    """Whether ``error`` is a KeyboardInterrupt or was raised while one unwound.

    An :class:`~peersim.errors.Interrupted` already says what was kept: it is not converted again.
    """
    seen = 0
    while error is not None and seen < 20:
        if isinstance(error, Interrupted):
            return False
        if isinstance(error, KeyboardInterrupt):
            return True
        error = error.__context__
        seen += 1
    return False


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Hold SIGINT back while worker processes are forked, so each starts with it blocked.

    A worker then ignores SIGINT before unblocking it (:func:`_ignore_interrupts`),
    and a Ctrl-C that came meanwhile reaches the parent when this block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not on Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _ignore_interrupts() -> None:
    """In a worker: ignore Ctrl-C (the parent stops the workers), then let signals through again."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


WORKER_STOP_SECONDS = 2.0
"""How long a stopped sampler worker may take to exit after SIGTERM before it is killed."""


@dataclass
class GenerationReport:
    """What the samplers say about each generation: a progress display and one line when it ends.

    Attributes
    ----------
    generations
        Generations in total (the ``k of G`` of the labels).
    progress
        Progress display: ``progress(label, population)`` per generation, advanced
        by one for each accepted particle.
    log
        Receives one line per finished generation (and for the calibration sample).
    epsilon
        pyabc's epsilon, read for the threshold of each generation.
    interrupts
        Where Ctrl-C is noted (:func:`peersim.executor.deferred_interrupts`);
        the samplers :meth:`check` it between evaluations. pyabc writes its
        history through SQLAlchemy sessions that a :class:`KeyboardInterrupt`
        raised mid-write leaves open, holding a lock on the database (seen: two
        120 s lock timeouts, then nothing read back), so Ctrl-C stops ABC-SMC
        only where nothing is being written.
    """

    generations: int
    progress: Progress = no_progress
    log: Callable[[str], None] | None = None
    epsilon: Any = None
    interrupts: Interrupts = field(default_factory=Interrupts)

    def check(self) -> None:
        """Raise :class:`KeyboardInterrupt` at a safe point if Ctrl-C came (see :attr:`interrupts`)."""
        self.interrupts.check()

    def label(self, t: int, calibration: bool) -> str:
        """Label of the progress display of generation ``t`` (0-based), or of the calibration sample."""
        if calibration:
            return "calibration sample (priors)"
        threshold = self._epsilon(t)
        suffix = f", epsilon {threshold:.3g}" if threshold is not None else ""
        return f"generation {t + 1} of {self.generations}{suffix}"

    @contextmanager
    def generation(self, t: int, n: int, calibration: bool) -> Iterator[Callable[[int], None]]:
        """Show the progress of one generation; yield ``advance(k)`` for ``k`` more accepted particles."""
        accepted = 0

        with self.progress(self.label(t, calibration), n) as advance:

            def accept(k: int) -> None:
                nonlocal accepted
                k = min(k, n - accepted)  # parallel workers may accept more than are kept
                if k > 0:
                    accepted += k
                    advance(k)

            yield accept

    def finished(self, t: int, n: int, evaluations: int, seconds: float, calibration: bool) -> None:
        """Say how generation ``t`` went: threshold, acceptance and evaluations."""
        if self.log is None:
            return
        if calibration:
            self.log(f"calibration sample: {evaluations:,} evaluations from the priors, {seconds:.0f} s")
            return
        threshold = self._epsilon(t)
        eps = f"epsilon {threshold:.3g}, " if threshold is not None else ""
        rate = n / evaluations if evaluations else float("nan")
        self.log(
            f"generation {t + 1} of {self.generations}: {eps}{n:,} of {evaluations:,} evaluations "
            f"accepted ({rate:.1%}), {seconds:.0f} s"
        )

    def _epsilon(self, t: int) -> float | None:
        """Return the threshold of generation ``t`` if pyabc has set it (read, never computed).

        Calling a pyabc epsilon before it is initialised initialises it, which
        would change the run; its table of thresholds is only read here.
        """
        table = getattr(self.epsilon, "_look_up", None)
        value = table.get(t) if isinstance(table, dict) else None
        try:
            number = float(value) if value is not None else float("nan")
        except (TypeError, ValueError):
            return None
        return number if np.isfinite(number) else None


@functools.cache
def _sampler_classes() -> dict[str, type]:
    """Return pyabc's samplers, each reporting to a :class:`GenerationReport` (built once, on first use).

    They sample exactly as pyabc's own: the single-core one calls the same
    function in the same order, so its results are unchanged. The multicore one
    is pyabc's ``MulticoreEvalParallelSampler`` with workers that ignore Ctrl-C
    and are stopped by the parent on any exit other than success.
    """
    import pyabc  # heavy: pyabc (about 1 s), loaded only when a calibration runs
    from pyabc.sampler.multicore_evaluation_parallel import DONE, work
    from pyabc.sampler.util import get_mp_context

    def report_of(sampler: Any) -> GenerationReport:
        report = getattr(sampler, "report", None)
        return report if report is not None else GenerationReport(0)

    class SingleCore(pyabc.sampler.SingleCoreSampler):  # pyabc is untyped (Any)
        report: GenerationReport | None = None

        def sample_until_n_accepted(self, n: int, simulate_one: Any, t: int, **kwargs: Any) -> Any:
            report = report_of(self)
            calibration = bool(kwargs.get("all_accepted", False))
            start = time.perf_counter()
            with report.generation(t, n, calibration) as accept:

                def counted() -> Any:
                    report.check()
                    particle = simulate_one()
                    if particle.accepted:
                        accept(1)
                    return particle

                sample = super().sample_until_n_accepted(n, counted, t, **kwargs)
            report.finished(t, n, self.nr_evaluations_, time.perf_counter() - start, calibration)
            return sample

    class Multicore(pyabc.sampler.MulticoreEvalParallelSampler):
        report: GenerationReport | None = None

        def sample_until_n_accepted(
            self,
            n: int,
            simulate_one: Any,
            t: int,
            *,
            max_eval: float = np.inf,
            all_accepted: bool = False,
            ana_vars: Any = None,
        ) -> Any:
            # pyabc's MulticoreEvalParallelSampler.sample_until_n_accepted (0.13), with the
            # workers ignoring Ctrl-C, progress per accepted particle, and the workers
            # stopped on the way out whatever happens.
            report = report_of(self)
            start = time.perf_counter()
            ctx = get_mp_context()
            n_eval = ctx.Value("q", 0)
            n_acc = ctx.Value("q", 0)
            queue = ctx.Queue()
            if self.pickle:
                import cloudpickle  # type: ignore[import-untyped]  # pyabc's own dependency, as pyabc does

                simulate_one = cloudpickle.dumps(simulate_one)
            args = (
                simulate_one,
                queue,
                n_eval,
                n_acc,
                n,
                self.check_max_eval,
                max_eval,
                all_accepted,
                self._create_empty_sample,
            )
            processes = [
                ctx.Process(target=_quiet_work, args=(work, *args), daemon=self.daemon)
                for _ in range(self.n_procs)
            ]
            id_results = []
            try:
                with report.generation(t, n, all_accepted) as accept:
                    with _sigint_blocked():
                        for process in processes:
                            process.start()
                    done = 0
                    while done < len(processes):
                        value = _next_result(processes, queue, report)
                        if value == DONE:
                            done += 1
                        else:
                            id_results.append(value)
                            accept(1)
                    for process in processes:
                        process.join()
            finally:
                _stop_workers(processes)
                queue.close()
            id_results.sort(key=lambda x: x[0])  # avoid bias toward short evaluations
            id_results = id_results[: min(len(id_results), n)]
            self.nr_evaluations_ = n_eval.value
            sample = self._create_empty_sample()
            for _, result in id_results:
                sample += result
            if sample.n_accepted < n:
                sample.ok = False
            report.finished(t, n, self.nr_evaluations_, time.perf_counter() - start, all_accepted)
            return sample

    class Dask(pyabc.sampler.DaskDistributedSampler):
        report: GenerationReport | None = None

        def client_cores(self) -> int:
            report_of(self).check()  # pyabc's Dask loop asks this every 10 ms: a safe point
            return int(super().client_cores())

        def sample_until_n_accepted(self, n: int, simulate_one: Any, t: int, **kwargs: Any) -> Any:
            report = report_of(self)
            calibration = bool(kwargs.get("all_accepted", False))
            start = time.perf_counter()
            with report.generation(t, n, calibration) as accept:
                sample = super().sample_until_n_accepted(n, simulate_one, t, **kwargs)
                accept(n)  # pyabc's Dask sampler says nothing until the generation is complete
            report.finished(t, n, self.nr_evaluations_, time.perf_counter() - start, calibration)
            return sample

    return {"single": SingleCore, "multicore": Multicore, "dask": Dask}


RESULT_POLL_SECONDS = 0.1
"""How often the multicore sampler's parent looks for Ctrl-C and dead workers while it waits."""


def _next_result(processes: list[Any], queue: Any, report: GenerationReport) -> Any:
    """Wait for the next item a sampler worker sends, checking for Ctrl-C and dead workers.

    pyabc's ``get_if_worker_healthy``, with the check for Ctrl-C added.

    Raises
    ------
    multiprocessing.ProcessError
        If a worker died (exit status other than 0).
    """
    from multiprocessing import ProcessError
    from queue import Empty

    while True:
        report.check()
        if not all(process.exitcode in (0, None) for process in processes):
            raise ProcessError("At least one worker is dead.")
        try:
            return queue.get(timeout=RESULT_POLL_SECONDS)
        except Empty:
            pass


def _quiet_work(work: Callable[..., None], *args: Any) -> None:
    """Run pyabc's sampler worker loop with Ctrl-C ignored (the parent stops the workers)."""
    _ignore_interrupts()
    work(*args)


def _stop_workers(processes: list[Any]) -> None:
    """Stop sampler workers that are still running: SIGTERM, then SIGKILL; reap them all."""
    started = [process for process in processes if process.pid is not None]
    if not any(process.is_alive() for process in started):
        for process in started:
            process.join()
        return
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C waits for this
    try:
        for process in started:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + WORKER_STOP_SECONDS
        for process in started:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


@contextmanager
def _pyabc_log(log: Callable[[str], None] | None, verbose: bool) -> Iterator[None]:
    """While the run lasts, keep pyabc's log lines off stderr, or pass them to ``log`` if ``verbose``.

    pyabc attaches its own stderr handler to the ``ABC`` logger at import; it is
    detached for the run and restored afterwards. peersim's own lines (one per
    generation, :class:`GenerationReport`) say what pyabc's would.
    """
    logger = logging.getLogger("ABC")
    saved_handlers, saved_level, saved_propagate = list(logger.handlers), logger.level, logger.propagate
    for handler in saved_handlers:
        logger.removeHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO if verbose else logging.CRITICAL + 1)

    class _Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if log is not None:
                log(self.format(record))

    forward = _Forward(logging.INFO)
    forward.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
    if verbose:
        logger.addHandler(forward)
    try:
        yield
    finally:
        logger.removeHandler(forward)
        for handler in saved_handlers:
            logger.addHandler(handler)
        logger.setLevel(saved_level)
        logger.propagate = saved_propagate


def make_sampler(
    settings: CalibrationSettings, report: GenerationReport | None = None
) -> tuple[Any, Callable[[], None]]:
    """Return the pyabc sampler for ``settings`` and a function that releases it.

    ``report`` receives each generation's progress (see :class:`GenerationReport`).
    """
    classes = _sampler_classes()
    if settings.executor == "dask":
        executor = DaskExecutor(scheduler=settings.scheduler, workers=settings.jobs)
        batch = max(1, min(DASK_BATCH_SIZE, settings.population // (2 * executor.workers)))
        sampler = classes["dask"](dask_client=executor.client, batch_size=batch)
        sampler.report = report
        return sampler, executor.close
    if settings.workers == 1:
        sampler = classes["single"]()
        sampler.report = report
        return sampler, lambda: None
    # The model's modules (Mesa, pandas: 1-2 s), imported here, are inherited by the workers
    # pyabc forks for each generation, which would otherwise import them every generation.
    import peersim.model  # noqa: F401

    sampler = classes["multicore"](n_procs=settings.workers)
    sampler.report = report
    return sampler, lambda: None


def check_db(db: Path, expected: dict[str, str], force: bool = False) -> int:
    """Check the database location before any work; return the generations a resume keeps.

    Raises
    ------
    PeersimInputError
        If ``db`` is a folder, its folder cannot be created or written (under a
        file, read-only, ``/proc``), or an existing database cannot be resumed
        and ``force`` is not given.
    """
    if db.exists() and not db.is_file():
        raise PeersimInputError(f"`db` {db}: exists and is not a file")
    check_writable(db.parent, f"`db` {db}: its folder")
    if db.exists() and not force:
        return check_resumable(db, expected)
    return 0


def completed_generations(db: Path) -> int:
    """Return the generations stored in ``db`` (0 if it is missing or unreadable).

    Sessions this process left open (pyabc's, cut short by a forced Ctrl-C or a
    failed write) are closed first, so that no lock of theirs holds the reading up.
    """
    from sqlalchemy.orm import close_all_sessions  # pyabc's dependency (heavy, like pyabc)

    close_all_sessions()
    if not db.is_file():
        return 0
    try:
        return stored_fingerprint(db)[1]
    except PeersimInputError:
        return 0


def resume_advice(db: Path, force: bool, kept: int = 1) -> str:
    """Say how to carry on an interrupted calibration whose `db` keeps ``kept`` generations (API terms)."""
    if kept == 0:
        return "Run again with the same arguments to start afresh"
    again = "with the same arguments but without `force=True`" if force else "with the same arguments"
    return f"They are in `db` {db}: run again {again} to resume from there"


class HistoryNotWritten(OutputsNotWritten):
    """pyabc's history could not be written (disk full, file system gone read-only).

    SQLite rolls the unfinished write back, so the database stays consistent
    and keeps every generation written before: the same call resumes once
    there is room (the CLI exits 4, as for other outputs not written).

    Attributes
    ----------
    path
        The database.
    kept
        The database, which keeps ``generations`` generations.
    generations
        Generations the database keeps.
    """

    def __init__(self, db: Path, reason: str, generations: int, force: bool = False) -> None:
        self.path = db
        self.kept = db
        self.generations = generations
        again = "with the same arguments but without `force=True`" if force and generations else "again"
        Exception.__init__(
            self,
            f"`db` {db}: the calibration history could not be written ({reason}); it keeps "
            f"{generations} generation(s) and is consistent. Make room and run {again} to resume",
        )


@contextmanager
def _history_written(db: Path, force: bool) -> Iterator[None]:
    """Turn a failed write of pyabc's SQLite history into :class:`HistoryNotWritten`.

    The write fails as SQLite's ``OperationalError`` (``database or disk is
    full``, ``disk I/O error``); pyabc's clean-up then often fails on the
    broken session with another SQLAlchemy error, which carries the first as
    its context.
    """
    from sqlalchemy.exc import OperationalError, SQLAlchemyError  # pyabc's dependency, loaded with it

    try:
        yield
    except (SQLAlchemyError, OSError) as error:
        cause: BaseException | None = error
        while cause is not None and not isinstance(cause, OperationalError | OSError):
            cause = cause.__context__
        if cause is None or _caused_by_interrupt(error):
            raise
        original = getattr(cause, "orig", None)
        reason = str(original) if original is not None else (getattr(cause, "strerror", None) or str(cause))
        raise HistoryNotWritten(db, reason, completed_generations(db), force) from None


def run_abc(
    problem: CalibrationProblem,
    settings: CalibrationSettings,
    db: str | Path,
    force: bool = False,
    log: Callable[[str], None] | None = None,
    progress: Progress = no_progress,
    verbose: bool = False,
) -> CalibrationOutcome:
    """Run (or resume) ABC-SMC and return the final population as a posterior.

    Parameters
    ----------
    problem
        Scenario, bound targets and priors.
    settings
        Budget and machinery.
    db
        SQLite file of pyabc's history. An existing file is resumed if it was
        made for the same calibration (see :func:`fingerprint`), refused
        otherwise; ``force`` deletes it first.
    force
        Delete an existing database and start over.
    log
        Receives one line per generation (threshold, acceptance, evaluations)
        and, if ``verbose``, pyabc's own log lines.
    progress
        Progress display, one phase per generation of ``population`` accepted
        particles (and one for pyabc's calibration sample of a new database).
    verbose
        Pass pyabc's log lines to ``log``; otherwise they are dropped.

    Raises
    ------
    PeersimInputError
        For a database that cannot be resumed or whose folder cannot be
        written, or a budget beyond the maxima (all before any simulation).
    HistoryNotWritten
        If the database could not be written during the run (disk full); it
        keeps the generations written before.
    peersim.errors.Interrupted
        After Ctrl-C, with the generations the database keeps; the same call
        resumes from them.
    """
    import pyabc  # noqa: F401 - imported before the log is redirected: pyabc adds a handler at import

    db = Path(db)
    expected = fingerprint(problem, settings)
    completed = check_db(db, expected, force)
    check_budget(problem, settings, completed)

    def stopped() -> Interrupted:
        kept = completed_generations(db)  # a database without generations resumes as a new one
        return Interrupted(kept, settings.generations, "generation(s)", resume_advice(db, force, kept))

    notes: list[str] = []
    start = time.perf_counter()
    report = GenerationReport(settings.generations, progress, log)
    with stop_on_interrupt(stopped), deferred_interrupts() as interrupts:
        report.interrupts = interrupts
        if db.exists() and (force or completed == 0):
            _delete_db(db)  # a matching database without generations has nothing to keep
        db.parent.mkdir(parents=True, exist_ok=True)
        with _pyabc_log(log, verbose), _history_written(db, force):
            history = _run(problem, settings, db, completed, expected, notes, report)
        report.check()  # a Ctrl-C after the last generation's last evaluation
        populations = _populations(history)
        if populations.empty:
            raise PeersimInputError(f"`db` {db}: the calibration produced no generation")
        particles, weights = history.get_distribution(m=0, t=int(history.max_t))
    particles = particles[problem.priors.names].astype(float)
    meta: dict[str, Any] = {
        "targets": problem.label,
        "targets_source": problem.source,
        "fingerprint": _digest(expected),
        "fingerprint_parts": expected,
        "priors": problem.priors.as_dict(),
        "scenario": " + ".join(study.scenario.name for study in problem.studies),
        "generations": len(populations),
        "population": settings.population,
        "replicates": settings.replicates,
        "seed": settings.seed,
        "version": package_version(),
    }
    if problem.multi:
        meta["study_records"] = [
            {
                "study": study.name,
                "targets_source": study.targets.target_set.source,
                "scenario": study.scenario.name,
                "scenario_source": study.scenario_source,
                "scenario_hash": study.scenario.hash,
                "baseline": study.baseline,
            }
            for study in problem.studies
        ]
    posterior = Posterior(
        particles,
        np.asarray(weights, dtype=float),
        fixed=problem.fixed,
        source=str(db),
        meta=meta,
        studies=problem.study_scenarios,
    )
    return CalibrationOutcome(
        posterior=posterior,
        populations=populations,
        fingerprint=expected,
        resumed_from=completed,
        seconds=time.perf_counter() - start,
        db=db,
        notes=notes,
    )


def _run(
    problem: CalibrationProblem,
    settings: CalibrationSettings,
    db: Path,
    completed: int,
    expected: dict[str, str],
    notes: list[str],
    report: GenerationReport,
) -> Any:
    """Build pyabc's ABCSMC, start or load the history, run the remaining generations."""
    import pyabc  # heavy: pyabc (about 1 s), loaded only when a calibration runs

    sampler, release = make_sampler(settings, report)
    try:
        distance = pyabc.AdaptivePNormDistance(
            p=2, fixed_weights=problem.targets.weights, scale_function=floored_mad
        )
        epsilon = pyabc.QuantileEpsilon(alpha=0.5)
        report.epsilon = epsilon
        abc = pyabc.ABCSMC(
            problem.model(settings),
            problem.priors.to_pyabc(),
            distance,
            population_size=settings.population,
            transitions=pyabc.MultivariateNormalTransition(scaling=TRANSITION_SCALING),
            eps=epsilon,
            sampler=sampler,
        )
        observed = dict.fromkeys(problem.targets.names, 0.0)
        if db.exists():
            history = abc.load(_db_url(db), abc_id=_run_id(db), observed_sum_stat=observed)
            notes.append(f"resumed {db} after {completed} generation(s)")
        else:
            history = abc.new(_db_url(db), observed, meta_info={FINGERPRINT_KEY: expected})
        remaining = settings.generations - completed
        if remaining > 0:
            seed_pyabc_global_state(settings.seed, completed)
            history = abc.run(max_nr_populations=remaining, min_acceptance_rate=settings.min_acceptance_rate)
        else:
            notes.append(f"{db} already holds {completed} generation(s); nothing to add")
    finally:
        release()
    return history


def _run_id(db: Path) -> int:
    import pyabc  # heavy: pyabc (about 1 s), loaded only when a calibration runs

    history = pyabc.History(_db_url(db), create=False)
    return int(history.all_runs()[-1].id)


def _populations(history: Any) -> pd.DataFrame:
    table = history.get_all_populations()
    table = table[table["t"] >= 0].copy()
    table["acceptance_rate"] = table["particles"] / table["samples"]
    return table[["t", "epsilon", "samples", "particles", "acceptance_rate", "wall_time"]].reset_index(
        drop=True
    )
