"""The files an ensemble or a comparison leaves behind: summaries, tables and figures.

Every file is written atomically (:func:`peersim.io.files.atomic_write`), so an
interrupted write never leaves half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from peersim.ensemble.figures import (
    TRAJECTORY_METRICS,
    forest_figure,
    outcomes_figure,
    summary_figure,
    trajectories_figure,
)
from peersim.ensemble.runstore import RunStore
from peersim.ensemble.summary import acceptance_series, outcome_summary, summary_json, timeseries_bands
from peersim.io.files import OutputDirectory, save_figure, write_text

PLOT_FILES = ("trajectories.png", "outcomes.png")
"""Figures :func:`write_plots` draws from a run store."""


def json_text(document: dict[str, Any]) -> str:
    """Return a JSON document as peersim writes it to files: indented, no NaN, one trailing newline."""
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def write_store_summary(
    store: RunStore, summary: pd.DataFrame, replicates: int, available: int, failures: list[dict[str, Any]]
) -> list[Path]:
    """Write ``summary.csv``, ``summary.json`` and ``summary.png`` into the store.

    Parameters
    ----------
    store
        The run store (these files are its own and are rewritten each time).
    summary
        Output of :func:`peersim.ensemble.summary.store_summary`.
    replicates
        Replicates asked for (the summary covers those below this index).
    available
        Replicates among them that finished.
    failures
        Failure records of replicates that did not finish, listed in the JSON.

    Returns
    -------
    list[pathlib.Path]
        The files written.
    """
    path = store.path
    write_text(path / "summary.csv", summary.to_csv(index=False))
    document = summary_json(summary, store.scenario_name, store.seed, available)
    document["scenario_hash"] = store.manifest["scenario"]["hash"]
    document["failed_replicates"] = [record["replicate"] for record in failures]
    write_text(path / "summary.json", json_text(document))
    acceptance = acceptance_series(store, replicates)
    figure = summary_figure(summary, acceptance, store.site_names, f"peersim: {store.scenario_name}")
    return [path / "summary.csv", path / "summary.json", save_figure(figure, path / "summary.png")]


def write_comparison(
    out: Path, differences: pd.DataFrame, document: dict[str, Any], base_name: str
) -> list[Path]:
    """Write ``compare.csv``, ``compare.json`` and ``forest.png`` into ``out``."""
    written = [
        write_text(out / "compare.csv", differences.to_csv(index=False)),
        write_text(out / "compare.json", json_text(document)),
    ]
    figure = forest_figure(
        differences, title=f"What-if minus base ({base_name}): mean paired difference, 95% interval"
    )
    return [*written, save_figure(figure, out / "forest.png")]


def write_plots(store: RunStore, target: OutputDirectory) -> list[Path]:
    """Draw a store's per-site trajectories and end-of-run outcomes into ``target``.

    Inside the store the figures are its own and are redrawn; elsewhere existing
    figures are replaced only with ``target.force``.

    Raises
    ------
    peersim.errors.PeersimInputError
        If ``target`` is a file, or holds the figures without ``force``.
    """
    if target.path.resolve() != store.path.resolve():
        target.check(PLOT_FILES)
    sites = store.site_names
    held = len(store.completed())
    name = store.scenario_name
    bands = timeseries_bands(store, list(TRAJECTORY_METRICS))
    trajectories = trajectories_figure(
        bands, sites, f"{name}: weekly mean and 95% band over {held} replicate(s), per site"
    )
    outcomes = outcomes_figure(
        outcome_summary(store),
        sites,
        f"{name}: end-of-run outcomes, mean and 95% interval over {held} replicate(s)",
    )
    return [
        save_figure(trajectories, target.file(PLOT_FILES[0])),
        save_figure(outcomes, target.file(PLOT_FILES[1])),
    ]
