"""``peersim trials``: held-out validation against published trials the model was not calibrated on."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from peersim.cli.common import (
    MAX_SEED,
    JobsOption,
    JsonOption,
    PosteriorOption,
    announce,
    backend,
    print_table,
    progress_for,
)

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_REPLICATES = 500
"""Equal to ``peersim.trials.workflow.DEFAULT_REPLICATES`` (kept here so ``--help`` loads nothing)."""


def command(
    replicates: Annotated[
        int,
        typer.Option(
            "--replicates", "-n", min=1, help="Replicates per study, each one posterior draw and one trial."
        ),
    ] = DEFAULT_REPLICATES,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, max=MAX_SEED, help="Base seed.")] = 0,
    json_output: JsonOption = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Directory for trials.json, trials.csv, trials.png and report.md."),
    ] = None,
    jobs: JobsOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace those files if --out holds them.")] = False,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            help="Registry folder: one folder per study with scenario.toml and observed.toml. "
            "Default: the shipped registry.",
            show_default=False,
        ),
    ] = None,
    posterior_path: PosteriorOption = None,
) -> None:
    """Predict published trials held out from calibration, and score the predictions.

    Each study's scenario runs with mechanism strengths drawn from the shipped
    posterior (or --posterior FILE), one weighted draw per replicate (values the scenario sets are
    kept). Per outcome: the predicted median and central 95% interval, whether
    it covers the published value, the predictive percentile of that value and
    the CRPS. Outcomes a scenario sets (inputs) or that informed calibration are
    reported but are not tests.
    """
    where = backend("local", jobs, None) if jobs is not None else None
    from peersim.trials.inputs import load_registry
    from peersim.trials.workflow import check_out, check_trials, run_trials, trials_workload
    from peersim.uncertainty import default_posterior, load_posterior

    studies = load_registry(registry)
    posterior = load_posterior(posterior_path) if posterior_path is not None else default_posterior()
    check_trials(studies, seed, replicates, posterior)
    check_out(out, force)
    work = trials_workload(studies, replicates)
    if where is None:
        where = backend("local", jobs, None, work.seconds)
    announce(work, where)
    started = time.perf_counter()
    result = run_trials(
        studies,
        replicates,
        seed,
        posterior=posterior,
        executor=where,
        progress=progress_for(not json_output),
        out=out,
        force=force,
    )
    elapsed = time.perf_counter() - started
    if json_output:
        sys.stdout.write(json.dumps(result.document, allow_nan=False) + "\n")
        return
    document = result.document
    count = len(document["trials"])
    typer.echo(
        f"peersim trials: {count} held-out stud{'y' if count == 1 else 'ies'} "
        f"({document['registry']}), {replicates} replicates each, seed {seed}, "
        f"posterior {posterior.source}, {elapsed:.0f} s"
    )
    typer.echo(f"interval: {document['interval']}")
    for study in document["trials"]:
        typer.echo(f"\n{study['name']}: {study['citation']}")
        print_table(
            study_table(study["outcomes"]), right=["observed", "median", "95% interval", "percentile", "CRPS"]
        )
    tally = document["tests"]
    typer.echo(
        f"\n{tally['covered']} of {tally['tested']} tested outcome(s) covered; inputs and calibration "
        "figures are shown but are not tests"
    )
    if out is not None:
        typer.echo(f"wrote {', '.join(p.name for p in result.written)} to {out}")


def study_table(outcomes: list[dict[str, Any]]) -> pd.DataFrame:
    """One study's outcomes laid out for the terminal."""
    import pandas as pd

    from peersim.trials.report import observed_text

    rows = []
    for outcome in outcomes:
        predicted = outcome["predicted"]
        rows.append(
            {
                "metric": outcome["metric"],
                "role": outcome["role"] + ("" if outcome["tested"] else " (not a test)"),
                "observed": observed_text(outcome),
                "median": _number(predicted["median"]),
                "95% interval": f"[{_number(predicted['lo'])}, {_number(predicted['hi'])}]",
                "covered": "yes" if outcome["covered"] else "NO",
                "percentile": _number(outcome["percentile"], 2),
                "CRPS": _number(outcome["crps"]),
                "conf.": outcome["confidence"],
            }
        )
    return pd.DataFrame(rows)


def _number(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"
