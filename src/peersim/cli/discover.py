"""``peersim discover``: the conditions under which a site's rollout misses its target (PRIM)."""

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
    NoPosteriorOption,
    PosteriorOption,
    SchedulerOption,
    backend,
    print_table,
    progress_for,
    warn,
)

if TYPE_CHECKING:
    from peersim.discovery.result import DiscoveryResult

DEFAULT_TARGET = "engagement_rate>=0.5"
"""Target when none is given (the library's ``peersim.discovery.inputs.DEFAULT_TARGET``)."""


def command(
    site: Annotated[
        Path | None,
        typer.Argument(
            help="One-site scenario TOML in service mode. Omit for the packaged "
            "scenarios/new_site_example.toml.",
            show_default=False,
        ),
    ] = None,
    factors: Annotated[
        Path | None,
        typer.Option(
            "--factors",
            "-f",
            help="Factors TOML (the format of `peersim sensitivity`, plus `geography`). "
            "Default: the packaged scenarios/discover_factors_default.toml.",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="METRIC>=VALUE or METRIC<=VALUE each run meets or misses, e.g. engagement_rate>=0.5 "
            "or readmissions_averted_per_100>=3.",
        ),
    ] = DEFAULT_TARGET,
    n: Annotated[
        int, typer.Option("--n", min=1, help="Design points of the Latin hypercube (at least 20).")
    ] = 200,
    replicates: Annotated[
        int, typer.Option("--replicates", "-r", min=1, help="Runs per design point, each on its own seed.")
    ] = 2,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, max=MAX_SEED, help="Base seed.")] = 0,
    posterior: PosteriorOption = None,
    no_posterior: NoPosteriorOption = False,
    min_density: Annotated[
        float,
        typer.Option(
            "--min-density",
            min=0.05,
            max=1.0,
            help="Smallest share of a reported box's runs that miss the target.",
        ),
    ] = 0.75,
    max_boxes: Annotated[int, typer.Option("--max-boxes", min=1, max=10, help="Most boxes reported.")] = 3,
    jobs: JobsOption = None,
    executor: ExecutorOption = ExecutorName.local,
    scheduler: SchedulerOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory for discover.json, discover.md, discover.png and the runs (CSV, Parquet).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace files already in --out.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Find the site conditions and levers under which the rollout misses --target.

    Samples the factors (site conditions such as travel, host and ward
    acceptance, and levers such as posts and supervision) with a seeded Latin
    hypercube, runs each point --replicates times, each run drawing its
    mechanism strengths from the shipped posterior (unless --no-posterior), and
    marks each run as meeting or missing --target. EMA Workbench's PRIM then
    finds up to --max-boxes boxes of conditions where runs miss: for each, its
    coverage (share of all misses inside it), density (share of its runs that
    miss), run count, limits and a sentence. Nothing is kept if interrupted.
    """
    where = backend(executor, jobs, scheduler)
    # The library (pandas, the model, EMA Workbench) loads only when the command runs.
    from peersim.discovery.report import DISCOVERY_FILES, discovery_json
    from peersim.discovery.workflow import check_out, discovery_workload, prepare, run_discovery

    inputs = prepare(
        site,
        factors,
        target,
        n,
        replicates,
        seed,
        posterior,
        use_posterior=not no_posterior,
        min_density=min_density,
        max_boxes=max_boxes,
    )
    check_out(out, force)
    work = discovery_workload(inputs)
    try:
        with where.start(work.seconds) as pool:
            if not json_output:
                typer.echo(f"peersim: {work.text(pool.workers)}", err=True)
            result = run_discovery(inputs, pool, progress_for(not json_output), out, force)
    except KeyboardInterrupt:  # a second Ctrl-C while the workers stop
        typer.echo("\npeersim: interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    for message in result.warnings:
        warn(message)
    if json_output:
        sys.stdout.write(json.dumps(discovery_json(result), allow_nan=False) + "\n")
        return
    print_summary(result)
    if out is not None:
        typer.echo(f"\nwrote {', '.join(DISCOVERY_FILES)} to {out}")


def posterior_text(result: DiscoveryResult) -> str:
    """Say where the runs' mechanism strengths came from."""
    posterior = result.inputs.posterior
    if posterior is None:
        return "no posterior (--no-posterior): mechanism strengths at the site's point values"
    return (
        f"mechanism strengths drawn from {posterior.source} ({posterior.n} particles, effective sample "
        f"size {posterior.effective_sample_size:.0f}), one particle per run"
    )


def print_summary(result: DiscoveryResult) -> None:
    """Print what ran, the share of runs missing the target, and each box with its limits."""
    import pandas as pd

    from peersim.discovery.analysis import limit_text, miss_phrase

    inputs = result.inputs
    typer.echo(
        f"peersim discover: {inputs.site.site.name} ({inputs.site.source}); factors {inputs.space.source} "
        f"({len(inputs.space.factors)} + dummy); target {inputs.target.text}; {inputs.n} points x "
        f"{inputs.replicates} replicate(s) = {inputs.runs} runs, seed {inputs.seed}; {result.seconds:.1f} s"
    )
    typer.echo(posterior_text(result))
    typer.echo(
        f"\n{miss_phrase(inputs.target).capitalize()} in {result.misses} of {result.runs} runs "
        f"({result.miss_share:.0%})."
    )
    for box in result.boxes:
        typer.echo(
            f"\nBox {box.index}: coverage {box.coverage:.2f}, density {box.density:.2f}, {box.n} runs"
            + (f"; limits dropped as not significant: {', '.join(box.dropped)}" if box.dropped else "")
        )
        typer.echo(f"  {box.sentence[0].upper()}{box.sentence[1:]}.")
        rows = []
        for limit in box.limits:
            shown = limit_text(limit)
            rows.append(
                {"factor": limit.factor, "limits": shown, "quasi-p": f"{limit.qp:.2g}" if limit.qp else "-"}
            )
        print_table(pd.DataFrame(rows, columns=["factor", "limits", "quasi-p"]), right=["quasi-p"])
    for note in result.notes:
        typer.echo(f"\nnote: {note}")
