"""``peersim compare``: what-if scenarios against a base, on common random numbers."""

from __future__ import annotations

import json
import math
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
    fail,
    print_table,
    progress_for,
)

if TYPE_CHECKING:
    import pandas as pd


def command(
    base: Annotated[
        Path, typer.Argument(metavar="BASE", help="Base scenario TOML file.", show_default=False)
    ],
    whatifs: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[WHATIF]...",
            help="What-if scenario files, each compared with the base.",
            show_default=False,
        ),
    ] = None,
    sets: SetOption = None,
    replicates: Annotated[
        int, typer.Option("--replicates", "-n", min=2, help="Paired replicates per scenario.")
    ] = 20,
    seed: Annotated[
        int, typer.Option("--seed", "-s", min=0, max=MAX_SEED, help="Base seed, shared by every scenario.")
    ] = 0,
    json_output: JsonOption = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory for a run store per scenario, compare.csv, compare.json, forest.png and "
            "report.html (one self-contained page to send or print). Running again resumes it.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace stores or files in --out written for something else."),
    ] = False,
    jobs: JobsOption = None,
    executor: ExecutorOption = ExecutorName.local,
    scheduler: SchedulerOption = None,
    posterior: PosteriorOption = None,
    no_posterior: NoPosteriorOption = False,
    allow_design_change: Annotated[
        bool,
        typer.Option(
            "--allow-design-change",
            help="Allow what-ifs of another mode or horizon than the base (their people and weeks differ).",
        ),
    ] = False,
    repair: RepairOption = False,
) -> None:
    """Compare what-ifs with a base scenario: paired differences with 95% intervals.

    Replicate i of every scenario runs with the same seed (common random
    numbers) and the same draw of mechanism strengths, so differences are
    paired; comparing a scenario with itself gives exactly zero. Per metric:
    the 95% predictive interval of the effect (spread of the per-replicate
    differences, posterior + model noise), the interval of the mean, and
    P(benefit), the share of replicates in which the what-if is better (a tie
    is not). --set builds one more what-if: the base with those keys changed.
    """
    if not whatifs and not sets:
        raise fail("compare: give at least one WHATIF file or a --set KEY=VALUE")
    # With --jobs the pool is known now, so its forkserver starts before anything else is read.
    where = backend(executor, jobs, scheduler) if jobs is not None else None
    from peersim.core.overrides import load_source
    from peersim.simulation import estimated_seconds

    base_source = load_source(base)
    others = [load_source(path) for path in whatifs or []]
    if sets:
        others.append(load_source(base, sets))
    if where is None:
        work = replicates * sum(estimated_seconds(s.scenario) for s in [base_source, *others])
        where = backend(executor, jobs, scheduler, work)
    from peersim.ensemble.workflow import check_ensemble, compare
    from peersim.uncertainty import resolve_posterior

    scenarios = [source.scenario for source in (base_source, *others)]
    announce(check_ensemble(scenarios, seed, replicates, at_least=2), where)
    outcome = compare(
        base_source,
        others,
        seed,
        replicates,
        posterior=resolve_posterior(posterior, use_posterior=not no_posterior),
        out=out,
        force=force,
        executor=where,
        progress=progress_for(not json_output),
        allow_design_change=allow_design_change,
        repair=repair,
    )
    labels, reports = outcome.labels, outcome.reports
    if outcome.differences is None or outcome.document is None:
        for label, report in zip(labels, reports, strict=True):
            if report.failures:
                typer.echo(f"[{label}] " + describe_failures(report.failures, replicates, None), err=True)
        raise typer.Exit(EXIT_RUNS_FAILED)
    if json_output:
        sys.stdout.write(json.dumps(outcome.document, allow_nan=False) + "\n")
    else:
        sites = [s.name for s in base_source.scenario.sites]
        typer.echo(
            f"peersim compare: base {base_source.scenario.name} ({base_source.source}), "
            f"{outcome.document['replicates']} paired replicate(s), seed {seed}, common random numbers"
        )
        for line in comparison_notes(outcome.document):
            typer.echo(line)
        for source, label in zip(others, labels[1:], strict=True):
            origin = source.source + (f" with --set {' '.join(source.overrides)}" if source.overrides else "")
            typer.echo(f"\nwhat-if {label} ({origin}) vs base {base_source.scenario.name}")
            for site in ["overall"] if len(sites) <= 1 else ["overall", *sites]:
                table = comparison_table(outcome.differences, label, site)
                print_table(table, title=f"[{site}]", right=list(table.columns[1:]))
            print_breakdowns(outcome.years, outcome.groups, label)
        if out is not None:
            typer.echo(
                f"\nwrote run stores {', '.join(labels)} and compare.csv, compare.json, forest.png, "
                f"report.html to {out}"
            )
    if any(report.failures for report in reports):
        for label, report in zip(labels, reports, strict=True):
            if report.failures:
                failures_at = str(out / label / "failures") if out is not None else None
                typer.echo(
                    f"[{label}] " + describe_failures(report.failures, replicates, failures_at), err=True
                )
        raise typer.Exit(EXIT_RUNS_FAILED)


PREDICTIVE_COLUMN = "95% predictive interval"
MEAN_COLUMN = "interval of the mean"
BENEFIT_COLUMN = "P(benefit)"
HARM_COLUMN = "P(harm)"
TABLE_COLUMNS = [
    "metric",
    "base",
    "what-if",
    "difference",
    PREDICTIVE_COLUMN,
    BENEFIT_COLUMN,
    HARM_COLUMN,
    MEAN_COLUMN,
    "n",
]
"""Columns of :func:`comparison_table`: the predictive interval, the primary answer, first."""


def print_breakdowns(years: pd.DataFrame | None, groups: pd.DataFrame | None, label: str) -> None:
    """Print one what-if's differences by service year (with several years of admissions) and by group."""
    from peersim.core.results import GROUPS
    from peersim.ensemble.compare import BREAKDOWN_SHOWN

    if years is not None:
        shown = admission_years(years, label)
        if len(shown) > 1:
            columns: dict[str, Any] = {f"year {year}": year for year in shown}
            table = breakdown_table(years, label, "year", BREAKDOWN_SHOWN["years"], columns)
            # Titles are echoed, not given to the table, which would wrap them at its own width.
            typer.echo("\n" + BREAKDOWN_TITLE.format(what="service year with admissions"))
            print_table(table, right=list(columns))
    if groups is not None:
        columns = {group: group for group in GROUPS}
        table = breakdown_table(groups, label, "group", BREAKDOWN_SHOWN["groups"], columns)
        typer.echo("\n" + BREAKDOWN_TITLE.format(what="diagnostic group"))
        print_table(table, right=list(columns))


BREAKDOWN_TITLE = "[overall by {what}] difference (what-if - base) [95% predictive interval]"


def admission_years(years: pd.DataFrame, label: str) -> list[int]:
    """Service years in which the base admitted anyone (mean participants above 0), in order."""
    rows = years[(years["comparison"] == label) & (years["metric"] == "participants") & (years["base"] > 0)]
    return sorted(int(year) for year in rows["year"])


def breakdown_table(
    frame: pd.DataFrame, label: str, key: str, metrics: tuple[str, ...], columns: dict[str, Any]
) -> pd.DataFrame:
    """Lay one what-if's ``years`` or ``groups`` differences out: metrics down, ``columns`` across.

    ``columns`` maps each heading to its value of ``key`` (a year or a group); a
    cell is the mean difference and its 95% predictive interval.
    """
    import pandas as pd

    from peersim.ensemble.compare import COUNT_COLUMNS

    rows = frame[frame["comparison"] == label]
    lookup = {(getattr(r, key), r.metric): r for r in rows.itertuples(index=False)}
    records = []
    for metric in metrics:
        count = metric in COUNT_COLUMNS
        record = {"metric": metric}
        for heading, value in columns.items():
            row = lookup.get((value, metric))
            record[heading] = "-" if row is None else _effect(row, count)
        records.append(record)
    return pd.DataFrame(records, columns=["metric", *columns])


def _effect(row: Any, count: bool) -> str:
    """Format a difference with its predictive interval, ``+0.012 [-0.031, +0.052]`` (``-``: missing)."""
    difference = _number(row.difference, count, True)
    if difference == "-":
        return "-"
    interval = _interval(row.predictive_lo, row.predictive_hi, count)
    return difference if interval == "-" else f"{difference} {interval}"


def comparison_notes(document: dict[str, Any]) -> list[str]:
    """Lines above the tables saying what the difference, each interval and P(benefit) are."""
    return [
        "difference = what-if - base, mean over the paired replicates",
        f"- {document['predictive_interval']}",
        f"- {document['interval']}",
        f"- {document['p_benefit']}",
    ]


def comparison_table(differences: pd.DataFrame, label: str, site: str) -> pd.DataFrame:
    """One what-if's paired differences at one site, laid out for the terminal."""
    import pandas as pd

    from peersim.core.results import COUNT_METRICS, METRICS

    rows = differences[(differences["comparison"] == label) & (differences["site"] == site)]
    lookup = {str(r["metric"]): r for r in rows.to_dict("records")}
    out = []
    for metric in METRICS:
        row = lookup.get(metric)
        if row is None:
            continue
        count = metric in COUNT_METRICS
        share = float(row["p_benefit"])
        harm = float(row["p_harm"])
        out.append(
            {
                "metric": metric,
                "base": _number(row["base"], count),
                "what-if": _number(row["whatif"], count),
                "difference": _number(row["difference"], count, True),
                PREDICTIVE_COLUMN: _interval(row["predictive_lo"], row["predictive_hi"], count),
                BENEFIT_COLUMN: f"{share:.2f}" if math.isfinite(share) else "-",
                HARM_COLUMN: f"{harm:.2f}" if math.isfinite(harm) else "-",
                MEAN_COLUMN: _interval(row["lo"], row["hi"], count),
                "n": str(int(row["n"])),
            }
        )
    return pd.DataFrame(out, columns=TABLE_COLUMNS)


def _interval(lo: Any, hi: Any, count: bool) -> str:
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        return "-"
    return f"[{_number(lo, count, True)}, {_number(hi, count, True)}]"


def _number(value: Any, count: bool, signed: bool = False) -> str:
    value = float(value)
    if not math.isfinite(value):
        return "-"
    digits = 1 if count else 3
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
