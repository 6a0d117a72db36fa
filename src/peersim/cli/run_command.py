"""``peersim run``: replicates of one scenario, summarised with 95% intervals."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from peersim.cli.app import fail
from peersim.cli.progress import progress_bar
from peersim.output import OutputDirectory, write_run_outputs
from peersim.scenario_io import default_scenario, load_scenario
from peersim.summary import format_table, stack_metrics, summarise, summary_json


def run_cmd(
    scenario: Annotated[
        Path | None,
        typer.Argument(
            help="Scenario TOML file. Omit to run the embedded ENRICH-like default.", show_default=False
        ),
    ] = None,
    replicates: Annotated[
        int, typer.Option("--replicates", "-n", min=1, help="Independent replicates.")
    ] = 10,
    seed: Annotated[
        int, typer.Option("--seed", "-s", min=0, help="Base seed; replicates are spawned from it.")
    ] = 0,
    json_output: Annotated[
        bool, typer.Option("--json", help="Write exactly one JSON document to stdout instead of a table.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Directory for tidy tables (Parquet), summary and figure."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow replacing peersim outputs already in --out.")
    ] = False,
) -> None:
    """Run a scenario and report means with 95% intervals over replicates."""
    spec = load_scenario(scenario) if scenario is not None else default_scenario()
    target = OutputDirectory(out, force=force) if out is not None else None
    if target is not None:
        problem = target.check()
        if problem:
            raise fail(problem)
    from peersim.api import run_replicates

    with progress_bar(replicates, enabled=not json_output, label=f"{spec.name}") as advance:
        results = list(run_replicates(spec, seed, replicates, on_done=advance))
    summary = summarise(stack_metrics(results))
    if json_output:
        sys.stdout.write(
            json.dumps(summary_json(summary, spec.name, seed, replicates), allow_nan=False) + "\n"
        )
    else:
        source = str(scenario) if scenario is not None else "embedded default"
        typer.echo(
            f"peersim: {spec.name} ({source}), {spec.mode} mode, {len(spec.sites)} site(s), "
            f"{replicates} replicate(s), seed {seed}"
        )
        typer.echo("mean (95% interval of replicates)\n")
        typer.echo(format_table(summary, [s.name for s in spec.sites]))
    if target is not None:
        written = write_run_outputs(target, spec, seed, results, summary)
        if not json_output:
            typer.echo(f"\nwrote {len(written)} files to {target.path}")
