"""``peersim trials`` end to end: the registry read, every study simulated, each outcome scored.

:func:`run_trials` checks its inputs and the output directory before any
simulation, runs ``replicates`` replicates of every study's scenario on one
executor (replicate ``i`` of every study uses ``replicate_seed(seed, i)`` and,
with the posterior, its own weighted draw of the mechanism strengths from a
stream keyed on that seed), scores each published outcome
(:mod:`peersim.trials.evaluate`) and writes the outputs
(:mod:`peersim.trials.report`). Results never depend on the executor or its
number of workers. On Ctrl-C the workers stop and
:class:`~peersim.errors.Interrupted` is raised (nothing is kept: a rerun costs
about a minute).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from peersim.core.streams import check_seed
from peersim.ensemble.batches import EnsembleJob, MemorySink, run_ensembles
from peersim.errors import Interrupted, PeersimInputError, RunsFailedError
from peersim.executor import Backend, Executor, Progress, executor_for, no_progress
from peersim.io.estimates import Workload
from peersim.io.files import OutputDirectory
from peersim.io.inputs import check_count
from peersim.simulation import Runner, estimated_seconds
from peersim.trials.evaluate import LEVEL, score_study
from peersim.trials.inputs import Registry
from peersim.uncertainty import Posterior

DEFAULT_REPLICATES = 500
"""Replicates per study: about 70 s of serial work for CORE here (35 s on 2 cores); enough for
2.5th/97.5th percentiles that move by about 0.01 between seeds."""

MIN_REPLICATES = 20
"""Fewest replicates for a 95% predictive interval worth reporting."""

MAX_REPLICATES = 20_000


def trials_workload(registry: Registry, replicates: int) -> Workload:
    """Rough serial time of ``replicates`` of every study."""
    seconds = replicates * sum(estimated_seconds(study.scenario) for study in registry.studies)
    return Workload(replicates * len(registry.studies), seconds, 0.0, "to predict the held-out trials")


def check_trials(registry: Registry, seed: int, replicates: int, posterior: Posterior | None) -> None:
    """Refuse a seed, a replicate count or a posterior that cannot be used, before any simulation.

    Raises
    ------
    PeersimInputError
        For a bad seed, fewer than :data:`MIN_REPLICATES` or more than
        :data:`MAX_REPLICATES` replicates, or a posterior that does not fit a
        study's scenario.
    """
    check_seed(seed)
    check_count(replicates, "replicates", 0)
    if not MIN_REPLICATES <= replicates <= MAX_REPLICATES:
        raise PeersimInputError(
            f"`replicates` must be from {MIN_REPLICATES} (for a 95% predictive interval) to "
            f"{MAX_REPLICATES:,}, got {replicates}"
        )
    if posterior is not None:
        for study in registry.studies:
            posterior.check_against(study.scenario)


TRIALS_FILES: tuple[str, ...] = ("trials.json", "trials.csv", "trials.png", "report.md")
"""What ``out`` receives."""


def check_out(out: Path | None, force: bool = False) -> OutputDirectory | None:
    """Return the checked output directory, or ``None`` without one (see :class:`OutputDirectory`)."""
    return OutputDirectory.checked(out, TRIALS_FILES, force)


@dataclass
class TrialsResult:
    """What :func:`run_trials` found.

    Attributes
    ----------
    document
        The JSON document (``peersim trials --json``).
    table
        One row per study and outcome (``trials.csv``).
    written
        Files written to ``out``.
    """

    document: dict[str, Any]
    table: pd.DataFrame
    written: list[Path] = field(default_factory=list)


def run_trials(
    registry: Registry,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    posterior: Posterior | None = None,
    executor: Executor | Backend | None = None,
    progress: Progress = no_progress,
    out: Path | None = None,
    force: bool = False,
) -> TrialsResult:
    """Predict every registry study's outcomes and score them against what was published.

    Parameters
    ----------
    registry
        The studies (:func:`peersim.trials.inputs.load_registry`).
    replicates
        Replicates per study (each one posterior draw and one simulated trial).
    seed
        Base seed; replicate ``i`` of every study uses ``replicate_seed(seed, i)``.
    posterior
        Where each replicate draws its mechanism strengths (the command uses
        the shipped :func:`~peersim.uncertainty.default_posterior`); values a
        study's scenario sets stay as set. ``None``: the scenarios' point values.
    executor
        A running executor, or where to start one (default: a local pool when
        the work pays for it).
    progress
        Progress display of the replicates.
    out
        Directory for ``trials.json``, ``trials.csv``, ``trials.png`` and ``report.md``.
    force
        Replace those files if ``out`` holds them already.

    Raises
    ------
    PeersimInputError
        For bad arguments or an output directory that cannot be used (before any simulation).
    RunsFailedError
        If a replicate raised.
    Interrupted
        On Ctrl-C.
    """
    check_trials(registry, seed, replicates, posterior)
    directory = check_out(out, force)
    sinks = [MemorySink(tables=("metrics",)) for _ in registry.studies]
    jobs = [EnsembleJob(study.scenario, sink) for study, sink in zip(registry.studies, sinks, strict=True)]
    work = trials_workload(registry, replicates).seconds
    try:
        with executor_for(executor, work) as pool, progress("trials", replicates * len(jobs)) as advance:
            reports = run_ensembles(
                jobs, seed, replicates, pool, on_progress=advance, runner=Runner(posterior)
            )
    except KeyboardInterrupt:
        raise Interrupted(
            0,
            replicates,
            "replicate(s) per study",
            "Nothing was written (scores need every replicate); run the same command again",
        ) from None
    failures = [
        (study.name, f) for study, r in zip(registry.studies, reports, strict=True) for f in r.failures
    ]
    if failures:
        name, first = failures[0]
        raise RunsFailedError(
            f"{len(failures)} replicate(s) failed; first: study {name!r}, replicate {first.replicate}: "
            f"{first.error}"
        )
    studies: list[dict[str, Any]] = []
    rows = []
    for study, sink in zip(registry.studies, sinks, strict=True):
        metrics = sink.read(
            "metrics", columns=["site", "metric", "value", "replicate"], replicates=replicates
        )
        outcomes = score_study(study, metrics)
        spec = study.observed
        studies.append(
            {
                "name": spec.name,
                "citation": spec.citation,
                "doi": spec.doi,
                "url": spec.url,
                "held_out": spec.held_out,
                "design_note": spec.design_note,
                "scenario": study.scenario.name,
                "scenario_file": str(study.folder / "scenario.toml"),
                "pinned_by_scenario": posterior.pinned_by(study.scenario) if posterior is not None else [],
                "outcomes": outcomes,
                "tests": _tally(outcomes),
            }
        )
        for outcome in outcomes:
            rows.append(_row(spec.name, outcome))
    document: dict[str, Any] = {
        "trials": studies,
        "replicates": replicates,
        "seed": seed,
        "interval": f"central {LEVEL:.0%} predictive interval over replicates (2.5th to 97.5th percentile)",
        "scores": {
            "percentile": "share of replicates below the observation, ties counted half",
            "crps": "empirical continuous ranked probability score, in the metric's units (lower is better)",
        },
        "registry": str(registry.path),
        "posterior": posterior.describe() if posterior is not None else None,
        "tests": _tally([outcome for study in studies for outcome in study["outcomes"]]),
    }
    result = TrialsResult(document, pd.DataFrame(rows))
    if directory is not None:
        from peersim.trials.report import write_trials  # heavy: matplotlib, only with `out`

        result.written = directory.write_all(
            lambda target: write_trials(target, result.document, result.table)
        )
    return result


def _tally(outcomes: list[dict[str, Any]]) -> dict[str, int]:
    tested = [o for o in outcomes if o["tested"]]
    return {"tested": len(tested), "covered": sum(1 for o in tested if o["covered"])}


def _row(study: str, outcome: dict[str, Any]) -> dict[str, Any]:
    predicted = outcome["predicted"]
    ci = outcome["observed_ci"] or {}
    return {
        "study": study,
        "metric": outcome["metric"],
        "role": outcome["role"],
        "tested": outcome["tested"],
        "observed": outcome["observed"],
        "observed_ci_low": ci.get("low"),
        "observed_ci_high": ci.get("high"),
        "median": predicted["median"],
        "lo": predicted["lo"],
        "hi": predicted["hi"],
        "covered": outcome["covered"],
        "percentile": outcome["percentile"],
        "crps": outcome["crps"],
        "confidence": outcome["confidence"],
        "quantity": outcome["quantity"],
    }
