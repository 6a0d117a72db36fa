"""Summaries of replicate runs: means with 95% intervals, as tables and JSON."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from peersim.results import METRICS, OVERALL, RunResult

INTERVAL = (2.5, 97.5)
"""Percentiles of the replicate distribution reported as the 95% interval."""


def stack_metrics(results: Iterable[RunResult]) -> pd.DataFrame:
    """Concatenate the headline metrics of many runs, adding a ``replicate`` column."""
    frames = []
    for index, result in enumerate(results):
        frame = result.metrics.copy()
        frame["replicate"] = index if result.replicate is None else result.replicate
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def summarise(stacked: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% interval of each (site, metric) over replicates.

    The interval is the 2.5th to 97.5th percentile of the replicate values: the
    spread of outcomes a single realisation of the scenario could show. With one
    replicate it collapses to the value. Missing values (for example readmission
    of engaged participants at a site with none) are ignored.

    Parameters
    ----------
    stacked
        Output of :func:`stack_metrics` (columns ``site, metric, value, replicate``).

    Returns
    -------
    pandas.DataFrame
        Columns ``site, metric, mean, lo, hi, n`` in the order sites then metrics
        appear.
    """
    rows = []
    for (site, metric), group in stacked.groupby(["site", "metric"], sort=False):
        values = group["value"].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            lo, hi = np.percentile(values, INTERVAL)
            rows.append((site, metric, float(values.mean()), float(lo), float(hi), int(values.size)))
        else:
            rows.append((site, metric, float("nan"), float("nan"), float("nan"), 0))
    return pd.DataFrame(rows, columns=["site", "metric", "mean", "lo", "hi", "n"])


def _clean(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def summary_json(summary: pd.DataFrame, scenario_name: str, seed: int, replicates: int) -> dict[str, Any]:
    """Shape a summary as the ``peersim run --json`` document.

    ``{"scenario", "seed", "replicates", "overall": {METRIC: {"mean", "lo", "hi"}},
    "sites": {SITE: {METRIC: {...}}}}``; missing values are ``null``.
    """
    document: dict[str, Any] = {
        "scenario": scenario_name,
        "seed": seed,
        "replicates": replicates,
        "interval": "2.5th-97.5th percentile of replicate values",
        "overall": {},
        "sites": {},
    }
    for site, metric, mean, lo, hi in zip(
        summary["site"], summary["metric"], summary["mean"], summary["lo"], summary["hi"], strict=True
    ):
        entry = {"mean": _clean(mean), "lo": _clean(lo), "hi": _clean(hi)}
        if site == OVERALL:
            document["overall"][metric] = entry
        else:
            document["sites"].setdefault(site, {})[metric] = entry
    return document


def format_table(summary: pd.DataFrame, sites: list[str]) -> str:
    """Render the summary as a readable text table: metrics down, sites across."""
    columns = [OVERALL, *sites]
    width = max(len(m) for m in METRICS) + 2
    cell = 24
    header = "metric".ljust(width) + "".join(c[: cell - 1].rjust(cell) for c in columns)
    lines = [header, "-" * len(header)]
    lookup = {(r.site, r.metric): r for r in summary.itertuples(index=False)}
    for metric in METRICS:
        text = metric.ljust(width)
        for column in columns:
            row = lookup.get((column, metric))
            text += _format_cell(row).rjust(cell)
        lines.append(text)
    return "\n".join(lines)


def _format_cell(row: Any) -> str:
    if row is None or not np.isfinite(row.mean):
        return "-"
    digits = 0 if row.metric in {"participants", "vacancy_weeks", "supervision_sessions"} else 2
    if row.n <= 1 or row.lo == row.hi:
        return f"{row.mean:.{digits}f}"
    return f"{row.mean:.{digits}f} [{row.lo:.{digits}f}, {row.hi:.{digits}f}]"
