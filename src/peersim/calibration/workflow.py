"""Calibrate end to end: run ABC-SMC, check the posterior, write tables, figures and report.

:func:`calibrate` is what ``peersim calibrate`` calls; :func:`check_posterior` is
the posterior predictive check of an existing posterior (``peersim ppc``).
Output files are listed in :data:`CALIBRATION_FILES` and :data:`CHECK_FILES`;
none is replaced without ``force``.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from peersim.calibration.analysis import identifiability, posterior_predictive
from peersim.calibration.evaluate import predictive_draws, prior_sample
from peersim.calibration.figures import marginals_figure, ppc_figure
from peersim.calibration.inputs import BoundTargets, Priors
from peersim.calibration.report import report_markdown
from peersim.calibration.smc import (
    CalibrationOutcome,
    CalibrationProblem,
    CalibrationSettings,
    check_resumable,
    fingerprint,
    run_abc,
)
from peersim.core.scenario import Scenario
from peersim.errors import PeersimInputError
from peersim.executor import Backend, Executor, executor_for, make_executor
from peersim.io.files import OutputDirectory, save_figure, write_parquet, write_text
from peersim.io.provenance import package_version
from peersim.simulation import estimated_seconds
from peersim.uncertainty import Posterior

CHECK_FILES = (
    "identifiability.csv",
    "ppc.csv",
    "ppc_draws.parquet",
    "marginals.png",
    "ppc.png",
    "report.md",
    "calibration.json",
)
"""Files a posterior check writes into its output directory."""

CALIBRATION_FILES = ("posterior.parquet", "generations.csv", *CHECK_FILES)
"""Files ``peersim calibrate`` writes into its output directory."""


def preflight(
    problem: CalibrationProblem, settings: CalibrationSettings, db: Path, out: Path, force: bool
) -> int:
    """Check outputs and database before any work; return the generations a resume would keep.

    Raises
    ------
    PeersimInputError
        For outputs that exist without ``force``, or a database that cannot be resumed.
    """
    OutputDirectory(out, force).check(CALIBRATION_FILES)
    if db.exists() and not force:
        if not db.is_file():
            raise PeersimInputError(f"`db` {db}: exists and is not a file")
        return check_resumable(db, fingerprint(problem, settings))
    return 0


@dataclass
class CheckResult:
    """Posterior predictive check and identifiability of one posterior."""

    posterior: Posterior
    identifiability: pd.DataFrame
    ppc: pd.DataFrame
    draws: pd.DataFrame
    """Simulated target values per draw; ``draws_from`` is ``posterior`` or ``prior``."""


def check(
    posterior: Posterior,
    scenario: Scenario,
    targets: BoundTargets,
    priors: Priors,
    draws: int,
    seed: int,
    executor: Executor | None = None,
) -> CheckResult:
    """Return the identifiability table and posterior predictive check of ``posterior``.

    The prior predictive (draws from the priors on the same replicate seeds) is
    simulated too, for the table's ``prior_share_meeting``.
    """
    simulated = predictive_draws(posterior, scenario, targets, draws, seed, executor)
    prior = prior_sample(priors, posterior.fixed, max(draws, 1000), seed)
    prior_draws = predictive_draws(prior, scenario, targets, draws, seed, executor)
    table = posterior_predictive(simulated, targets, prior_draws)
    both = pd.concat(
        [simulated.assign(draws_from="posterior"), prior_draws.assign(draws_from="prior")], ignore_index=True
    )
    return CheckResult(posterior, identifiability(posterior, priors), table, both)


def write_check(
    out: Path,
    result: CheckResult,
    targets: BoundTargets,
    priors: Priors,
    summary: dict[str, Any],
    title: str,
    populations: pd.DataFrame | None = None,
) -> list[Path]:
    """Write tables, figures, report and a JSON record of a check into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    write_text(out / "identifiability.csv", result.identifiability.to_csv(index=False))
    write_text(out / "ppc.csv", result.ppc.to_csv(index=False))
    write_parquet(out / "ppc_draws.parquet", result.draws)
    written += [out / "identifiability.csv", out / "ppc.csv", out / "ppc_draws.parquet"]
    figures = {"marginals": "marginals.png", "ppc": "ppc.png"}
    save_figure(
        marginals_figure(result.posterior, priors, result.identifiability), out / "marginals.png", dpi=110
    )
    posterior_draws = result.draws[result.draws["draws_from"] == "posterior"]
    save_figure(ppc_figure(result.ppc, posterior_draws, targets), out / "ppc.png", dpi=110)
    written += [out / "marginals.png", out / "ppc.png"]
    text = report_markdown(
        title=title,
        summary=summary,
        populations=populations,
        ident=result.identifiability,
        ppc=result.ppc,
        targets=targets,
        figures=figures,
    )
    write_text(out / "report.md", text)
    record = {
        **summary,
        "posterior": result.posterior.describe(),
        "identifiability": result.identifiability.to_dict(orient="records"),
        "ppc": result.ppc.to_dict(orient="records"),
    }
    if populations is not None:
        record["generations"] = populations.to_dict(orient="records")
    write_text(out / "calibration.json", json.dumps(record, indent=2, default=_json_default) + "\n")
    written += [out / "report.md", out / "calibration.json"]
    return written


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


@dataclass
class CalibrationRun:
    """Everything one ``peersim calibrate`` produced."""

    outcome: CalibrationOutcome
    check: CheckResult
    written: list[Path]


def calibrate(
    problem: CalibrationProblem,
    settings: CalibrationSettings,
    db: Path,
    out: Path,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> CalibrationRun:
    """Run or resume ABC-SMC, then check the posterior and write every output into ``out``.

    Raises
    ------
    PeersimInputError
        For outputs that exist without ``force``, or a database that cannot be
        resumed (checked before any simulation starts).
    """
    preflight(problem, settings, db, out, force)
    outcome = run_abc(problem, settings, db, force=force, log=log)
    if log is not None:
        log(f"posterior predictive check: {settings.ppc_draws} draws")
    executor = make_executor(settings.executor, settings.jobs, settings.scheduler)
    try:
        result = check(
            outcome.posterior,
            problem.scenario,
            problem.targets,
            problem.priors,
            settings.ppc_draws,
            settings.seed,
            executor,
        )
    finally:
        executor.close()
    out.mkdir(parents=True, exist_ok=True)
    outcome.posterior.save(out / "posterior.parquet", problem.scenario.hash, settings.seed)
    write_text(out / "generations.csv", outcome.populations.to_csv(index=False))
    summary = {
        "targets": f"{problem.targets.target_set.spec.name} ({problem.targets.target_set.source})",
        "scenario": f"{problem.scenario.name} (hash {problem.scenario.hash})",
        "calibrated parameters": len(problem.priors.names),
        "population": settings.population,
        "generations": f"{outcome.generations} (requested {settings.generations}; "
        f"{outcome.resumed_from} already in {db} before this invocation)",
        "replicates per evaluation": settings.replicates,
        "model evaluations": outcome.evaluations,
        "final epsilon": f"{float(outcome.populations['epsilon'].iloc[-1]):.3f}",
        "effective_sample_size": round(outcome.posterior.effective_sample_size, 1),
        "seed": settings.seed,
        "sampler": _sampler_text(settings),
        "ABC-SMC wall time": f"{float(outcome.populations['wall_time'].sum()):.0f} s over all generations "
        f"({outcome.seconds:.0f} s in this invocation)",
        "posterior predictive draws": settings.ppc_draws,
        "peersim": package_version(),
        "pyabc": version("pyabc"),
        "python": platform.python_version(),
    }
    written = [out / "posterior.parquet", out / "generations.csv"]
    written += write_check(
        out,
        result,
        problem.targets,
        problem.priors,
        summary,
        f"Calibration report: {problem.targets.target_set.spec.name}",
        outcome.populations,
    )
    return CalibrationRun(outcome, result, written)


def _sampler_text(settings: CalibrationSettings) -> str:
    if settings.executor == "dask":
        return f"pyabc DaskDistributedSampler ({settings.scheduler or 'local cluster'})"
    if settings.workers == 1:
        return "pyabc SingleCoreSampler (reproducible)"
    return f"pyabc MulticoreEvalParallelSampler, {settings.workers} processes"


def check_posterior(
    posterior: Posterior,
    problem: CalibrationProblem,
    draws: int,
    seed: int,
    out: Path | None,
    force: bool = False,
    executor: Executor | Backend | None = None,
) -> tuple[CheckResult, list[Path]]:
    """Posterior predictive check of an existing posterior against ``problem``'s targets.

    Parameters
    ----------
    posterior
        The posterior checked; it needs a column for every parameter the targets calibrate.
    problem
        Scenario, targets and priors.
    draws
        Posterior predictive draws (and as many prior predictive draws).
    seed
        Base seed of the draws' replicates.
    out
        Directory for the files of :data:`CHECK_FILES`, or ``None`` to write nothing.
    force
        Replace those files if ``out`` already holds them.
    executor
        Where the draws run: a running executor, a :class:`~peersim.executor.Backend`
        to start (a local pool only when the work pays for it), or ``None`` for that default.

    Returns
    -------
    tuple
        The :class:`CheckResult` and the files written.

    Raises
    ------
    PeersimInputError
        For outputs that exist without ``force``, or a posterior that does not
        match the scenario or lacks a calibrated parameter (checked before any
        simulation starts).
    """
    if out is not None:
        OutputDirectory(out, force).check(CHECK_FILES)
    posterior.check_against(problem.scenario)
    missing = [name for name in problem.priors.names if name not in posterior.parameters]
    if missing:
        raise PeersimInputError(
            f"{posterior.source}: has no column for calibrated parameter(s) {', '.join(missing)} "
            f"that {problem.targets.target_set.source} calibrates ([priors] parameters)"
        )
    work = 2 * draws * estimated_seconds(problem.scenario)  # posterior and prior predictive
    with executor_for(executor, work) as pool:
        result = check(posterior, problem.scenario, problem.targets, problem.priors, draws, seed, pool)
    written: list[Path] = []
    if out is not None:
        summary = {
            "posterior": posterior.source,
            "effective_sample_size": round(posterior.effective_sample_size, 1),
            "targets": f"{problem.targets.target_set.spec.name} ({problem.targets.target_set.source})",
            "scenario": f"{problem.scenario.name} (hash {problem.scenario.hash})",
            "posterior predictive draws": draws,
            "seed": seed,
            "peersim": package_version(),
        }
        written = write_check(out, result, problem.targets, problem.priors, summary, "Posterior check")
    return result, written
