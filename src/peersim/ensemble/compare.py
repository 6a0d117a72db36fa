"""What-if comparisons on common random numbers: paired differences, their spread and benefit share.

Replicate ``i`` of the base scenario and of every what-if runs with the same
seed, ``replicate_seed(seed, i)``, and peersim's streams are keyed by site
position and process, so a lever that does not touch a process leaves its
draws alone. With a posterior (``peersim compare``'s default) replicate ``i``
of every scenario also draws the same mechanism strengths. The difference
``what-if - base`` is then taken replicate by replicate: the noise the two runs
share cancels, and a scenario compared with itself differs by exactly zero.

Each metric, overall and per site, gets (:func:`peersim.stats.paired_summary`,
the same numbers from the run stores as from memory):

* the **95% predictive interval of the effect** (``predictive_lo``,
  ``predictive_hi``): the 2.5th and 97.5th percentiles of the per-replicate
  paired differences. Each replicate draws its own mechanism strengths from
  the posterior, so this is where the effect of the change on one site-run
  falls given what is (not) known about the mechanisms and the model's own
  noise. It is the primary answer, and does not narrow as replicates are
  added. Without a posterior it reflects the model's noise only
  (:data:`PREDICTIVE_TEXT_POINT`);
* the **95% interval of the mean** (``lo``, ``hi``): the Student-t confidence
  interval of the *mean* paired difference over replicates, how precisely the
  ensemble pins down the expected effect; it narrows as replicates are added;
* ``p_benefit``: the share of replicates in which the what-if is better by the
  metric's direction (:data:`peersim.core.results.HIGHER_IS_BETTER`); a
  difference of exactly 0 is not a benefit, and metrics without a direction
  have none.

Neither interval is the spread of single-run outcomes that ``peersim run``
reports: both describe the *difference* between paired runs.

The same statistics are taken of the ``years`` and ``groups`` tables, all sites
pooled (:func:`stacked_breakdowns`): per service year and metric, and per
diagnostic group and metric, ``compare.json`` carries them under ``years`` and
``groups`` of each comparison. A year or group present in only one replicate of
a pair (a run that lasted a week longer) is left out of that pair, as a site
only one scenario has is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from peersim.core.overrides import ScenarioSource
from peersim.core.results import COUNT_METRICS, HIGHER_IS_BETTER, OVERALL
from peersim.core.scenario import Scenario
from peersim.ensemble.summary import SUMMARY_COLUMNS, TABLE_KEYS, GroupedValues, grouped_values
from peersim.stats import PAIRED_COLUMNS, PAIRED_STATISTICS, paired_summary

COMPARE_FILES = ("compare.csv", "compare.json", "forest.png", "report.html")
"""Files a comparison with an output directory writes next to its run stores (``report.html``: the
self-contained page, :func:`peersim.ensemble.report.comparison_html`)."""

PREDICTIVE_TEXT = (
    "95% predictive interval of the effect, posterior + model noise (the primary answer): "
    "2.5th-97.5th percentile of the per-replicate paired differences (what-if - base), each "
    "replicate drawing its own mechanism strengths from the posterior; it does not narrow as "
    "replicates are added"
)
"""What ``predictive_lo`` and ``predictive_hi`` are, with a posterior (``predictive_interval``)."""

PREDICTIVE_TEXT_POINT = (
    "95% predictive interval of the effect, model noise only (the primary answer): 2.5th-97.5th "
    "percentile of the per-replicate paired differences (what-if - base); run without a "
    "posterior, every replicate uses the scenario's point mechanism strengths, so the interval "
    "leaves out the uncertainty about them"
)
"""What ``predictive_lo`` and ``predictive_hi`` are without a posterior (``--no-posterior``)."""

INTERVAL_TEXT = (
    "95% interval of the mean: Student-t confidence interval of the mean paired difference "
    "(what-if - base) over replicates, how precisely the ensemble pins down the expected "
    "effect; it narrows as replicates are added"
)
"""What ``lo`` and ``hi`` are (the ``interval`` of ``compare.json``)."""

BREAKDOWN_TABLES: tuple[str, ...] = ("years", "groups")
"""Tables whose overall rows a comparison also pairs: per service year and per diagnostic group."""

BREAKDOWN_COLUMNS: dict[str, list[str]] = {
    table: ["comparison", *TABLE_KEYS[table], *PAIRED_STATISTICS] for table in BREAKDOWN_TABLES
}
"""Columns of :func:`stacked_breakdowns`: ``comparison, year, site, metric`` (or ``group, ...``), then
the statistics of :data:`peersim.stats.PAIRED_STATISTICS`; ``site`` is always ``overall``."""

BREAKDOWN_HIGHER_IS_BETTER: dict[str, bool | None] = {
    **HIGHER_IS_BETTER,
    "peer_worker_leavers": False,
    "ward_staff_leavers": False,
    "vacant_post_weeks": False,
}
"""Direction of each metric of the ``years`` and ``groups`` tables: the headline metrics' own, and
fewer leavers and fewer vacant post-weeks are better (staff kept, posts held)."""

BREAKDOWN_SHOWN: dict[str, tuple[str, ...]] = {
    "years": (
        "engagement_rate",
        "unmet_demand",
        "fidelity_index",
        "readmission_rate_intervention",
        "readmissions_averted",
        "vacant_post_weeks",
    ),
    "groups": ("engagement_rate", "unmet_demand", "readmission_rate_intervention", "readmissions_averted"),
}
"""Metrics a comparison shows by service year and by diagnostic group, in the terminal and in
``report.html`` (``compare.json`` holds every one of the ``years`` and ``groups`` tables)."""

COUNT_COLUMNS = COUNT_METRICS | {"vacant_post_weeks", "peer_worker_leavers", "ward_staff_leavers"}
"""Metrics of the ``metrics``, ``years`` and ``groups`` tables that are counts (shown with one decimal)."""

P_BENEFIT_TEXT = (
    "P(benefit): share of paired replicates in which the what-if is better than the base by "
    "the metric's direction (higher_is_better true: difference > 0; false: difference < 0); "
    "a difference of exactly 0 (a tie) is not a benefit; null for metrics without a direction. "
    "P(harm), p_harm: the share in which it is worse; 1 - P(benefit) - P(harm) is the share of ties"
)
"""What ``p_benefit`` is (the ``p_benefit`` of ``compare.json``)."""


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


def stacked_breakdowns(
    sinks: Sequence[MetricsSource], labels: Sequence[str], replicates: int | None = None
) -> dict[str, pd.DataFrame]:
    """Paired differences per service year and per diagnostic group, all sites pooled, stacked.

    Parameters
    ----------
    sinks, labels, replicates
        As for :func:`stacked_differences`; each sink holds the ``years`` and
        ``groups`` tables.

    Returns
    -------
    dict[str, pandas.DataFrame]
        By table (:data:`BREAKDOWN_TABLES`): for every what-if against the base,
        the :func:`peersim.stats.paired_summary` of each year (or group) and
        metric of the ``overall`` rows, in :data:`BREAKDOWN_COLUMNS`, with the
        directions of :data:`BREAKDOWN_HIGHER_IS_BETTER`. Years are numbers
        (1 = delivery weeks 1-52), groups those of
        :data:`peersim.core.results.GROUPS`.
    """
    pairs = set.intersection(*(sink.completed() for sink in sinks))
    held = np.array(sorted(r for r in pairs if replicates is None or r < replicates), dtype=np.int64)
    out = {}
    for table in BREAKDOWN_TABLES:
        base = _overall_values(sinks[0], table, held, replicates)
        frames = [
            _paired(
                base,
                _overall_values(sink, table, held, replicates),
                label,
                BREAKDOWN_COLUMNS[table],
                BREAKDOWN_HIGHER_IS_BETTER,
            )
            for sink, label in zip(sinks[1:], labels[1:], strict=True)
        ]
        out[table] = pd.concat(frames, ignore_index=True)
    return out


def _overall_values(
    sink: MetricsSource, table: str, held: np.ndarray, replicates: int | None
) -> GroupedValues:
    """One float64 per key and held replicate of ``table``'s ``overall`` rows (all sites pooled)."""
    import pyarrow.compute as pc  # heavy; the parts are pyarrow Tables, so it is loaded already

    keys = list(TABLE_KEYS[table])
    parts = sink.parts(table, columns=[*keys, "value", "replicate"], replicates=replicates)
    overall = (part.filter(pc.equal(part.column("site"), OVERALL)) for part in parts)
    return grouped_values(overall, keys, held, presence=True)


def _paired(
    base: GroupedValues,
    whatif: GroupedValues,
    comparison: str,
    columns: Sequence[str] = PAIRED_COLUMNS,
    directions: Mapping[str, bool | None] = HIGHER_IS_BETTER,
) -> pd.DataFrame:
    """Paired differences of two scenarios' grouped values, as :func:`peersim.stats.paired_differences`.

    ``columns`` name the comparison, the keys and the statistics; the last key
    is the metric, whose direction ``directions`` gives.
    """
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
        rows.append((comparison, *key, *paired_summary(a, b, directions.get(str(key[-1])))))
    return pd.DataFrame(rows, columns=list(columns))


def _clean(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _entry(row: Any, directions: Mapping[str, bool | None]) -> dict[str, Any]:
    """One metric's paired statistics as ``compare.json`` gives them (``null`` for missing values)."""
    return {
        "base": _clean(row.base),
        "whatif": _clean(row.whatif),
        "difference": _clean(row.difference),
        "lo": _clean(row.lo),
        "hi": _clean(row.hi),
        "predictive_lo": _clean(row.predictive_lo),
        "predictive_hi": _clean(row.predictive_hi),
        "p_benefit": _clean(row.p_benefit),
        "p_harm": _clean(row.p_harm),
        "higher_is_better": directions.get(str(row.metric)),
        "n": int(row.n),
    }


def compare_json(
    differences: pd.DataFrame,
    base: dict[str, Any],
    whatifs: Sequence[dict[str, Any]],
    seed: int,
    replicates: int,
    with_posterior: bool = True,
    breakdowns: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """Shape paired differences as the ``peersim compare --json`` document.

    ``{"base": {...}, "seed", "replicates", "interval", "predictive_interval",
    "p_benefit", "comparisons": [{"label", ..., "overall": {METRIC: {"base",
    "whatif", "difference", "lo", "hi", "predictive_lo", "predictive_hi",
    "p_benefit", "p_harm", "higher_is_better", "n"}},
    "sites": {SITE: {METRIC: {...}}}, "years": {YEAR: {METRIC: {...}}},
    "groups": {GROUP: {METRIC: {...}}}}]}``;
    missing values are ``null``. ``years`` (keys ``"1"``, ``"2"``, ...) and
    ``groups`` are all sites pooled, from ``breakdowns``
    (:func:`stacked_breakdowns`), and are left out without them; their
    ``higher_is_better`` is :data:`BREAKDOWN_HIGHER_IS_BETTER`. ``interval``, ``predictive_interval`` and
    ``p_benefit`` describe ``lo``/``hi``, ``predictive_lo``/``predictive_hi``
    and ``p_benefit``; ``higher_is_better`` is the metric's direction
    (:data:`peersim.core.results.HIGHER_IS_BETTER`, ``null``: none).
    ``with_posterior`` says whether the replicates drew mechanism strengths
    from a posterior: without, the predictive interval reflects the model's
    noise only, and ``predictive_interval`` says so. ``base`` and each of
    ``whatifs`` describe a scenario (label, file, name, hash, overrides);
    ``whatifs[k]["label"]`` matches the ``comparison`` column.
    """
    comparisons = []
    for whatif in whatifs:
        entry: dict[str, Any] = {**whatif, "overall": {}, "sites": {}}
        rows = differences[differences["comparison"] == whatif["label"]]
        for row in rows.itertuples(index=False):
            values = _entry(row, HIGHER_IS_BETTER)
            if row.site == OVERALL:
                entry["overall"][row.metric] = values
            else:
                entry["sites"].setdefault(row.site, {})[row.metric] = values
        for table, key in (("years", "year"), ("groups", "group")):
            frame = (breakdowns or {}).get(table)
            if frame is None:
                continue
            entry[table] = {}
            for row in frame[frame["comparison"] == whatif["label"]].itertuples(index=False):
                values = _entry(row, BREAKDOWN_HIGHER_IS_BETTER)
                entry[table].setdefault(str(getattr(row, key)), {})[row.metric] = values
        comparisons.append(entry)
    return {
        "base": base,
        "seed": seed,
        "replicates": replicates,
        "predictive_interval": PREDICTIVE_TEXT if with_posterior else PREDICTIVE_TEXT_POINT,
        "interval": INTERVAL_TEXT,
        "p_benefit": P_BENEFIT_TEXT,
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
