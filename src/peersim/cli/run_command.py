"""``peersim run``: replicates of one scenario, summarised with 95% intervals."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from peersim.cli.ensemble_options import (
    EXIT_RUNS_FAILED,
    ExecutorName,
    ExecutorOption,
    JobsOption,
    JsonOption,
    NoPosteriorOption,
    PosteriorOption,
    SchedulerOption,
    SetOption,
    choose_posterior,
    describe_failures,
    execute,
)
from peersim.ensemble import EnsembleJob, MemorySink
from peersim.overrides import load_source
from peersim.summary import format_table, summarise, summary_json


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
    json_output: JsonOption = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Run store directory: Parquet tables per replicate, manifest, summary and figure. "
            "Running again resumes it.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a store in --out written for another scenario or seed."),
    ] = False,
    jobs: JobsOption = None,
    executor: ExecutorOption = ExecutorName.local,
    scheduler: SchedulerOption = None,
    sets: SetOption = None,
    posterior: PosteriorOption = None,
    no_posterior: NoPosteriorOption = False,
) -> None:
    """Run a scenario and report means with 95% intervals over replicates.

    By default each replicate draws its mechanism strengths from the shipped
    posterior, so intervals carry parameter uncertainty as well as noise.
    """
    source = load_source(scenario, sets or ())
    spec = source.scenario
    choice = choose_posterior(posterior, no_posterior, [spec])
    memory = MemorySink()
    store = None
    if out is not None:
        from peersim.runstore import RunStore

        store = RunStore.open_for_writing(out, source, seed, force=force, posterior=choice.fingerprint)
    (report,) = execute(
        [EnsembleJob(spec, store if store is not None else memory)],
        seed,
        replicates,
        executor,
        jobs,
        scheduler,
        show_progress=not json_output,
        label=spec.name,
        resume_hint=f"Run the same command again to resume the store in {out}" if out is not None else None,
        runner=choice.runner,
    )
    where = str(out / "failures") if out is not None else None
    if report.available == 0:
        typer.echo(describe_failures(report.failures, replicates, where), err=True)
        raise typer.Exit(EXIT_RUNS_FAILED)
    if store is not None:
        from peersim.output import store_summary

        summary = store_summary(store, replicates)
    else:
        summary = summarise(memory.read("metrics", replicates=replicates))
    if json_output:
        document = summary_json(summary, spec.name, seed, report.available)
        document["posterior"] = choice.description
        if report.failures:
            document["failed_replicates"] = [f.replicate for f in report.failures]
        sys.stdout.write(json.dumps(document, allow_nan=False) + "\n")
    else:
        origin = source.source if scenario is not None else "embedded default"
        if source.overrides:
            origin += f" with --set {' '.join(source.overrides)}"
        typer.echo(
            f"peersim: {spec.name} ({origin}), {spec.mode} mode, {len(spec.sites)} site(s), "
            f"{report.available} replicate(s), seed {seed}"
            + (f" ({report.skipped} resumed from {out})" if report.skipped else "")
        )
        drawn = (
            f"mechanism strengths drawn from {choice.description['source']}"
            if choice.description
            else ("mechanism strengths at their point values")
        )
        typer.echo(f"{drawn}; mean (95% interval of replicates)\n")
        typer.echo(format_table(summary, [s.name for s in spec.sites]))
    if store is not None:
        from peersim.output import write_store_summary

        write_store_summary(store, summary, replicates, report.available, store.failures())
        if not json_output:
            typer.echo(
                f"\nrun store: {out} ({report.available} replicate(s)); summary.csv, .json and .png there"
            )
    if report.failures:
        typer.echo(describe_failures(report.failures, replicates, where), err=True)
        raise typer.Exit(EXIT_RUNS_FAILED)
