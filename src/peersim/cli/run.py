"""``peersim run``: replicates of one scenario, summarised with 95% intervals."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from peersim.cli.common import (
    EXIT_RUNS_FAILED,
    MAX_SEED,
    ExecutorName,
    ExecutorOption,
    JobsOption,
    JsonOption,
    NoPosteriorOption,
    PosteriorOption,
    RepairOption,
    SchedulerOption,
    SetOption,
    announce,
    backend,
    describe_failures,
    print_table,
    progress_for,
)

if TYPE_CHECKING:
    import pandas as pd


def command(
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
        int,
        typer.Option("--seed", "-s", min=0, max=MAX_SEED, help="Base seed; replicates are spawned from it."),
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
    repair: RepairOption = False,
) -> None:
    """Run a scenario and report means with 95% intervals over replicates.

    By default each replicate draws its mechanism strengths from the shipped
    posterior, so intervals carry parameter uncertainty as well as noise.
    """
    # With --jobs the pool is known now, so its forkserver starts before anything else is read.
    where = backend(executor, jobs, scheduler) if jobs is not None else None
    from peersim.core.overrides import load_source
    from peersim.simulation import estimated_seconds

    source = load_source(scenario, sets or ())
    if where is None:
        where = backend(executor, jobs, scheduler, replicates * estimated_seconds(source.scenario))
    from peersim.ensemble.workflow import check_ensemble, run_ensemble
    from peersim.uncertainty import resolve_posterior

    announce(check_ensemble([source.scenario], seed, replicates), where)
    outcome = run_ensemble(
        source,
        seed,
        replicates,
        posterior=resolve_posterior(posterior, use_posterior=not no_posterior),
        out=out,
        force=force,
        executor=where,
        progress=progress_for(not json_output),
        repair=repair,
    )
    report = outcome.report
    failures_at = str(out / "failures") if out is not None else None
    if outcome.summary is None:
        typer.echo(describe_failures(report.failures, replicates, failures_at), err=True)
        raise typer.Exit(EXIT_RUNS_FAILED)
    spec = source.scenario
    if json_output:
        sys.stdout.write(json.dumps(outcome.document(), allow_nan=False) + "\n")
    else:
        origin = source.source if scenario is not None else "embedded default"
        if source.overrides:
            origin += f" with --set {' '.join(source.overrides)}"
        typer.echo(
            f"peersim: {spec.name} ({origin}), {spec.mode} mode, {len(spec.sites)} site(s), "
            f"{outcome.held} replicate(s), seed {seed}"
            + (f" ({outcome.counts()})" if outcome.counts() else "")
        )
        drawn = (
            f"mechanism strengths drawn from {outcome.posterior['source']}"
            if outcome.posterior
            else "mechanism strengths at their point values"
        )
        typer.echo(f"{drawn}; mean (95% interval of replicates)\n")
        table = summary_table(outcome.summary, [s.name for s in spec.sites])
        print_table(table, right=list(table.columns[1:]))
        _print_years_and_groups(outcome.years, outcome.groups)
        if out is not None:
            written = ", ".join(path.name for path in outcome.written)
            typer.echo(f"run store: {out} ({outcome.held} replicate(s)); {written} there")
    if report.failures:
        typer.echo(describe_failures(report.failures, replicates, failures_at), err=True)
        raise typer.Exit(EXIT_RUNS_FAILED)


def summary_table(summary: pd.DataFrame, sites: list[str]) -> pd.DataFrame:
    """Lay the summary out for the terminal: metrics down, ``overall`` then each site across."""
    import pandas as pd

    from peersim.core.results import COUNT_METRICS, METRICS, OVERALL

    columns = [OVERALL, *sites]
    lookup = {(r.site, r.metric): r for r in summary.itertuples(index=False)}
    rows = [
        {"metric": metric, **{c: _cell(lookup.get((c, metric)), metric in COUNT_METRICS) for c in columns}}
        for metric in METRICS
    ]
    return pd.DataFrame(rows, columns=["metric", *columns])


def _print_years_and_groups(years: pd.DataFrame | None, groups: pd.DataFrame | None) -> None:
    """Print the overall by-year table (with several service years of admissions) and by-group table."""
    from peersim.core.results import GROUPS
    from peersim.ensemble.summary import MAIN_GROUP_METRICS, MAIN_YEAR_METRICS, admission_years

    if years is not None and len(admission_years(years)) > 1:
        columns = {f"year {year}": year for year in admission_years(years)}
        table = overall_table(years, "year", MAIN_YEAR_METRICS, columns)
        typer.echo("")
        print_table(table, right=list(columns), title="By service year with admissions, all sites")
    if groups is not None:
        table = overall_table(groups, "group", MAIN_GROUP_METRICS, {group: group for group in GROUPS})
        typer.echo("")
        print_table(table, right=list(GROUPS), title="By diagnostic group, all sites")


YEAR_COUNTS = frozenset({"readmissions_averted", "peer_worker_leavers"})
"""Metrics of the by-year table that are counts (shown with one decimal: means of a few)."""


def overall_table(
    summary: pd.DataFrame, key: str, metrics: tuple[str, ...], columns: dict[str, Any]
) -> pd.DataFrame:
    """Lay the overall rows of a ``years`` or ``groups`` summary out: metrics down, ``columns`` across.

    ``columns`` maps each column's heading to its value of ``key`` (a year or a group).
    """
    import pandas as pd

    from peersim.core.results import OVERALL

    rows = summary[summary["site"] == OVERALL]
    lookup = {(getattr(r, key), r.metric): r for r in rows.itertuples(index=False)}
    records = [
        {
            "metric": metric,
            **{
                heading: _cell(lookup.get((value, metric)), False, 1 if metric in YEAR_COUNTS else 2)
                for heading, value in columns.items()
            },
        }
        for metric in metrics
    ]
    return pd.DataFrame(records, columns=["metric", *columns])


def _cell(row: Any, count: bool, digits: int | None = None) -> str:
    if row is None or row.mean != row.mean:
        return "-"
    digits = digits if digits is not None else 0 if count else 2
    if row.n <= 1 or row.lo == row.hi:
        return f"{row.mean:.{digits}f}"
    return f"{row.mean:.{digits}f} [{row.lo:.{digits}f}, {row.hi:.{digits}f}]"
