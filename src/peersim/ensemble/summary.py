"""Summaries of replicate runs: means with 95% intervals, per site, arm and week.

Functions that read a run store read it table by table with only the columns
and rows they need, so memory stays flat however many replicates it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from peersim.core.results import OVERALL, RunResult
from peersim.ensemble.runstore import RunStore
from peersim.stats import INTERVAL, percentile_interval

SUMMARY_COLUMNS = ["site", "metric", "value", "replicate"]
INTERVAL_TEXT = "2.5th-97.5th percentile of replicate values"


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
            lo, hi = percentile_interval(values)
            rows.append((site, metric, float(values.mean()), lo, hi, int(values.size)))
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
        "interval": INTERVAL_TEXT,
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


def store_summary(store: RunStore, replicates: int | None = None) -> pd.DataFrame:
    """Mean and 95% interval per site and metric over a run store's replicates.

    Parameters
    ----------
    store
        The run store.
    replicates
        Summarise replicates ``0 .. replicates - 1`` only (default: all held).
    """
    return summarise(store.read("metrics", columns=SUMMARY_COLUMNS, replicates=replicates, categorical=True))


def acceptance_series(store: RunStore, replicates: int | None = None) -> pd.DataFrame:
    """Weekly ward acceptance of every replicate (``week, site, metric, value``)."""
    return store.read(
        "timeseries",
        columns=["week", "site", "metric", "value"],
        replicates=replicates,
        where={"metric": ["ward_acceptance"]},
        categorical=True,
    )


def timeseries_bands(store: RunStore, metrics: Sequence[str], replicates: int | None = None) -> pd.DataFrame:
    """Weekly mean and 95% band of replicate values, per site and metric.

    Reads one metric at a time, so memory holds one metric's rows, not the
    whole ``timeseries`` table.

    Returns
    -------
    pandas.DataFrame
        Columns ``site, metric, week, mean, lo, hi, n``; ``lo`` and ``hi`` are
        the 2.5th and 97.5th percentiles over replicates (missing weeks ignored).
    """
    lo_q, hi_q = (p / 100 for p in INTERVAL)
    parts = []
    for metric in metrics:
        rows = store.read(
            "timeseries",
            columns=["site", "week", "value"],
            replicates=replicates,
            where={"metric": [metric]},
            categorical=True,
        )
        grouped = rows.groupby(["site", "week"], sort=False)["value"]
        part = pd.DataFrame(
            {
                "mean": grouped.mean(),
                "lo": grouped.quantile(lo_q),
                "hi": grouped.quantile(hi_q),
                "n": grouped.count(),
            }
        ).reset_index()
        part.insert(1, "metric", metric)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def outcome_summary(store: RunStore, replicates: int | None = None) -> pd.DataFrame:
    """Mean and 95% interval of each outcome per site and arm (from the ``outcomes`` table).

    Returns
    -------
    pandas.DataFrame
        Columns ``site, arm, metric, mean, lo, hi, n`` (see :func:`summarise`).
    """
    outcomes = store.read(
        "outcomes", columns=["site", "arm", "metric", "value", "replicate"], replicates=replicates
    )
    parts = []
    for arm, rows in outcomes.groupby("arm", sort=False):
        part = summarise(rows.drop(columns="arm"))
        part.insert(1, "arm", arm)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
