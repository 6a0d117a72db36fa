"""The files an ensemble or a comparison leaves behind: summaries, tables, figures and a report.

Every file is written atomically (:func:`peersim.io.files.atomic_write`), so an
interrupted write never leaves half a file. If the disk refuses (full, gone
read-only), the error says where the results are: the run store keeps every
replicate, and a comparison's or plot's files are written to a temporary
directory instead, which the message names.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from peersim.core.results import METRICS
from peersim.ensemble.compare import BREAKDOWN_SHOWN, COUNT_COLUMNS
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
from peersim.io.html import data_uri, render_html

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
    """Write ``compare.csv``, ``compare.json``, ``forest.png`` and ``report.html`` into ``out``.

    ``compare.csv`` has the columns :data:`peersim.stats.PAIRED_COLUMNS` (both
    intervals and ``p_benefit``); ``forest.png`` draws the predictive interval
    thick and the interval of the mean thin inside it; ``report.html`` is the
    comparison as one self-contained page (:func:`comparison_html`: the headline
    differences first, then every table and the forest plot, then the method).

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
        forest = save_figure(figure, target.file("forest.png"))
        return [
            write_text(target.file("compare.csv"), differences.to_csv(index=False)),
            write_text(target.file("compare.json"), json_text(document)),
            forest,
            write_text(target.file(COMPARE_REPORT), comparison_html(document, forest, out)),
        ]

    return OutputDirectory(out, force=True).write_all(write)


COMPARE_REPORT = "report.html"
"""The comparison's self-contained page, written by :func:`write_comparison`."""
COMPARE_TEMPLATE = "compare.html.j2"
"""Its template, in ``peersim/templates``; it extends ``base.html.j2``."""

HEADLINE_METRICS: dict[str, str] = {
    "engagement_rate": "Engagement (share with at least 2 contacts)",
    "fidelity_index": "Delivered fidelity (0-1)",
    "readmission_rate_intervention": "12-month readmission with peer support",
    "readmissions_averted": "Readmissions averted (people)",
    "unmet_demand": "Referred but never given a peer worker (share)",
    "ward_acceptance": "Ward staff acceptance (0-1)",
    "pw_strain": "Peer worker strain (0-1)",
    "vacancy_weeks": "Vacant peer worker post-weeks",
}
"""Metrics the answer of a comparison's report leads with, in plain words (the evidence shows all)."""
CLEAR_SHARE = 0.8
"""Share of paired runs in which a what-if must be better (or worse) for the report to call it so."""


def _number(value: float | None, count: bool, sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    digits = 1 if count else 3
    value = value if round(value, digits) != 0 else 0.0  # no "-0.000"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _span(lo: float | None, hi: float | None, count: bool) -> str:
    return f"{_number(lo, count, True)} to {_number(hi, count, True)}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _reading(entry: Mapping[str, Any]) -> tuple[str, str]:
    """Say in words what a metric's paired differences show, and its verdict: better, worse, same or mixed.

    Better (worse) when the what-if is better (worse) in at least :data:`CLEAR_SHARE`
    of the pairs; same when it ties in at least that share, or the metric has no direction.
    """
    benefit, harm = entry["p_benefit"], entry["p_harm"]
    if entry["predictive_lo"] == 0.0 and entry["predictive_hi"] == 0.0:
        return "no change in any pair", "same"
    if benefit is None or harm is None:
        return "neither better nor worse (no direction)", "same"
    ties = max(0.0, 1.0 - benefit - harm)
    parts = [
        f"{word} in {share:.0%}"
        for word, share in (("better", benefit), ("worse", harm), ("unchanged", ties))
        if share > 0
    ]
    text = ", ".join(parts) + " of pairs"
    if benefit >= CLEAR_SHARE:
        return text, "better"
    if harm >= CLEAR_SHARE:
        return text, "worse"
    return text, "same" if ties >= CLEAR_SHARE else "mixed"


def _row(metric: str, entry: Mapping[str, Any], label: str | None = None) -> dict[str, Any]:
    """One metric's paired statistics as the page shows them (text), with its reading."""
    count = metric in COUNT_COLUMNS
    reading, verdict = _reading(entry)
    return {
        "metric": metric,
        "label": label or metric,
        "base": _number(entry["base"], count),
        "whatif": _number(entry["whatif"], count),
        "difference": _number(entry["difference"], count, True),
        "predictive": _span(entry["predictive_lo"], entry["predictive_hi"], count),
        "mean_interval": _span(entry["lo"], entry["hi"], count),
        "p_benefit": _share(entry["p_benefit"]),
        "p_harm": _share(entry["p_harm"]),
        "n": entry["n"],
        "reading": reading,
        "verdict": verdict,
    }


def _breakdown(
    table: Mapping[str, Mapping[str, Any]], keys: list[str], metrics: tuple[str, ...]
) -> dict[str, Any]:
    """Metrics down, ``keys`` (years or groups) across; a cell: the difference and its predictive interval."""
    rows = []
    for metric in metrics:
        count = metric in COUNT_COLUMNS
        cells = []
        for key in keys:
            entry = table.get(key, {}).get(metric)
            if entry is None or entry["difference"] is None:
                cells.append({"difference": "-", "predictive": ""})
                continue
            difference = _number(entry["difference"], count, True)
            cells.append(
                {
                    "difference": difference,
                    "predictive": _span(entry["predictive_lo"], entry["predictive_hi"], count),
                }
            )
        rows.append({"metric": metric, "cells": cells})
    return {"keys": keys, "rows": rows}


def comparison_command(document: Mapping[str, Any], out: Path | None = None) -> str:
    """Return the ``peersim compare`` command that reproduces a comparison's document (shell-quoted)."""
    base = document["base"]
    words = ["peersim", "compare", base["file"]]
    sets: list[str] = []
    for whatif in document["comparisons"]:
        if whatif["overrides"]:
            sets += [word for override in whatif["overrides"] for word in ("--set", override)]
        else:
            words.append(whatif["file"])
    words += [*sets, "-n", str(document["replicates"]), "--seed", str(document["seed"])]
    posterior = document.get("posterior")
    if posterior is None:
        words.append("--no-posterior")
    elif not posterior.get("embedded_default"):
        words += ["--posterior", str(posterior["source"])]
    if out is not None:
        words += ["--out", str(out)]
    return " ".join(shlex.quote(word) for word in words)


def comparison_context(document: Mapping[str, Any], out: Path | None = None) -> dict[str, Any]:
    """Everything a comparison's page says, from its ``compare.json`` document (plain data, text).

    Parameters
    ----------
    document
        The document :func:`peersim.ensemble.compare.compare_json` shaped, with its
        ``posterior`` (``None`` without one) and any ``failures``.
    out
        The output directory, quoted in the command that reproduces it.
    """
    from peersim.uncertainty import FEW_EFFECTIVE_PARTICLES

    comparisons = []
    for whatif in document["comparisons"]:
        overall = whatif["overall"]
        headline = [_row(m, overall[m], label) for m, label in HEADLINE_METRICS.items() if m in overall]
        sites = {
            site: [_row(m, values[m]) for m in METRICS if m in values]
            for site, values in whatif["sites"].items()
        }
        years = whatif.get("years", {})
        admitted = [
            year
            for year in sorted(years, key=int)
            if (years[year].get("participants") or {}).get("base") not in (None, 0.0)
        ]
        groups = whatif.get("groups", {})
        comparisons.append(
            {
                "label": whatif["label"],
                "file": whatif["file"],
                "scenario": whatif["scenario"],
                "hash": whatif["hash"],
                "overrides": list(whatif["overrides"]),
                "headline": headline,
                "better": [
                    f"{row['label']} {row['difference']}" for row in headline if row["verdict"] == "better"
                ],
                "worse": [
                    f"{row['label']} {row['difference']}" for row in headline if row["verdict"] == "worse"
                ],
                "overall": [_row(m, overall[m]) for m in METRICS if m in overall],
                "sites": sites if len(sites) > 1 else {},
                "years": _breakdown(years, admitted, BREAKDOWN_SHOWN["years"]) if len(admitted) > 1 else None,
                "groups": _breakdown(groups, list(groups), BREAKDOWN_SHOWN["groups"]) if groups else None,
            }
        )
    posterior = document.get("posterior")
    base = document["base"]
    return {
        "title": f"What-ifs against {base['scenario']}: paired comparison",
        "base": base,
        "replicates": document["replicates"],
        "seed": document["seed"],
        "comparisons": comparisons,
        "clear_share": f"{CLEAR_SHARE:.0%}",
        "predictive_text": document["predictive_interval"],
        "interval_text": document["interval"],
        "p_benefit_text": document["p_benefit"],
        "posterior": None
        if posterior is None
        else {
            "source": posterior["source"],
            "particles": posterior["particles"],
            "effective_sample_size": posterior["effective_sample_size"],
            "embedded_default": posterior.get("embedded_default", False),
            "targets": posterior.get("targets"),
            "few": posterior["effective_sample_size"] < FEW_EFFECTIVE_PARTICLES,
        },
        "no_posterior": "every run uses the scenarios' point values of the mechanism strengths",
        "metrics": [{"metric": m, "description": text} for m, text in METRICS.items()],
        "failures": list(document.get("failures", [])),
        "command": comparison_command(document, out),
    }


def comparison_html(
    document: Mapping[str, Any], figure: Figure | Path | bytes, out: Path | None = None
) -> str:
    """Render a comparison as one self-contained page: its document and its forest plot, inlined.

    Parameters
    ----------
    document, out
        As for :func:`comparison_context`.
    figure
        The forest plot (:func:`peersim.ensemble.figures.forest_figure`), a PNG file or PNG bytes.
    """
    context = comparison_context(document, out)
    context["forest"] = data_uri(figure)
    return render_html(COMPARE_TEMPLATE, context)


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
