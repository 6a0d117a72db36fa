"""``peersim calibrate``: calibrate mechanism strengths to targets with ABC-SMC (pyabc)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from peersim.cli.common import ExecutorName, ExecutorOption, JobsOption, SchedulerOption, backend
from peersim.cli.ppc import ScenarioOpt, TargetsArg, print_check, warn_few_particles


def command(
    targets: TargetsArg = None,
    scenario: ScenarioOpt = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the posterior, tables, figures and report.")
    ] = Path("calibration_out"),
    db: Annotated[
        Path | None,
        typer.Option("--db", help="pyabc SQLite history; resumed if it matches (default: OUT/history.db)."),
    ] = None,
    population: Annotated[
        int | None, typer.Option("--population", min=10, help="Particles per generation [full: 200].")
    ] = None,
    generations: Annotated[
        int | None, typer.Option("--generations", min=1, help="Generations in total [full: 6].")
    ] = None,
    replicates: Annotated[
        int | None,
        typer.Option("--replicates", min=1, max=10, help="Runs averaged per evaluation [full: 1]."),
    ] = None,
    ppc_draws: Annotated[
        int | None, typer.Option("--ppc-draws", min=10, help="Posterior predictive draws [full: 100].")
    ] = None,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Small budget for demos and tests (40 particles, 3 generations)."),
    ] = False,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Base seed.")] = 0,
    jobs: JobsOption = None,
    executor: ExecutorOption = ExecutorName.local,
    scheduler: SchedulerOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Delete an existing --db and replace outputs in --out.")
    ] = False,
) -> None:
    """Calibrate mechanism strengths to targets with ABC-SMC (pyabc) and report the fit."""
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
    kept = preflight(problem, settings, db_path, out, force)
    resume = f", resuming after generation {kept}" if kept else ""
    typer.echo(
        f"peersim calibrate: {len(problem.targets.names)} target(s) "
        f"from {problem.targets.target_set.source}, "
        f"{len(problem.priors.names)} parameter(s), scenario {problem.scenario.name}; "
        f"population {settings.population}, {settings.generations} generation(s), "
        f"{settings.replicates} replicate(s) per evaluation, seed {settings.seed}; db {db_path}{resume}",
        err=True,
    )
    run = calibrate(problem, settings, db_path, out, force=force, log=lambda line: typer.echo(line, err=True))
    for note in run.outcome.notes:
        typer.echo(note, err=True)
    warn_few_particles(run.outcome.posterior.effective_sample_size)
    print_check(run.check.ppc, run.check.identifiability)
    typer.echo(f"\nwrote {len(run.written)} files to {out} (report: {out / 'report.md'})")
