"""The files an ensemble or a comparison leaves behind: summaries, tables and figures.

Every file is written atomically (:func:`peersim.io.files.atomic_write`), so an
interrupted write never leaves half a file. If the disk refuses (full, gone
read-only), the error says where the results are: the run store keeps every
replicate, and a comparison's or plot's files are written to a temporary
directory instead, which the message names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from peersim.ensemble.figures import (
    TRAJECTORY_METRICS,
    forest_figure,
    outcomes_figure,
    summary_figure,
    trajectories_figure,
    years_figure,
)
from peersim.ensemble.runstore import RunStore
from peersim.ensemble.summary import admission_years, outcome_summary, summary_json, timeseries_bands
from peersim.errors import PeersimInputError, StoreNotWritten
from peersim.io.files import OutputDirectory, check_writable, save_figure, write_text

PLOT_FILES = ("trajectories.png", "outcomes.png")
"""Figures :func:`write_plots` draws from a run store."""


def json_text(document: dict[str, Any]) -> str:
    """Return a JSON document as peersim writes it to files: indented, no NaN, one trailing newline."""
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def write_store_summary(
    store: RunStore,
    summary: pd.DataFrame,
    years: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
) -> list[Path]:
    """Write ``summary.csv``, ``summary.json``, ``summary.png`` and perhaps ``years.png`` into the store.

    They describe every replicate the store holds, however many were asked
    for this time, so they always agree with the store's tables and ``plot``.
    ``years.png`` (outcomes by service year, :func:`years_figure`) is drawn
    when the scenario has more than one service year with admissions.

    Parameters
    ----------
    store
        The run store (these files are its own and are rewritten each time).
    summary
        Output of :func:`peersim.ensemble.summary.store_summary` over the whole store.
    years, groups
        The same of its ``years`` and ``groups`` tables (``None``: not kept),
        for ``summary.json`` and ``years.png``.

    Returns
    -------
    list[pathlib.Path]
        The files written.

    Raises
    ------
    StoreNotWritten
        If the disk refuses a file: the store keeps its replicates, and
        running again writes the summary.
    """
    path = store.path
    held = len(store.completed())
    document = summary_json(summary, store.scenario_name, store.seed, held, years, groups)
    document["scenario_hash"] = store.manifest["scenario"]["hash"]
    document["failed_replicates"] = [record["replicate"] for record in store.failures()]
    bands = timeseries_bands(store, ["ward_acceptance"])
    title = f"peersim: {store.scenario_name}, {held} replicate(s)"
    figure = summary_figure(summary, bands, store.site_names, title)
    by_year = _years_figure(store, years, held)
    try:
        written = [
            write_text(path / "summary.csv", summary.to_csv(index=False)),
            write_text(path / "summary.json", json_text(document)),
            save_figure(figure, path / "summary.png"),
        ]
        if by_year is not None:
            written.append(save_figure(by_year, path / YEARS_FIGURE))
    except OSError as problem:
        raise StoreNotWritten(path, problem, held, "the summary files") from None
    return written


YEARS_FIGURE = "years.png"
"""The store's figure of outcomes by service year (:func:`write_store_summary`)."""


def _years_figure(store: RunStore, years: pd.DataFrame | None, held: int) -> Figure | None:
    """Outcomes over the service years with admissions, if there are several; else ``None``."""
    drawn = admission_years(years) if years is not None else []
    if years is None or len(drawn) < 2:
        return None
    title = (
        f"{store.scenario_name}: outcomes by service year with admissions ({drawn[0]}-{drawn[-1]}), "
        f"mean and 95% band over {held} replicate(s)"
    )
    return years_figure(years[years["year"].isin(drawn)], store.site_names, title)


def write_comparison(
    out: Path, differences: pd.DataFrame, document: dict[str, Any], base_name: str
) -> list[Path]:
    """Write ``compare.csv``, ``compare.json`` and ``forest.png`` into ``out``.

    ``compare.csv`` has the columns :data:`peersim.stats.PAIRED_COLUMNS` (both
    intervals and ``p_benefit``); ``forest.png`` draws the predictive interval
    thick and the interval of the mean thin inside it.

    Raises
    ------
    peersim.errors.OutputsNotWritten
        If the disk refuses them, naming the temporary directory they were written to instead.
    """
    figure = forest_figure(
        differences,
        title=f"What-if minus base ({base_name}): mean paired difference, "
        "95% predictive interval (thick) and 95% interval of the mean (thin)",
        with_posterior=document.get("posterior") is not None,
    )

    def write(target: OutputDirectory) -> list[Path]:
        return [
            write_text(target.file("compare.csv"), differences.to_csv(index=False)),
            write_text(target.file("compare.json"), json_text(document)),
            save_figure(figure, target.file("forest.png")),
        ]

    return OutputDirectory(out, force=True).write_all(write)


def write_plots(store: RunStore, target: OutputDirectory) -> list[Path]:
    """Draw a store's per-site trajectories and end-of-run outcomes into ``target``.

    Inside the store the figures are its own and are redrawn; elsewhere existing
    figures, or other files in ``target``, are replaced or written among only
    with ``target.force``. Both figures describe every replicate the store
    holds, and the trajectories only the weeks they all reach.

    Raises
    ------
    peersim.errors.PeersimInputError
        If ``target`` cannot be created or written (under a file, read-only,
        ``/proc``), or holds the figures or unrelated files without ``force``;
        checked before anything is read.
    peersim.errors.OutputsNotWritten
        If the disk refuses the figures, naming the temporary directory they
        were written to instead.
    """
    if target.path.resolve() == store.path.resolve():
        try:
            check_writable(target.path, "run store")
        except PeersimInputError as error:
            raise PeersimInputError(f"{error}; use `out` to draw the figures elsewhere") from None
    else:
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

    def write(into: OutputDirectory) -> list[Path]:
        return [
            save_figure(trajectories, into.file(PLOT_FILES[0])),
            save_figure(outcomes, into.file(PLOT_FILES[1])),
        ]

    return target.write_all(write)
