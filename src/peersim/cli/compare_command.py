"""``peersim compare``: what-if scenarios against a base, on common random numbers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

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
from peersim.errors import PeersimInputError
from peersim.overrides import ScenarioSource, load_source

COMPARE_FILES = ("compare.csv", "compare.json", "forest.png")
"""Files ``peersim compare --out`` writes next to the run stores."""


def compare_cmd(
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
        int, typer.Option("--seed", "-s", min=0, help="Base seed, shared by every scenario.")
    ] = 0,
    json_output: JsonOption = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory for a run store per scenario, compare.csv, compare.json and forest.png. "
            "Running again resumes it.",
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
) -> None:
    """Compare what-ifs with a base scenario: paired differences with 95% intervals.

    Replicate i of every scenario runs with the same seed (common random
    numbers), so differences are paired; comparing a scenario with itself gives
    exactly zero. --set builds one more what-if: the base with those keys changed.
    """
    from peersim.compare import compare_json, format_comparison, site_mismatch, stacked_differences
    from peersim.ensemble import EnsembleJob, MemorySink

    base_source = load_source(base)
    others = [load_source(path) for path in whatifs or []]
    if sets:
        others.append(load_source(base, sets))
    if not others:
        raise PeersimInputError("compare: give at least one WHATIF file or a --set KEY=VALUE")
    labels = _labels([base_source, *others])
    for source, label in zip(others, labels[1:], strict=True):
        mismatch = site_mismatch(base_source.scenario, source.scenario, label)
        if mismatch is not None:
            typer.echo(f"peersim: warning: {mismatch}", err=True)

    sources = [base_source, *others]
    choice = choose_posterior(posterior, no_posterior, [source.scenario for source in sources])
    if out is not None:
        from peersim.output import OutputDirectory
        from peersim.runstore import RunStore

        if not (out / "base" / "manifest.json").exists():  # else the files are those of an earlier compare
            OutputDirectory(out, force=force).check(COMPARE_FILES)
        sinks: list[Any] = [
            RunStore.open_for_writing(out / label, source, seed, force=force, posterior=choice.fingerprint)
            for source, label in zip(sources, labels, strict=True)
        ]
    else:
        sinks = [MemorySink() for _ in sources]
    reports = execute(
        [EnsembleJob(source.scenario, sink) for source, sink in zip(sources, sinks, strict=True)],
        seed,
        replicates,
        executor,
        jobs,
        scheduler,
        show_progress=not json_output,
        label="compare",
        resume_hint=f"Run the same command again to resume {out}" if out is not None else None,
        runner=choice.runner,
    )
    if any(report.available == 0 for report in reports):
        for label, report in zip(labels, reports, strict=True):
            if report.failures:
                typer.echo(f"[{label}] " + describe_failures(report.failures, replicates, None), err=True)
        raise typer.Exit(EXIT_RUNS_FAILED)
    differences = stacked_differences(sinks, labels, replicates)
    document = compare_json(
        differences,
        _describe(base_source, labels[0]),
        [_describe(s, label) for s, label in zip(others, labels[1:], strict=True)],
        seed,
        replicates,
    )
    document["posterior"] = choice.description
    failures = [(label, f) for report, label in zip(reports, labels, strict=True) for f in report.failures]
    if failures:
        document["failures"] = [
            {"scenario": label, "replicate": f.replicate, "error": f.error} for label, f in failures
        ]
    if json_output:
        sys.stdout.write(json.dumps(document, allow_nan=False) + "\n")
    else:
        sites = [s.name for s in base_source.scenario.sites]
        typer.echo(
            f"peersim compare: base {base_source.scenario.name} ({base_source.source}), "
            f"{replicates} paired replicate(s), seed {seed}, common random numbers"
        )
        typer.echo(f"difference = what-if - base; interval: {document['interval']}")
        for source, label in zip(others, labels[1:], strict=True):
            typer.echo(f"\nwhat-if {label} ({_origin(source)}) vs base {base_source.scenario.name}")
            typer.echo(format_comparison(differences, label, sites))
    if out is not None:
        _write_outputs(out, differences, document, base_source)
        if not json_output:
            typer.echo(f"\nwrote run stores {', '.join(labels)} and {', '.join(COMPARE_FILES)} to {out}")
    if failures:
        for label, report in zip(labels, reports, strict=True):
            if report.failures:
                where = str(out / label / "failures") if out is not None else None
                typer.echo(f"[{label}] " + describe_failures(report.failures, replicates, where), err=True)
        raise typer.Exit(EXIT_RUNS_FAILED)


def _labels(sources: list[ScenarioSource]) -> list[str]:
    """Return unique labels, also the run store directory names: base, then file stems."""
    labels = ["base"]
    for source in sources[1:]:
        label, k = source.label, 2
        while label in labels:
            label, k = f"{source.label}-{k}", k + 1
        labels.append(label)
    return labels


def _origin(source: ScenarioSource) -> str:
    return source.source + (f" with --set {' '.join(source.overrides)}" if source.overrides else "")


def _describe(source: ScenarioSource, label: str) -> dict[str, Any]:
    return {
        "label": label,
        "file": source.source,
        "scenario": source.scenario.name,
        "hash": source.scenario.hash,
        "overrides": list(source.overrides),
    }


def _write_outputs(out: Path, differences: Any, document: dict[str, Any], base: ScenarioSource) -> None:
    from peersim.ensemble_plots import forest_figure
    from peersim.output import save_figure
    from peersim.runstore import atomic_write

    atomic_write(out / "compare.csv", differences.to_csv(index=False).encode())
    atomic_write(out / "compare.json", (json.dumps(document, indent=2, allow_nan=False) + "\n").encode())
    figure = forest_figure(
        differences,
        title=f"What-if minus base ({base.scenario.name}): mean paired difference, 95% interval",
    )
    save_figure(figure, out / "forest.png")
