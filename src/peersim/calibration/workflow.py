"""Calibrate end to end: run ABC-SMC, check the posterior, write tables, figures and report.

:func:`calibrate` is what ``peersim calibrate`` calls; :func:`check_posterior` is
the posterior predictive check of an existing posterior (``peersim ppc``).
Output files are listed in :data:`CALIBRATION_FILES` and :data:`CHECK_FILES`;
none is replaced without ``force``. Everything the user gave is checked before
the first simulation (:func:`preflight`): the output folder, the database and
its folder, the budget. The outputs are written together at the end
(:meth:`~peersim.io.files.OutputDirectory.write_all`): if the disk refuses, they
are kept in a temporary folder the error names. Ctrl-C raises
:class:`~peersim.errors.Interrupted` saying what the database keeps and how to
resume.

Several studies (:attr:`CalibrationProblem.studies
<peersim.calibration.smc.CalibrationProblem.studies>`): the check runs each
study's predictive draws on its own scenario (replicate ``i`` of every study
draws the same particle: the posterior stream is keyed on the replicate seed
alone), and its tables have one row per prefixed target (``STUDY.target``).
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from peersim.calibration.analysis import identifiability, posterior_predictive
from peersim.calibration.evaluate import (
    MAX_PREDICTIVE_DRAWS,
    predictive_draws,
    predictive_estimate,
    prior_sample,
)
from peersim.calibration.figures import marginals_figure, ppc_figure
from peersim.calibration.inputs import BoundTargets, Priors, Study
from peersim.calibration.report import report_markdown
from peersim.calibration.smc import (
    CalibrationOutcome,
    CalibrationProblem,
    CalibrationSettings,
    check_budget,
    check_db,
    completed_generations,
    fingerprint,
    resume_advice,
    run_abc,
    stop_on_interrupt,
)
from peersim.core.scenario import Scenario
from peersim.errors import Interrupted, PeersimInputError
from peersim.executor import (
    Backend,
    Executor,
    Progress,
    executor_for,
    make_executor,
    no_progress,
    sigint_ignored,
)
from peersim.io.estimates import Workload
from peersim.io.files import OutputDirectory, save_figure, write_parquet, write_text
from peersim.io.inputs import check_count
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


@dataclass(frozen=True)
class Preflight:
    """What :func:`preflight` found: the generations a resume keeps and the work left."""

    kept: int
    """Generations already in the database that this calibration resumes from (0: a new one)."""
    estimate: Workload
    """Rough serial time and memory of the generations still to run and of the check."""


def _owned(db: Path, out: Path) -> tuple[str, ...]:
    """Names in ``out`` that belong to the calibration besides its outputs: its database, if there."""
    if db.parent.resolve() == out.resolve():
        return (db.name, f"{db.name}-journal")
    return ()


def preflight(
    problem: CalibrationProblem, settings: CalibrationSettings, db: Path, out: Path, force: bool
) -> Preflight:
    """Check outputs, database and budget before any work.

    Raises
    ------
    PeersimInputError
        For an output folder that cannot be written or holds outputs (or other
        files) without ``force``; a database that is a folder, cannot be written
        or resumed; or a budget beyond the maxima.
    """
    OutputDirectory(out, force).check(CALIBRATION_FILES, owned=_owned(db, out))
    kept = check_db(db, fingerprint(problem, settings), force)
    return Preflight(kept, check_budget(problem, settings, kept))


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
    progress: Progress = no_progress,
    log: Callable[[str], None] | None = None,
    studies: tuple[Study, ...] = (),
) -> CheckResult:
    """Return the identifiability table and posterior predictive check of ``posterior``.

    The prior predictive (draws from the priors on the same replicate seeds) is
    simulated too, for the table's ``prior_share_meeting``. ``progress`` shows
    two phases of ``draws``: the posterior, then the prior predictive draws;
    ``log`` receives a line as each ends.

    With ``studies`` (several), each study's draws run on its own scenario and
    ``scenario`` is not used; ``targets`` are all studies' (prefixed) targets, and
    each phase is one phase per study.
    """
    parts = studies if len(studies) > 1 else ()
    mapping = {study.name: study.scenario.name for study in parts}

    def phase(sample: Posterior, label: str) -> pd.DataFrame:
        start = time.perf_counter()
        if not parts:
            frame = predictive_draws(sample, scenario, targets, draws, seed, executor, progress, label)
        else:
            frames = [
                predictive_draws(
                    sample,
                    study.scenario,
                    study.targets,
                    draws,
                    seed,
                    executor,
                    progress,
                    f"{label} ({study.name})",
                ).set_index("replicate")
                for study in parts
            ]
            frame = pd.concat(frames, axis=1).reset_index()[["replicate", *targets.names]]
        if log is not None:
            log(f"{label}: {draws * max(len(parts), 1)} runs, {time.perf_counter() - start:.0f} s")
        return frame

    simulated = phase(posterior, "posterior predictive draws")
    prior = prior_sample(priors, posterior.fixed, max(draws, 1000), seed, mapping)
    prior_draws = phase(prior, "prior predictive draws")
    table = posterior_predictive(simulated, targets, prior_draws)
    both = pd.concat(
        [simulated.assign(draws_from="posterior"), prior_draws.assign(draws_from="prior")], ignore_index=True
    )
    return CheckResult(posterior, identifiability(posterior, priors, targets), table, both)


def write_check(
    out: Path,
    result: CheckResult,
    targets: BoundTargets,
    priors: Priors,
    summary: dict[str, Any],
    title: str,
    populations: pd.DataFrame | None = None,
) -> list[Path]:
    """Write tables, figures, report and a JSON record of a check into ``out``.

    ``calibration.json`` holds ``summary`` (its ``targets`` entry as
    ``target_set``), then :func:`~peersim.calibration.report.check_document`'s
    ``posterior``, ``targets`` (prior and posterior predictive per target),
    ``parameters`` and ``predictive_summary``.
    """
    from peersim.calibration.analysis import link_parameters
    from peersim.calibration.report import check_document

    out.mkdir(parents=True, exist_ok=True)
    written = []
    ident = link_parameters(result.identifiability, result.ppc)  # set_by: targets that set a parameter
    write_text(out / "identifiability.csv", ident.to_csv(index=False))
    write_text(out / "ppc.csv", result.ppc.to_csv(index=False))
    write_parquet(out / "ppc_draws.parquet", result.draws)
    written += [out / "identifiability.csv", out / "ppc.csv", out / "ppc_draws.parquet"]
    figures = {"marginals": "marginals.png", "ppc": "ppc.png"}
    save_figure(marginals_figure(result.posterior, priors, ident), out / "marginals.png", dpi=110)
    save_figure(ppc_figure(result.ppc, result.draws, targets), out / "ppc.png", dpi=110)  # both draws
    written += [out / "marginals.png", out / "ppc.png"]
    text = report_markdown(
        title=title,
        summary=summary,
        populations=populations,
        ident=ident,
        ppc=result.ppc,
        targets=targets,
        figures=figures,
    )
    write_text(out / "report.md", text)
    about = {("target_set" if key == "targets" else key): value for key, value in summary.items()}
    record = check_document(result.posterior, ident, result.ppc, **about)
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
    progress: Progress = no_progress,
    verbose: bool = False,
) -> CalibrationRun:
    """Run or resume ABC-SMC, then check the posterior and write every output into ``out``.

    Parameters
    ----------
    problem
        Scenario, bound targets and priors.
    settings
        Budget and machinery.
    db
        pyabc's SQLite history, resumed if it matches (see :func:`~peersim.calibration.smc.run_abc`).
    out
        Directory of the outputs (:data:`CALIBRATION_FILES`); it may hold ``db``.
    force
        Delete an existing ``db`` and replace outputs in ``out``.
    log
        Receives one line per generation and for the check (and pyabc's lines if ``verbose``).
    progress
        Progress display: one phase per generation, then the predictive draws.
    verbose
        Pass pyabc's own log lines to ``log``.

    Raises
    ------
    PeersimInputError
        For outputs that exist without ``force``, a folder that cannot be
        written, a database that cannot be resumed or a budget beyond the
        maxima (checked before any simulation starts).
    peersim.errors.Interrupted
        After Ctrl-C: the generations the database keeps, and how to resume.
    peersim.errors.OutputsNotWritten
        If the outputs could not be written into ``out`` (then they are kept in
        the temporary folder it names).
    """
    db, out = Path(db), Path(out)
    preflight(problem, settings, db, out, force)

    def stopped() -> Interrupted:
        kept = completed_generations(db)
        advice = resume_advice(db, force, kept)
        if kept >= settings.generations:
            advice += " (the posterior predictive check starts over)"
        return Interrupted(kept, settings.generations, "generation(s)", advice)

    with stop_on_interrupt(stopped):
        outcome = run_abc(problem, settings, db, force=force, log=log, progress=progress, verbose=verbose)
        if log is not None:
            log(f"posterior predictive check: {settings.ppc_draws} draws")
        with make_executor(settings.executor, settings.jobs, settings.scheduler) as executor:
            result = check(
                outcome.posterior,
                problem.scenario,
                problem.targets,
                problem.priors,
                settings.ppc_draws,
                settings.seed,
                executor,
                progress,
                log,
                problem.studies,
            )
        summary = {
            "targets": f"{problem.label} ({problem.source})",
            "scenario": _scenarios_text(problem),
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
            "ABC-SMC wall time": f"{float(outcome.populations['wall_time'].sum()):.0f} s over all "
            f"generations ({outcome.seconds:.0f} s in this invocation)",
            "posterior predictive draws": settings.ppc_draws,
            "peersim": package_version(),
            "pyabc": version("pyabc"),
            "python": platform.python_version(),
        }

        def write(directory: OutputDirectory) -> list[Path]:
            folder = directory.path
            folder.mkdir(parents=True, exist_ok=True)
            outcome.posterior.save(folder / "posterior.parquet", _scenario_hashes(problem), settings.seed)
            write_text(folder / "generations.csv", outcome.populations.to_csv(index=False))
            written = [folder / "posterior.parquet", folder / "generations.csv"]
            return written + write_check(
                folder,
                result,
                problem.targets,
                problem.priors,
                summary,
                f"Calibration report: {problem.label}",
                outcome.populations,
            )

        with sigint_ignored():
            written = OutputDirectory(out, force).write_all(write)
    return CalibrationRun(outcome, result, written)


def _scenarios_text(problem: CalibrationProblem) -> str:
    """Return the scenario(s) of a problem, with their hashes, for the summary."""
    return "; ".join(f"{s.scenario.name} (hash {s.scenario.hash})" for s in problem.studies)


def _scenario_hashes(problem: CalibrationProblem) -> str:
    """Return what a posterior file is stamped with: the scenario's hash, or every study's joined by ``+``."""
    return "+".join(study.scenario.hash for study in problem.studies)


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
    progress: Progress = no_progress,
    log: Callable[[str], None] | None = None,
) -> tuple[CheckResult, list[Path]]:
    """Posterior predictive check of an existing posterior against ``problem``'s targets.

    Parameters
    ----------
    posterior
        The posterior checked; it needs a column for every parameter the targets calibrate.
    problem
        Scenario, targets and priors.
    draws
        Posterior predictive draws (and as many prior predictive draws), 10 to
        :data:`~peersim.calibration.evaluate.MAX_PREDICTIVE_DRAWS`.
    seed
        Base seed of the draws' replicates.
    out
        Directory for the files of :data:`CHECK_FILES`, or ``None`` to write nothing.
    force
        Replace those files if ``out`` already holds them.
    executor
        Where the draws run: a running executor, a :class:`~peersim.executor.Backend`
        to start (a local pool only when the work pays for it), or ``None`` for that default.
    progress
        Progress display: the posterior, then the prior predictive draws, ``draws`` each.
    log
        Receives a line as each phase ends.

    Returns
    -------
    tuple
        The :class:`CheckResult` and the files written.

    Raises
    ------
    PeersimInputError
        For outputs that exist without ``force``, a folder that cannot be
        written, a number of draws out of range, or a posterior that does not
        match the scenario or lacks a calibrated parameter (checked before any
        simulation starts).
    peersim.errors.Interrupted
        After Ctrl-C (nothing is kept: the check is short and starts over).
    peersim.errors.OutputsNotWritten
        If the files could not be written into ``out`` (then they are kept in
        the temporary folder it names).
    """
    check_inputs(posterior, problem, draws, out, force)

    def stopped() -> Interrupted:
        advice = ("Nothing was written; run" if out is not None else "Run") + " again to check"
        return Interrupted(0, 2 * draws, "predictive draw(s)", advice)

    work = sum(2 * draws * estimated_seconds(s.scenario) for s in problem.studies)  # posterior and prior
    with stop_on_interrupt(stopped):
        with executor_for(executor, work) as pool:
            result = check(
                posterior,
                problem.scenario,
                problem.targets,
                problem.priors,
                draws,
                seed,
                pool,
                progress,
                log,
                problem.studies,
            )
        written: list[Path] = []
        if out is not None:
            summary = {
                "posterior": posterior.source,
                "effective_sample_size": round(posterior.effective_sample_size, 1),
                "targets": f"{problem.label} ({problem.source})",
                "scenario": _scenarios_text(problem),
                "posterior predictive draws": draws,
                "seed": seed,
                "peersim": package_version(),
            }
            with sigint_ignored():
                written = OutputDirectory(out, force).write_all(
                    lambda directory: write_check(
                        directory.path,
                        result,
                        problem.targets,
                        problem.priors,
                        summary,
                        "Posterior check",
                    )
                )
    return result, written


def check_inputs(
    posterior: Posterior,
    problem: CalibrationProblem,
    draws: int,
    out: Path | None,
    force: bool = False,
) -> Workload:
    """Check everything :func:`check_posterior` is given before it simulates; return its estimate.

    Raises
    ------
    PeersimInputError
        As :func:`check_posterior` does.
    """
    estimates = [check_draws(study.scenario, draws) for study in problem.studies]
    estimate = Workload(
        sum(e.runs for e in estimates),
        sum(e.seconds for e in estimates),
        sum(e.memory for e in estimates),
        estimates[0].what,
    )
    if out is not None:
        OutputDirectory(out, force).check(CHECK_FILES)
    for study in problem.studies:
        posterior.check_against(study.scenario)
    missing = [name for name in problem.priors.names if name not in posterior.parameters]
    if missing:
        raise PeersimInputError(
            f"{posterior.source}: has no column for calibrated parameter(s) {', '.join(missing)} "
            f"that {problem.source} calibrates ([priors] parameters)"
        )
    if problem.multi and posterior.studies != problem.study_scenarios:
        raise PeersimInputError(
            f"{posterior.source}: was calibrated to studies {posterior.studies or 'none'} (study: scenario "
            f"name), not to {problem.study_scenarios}; check a posterior against the studies it was made for"
        )
    return estimate


def check_draws(scenario: Scenario, draws: int) -> Workload:
    """Refuse a number of predictive draws out of range; return the estimate of the check.

    Raises
    ------
    PeersimInputError
        For fewer than 10 draws, or more than :data:`~peersim.calibration.evaluate.MAX_PREDICTIVE_DRAWS`
        (with the time and memory asked for).
    """
    check_count(draws, "draws", 10)
    estimate = predictive_estimate(scenario, draws)
    if draws > MAX_PREDICTIVE_DRAWS:
        raise PeersimInputError(
            f"`draws` {draws} is more than the {MAX_PREDICTIVE_DRAWS:,} allowed: the check asked for "
            f"would be {estimate.cost_text()}; ask for fewer"
        )
    return estimate
