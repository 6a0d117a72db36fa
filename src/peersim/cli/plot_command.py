"""``peersim plot``: figures of a run store (trajectories and end-of-run outcomes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PLOT_FILES = ("trajectories.png", "outcomes.png")
"""Figures ``peersim plot`` writes."""


def plot_cmd(
    store_path: Annotated[
        Path,
        typer.Argument(metavar="RUNSTORE", help="A run store (peersim run --out DIR).", show_default=False),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Directory for the figures. Default: the run store itself."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace figures already in --out.")] = False,
) -> None:
    """Draw per-site trajectories with 95% bands and end-of-run outcomes by site and arm."""
    from peersim.ensemble_plots import TRAJECTORY_METRICS, outcomes_figure, trajectories_figure
    from peersim.output import OutputDirectory, outcome_summary, save_figure, timeseries_bands
    from peersim.runstore import RunStore

    store = RunStore.open(store_path)
    target = OutputDirectory(out if out is not None else store.path, force=force)
    if target.path.resolve() != store.path.resolve():  # inside the store the figures are its own
        target.check(PLOT_FILES)
    sites = store.site_names
    held = len(store.completed())
    name = store.scenario_name
    bands = timeseries_bands(store, list(TRAJECTORY_METRICS))
    written = [
        save_figure(
            trajectories_figure(
                bands, sites, f"{name}: weekly mean and 95% band over {held} replicate(s), per site"
            ),
            target.file(PLOT_FILES[0]),
        ),
        save_figure(
            outcomes_figure(
                outcome_summary(store),
                sites,
                f"{name}: end-of-run outcomes, mean and 95% interval over {held} replicate(s)",
            ),
            target.file(PLOT_FILES[1]),
        ),
    ]
    for path in written:
        typer.echo(f"wrote {path}")
