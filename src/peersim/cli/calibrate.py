"""``peersim calibrate``: calibrate mechanism strengths to targets with ABC-SMC (pyabc)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from peersim.cli.common import (
    EXIT_INTERRUPTED,
    MAX_SEED,
    ExecutorName,
    ExecutorOption,
    JobsOption,
    SchedulerOption,
    announce,
    backend,
    progress_for,
)
from peersim.cli.ppc import ScenarioOpt, TargetsArgs, print_check, warn_few_particles

VerboseOption = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Also print pyabc's own log lines (hidden by default)."),
]


def command(
    targets: TargetsArgs = None,
    scenario: ScenarioOpt = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the posterior, tables, figures and report.")
    ] = Path("calibration_out"),
    db: Annotated[
        Path | None,
        typer.Option("--db", help="pyabc SQLite history; resumed if it matches (default: OUT/history.db)."),
    ] = None,
    population: Annotated[
        int | None,
        typer.Option("--population", min=10, help="Particles per generation, at most 10,000 [full: 200]."),
    ] = None,
    generations: Annotated[
        int | None, typer.Option("--generations", min=1, help="Generations in total, at most 30 [full: 6].")
    ] = None,
    replicates: Annotated[
        int | None,
        typer.Option("--replicates", min=1, help="Runs averaged per evaluation, at most 10 [full: 1]."),
    ] = None,
    ppc_draws: Annotated[
        int | None,
        typer.Option("--ppc-draws", min=10, help="Posterior predictive draws, at most 10,000 [full: 100]."),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Small budget for demos and tests (40 particles, 3 generations)."),
    ] = False,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, max=MAX_SEED, help="Base seed.")] = 0,
    jobs: JobsOption = None,
    executor: ExecutorOption = ExecutorName.local,
    scheduler: SchedulerOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Delete an existing --db and replace outputs in --out.")
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Calibrate mechanism strengths to targets with ABC-SMC (pyabc) and report the fit.

    With several targets files (studies), the mechanism strengths are shared and
    each study keeps its own scenario and usual-care baseline.

    Shows one line per generation (threshold, acceptance, evaluations) and, on a
    terminal, a progress bar. Ctrl-C keeps the generations finished in --db:
    the same command resumes from them.
    """
    try:
        _calibrate(
            targets,
            scenario,
            out,
            db,
            population,
            generations,
            replicates,
            ppc_draws,
            quick,
            seed,
            jobs,
            executor,
            scheduler,
            force,
            verbose,
        )
    except KeyboardInterrupt:  # before the library takes Ctrl-C over, or after it is done
        where = db if db is not None else out / "history.db"
        kept = f"; --db {where} keeps the generations it finished" if where.is_file() else ""
        typer.echo(f"\npeersim: interrupted{kept}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _calibrate(
    targets: list[Path] | None,
    scenario: Path | None,
    out: Path,
    db: Path | None,
    population: int | None,
    generations: int | None,
    replicates: int | None,
    ppc_draws: int | None,
    quick: bool,
    seed: int,
    jobs: int | None,
    executor: ExecutorName,
    scheduler: str | None,
    force: bool,
    verbose: bool,
) -> None:
    where = backend(executor, jobs, scheduler)
    # The library loads only when the command runs (heavy: pandas, Mesa), not for `peersim --help`.
    from peersim.calibration.smc import FULL, QUICK, CalibrationProblem
    from peersim.calibration.workflow import calibrate, preflight

    problem = CalibrationProblem.load(targets, scenario)
    base = QUICK if quick else FULL
    settings = replace(
        base,
        population=population if population is not None else base.population,
        generations=generations if generations is not None else base.generations,
        replicates=replicates if replicates is not None else base.replicates,
        ppc_draws=ppc_draws if ppc_draws is not None else base.ppc_draws,
        seed=seed,
        jobs=where.jobs,
        executor=where.kind,
        scheduler=where.scheduler,
    )
    db_path = db if db is not None else out / "history.db"
    checked = preflight(problem, settings, db_path, out, force)
    resume = f", resuming after generation {checked.kept}" if checked.kept else ""
    scenarios = ", ".join(study.scenario.name for study in problem.studies)
    studies = f"{len(problem.studies)} studies, " if problem.multi else ""
    typer.echo(
        f"peersim calibrate: {studies}{len(problem.targets.names)} target(s) from {problem.source}, "
        f"{len(problem.priors.names)} parameter(s), scenario{'s' if problem.multi else ''} {scenarios}; "
        f"population {settings.population}, {settings.generations} generation(s), "
        f"{settings.replicates} replicate(s) per evaluation, seed {settings.seed}; db {db_path}{resume}",
        err=True,
    )
    announce(checked.estimate, where)
    run = calibrate(
        problem,
        settings,
        db_path,
        out,
        force=force,
        log=lambda line: typer.echo(line, err=True),
        progress=progress_for(True),
        verbose=verbose,
    )
    for note in run.outcome.notes:
        typer.echo(note, err=True)
    warn_few_particles(run.outcome.posterior.effective_sample_size)
    print_check(run.check.ppc, run.check.identifiability)
    typer.echo(f"\nwrote {len(run.written)} files to {out} (report: {out / 'report.md'})")
