"""``peersim ppc``: check a posterior against targets (prior and posterior predictive, identifiability)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from peersim.cli.common import (
    EXIT_INTERRUPTED,
    MAX_SEED,
    ExecutorName,
    ExecutorOption,
    JobsOption,
    JsonOption,
    SchedulerOption,
    announce,
    backend,
    print_table,
    progress_for,
)

if TYPE_CHECKING:
    import pandas as pd

TargetsArgs = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Targets TOML file(s); omit for the packaged defaults (approximate ENRICH figures). "
        "Several files calibrate to several studies at once: each names its own scenario "
        '(top-level scenario = "FILE").',
        show_default=False,
    ),
]
ScenarioOpt = Annotated[
    Path | None,
    typer.Option(
        "--scenario",
        help="Scenario TOML the targets refer to, for a single targets file (default: the file's "
        "own scenario key, else the embedded default).",
    ),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also print a line as each phase of simulations ends.")
]


def command(
    targets: TargetsArgs = None,
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
    json_output: JsonOption = False,
) -> None:
    """Check a posterior against targets: prior and posterior predictive check, identifiability.

    Runs the posterior predictive draws and as many prior predictive draws (same
    replicate seeds), with a progress bar on a terminal, and says per target what
    it taught: already met under the priors, informative, or missed.
    """
    try:
        _ppc(
            targets,
            scenario,
            posterior,
            draws,
            seed,
            out,
            jobs,
            executor,
            scheduler,
            force,
            verbose,
            json_output,
        )
    except KeyboardInterrupt:  # before the library takes Ctrl-C over, or after it is done
        typer.echo("\npeersim: interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _ppc(
    targets: list[Path] | None,
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
    json_output: bool = False,
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
        f"{problem.source}: {draws} posterior and {draws} prior predictive draws",
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
        progress=progress_for(not json_output),
        log=(lambda line: typer.echo(line, err=True)) if verbose else None,
    )
    warn_few_particles(chosen.effective_sample_size)
    if json_output:
        from peersim.calibration.report import check_document

        document = check_document(
            chosen,
            result.identifiability,
            result.ppc,
            target_set=f"{problem.label} ({problem.source})",
            scenario="; ".join(f"{s.scenario.name} (hash {s.scenario.hash})" for s in problem.studies),
            draws=draws,
            seed=seed,
            written=[str(path) for path in written],
        )
        sys.stdout.write(json.dumps(document, allow_nan=False) + "\n")
        return
    typer.echo(f"posterior {chosen.source} ({chosen.n} particles) against {problem.source}")
    print_check(result.ppc, result.identifiability)
    if out is not None:
        typer.echo(f"\nwrote {len(written)} files to {out}")


def warn_few_particles(ess: float) -> None:
    """Say so on stderr when a posterior rests on few effective particles."""
    from peersim.uncertainty import FEW_EFFECTIVE_PARTICLES  # heavy: pandas, see command()

    if ess < FEW_EFFECTIVE_PARTICLES:
        typer.echo(
            f"note: effective sample size {ess:.1f} < {FEW_EFFECTIVE_PARTICLES}: intervals and spread "
            "ratios are rough; raise --population for results to rely on",
            err=True,
        )


def print_check(ppc: pd.DataFrame, ident: pd.DataFrame) -> None:
    """Print the prior against posterior predictive check, what each target taught, and identifiability."""
    from peersim.calibration.analysis import (  # heavy: pandas, see command()
        IDENTIFIED_RATIO,
        INFORMATIVE_GAIN,
        NOT_INFORMED_RATIO,
        link_parameters,
        summary_lines,
    )
    from peersim.calibration.report import check_rows

    rows = check_rows(ppc)
    print_table(
        rows,
        [column for column in rows.columns if column != "kind"],
        title="Posterior predictive check against the prior predictive (median [95% interval] of "
        "study-sized runs; meets: share of draws meeting each observation; verdict: already met = the "
        f"priors pass it and the posterior gains < {INFORMATIVE_GAIN:.2f} in share meeting)",
        right=["prior meets", "posterior meets", "observed pctl prior / posterior"],
    )
    for line in summary_lines(ppc):
        typer.echo(line)
    typer.echo("")
    print_table(
        link_parameters(ident, ppc),
        ["parameter", "posterior_q05", "posterior_q95", "spread_ratio", "informed", "verdict"],
        title=f"Identifiability (posterior SD / prior SD: <= {IDENTIFIED_RATIO} identified, "
        f"<= {NOT_INFORMED_RATIO} partly informed, above = not informed)",
        formats={"informed": _yes_no},
        right=["posterior_q05", "posterior_q95", "spread_ratio"],
    )


def _yes_no(value: object) -> str:
    return "yes" if value else "no"
