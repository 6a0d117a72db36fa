"""What-if comparisons on common random numbers: paired differences with 95% intervals.

Replicate ``i`` of the base scenario and of every what-if runs with the same
seed, ``streams.replicate_seed(seed, i)``, and peersim's streams are keyed by
site position and process, so a lever that does not touch a process leaves its
draws alone. The difference ``what-if - base`` is then taken replicate by
replicate: the noise the two runs share cancels, and a scenario compared with
itself differs by exactly zero.

The interval is the 95% Student-t confidence interval of the *mean* paired
difference over replicates (how precisely the ensemble pins down the expected
effect of the change); it narrows as replicates are added. It is not the
spread of single-run outcomes that ``peersim run`` reports.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from peersim.results import METRICS, OVERALL


class MetricsSource(Protocol):
    """Anything that reads back an ensemble's tables (a ``MemorySink`` or a ``RunStore``)."""

    def read(
        self, table: str, columns: Sequence[str] | None = None, replicates: int | None = None
    ) -> pd.DataFrame:
        """Return ``table`` for the replicates held."""
        ...


if TYPE_CHECKING:
    from peersim.calibration.posterior import Posterior
    from peersim.executor import Executor
    from peersim.scenario import Scenario

CONFIDENCE = 0.95
KEYS = ["site", "metric", "replicate"]
COLUMNS = ["comparison", "site", "metric", "base", "whatif", "difference", "lo", "hi", "n"]
INTERVAL_TEXT = "95% t-interval of the mean paired difference (what-if - base) over replicates"


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t (``0 < p < 1``, ``df > 0``), e.g. ``t_quantile(0.975, 19)`` is 2.0930."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"need 0 < p < 1 and df > 0, got p={p}, df={df}")
    from scipy.stats import t

    return float(t.ppf(p, df))


def paired_differences(base: pd.DataFrame, whatif: pd.DataFrame, comparison: str) -> pd.DataFrame:
    """Mean paired difference ``what-if - base`` per site and metric, with its 95% interval.

    Parameters
    ----------
    base, whatif
        Headline metrics of the two ensembles (columns ``site, metric, value,
        replicate``). Rows are paired on site, metric and replicate; sites or
        replicates only one side has are left out, and so are pairs where
        either value is missing (e.g. no engaged participant at a site).
    comparison
        Label of the what-if, copied into the ``comparison`` column.

    Returns
    -------
    pandas.DataFrame
        Columns ``comparison, site, metric, base, whatif, difference, lo, hi, n``:
        the means of each side and of the difference over the ``n`` pairs, and
        the 95% t-interval of the mean difference (``lo = hi = difference``
        when every pair agrees; missing with fewer than 2 pairs).
    """
    columns = [*KEYS, "value"]
    merged = base[columns].merge(whatif[columns], on=KEYS, suffixes=("_base", "_whatif"))
    rows = []
    for (site, metric), group in merged.groupby(["site", "metric"], sort=False):
        a = group["value_base"].to_numpy(dtype=float)
        b = group["value_whatif"].to_numpy(dtype=float)
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        n = int(a.size)
        if n == 0:
            rows.append((comparison, site, metric, np.nan, np.nan, np.nan, np.nan, np.nan, 0))
            continue
        diff = b - a
        mean = float(diff.mean())
        if n > 1:
            half = t_quantile(0.5 + CONFIDENCE / 2, n - 1) * float(diff.std(ddof=1)) / math.sqrt(n)
            lo, hi = mean - half, mean + half
        else:
            lo = hi = np.nan
        rows.append((comparison, site, metric, float(a.mean()), float(b.mean()), mean, lo, hi, n))
    return pd.DataFrame(rows, columns=COLUMNS)


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


def compare_scenarios(
    base: Scenario,
    whatifs: Mapping[str, Scenario],
    seed: int = 0,
    replicates: int = 20,
    posterior: Posterior | None = None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Run a base scenario and what-ifs on common random numbers and return their paired differences.

    The public form of ``peersim compare`` (without run stores): replicate ``i``
    of every scenario uses ``replicate_seed(seed, i)`` and, with a posterior,
    the same draw of mechanism strengths, so the differences are paired.

    Parameters
    ----------
    base
        The scenario the what-ifs are compared with.
    whatifs
        What-if scenarios by label (the ``comparison`` column); at least one.
    seed
        Base seed (non-negative), shared by every scenario.
    replicates
        Paired replicates per scenario, at least 2 (for an interval).
    posterior
        Draw mechanism strengths per replicate from this posterior (e.g.
        :func:`peersim.calibration.posterior.default_posterior`, what
        ``peersim compare`` uses); ``None`` runs the scenarios' point values.
    executor
        Where to run; by default a local process pool on every core, closed on return.

    Returns
    -------
    pandas.DataFrame
        :func:`paired_differences` of every what-if, stacked.

    Raises
    ------
    ValueError
        For no what-if, fewer than 2 replicates, or a replicate that failed.

    Warns
    -----
    UserWarning
        When a what-if's sites differ from the base's in name or order.
    """
    from peersim.api import run
    from peersim.calibration.posterior import PosteriorRunner
    from peersim.ensemble import EnsembleJob, MemorySink, run_ensembles
    from peersim.executor import LocalExecutor

    if not whatifs:
        raise ValueError("compare_scenarios: give at least one what-if scenario")
    if replicates < 2:
        raise ValueError(f"replicates must be at least 2 for an interval, got {replicates}")
    labels = list(whatifs)
    for label, whatif in whatifs.items():
        mismatch = site_mismatch(base, whatif, label)
        if mismatch is not None:
            warnings.warn(mismatch, stacklevel=2)
    sinks = [MemorySink() for _ in range(len(labels) + 1)]
    jobs = [
        EnsembleJob(scenario, sink) for scenario, sink in zip([base, *whatifs.values()], sinks, strict=True)
    ]
    runner = PosteriorRunner(posterior) if posterior is not None else run
    pool = executor if executor is not None else LocalExecutor()
    try:
        reports = run_ensembles(jobs, seed, replicates, pool, runner=runner)
    finally:
        if executor is None:
            pool.close()
    failures = [f for report in reports for f in report.failures]
    if failures:
        first = failures[0]
        raise ValueError(
            f"{len(failures)} replicate(s) failed, e.g. replicate {first.replicate}: {first.error}"
        )
    return stacked_differences(sinks, ["base", *labels], replicates)


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
    """
    columns = ["site", "metric", "value", "replicate"]
    metrics = [sink.read("metrics", columns=columns, replicates=replicates) for sink in sinks]
    return pd.concat(
        [paired_differences(metrics[0], metrics[k], labels[k]) for k in range(1, len(sinks))],
        ignore_index=True,
    )


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


COUNT_METRICS = frozenset({"participants", "vacancy_weeks", "supervision_sessions"})


def _number(value: float, metric: str, signed: bool = False) -> str:
    if not np.isfinite(value):
        return "-"
    digits = 1 if metric in COUNT_METRICS else 3
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def format_comparison(differences: pd.DataFrame, label: str, sites: Sequence[str]) -> str:
    """Render one what-if's paired differences as text: one block per site.

    Blocks are ``overall`` then each site; with a single site only ``overall``
    is shown (it is the same numbers).
    """
    rows = differences[differences["comparison"] == label]
    numbers = ("base", "whatif", "difference", "lo", "hi", "n")
    lookup: dict[tuple[str, str], dict[str, float]] = {
        (str(r["site"]), str(r["metric"])): {k: float(r[k]) for k in numbers} for r in rows.to_dict("records")
    }
    blocks = [OVERALL] if len(sites) <= 1 else [OVERALL, *sites]
    width = max(len(m) for m in METRICS) + 2
    lines = []
    for site in blocks:
        header = (
            "metric".ljust(width)
            + f"{'base':>10}{'what-if':>10}{'difference':>12}{'95% interval':>22}{'n':>5}"
        )
        lines += [f"[{site}]", header, "-" * len(header)]
        for metric in METRICS:
            row = lookup.get((site, metric))
            if row is None:
                continue
            interval = (
                f"[{_number(row['lo'], metric, True)}, {_number(row['hi'], metric, True)}]"
                if np.isfinite(row["lo"])
                else "-"
            )
            lines.append(
                metric.ljust(width)
                + _number(row["base"], metric).rjust(10)
                + _number(row["whatif"], metric).rjust(10)
                + _number(row["difference"], metric, True).rjust(12)
                + interval.rjust(22)
                + str(int(row["n"])).rjust(5)
            )
        lines.append("")
    return "\n".join(lines).rstrip()
