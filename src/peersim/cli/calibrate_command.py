"""``peersim calibrate`` (ABC-SMC) and ``peersim ppc`` (check a posterior against targets)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from peersim.cli.ensemble_options import JobsOption, SchedulerOption
from peersim.executor import ExecutorKind

if TYPE_CHECKING:
    import pandas as pd

    from peersim.calibration.targets import TargetSet
    from peersim.scenario import Scenario


def _targets_and_scenario(targets: Path | None, scenario: Path | None) -> tuple[TargetSet, Scenario]:
    from peersim.calibration.targets import default_targets, load_targets
    from peersim.scenario_io import default_scenario, load_scenario

    target_set = load_targets(targets) if targets is not None else default_targets()
    spec = load_scenario(scenario) if scenario is not None else default_scenario()
    return target_set, spec


TargetsArg = Annotated[
    Path | None,
    typer.Argument(
        help="Targets TOML file. Omit for the packaged defaults (approximate ENRICH figures).",
        show_default=False,
    ),
]
ScenarioOpt = Annotated[
    Path | None,
    typer.Option("--scenario", help="Scenario TOML the targets refer to (default: the embedded default)."),
]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local (processes on this machine) or dask.")]


def _executor_kind(executor: str) -> ExecutorKind:
    from peersim.errors import PeersimInputError

    if executor not in ("local", "dask"):
        raise PeersimInputError(f"--executor {executor!r}: use 'local' or 'dask'")
    return "local" if executor == "local" else "dask"


def calibrate_cmd(
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
    executor: ExecutorOpt = "local",
    scheduler: SchedulerOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Delete an existing --db and replace outputs in --out.")
    ] = False,
) -> None:
    """Calibrate mechanism strengths to targets with ABC-SMC (pyabc) and report the fit."""
    from dataclasses import replace

    from peersim.calibration.smc import FULL, QUICK, CalibrationProblem
    from peersim.calibration.workflow import calibrate, preflight

    target_set, spec = _targets_and_scenario(targets, scenario)
    problem = CalibrationProblem.build(target_set, spec)
    base = QUICK if quick else FULL
    settings = replace(
        base,
        population=population if population is not None else base.population,
        generations=generations if generations is not None else base.generations,
        replicates=replicates if replicates is not None else base.replicates,
        ppc_draws=ppc_draws if ppc_draws is not None else base.ppc_draws,
        seed=seed,
        jobs=jobs,
        executor=_executor_kind(executor),
        scheduler=scheduler,
    )
    db_path = db if db is not None else out / "history.db"
    kept = preflight(problem, settings, db_path, out, force)
    resume = f", resuming after generation {kept}" if kept else ""
    typer.echo(
        f"peersim calibrate: {len(problem.targets.names)} target(s) from {target_set.source}, "
        f"{len(problem.priors.names)} parameter(s), scenario {problem.scenario.name}; "
        f"population {settings.population}, {settings.generations} generation(s), "
        f"{settings.replicates} replicate(s) per evaluation, seed {settings.seed}; db {db_path}{resume}",
        err=True,
    )
    run = calibrate(problem, settings, db_path, out, force=force, log=lambda line: typer.echo(line, err=True))
    for note in run.outcome.notes:
        typer.echo(note, err=True)
    _warn_few_particles(run.outcome.posterior.effective_sample_size)
    _print_tables(run.check.ppc, run.check.identifiability)
    typer.echo(f"\nwrote {len(run.written)} files to {out} (report: {out / 'report.md'})")


def ppc_cmd(
    targets: TargetsArg = None,
    scenario: ScenarioOpt = None,
    posterior: Annotated[
        Path | None,
        typer.Option("--posterior", help="Posterior Parquet file (default: the shipped posterior)."),
    ] = None,
    draws: Annotated[int, typer.Option("--draws", min=10, help="Posterior predictive draws.")] = 100,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Base seed.")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory for tables, figures and report.")
    ] = None,
    jobs: JobsOption = None,
    executor: ExecutorOpt = "local",
    scheduler: SchedulerOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace outputs already in --out.")] = False,
) -> None:
    """Check a posterior against targets: posterior predictive check and identifiability."""
    from peersim.calibration.posterior import resolve_posterior
    from peersim.calibration.smc import CalibrationProblem
    from peersim.calibration.workflow import check_posterior
    from peersim.executor import make_executor

    target_set, spec = _targets_and_scenario(targets, scenario)
    problem = CalibrationProblem.build(target_set, spec)
    chosen = resolve_posterior(posterior)
    if chosen is None:  # pragma: no cover - resolve_posterior returns one unless told not to
        raise typer.Exit(2)
    chosen.check_against(problem.scenario)
    pool = make_executor(_executor_kind(executor), jobs, scheduler)
    try:
        result, written = check_posterior(chosen, problem, draws, seed, out, force=force, executor=pool)
    finally:
        pool.close()
    typer.echo(f"posterior {chosen.source} ({chosen.n} particles) against {target_set.source}")
    _warn_few_particles(chosen.effective_sample_size)
    _print_tables(result.ppc, result.identifiability)
    if out is not None:
        typer.echo(f"\nwrote {len(written)} files to {out}")


def _warn_few_particles(ess: float) -> None:
    from peersim.calibration.report import FEW_EFFECTIVE_PARTICLES

    if ess < FEW_EFFECTIVE_PARTICLES:
        typer.echo(
            f"note: effective sample size {ess:.1f} < {FEW_EFFECTIVE_PARTICLES}: intervals and spread "
            "ratios are rough; raise --population for results to rely on",
            err=True,
        )


def _print_tables(ppc: pd.DataFrame, ident: pd.DataFrame) -> None:
    from peersim.calibration.report import markdown_table

    typer.echo("\nPosterior predictive check (simulated 95% interval of study-sized runs; share of draws")
    typer.echo("meeting each observation, after calibration and under the priors):")
    typer.echo(
        markdown_table(
            ppc,
            [
                "target",
                "observed",
                "confidence",
                "simulated_median",
                "simulated_lo",
                "simulated_hi",
                "share_meeting",
                "prior_share_meeting",
                "passed",
            ],
        )
    )
    typer.echo("\nIdentifiability (posterior SD / prior SD; above 0.8 = not informed):")
    typer.echo(
        markdown_table(ident, ["parameter", "posterior_q05", "posterior_q95", "spread_ratio", "informed"])
    )
