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
* **Database.** pyabc's SQLite history. The run metadata stores a fingerprint of
  the peersim version, the model's source, the scenario, the targets, the priors,
  the seed and the replicates. An existing database with the same fingerprint is
  resumed (``ABCSMC.load``) up to ``generations`` in total; one with another
  fingerprint is refused; ``force=True`` deletes it and starts over.
* **Samplers.** ``jobs == 1``: pyabc's single-core sampler (exactly
  reproducible). ``jobs > 1``: :class:`MulticoreEvalParallelSampler`. Dask:
  :class:`DaskDistributedSampler` on the cluster :class:`peersim.executor.DaskExecutor`
  builds, evaluating samples in batches.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peersim.calibration.evaluate import CalibrationModel
from peersim.calibration.inputs import (
    BoundTargets,
    Priors,
    TargetSet,
    bind_targets,
    build_priors,
    default_targets,
    load_targets,
)
from peersim.core.parameters import MECHANISM_PARAMS
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import default_scenario, load_scenario
from peersim.errors import PeersimInputError
from peersim.executor import Backend, DaskExecutor, ExecutorKind
from peersim.io.provenance import model_source_digest, package_version
from peersim.uncertainty import Posterior

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


@dataclass(frozen=True)
class CalibrationSettings:
    """Budget and machinery of one calibration.

    Attributes
    ----------
    population
        Particles per generation (at least 10).
    generations
        Generations in total, counting any already in a resumed database.
    replicates
        Runs averaged per sample (1-10). The default 1 matches the observations:
        each is one study-sized realisation, and averaging R runs would shrink
        the simulated noise to 1/R of a study's, overstating what one study
        can tell apart.
    seed
        Base seed of the model evaluations (and of pyabc's proposals).
    ppc_draws
        Posterior predictive draws for the checks.
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
        checks = [
            ("population", self.population, 10),
            ("generations", self.generations, 1),
            ("replicates", self.replicates, 1),
            ("ppc_draws", self.ppc_draws, 10),
        ]
        for name, value, least in checks:
            if value < least:
                raise PeersimInputError(f"`{name}` must be at least {least}, got {value}")
        if self.replicates > 10:
            raise PeersimInputError(f"`replicates` must be at most 10, got {self.replicates}")
        if self.seed < 0:
            raise PeersimInputError(f"`seed` must be non-negative, got {self.seed}")
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
    """What is calibrated: scenario, targets bound to it, and priors."""

    scenario: Scenario
    targets: BoundTargets
    priors: Priors

    @classmethod
    def build(cls, target_set: TargetSet, scenario: Scenario) -> CalibrationProblem:
        """Bind targets to the scenario and build the priors (raises PeersimInputError)."""
        return cls(scenario, bind_targets(target_set, scenario), build_priors(target_set))

    @classmethod
    def load(cls, targets: Path | None = None, scenario: Path | None = None) -> CalibrationProblem:
        """Read a targets file and a scenario file (``None``: the packaged defaults) and build the problem.

        Raises
        ------
        PeersimInputError
            For a missing, malformed or invalid file, naming the file and the key path.
        """
        target_set = load_targets(targets) if targets is not None else default_targets()
        spec = load_scenario(scenario) if scenario is not None else default_scenario()
        return cls.build(target_set, spec)

    @property
    def fixed(self) -> dict[str, float]:
        """Mechanism values held at the scenario's values (not calibrated)."""
        values = self.scenario.mechanisms.model_dump()
        return {k: float(v) for k, v in values.items() if k not in self.priors.names}

    def model(self, settings: CalibrationSettings) -> CalibrationModel:
        """Return the model function pyabc evaluates."""
        return CalibrationModel(
            self.scenario, self.targets, tuple(self.priors.names), settings.seed, settings.replicates
        )


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(problem: CalibrationProblem, settings: CalibrationSettings) -> dict[str, str]:
    """Return what must match for a database to be resumed (all values are strings)."""
    declared = {name: [spec.low, spec.high] for name, spec in MECHANISM_PARAMS.items()}
    return {
        "format": "1",
        "transition_scaling": str(TRANSITION_SCALING),
        "peersim_version": package_version(),
        "model_source": model_source_digest(),
        "declared_bounds": _digest(declared),
        "scenario": problem.scenario.hash,
        "targets": problem.targets.target_set.fingerprint,
        "priors": _digest(problem.priors.as_dict()),
        "fixed": _digest(problem.fixed),
        "seed": str(settings.seed),
        "replicates": str(settings.replicates),
    }


_FINGERPRINT_MEANING = {
    "format": "database format",
    "transition_scaling": "proposal kernel scaling",
    "peersim_version": "peersim version",
    "model_source": "model version (source code of peersim.model)",
    "declared_bounds": "declared parameter bounds",
    "scenario": "scenario",
    "targets": "targets",
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
        completed = int(history.n_populations)
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


FORWARDED_PREFIXES = ("Calibration sample", "t:", "Accepted:", "Stop")
"""pyabc progress messages passed on to the caller's log (its timing lines are not)."""


@contextmanager
def _forward_pyabc_log(log: Callable[[str], None] | None) -> Iterator[None]:
    """While the run lasts, send pyabc's progress lines to ``log`` (or nowhere).

    pyabc attaches its own stderr handler to the ``ABC`` logger at import; it is
    detached for the run and restored afterwards.
    """
    logger = logging.getLogger("ABC")
    saved_handlers, saved_level, saved_propagate = list(logger.handlers), logger.level, logger.propagate
    for handler in saved_handlers:
        logger.removeHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)

    class _Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if log is not None and message.startswith(FORWARDED_PREFIXES):
                log(message)

    forward = _Forward(logging.INFO)
    logger.addHandler(forward)
    try:
        yield
    finally:
        logger.removeHandler(forward)
        for handler in saved_handlers:
            logger.addHandler(handler)
        logger.setLevel(saved_level)
        logger.propagate = saved_propagate


def make_sampler(settings: CalibrationSettings) -> tuple[Any, Callable[[], None]]:
    """Return the pyabc sampler for ``settings`` and a function that releases it."""
    import pyabc  # heavy: pyabc (about 1 s), loaded only when a calibration runs

    if settings.executor == "dask":
        executor = DaskExecutor(scheduler=settings.scheduler, workers=settings.jobs)
        batch = max(1, min(DASK_BATCH_SIZE, settings.population // (2 * executor.workers)))
        sampler = pyabc.sampler.DaskDistributedSampler(dask_client=executor.client, batch_size=batch)
        return sampler, executor.close
    if settings.workers == 1:
        return pyabc.sampler.SingleCoreSampler(), lambda: None
    return pyabc.sampler.MulticoreEvalParallelSampler(n_procs=settings.workers), lambda: None


def run_abc(
    problem: CalibrationProblem,
    settings: CalibrationSettings,
    db: str | Path,
    force: bool = False,
    log: Callable[[str], None] | None = None,
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
        Receives pyabc's progress lines (one per generation step).

    Raises
    ------
    PeersimInputError
        For a database that cannot be resumed, or bad settings.
    """
    import pyabc  # noqa: F401 - imported before the log is redirected: pyabc adds a handler at import

    db = Path(db)
    expected = fingerprint(problem, settings)
    completed = 0
    if db.exists() and force:
        _delete_db(db)
    elif db.exists():
        if not db.is_file():
            raise PeersimInputError(f"`db` {db}: exists and is not a file")
        completed = check_resumable(db, expected)
    else:
        if not db.parent.exists():
            db.parent.mkdir(parents=True)
    notes: list[str] = []
    start = time.perf_counter()
    with _forward_pyabc_log(log):
        history = _run(problem, settings, db, completed, expected, notes)
    populations = _populations(history)
    if populations.empty:
        raise PeersimInputError(f"`db` {db}: the calibration produced no generation")
    particles, weights = history.get_distribution(m=0, t=int(history.max_t))
    particles = particles[problem.priors.names].astype(float)
    posterior = Posterior(
        particles,
        np.asarray(weights, dtype=float),
        fixed=problem.fixed,
        source=str(db),
        meta={
            "targets": problem.targets.target_set.spec.name,
            "targets_source": problem.targets.target_set.source,
            "fingerprint": _digest(expected),
            "fingerprint_parts": expected,
            "priors": problem.priors.as_dict(),
            "scenario": problem.scenario.name,
            "generations": len(populations),
            "population": settings.population,
            "replicates": settings.replicates,
            "seed": settings.seed,
            "version": package_version(),
        },
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
) -> Any:
    """Build pyabc's ABCSMC, start or load the history, run the remaining generations."""
    import pyabc  # heavy: pyabc (about 1 s), loaded only when a calibration runs

    sampler, release = make_sampler(settings)
    try:
        distance = pyabc.AdaptivePNormDistance(
            p=2, fixed_weights=problem.targets.weights, scale_function=floored_mad
        )
        abc = pyabc.ABCSMC(
            problem.model(settings),
            problem.priors.to_pyabc(),
            distance,
            population_size=settings.population,
            transitions=pyabc.MultivariateNormalTransition(scaling=TRANSITION_SCALING),
            eps=pyabc.QuantileEpsilon(alpha=0.5),
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
