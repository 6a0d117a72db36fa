"""``peersim ppc``: check a posterior against targets (posterior predictive check, identifiability)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    print_table,
    progress_for,
)

if TYPE_CHECKING:
    import pandas as pd

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
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also print a line as each phase of simulations ends.")
]


def command(
    targets: TargetsArg = None,
    scenario: ScenarioOpt = None,
    posterior: Annotated[
        Path | None,
        typer.Option("--posterior", help="Posterior Parquet file (default: the shipped posterior)."),
    ] = None,
    draws: Annotated[
        int, typer.Option("--draws", min=10, help="Posterior predictive draws, at most 10,000.")
    ] = 100,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, max=MAX_SEED, help="Base seed.")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory for tables, figures and report.")
    ] = None,
    jobs: JobsOption = None,
    executor: ExecutorOption = ExecutorName.local,
    scheduler: SchedulerOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace outputs already in --out.")] = False,
    verbose: VerboseOption = False,
) -> None:
    """Check a posterior against targets: posterior predictive check and identifiability.

    Runs the posterior predictive draws and as many prior predictive draws, with
    a progress bar on a terminal.
    """
    try:
        _ppc(targets, scenario, posterior, draws, seed, out, jobs, executor, scheduler, force, verbose)
    except KeyboardInterrupt:  # before the library takes Ctrl-C over, or after it is done
        typer.echo("\npeersim: interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _ppc(
    targets: Path | None,
    scenario: Path | None,
    posterior: Path | None,
    draws: int,
    seed: int,
    out: Path | None,
    jobs: int | None,
    executor: ExecutorName,
    scheduler: str | None,
    force: bool,
    verbose: bool,
) -> None:
    where = backend(executor, jobs, scheduler)
    # The library loads only when the command runs (heavy: pandas, Mesa), not for `peersim --help`.
    from peersim.calibration.smc import CalibrationProblem
    from peersim.calibration.workflow import check_inputs, check_posterior
    from peersim.uncertainty import default_posterior, load_posterior

    problem = CalibrationProblem.load(targets, scenario)
    chosen = load_posterior(posterior) if posterior is not None else default_posterior()
    estimate = check_inputs(chosen, problem, draws, out, force)
    typer.echo(
        f"peersim ppc: posterior {chosen.source} ({chosen.n} particles) against "
        f"{problem.targets.target_set.source}: {draws} posterior and {draws} prior predictive draws",
        err=True,
    )
    announce(estimate, where)
    result, written = check_posterior(
        chosen,
        problem,
        draws,
        seed,
        out,
        force=force,
        executor=where,
        progress=progress_for(True),
        log=(lambda line: typer.echo(line, err=True)) if verbose else None,
    )
    typer.echo(
        f"posterior {chosen.source} ({chosen.n} particles) against {problem.targets.target_set.source}"
    )
    warn_few_particles(chosen.effective_sample_size)
    print_check(result.ppc, result.identifiability)
    if out is not None:
        typer.echo(f"\nwrote {len(written)} files to {out}")


def warn_few_particles(ess: float) -> None:
    """Say so on stderr when a posterior rests on few effective particles."""
    from peersim.calibration.analysis import FEW_EFFECTIVE_PARTICLES  # heavy: pandas, see command()

    if ess < FEW_EFFECTIVE_PARTICLES:
        typer.echo(
            f"note: effective sample size {ess:.1f} < {FEW_EFFECTIVE_PARTICLES}: intervals and spread "
            "ratios are rough; raise --population for results to rely on",
            err=True,
        )


def print_check(ppc: pd.DataFrame, ident: pd.DataFrame) -> None:
    """Print the posterior predictive check and the identifiability table."""
    formats = {"passed": _yes_no, "informed": _yes_no}
    print_table(
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
        title="Posterior predictive check (simulated 95% interval of study-sized runs; share of draws "
        "meeting each observation, after calibration and under the priors)",
        formats=formats,
        right=["simulated_median", "simulated_lo", "simulated_hi", "share_meeting", "prior_share_meeting"],
    )
    print_table(
        ident,
        ["parameter", "posterior_q05", "posterior_q95", "spread_ratio", "informed"],
        title="Identifiability (posterior SD / prior SD; above 0.8 = not informed)",
        formats=formats,
        right=["posterior_q05", "posterior_q95", "spread_ratio"],
    )


def _yes_no(value: object) -> str:
    return "yes" if value else "no"
