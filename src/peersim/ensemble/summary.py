"""Summaries of replicate runs: means with 95% intervals, per site, arm and week.

Functions that read a run store stream it a batch at a time and build no
Python object per replicate. Headline summaries keep exactly the values a
percentile needs: one float64 per site, metric and replicate (about 1.4 kB a
replicate for the 8-site default, so 140 MB at 100,000), and give the same
numbers, to the bit, as :func:`summarise` of the whole table. Weekly bands of
a store are built from counts (a histogram per site and week), so their memory
grows with the weeks the longest replicate lasts, not with the replicates.

Weekly bands are honest about runs of different lengths: a week's mean and band
are given only where every replicate lasts that long (see :func:`weekly_bands`).

The ``years`` and ``groups`` tables are summarised the same way as the headline
metrics, per service year or diagnostic group as well as site and metric
(:data:`TABLE_KEYS`): :func:`summarise_table` of runs in memory, and
:func:`store_summary` with ``table`` of a store, to the same bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from peersim.core.results import OVERALL, RunResult
from peersim.ensemble.runstore import RunStore
from peersim.stats import INTERVAL, percentile_interval

SUMMARY_COLUMNS = ["site", "metric", "value", "replicate"]
INTERVAL_TEXT = "2.5th-97.5th percentile of replicate values"
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "metrics": ("site", "metric"),
    "years": ("year", "site", "metric"),
    "groups": ("group", "site", "metric"),
}
"""Columns naming one value of each long table a summary describes (all but ``value``)."""
MAIN_YEAR_METRICS: tuple[str, ...] = (
    "engagement_rate",
    "unmet_demand",
    "fidelity_index",
    "ward_acceptance",
    "readmissions_averted",
    "peer_worker_leavers",
)
"""Metrics of the ``years`` table ``peersim run`` shows and draws by service year."""
MAIN_GROUP_METRICS: tuple[str, ...] = (
    "engagement_rate",
    "readmission_rate_control",
    "readmission_rate_intervention",
)
"""Metrics of the ``groups`` table ``peersim run`` shows by diagnostic group."""
BAND_BINS = 1000
"""Histogram bins of a store's weekly bands on their 0-1 scale: band ends within 0.001 of the percentiles."""


def stack_metrics(results: Iterable[RunResult], table: str = "metrics") -> pd.DataFrame:
    """Concatenate one table of many runs (default: the headline metrics), adding a ``replicate`` column."""
    frames = []
    for index, result in enumerate(results):
        frame = getattr(result, table).copy()
        frame["replicate"] = index if result.replicate is None else result.replicate
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def summarise(stacked: pd.DataFrame, keys: Sequence[str] = TABLE_KEYS["metrics"]) -> pd.DataFrame:
    """Mean and 95% interval of each (site, metric), or other ``keys``, over replicates.

    The interval is the 2.5th to 97.5th percentile of the replicate values: the
    spread of outcomes a single realisation of the scenario could show. With one
    replicate it collapses to the value. Missing values (for example readmission
    of engaged participants at a site with none) are ignored.

    Parameters
    ----------
    stacked
        Output of :func:`stack_metrics` (columns ``site, metric, value, replicate``,
        or ``keys`` and ``value``), in replicate order.
    keys
        Columns naming a value (:data:`TABLE_KEYS` of the stacked table).

    Returns
    -------
    pandas.DataFrame
        Columns ``keys`` then ``mean, lo, hi, n``, in the order the keys appear.
    """
    rows = [
        (*key, *_describe(group["value"].to_numpy(dtype=float)))
        for key, group in stacked.groupby(list(keys), sort=False)
    ]
    return pd.DataFrame(rows, columns=[*keys, "mean", "lo", "hi", "n"])


def summarise_table(results: Iterable[RunResult], table: str) -> pd.DataFrame:
    """Mean and 95% interval over runs of one of their long tables (``metrics``, ``years`` or ``groups``).

    Parameters
    ----------
    results
        Replicates of one scenario, in replicate order.
    table
        A table of :data:`TABLE_KEYS`.

    Returns
    -------
    pandas.DataFrame
        :func:`summarise` of the stacked table: for ``years`` the columns
        ``year, site, metric, mean, lo, hi, n``, for ``groups`` ``group, site,
        metric, mean, lo, hi, n``.
    """
    return summarise(stack_metrics(results, table), TABLE_KEYS[table])


def admission_years(years: pd.DataFrame) -> list[int]:
    """Service years with admissions: those whose overall ``participants`` mean is above 0.

    Parameters
    ----------
    years
        A summary of the ``years`` table (:func:`summarise_table` or :func:`store_summary`).

    Returns
    -------
    list[int]
        The years (1 = delivery weeks 1-52), in order.
    """
    rows = years[(years["site"] == OVERALL) & (years["metric"] == "participants") & (years["mean"] > 0)]
    return sorted(int(year) for year in rows["year"])


def _describe(values: np.ndarray) -> tuple[float, float, float, int]:
    """Mean, 2.5th and 97.5th percentiles and count of the finite ``values`` (NaN and 0 if none)."""
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan"), float("nan"), float("nan"), 0
    lo, hi = percentile_interval(values)
    return float(values.mean()), lo, hi, int(values.size)


def _clean(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _entry(mean: float, lo: float, hi: float) -> dict[str, float | None]:
    return {"mean": _clean(mean), "lo": _clean(lo), "hi": _clean(hi)}


def overall_by(summary: pd.DataFrame, key: str) -> dict[str, dict[str, dict[str, float | None]]]:
    """Shape the overall rows of a ``years`` or ``groups`` summary as ``{KEY: {METRIC: {...}}}``.

    Keys are text (``"1"`` for year 1), in the order they appear; each entry has ``mean``, ``lo``
    and ``hi``, ``None`` where missing.
    """
    rows = summary[summary["site"] == OVERALL]
    shaped: dict[str, dict[str, dict[str, float | None]]] = {}
    for name, metric, mean, lo, hi in zip(
        rows[key], rows["metric"], rows["mean"], rows["lo"], rows["hi"], strict=True
    ):
        shaped.setdefault(str(name), {})[metric] = _entry(mean, lo, hi)
    return shaped


def summary_json(
    summary: pd.DataFrame,
    scenario_name: str,
    seed: int,
    replicates: int,
    years: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Shape a summary as the ``peersim run --json`` document.

    ``{"scenario", "seed", "replicates", "overall": {METRIC: {"mean", "lo", "hi"}},
    "sites": {SITE: {METRIC: {...}}}, "years": {YEAR: {METRIC: {...}}}, "groups":
    {GROUP: {METRIC: {...}}}}``; years and groups are overall (all sites pooled),
    empty without their summaries; missing values are ``null``.

    Parameters
    ----------
    summary
        Headline summary (:func:`summarise` or :func:`store_summary`).
    scenario_name, seed, replicates
        What the summary describes.
    years, groups
        Summaries of the ``years`` and ``groups`` tables (:func:`summarise_table`).
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
        entry = _entry(mean, lo, hi)
        if site == OVERALL:
            document["overall"][metric] = entry
        else:
            document["sites"].setdefault(site, {})[metric] = entry
    document["years"] = overall_by(years, "year") if years is not None else {}
    document["groups"] = overall_by(groups, "group") if groups is not None else {}
    return document


def store_summary(store: RunStore, replicates: int | None = None, table: str = "metrics") -> pd.DataFrame:
    """Mean and 95% interval per site and metric (and year or group) over a run store's replicates.

    The same table as :func:`summarise` of the store's whole ``table``, to the
    bit, from one float64 per key and replicate (see :func:`grouped_values`),
    reading a batch at a time.

    Parameters
    ----------
    store
        The run store.
    replicates
        Summarise replicates ``0 .. replicates - 1`` only (default: all held).
    table
        ``metrics`` (columns ``site, metric, mean, lo, hi, n``), ``years``
        (``year, site, ...``) or ``groups`` (``group, site, ...``).
    """
    keys = TABLE_KEYS[table]
    held = held_replicates(store, replicates)
    parts = store.parts(table, columns=[*keys, "value", "replicate"], replicates=replicates)
    grouped = grouped_values(parts, keys, held)
    rows = [(*key, *_describe(row)) for key, row in zip(grouped.keys, grouped.values, strict=True)]
    return pd.DataFrame(rows, columns=[*keys, "mean", "lo", "hi", "n"])


def held_replicates(store: RunStore, replicates: int | None = None) -> np.ndarray:
    """Sorted replicates the store holds (those below ``replicates`` if given)."""
    held = np.sort(np.fromiter(store.completed(), dtype=np.int64))
    return held if replicates is None else held[held < replicates]


class _Groups:
    """Integer indices of key tuples, in the order first met, for the rows of table after table.

    Each key column's values get codes of their own, and a table of every
    combination of codes gives the group: per batch, the Python work is one
    step per distinct value of a column (a few sites, a hundred weeks), never
    one per row or per group.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        self._codes: list[dict[Any, int]] = [{} for _ in self.keys]
        self._lookup = np.full([1] * len(self.keys), -1, dtype=np.int64)
        self._members: list[np.ndarray] = []  # per new batch of groups: their codes, one column per key

    def __len__(self) -> int:
        return sum(len(members) for members in self._members)

    def of(self, part: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return each row's group and the rows where each of the part's groups first appears."""
        import pyarrow.compute as pc

        codes = []
        for name, known in zip(self.keys, self._codes, strict=True):
            encoded = pc.dictionary_encode(part.column(name).combine_chunks())
            local = [known.setdefault(value, len(known)) for value in encoded.dictionary.to_pylist()]
            codes.append(np.asarray(local, dtype=np.int64)[encoded.indices.to_numpy()])
        shape = tuple(
            max(size, len(known)) for size, known in zip(self._lookup.shape, self._codes, strict=True)
        )
        if shape != self._lookup.shape:
            grown = np.full(shape, -1, dtype=np.int64)
            grown[tuple(slice(0, size) for size in self._lookup.shape)] = self._lookup
            self._lookup = grown
        flat = np.ravel_multi_index(codes, shape)
        group = self._lookup.reshape(-1)[flat]
        new = np.unique(flat[group < 0])
        if new.size:
            self._lookup.reshape(-1)[new] = np.arange(len(self), len(self) + new.size)
            self._members.append(np.stack(np.unravel_index(new, shape), axis=1))
            group = self._lookup.reshape(-1)[flat]
        return group, np.unique(group, return_index=True)[1]

    def keys_seen(self) -> list[tuple[Any, ...]]:
        """Return the key of every group, in group order."""
        values = [list(known) for known in self._codes]
        return [
            tuple(values[c][int(code)] for c, code in enumerate(member))
            for members in self._members
            for member in members
        ]


@dataclass(frozen=True)
class GroupedValues:
    """A table's ``value`` column as one array per group, with one entry per held replicate.

    Attributes
    ----------
    keys
        The group keys, in the order :meth:`pandas.DataFrame.groupby` with
        ``sort=False`` gives them for the table in replicate order.
    values
        For each group, a float64 array of one value per held replicate, in
        replicate order (NaN where a replicate has none): views of one array
        of ``8 * groups * replicates`` bytes, the values and nothing else.
    present
        For each group, whether each replicate has a row (its value may still
        be NaN); ``None`` unless asked for.
    """

    keys: list[tuple[Any, ...]]
    values: list[np.ndarray]
    present: list[np.ndarray] | None = None


def grouped_values(
    parts: Iterable[Any], keys: Sequence[str], held: np.ndarray, presence: bool = False
) -> GroupedValues:
    """Collect a table's ``value`` column a batch at a time into one array per group (:class:`GroupedValues`).

    Parameters
    ----------
    parts
        pyarrow Tables with the ``keys``, ``value`` and ``replicate`` columns,
        a batch at a time (:meth:`~peersim.ensemble.runstore.RunStore.parts`);
        a batch's rows are in replicate order, one per group and replicate.
    keys
        Columns naming a group (``site, metric``).
    held
        Sorted replicates to collect: entry ``j`` of each array is replicate
        ``held[j]``; rows of other replicates are left out.
    presence
        Also record which replicates have a row of each group (a byte per entry).
    """
    import pyarrow as pa

    groups = _Groups(keys)
    values = np.full((0, len(held)), np.nan)
    present = np.zeros((0, len(held)), dtype=bool) if presence else None
    first: list[tuple[int, int]] = []  # (replicate, row of its batch) where each group first appears
    for part in parts:
        replicate = part.column("replicate").to_numpy()
        column = np.minimum(np.searchsorted(held, replicate), max(len(held) - 1, 0))
        wanted = held[column] == replicate if len(held) else np.zeros(len(replicate), dtype=bool)
        if not wanted.all():
            part, replicate, column = part.filter(pa.array(wanted)), replicate[wanted], column[wanted]
        if part.num_rows == 0:
            continue
        group, starts = groups.of(part)
        if len(groups) > values.shape[0]:
            size = max(len(groups), 2 * values.shape[0])
            values = np.concatenate([values, np.full((size - values.shape[0], len(held)), np.nan)])
            if present is not None:
                extra = np.zeros((size - present.shape[0], len(held)), dtype=bool)
                present = np.concatenate([present, extra])
        first.extend([(np.iinfo(np.int64).max, 0)] * (len(groups) - len(first)))
        values[group, column] = part.column("value").to_numpy()
        if present is not None:
            present[group, column] = True
        for row in starts:
            g = int(group[row])
            first[g] = min(first[g], (int(replicate[row]), int(row)))
    keys_seen = groups.keys_seen()
    order = sorted(range(len(keys_seen)), key=lambda g: first[g])
    return GroupedValues(
        [keys_seen[g] for g in order],
        [values[g] for g in order],
        [present[g] for g in order] if present is not None else None,
    )


BAND_COLUMNS = ["site", "metric", "week", "mean", "lo", "hi", "n", "reached", "replicates"]


def weekly_bands(rows: pd.DataFrame, replicates: int | None = None) -> pd.DataFrame:
    """Weekly mean and 95% band of replicate values per site and metric, in weeks every replicate reaches.

    Replicates of one scenario last different numbers of weeks (delivery ends
    when the last participant's follow-up does). Averaging whatever is left in
    the late weeks would describe a few replicates under a count that says
    all, and the mean would wander with them; such weeks keep their counts
    but get no mean or band. Within a week every replicate reaches, a missing
    value (no one offered yet, no peer worker in post) is left out, as the
    metric's own definition does; ``n`` counts the values used.

    Parameters
    ----------
    rows
        Weekly values (columns ``site, metric, week, value``, and perhaps
        ``replicate``), one row per replicate, site, metric and week it lasts.
    replicates
        Replicates the rows come from; by default the distinct ``replicate``
        values in ``rows``, or without that column the most rows any week has.

    Returns
    -------
    pandas.DataFrame
        Columns ``site, metric, week, mean, lo, hi, n, reached, replicates``:
        ``reached`` of the ``replicates`` last that long, ``n`` of them have a
        value; ``mean``, ``lo`` and ``hi`` (2.5th and 97.5th percentiles over
        replicates) are NaN where ``reached < replicates``.
    """
    lo_q, hi_q = (p / 100 for p in INTERVAL)
    grouped = rows.groupby(["site", "metric", "week"], sort=False, observed=True)["value"]
    bands = pd.DataFrame(
        {
            "mean": grouped.mean(),
            "lo": grouped.quantile(lo_q),
            "hi": grouped.quantile(hi_q),
            "n": grouped.count(),
            "reached": grouped.size(),
        }
    ).reset_index()
    if replicates is None:
        most = int(bands["reached"].max()) if len(bands) else 0
        replicates = int(rows["replicate"].nunique()) if "replicate" in rows else most
    bands.loc[bands["reached"].to_numpy() < replicates, ["mean", "lo", "hi"]] = np.nan
    bands["replicates"] = replicates
    for column in ("site", "metric"):
        bands[column] = bands[column].astype(str)
    return bands[BAND_COLUMNS]


def timeseries_bands(
    store: RunStore,
    metrics: Sequence[str],
    replicates: int | None = None,
    bins: int = BAND_BINS,
    scale: tuple[float, float] = (0.0, 1.0),
) -> pd.DataFrame:
    """Weekly mean and 95% band of a store's replicate values, per site and metric (see :func:`weekly_bands`).

    Streams the store a batch at a time and keeps, per site and week, the
    replicates that reach it, the sum and count of their values and a
    histogram of ``bins`` bins over ``scale``: memory does not grow with the
    replicates. The band ends are read from the histogram, within one bin
    (``(scale[1] - scale[0]) / bins``, 0.001 by default) of the exact
    percentiles; the mean and the counts are exact.

    Parameters
    ----------
    store
        The run store.
    metrics
        Weekly metrics to describe, on the ``scale`` (values outside it count
        in its end bins).
    replicates
        Describe replicates ``0 .. replicates - 1`` only (default: every one held).
    bins, scale
        The histogram of each site and week.

    Returns
    -------
    pandas.DataFrame
        Columns ``site, metric, week, mean, lo, hi, n, reached, replicates``; a
        week's mean and band are NaN unless all ``replicates`` (those the
        store holds) last that long.
    """
    held = len(held_replicates(store, replicates))
    parts = []
    for metric in metrics:
        bands = _WeeklyHistogram(bins, scale)
        for part in store.parts(
            "timeseries", columns=["site", "week", "value"], replicates=replicates, where={"metric": [metric]}
        ):
            bands.add(part)
        parts.append(bands.frame(metric, held))
    return pd.concat(parts, ignore_index=True)[BAND_COLUMNS]


class _WeeklyHistogram:
    """Per site and week: replicates reaching it, count and sum of values, and a histogram of them."""

    def __init__(self, bins: int, scale: tuple[float, float]) -> None:
        self.bins = bins
        self.low, self.width = scale[0], (scale[1] - scale[0]) / bins
        self.groups = _Groups(["site", "week"])
        self.reached = np.zeros(0, dtype=np.int64)
        self.n = np.zeros(0, dtype=np.int64)
        self.total = np.zeros(0)
        self.histogram = np.zeros((0, bins), dtype=np.int32)

    def add(self, part: Any) -> None:
        """Count one batch's rows (columns ``site, week, value``)."""
        if part.num_rows == 0:
            return
        group, _ = self.groups.of(part)
        grow = len(self.groups) - len(self.n)
        if grow > 0:
            self.reached = np.concatenate([self.reached, np.zeros(grow, dtype=np.int64)])
            self.n = np.concatenate([self.n, np.zeros(grow, dtype=np.int64)])
            self.total = np.concatenate([self.total, np.zeros(grow)])
            self.histogram = np.vstack([self.histogram, np.zeros((grow, self.bins), dtype=np.int32)])
        value = part.column("value").to_numpy()
        finite = np.isfinite(value)
        size = len(self.groups)
        self.reached += np.bincount(group, minlength=size)
        self.n += np.bincount(group[finite], minlength=size)
        self.total += np.bincount(group[finite], weights=value[finite], minlength=size)
        position = np.clip(((value[finite] - self.low) / self.width).astype(np.int64), 0, self.bins - 1)
        np.add.at(self.histogram, (group[finite], position), 1)

    def quantile(self, q: float) -> np.ndarray:
        """Return the ``q`` quantile of each group (numpy's linear method), values spread evenly in a bin."""
        position = q * np.maximum(self.n - 1, 0)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(self.n - 1, 0))
        fraction = position - below
        return (1 - fraction) * self._order(below) + fraction * self._order(above)

    def _order(self, rank: np.ndarray) -> np.ndarray:
        """Return the value of order ``rank`` (0 = smallest) of each group, from its histogram."""
        cumulative = np.cumsum(self.histogram, axis=1)
        rows = np.arange(len(rank))
        bin_ = np.argmax(cumulative > rank[:, None], axis=1)
        before = cumulative[rows, bin_] - self.histogram[rows, bin_]
        inside = (rank - before + 0.5) / np.maximum(self.histogram[rows, bin_], 1)
        return self.low + (bin_ + inside) * self.width

    def frame(self, metric: str, replicates: int) -> pd.DataFrame:
        """Return the bands as :func:`weekly_bands` gives them, for ``replicates`` held."""
        keys = self.groups.keys_seen()
        frame = pd.DataFrame(
            {
                "site": [str(site) for site, _ in keys],
                "metric": metric,
                "week": np.array([week for _, week in keys], dtype=np.int64),
                "n": self.n,
                "reached": self.reached,
                "replicates": replicates,
            }
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            frame["mean"] = np.where(self.n > 0, self.total / np.maximum(self.n, 1), np.nan)
        lo_q, hi_q = (p / 100 for p in INTERVAL)
        frame["lo"] = np.where(self.n > 0, self.quantile(lo_q), np.nan)
        frame["hi"] = np.where(self.n > 0, self.quantile(hi_q), np.nan)
        frame.loc[frame["reached"] < replicates, ["mean", "lo", "hi"]] = np.nan
        return frame


def outcome_summary(store: RunStore, replicates: int | None = None) -> pd.DataFrame:
    """Mean and 95% interval of each outcome per site and arm (from the ``outcomes`` table).

    The same numbers, to the bit, as :func:`summarise` of each arm's rows, from
    one float64 per site, arm, metric and replicate (see :func:`grouped_values`).

    Returns
    -------
    pandas.DataFrame
        Columns ``site, arm, metric, mean, lo, hi, n`` (see :func:`summarise`),
        arms in the order they appear.
    """
    held = held_replicates(store, replicates)
    columns = ["arm", "site", "metric", "value", "replicate"]
    grouped = grouped_values(
        store.parts("outcomes", columns=columns, replicates=replicates), columns[:3], held
    )
    keys, values = grouped.keys, grouped.values
    arms = list(dict.fromkeys(arm for arm, _, _ in keys))
    order = sorted(range(len(keys)), key=lambda k: arms.index(keys[k][0]))  # stable: within an arm as seen
    rows = [(keys[k][1], keys[k][0], keys[k][2], *_describe(values[k])) for k in order]
    return pd.DataFrame(rows, columns=["site", "arm", "metric", "mean", "lo", "hi", "n"])
