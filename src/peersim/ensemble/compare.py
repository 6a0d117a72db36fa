"""What-if comparisons on common random numbers: paired differences with 95% intervals.

Replicate ``i`` of the base scenario and of every what-if runs with the same
seed, ``replicate_seed(seed, i)``, and peersim's streams are keyed by site
position and process, so a lever that does not touch a process leaves its
draws alone. The difference ``what-if - base`` is then taken replicate by
replicate: the noise the two runs share cancels, and a scenario compared with
itself differs by exactly zero.

The interval is the 95% Student-t confidence interval of the *mean* paired
difference over replicates (how precisely the ensemble pins down the expected
effect of the change); it narrows as replicates are added. It is not the
spread of single-run outcomes that ``peersim run`` reports.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from peersim.core.overrides import ScenarioSource
from peersim.core.results import OVERALL
from peersim.core.scenario import Scenario
from peersim.ensemble.summary import SUMMARY_COLUMNS, GroupedValues, grouped_values
from peersim.stats import PAIRED_COLUMNS, mean_interval

COMPARE_FILES = ("compare.csv", "compare.json", "forest.png")
"""Files a comparison with an output directory writes next to its run stores."""

INTERVAL_TEXT = "95% t-interval of the mean paired difference (what-if - base) over replicates"


class MetricsSource(Protocol):
    """Anything that reads back an ensemble's tables (a ``MemorySink`` or a ``RunStore``)."""

    def completed(self) -> set[int]:
        """Replicates held."""
        ...

    def parts(
        self, table: str, columns: Sequence[str] | None = None, replicates: int | None = None
    ) -> Iterator[Any]:
        """Yield ``table`` a batch at a time, as pyarrow Tables."""
        ...


def site_mismatch(base: Scenario, whatif: Scenario, label: str) -> str | None:
    """Say so when a what-if's sites differ from the base's in name or order (else ``None``).

    Random numbers are shared by site position, and differences are reported for
    sites present in both.
    """
    a = [site.name for site in base.sites]
    b = [site.name for site in whatif.sites]
    if a == b:
        return None
    return (
        f"{label} lists sites {b}, the base {a}; random numbers are shared by site position "
        "and differences are reported for sites present in both"
    )


def stacked_differences(
    sinks: Sequence[MetricsSource], labels: Sequence[str], replicates: int | None = None
) -> pd.DataFrame:
    """Paired differences of every sink after the first against the first, stacked.

    Parameters
    ----------
    sinks
        Where each scenario's ``metrics`` table is held (in memory or a run
        store); the first is the base.
    labels
        One label per sink; those after the first fill the ``comparison`` column.
    replicates
        Use only replicates ``0 .. replicates - 1`` (default: all held).

    Returns
    -------
    pandas.DataFrame
        :func:`peersim.stats.paired_differences` of each what-if against the
        base, stacked: the same numbers to the bit, from one float64 per site,
        metric and pair of each scenario (see
        :func:`peersim.ensemble.summary.grouped_values`) instead of the merged
        tables.
    """
    pairs = set.intersection(*(sink.completed() for sink in sinks))
    held = np.array(sorted(r for r in pairs if replicates is None or r < replicates), dtype=np.int64)

    def values(sink: MetricsSource) -> GroupedValues:
        parts = sink.parts("metrics", columns=SUMMARY_COLUMNS, replicates=replicates)
        return grouped_values(parts, ["site", "metric"], held, presence=True)

    base = values(sinks[0])
    frames = [_paired(base, values(sink), label) for sink, label in zip(sinks[1:], labels[1:], strict=True)]
    return pd.concat(frames, ignore_index=True)


def _paired(base: GroupedValues, whatif: GroupedValues, comparison: str) -> pd.DataFrame:
    """Paired differences of two scenarios' grouped values, as :func:`peersim.stats.paired_differences`."""
    if base.present is None or whatif.present is None:
        raise ValueError("paired values need `presence=True`")
    index = {key: k for k, key in enumerate(whatif.keys)}
    rows = []
    for key, a_all, a_present in zip(base.keys, base.values, base.present, strict=True):
        k = index.get(key)
        if k is None:  # a site or metric only the base has: a merge of the tables has no row of it
            continue
        both = a_present & whatif.present[k]
        if not both.any():
            continue
        a, b = a_all[both], whatif.values[k][both]
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        if a.size == 0:
            rows.append((comparison, *key, np.nan, np.nan, np.nan, np.nan, np.nan, 0))
            continue
        mean, lo, hi = mean_interval(b - a)
        rows.append((comparison, *key, float(a.mean()), float(b.mean()), mean, lo, hi, int(a.size)))
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def _clean(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def compare_json(
    differences: pd.DataFrame,
    base: dict[str, Any],
    whatifs: Sequence[dict[str, Any]],
    seed: int,
    replicates: int,
) -> dict[str, Any]:
    """Shape paired differences as the ``peersim compare --json`` document.

    ``{"base": {...}, "seed", "replicates", "interval", "comparisons": [{"label",
    ..., "overall": {METRIC: {"base", "whatif", "difference", "lo", "hi", "n"}},
    "sites": {SITE: {METRIC: {...}}}}]}``; missing values are ``null``.
    ``base`` and each of ``whatifs`` describe a scenario (label, file, name,
    hash, overrides); ``whatifs[k]["label"]`` matches the ``comparison`` column.
    """
    comparisons = []
    for whatif in whatifs:
        entry: dict[str, Any] = {**whatif, "overall": {}, "sites": {}}
        rows = differences[differences["comparison"] == whatif["label"]]
        for row in rows.itertuples(index=False):
            values = {
                "base": _clean(row.base),
                "whatif": _clean(row.whatif),
                "difference": _clean(row.difference),
                "lo": _clean(row.lo),
                "hi": _clean(row.hi),
                "n": int(row.n),
            }
            if row.site == OVERALL:
                entry["overall"][row.metric] = values
            else:
                entry["sites"].setdefault(row.site, {})[row.metric] = values
        comparisons.append(entry)
    return {
        "base": base,
        "seed": seed,
        "replicates": replicates,
        "interval": INTERVAL_TEXT,
        "comparisons": comparisons,
    }


def comparison_labels(sources: Sequence[ScenarioSource]) -> list[str]:
    """Return unique labels, also the run store directory names: ``base``, then file stems."""
    labels = ["base"]
    for source in sources[1:]:
        label, k = source.label, 2
        while label in labels:
            label, k = f"{source.label}-{k}", k + 1
        labels.append(label)
    return labels


def describe_source(source: ScenarioSource, label: str) -> dict[str, Any]:
    """JSON-ready record of one compared scenario: label, file, name, hash and overrides."""
    return {
        "label": label,
        "file": source.source,
        "scenario": source.scenario.name,
        "hash": source.scenario.hash,
        "overrides": list(source.overrides),
    }
