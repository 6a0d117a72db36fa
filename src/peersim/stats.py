"""Statistics every experiment reports, from SciPy and pyabc: intervals, paired differences, bounds.

* :func:`mean_interval`: Student-t interval of a mean (``scipy.stats.t``);
* :func:`paired_differences`: the mean paired difference of two ensembles run on
  common random numbers, with that interval;
* :func:`percentile_interval`: the spread of replicate values (2.5th-97.5th
  percentile), as ``peersim run`` reports it;
* :func:`wilson_bounds`: one-sided Wilson score bounds of a share
  (``scipy.stats.binomtest``);
* :func:`weighted_quantiles`, :func:`weighted_sd`: statistics of weighted
  particles (``pyabc.weighted_statistics``);
* :func:`normal_quantile`, :func:`t_quantile`: the quantiles behind them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

INTERVAL = (2.5, 97.5)
"""Percentiles of replicate values reported as their 95% interval."""

CONFIDENCE = 0.95
"""Level of every two-sided confidence interval peersim reports."""

PAIRED_KEYS = ["site", "metric", "replicate"]
PAIRED_COLUMNS = ["comparison", "site", "metric", "base", "whatif", "difference", "lo", "hi", "n"]


def normal_quantile(p: float) -> float:
    """Quantile of the standard normal, e.g. ``normal_quantile(0.975)`` is 1.95996."""
    from scipy import stats  # heavy: scipy.stats takes about 1.5 s, which `peersim --help` never pays

    return float(stats.norm.ppf(p))


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t (``0 < p < 1``, ``df > 0``), e.g. ``t_quantile(0.975, 19)`` is 2.0930."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"need 0 < p < 1 and df > 0, got p={p}, df={df}")
    from scipy import stats  # heavy, see normal_quantile

    return float(stats.t.ppf(p, df))


def mean_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Mean of the finite values and the two-sided t-interval of the mean (NaN where undefined).

    One value gives its mean and a missing interval; identical values give an
    interval of zero width.
    """
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(finite.mean())
    if finite.size < 2:
        return mean, math.nan, math.nan
    sd = float(finite.std(ddof=1))
    if sd == 0.0:
        return mean, mean, mean
    from scipy import stats  # heavy, see normal_quantile

    lo, hi = stats.t.interval(confidence, finite.size - 1, loc=mean, scale=sd / math.sqrt(finite.size))
    return mean, float(lo), float(hi)


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """Return the 2.5th and 97.5th percentiles of ``values`` (:data:`INTERVAL`)."""
    lo, hi = np.percentile(values, INTERVAL)
    return float(lo), float(hi)


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
    columns = [*PAIRED_KEYS, "value"]
    merged = base[columns].merge(whatif[columns], on=PAIRED_KEYS, suffixes=("_base", "_whatif"))
    rows = []
    for (site, metric), group in merged.groupby(["site", "metric"], sort=False):
        a = group["value_base"].to_numpy(dtype=float)
        b = group["value_whatif"].to_numpy(dtype=float)
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        if a.size == 0:
            rows.append((comparison, site, metric, np.nan, np.nan, np.nan, np.nan, np.nan, 0))
            continue
        mean, lo, hi = mean_interval(b - a)
        rows.append((comparison, site, metric, float(a.mean()), float(b.mean()), mean, lo, hi, int(a.size)))
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def wilson_bounds(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """One-sided Wilson score bounds of a share of ``successes`` in ``n`` trials.

    Each bound holds with ``confidence`` on its own side: they are the ends of
    the two-sided interval at level ``2 * confidence - 1``. With no trials the
    bounds are 0 and 1.
    """
    if n <= 0:
        return 0.0, 1.0
    from scipy import stats  # heavy, see normal_quantile

    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=2 * confidence - 1, method="wilson")
    return float(ci.low), float(ci.high)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Quantiles of a weighted sample (``pyabc.weighted_statistics.weighted_quantile``).

    ``weights`` are normalised here; zero-weight values are left out.
    """
    from pyabc.weighted_statistics import weighted_quantile  # heavy: pyabc (about 1 s)

    points, normalised = _weighted(values, weights)
    return np.array([weighted_quantile(points, normalised, alpha=q) for q in qs], dtype=float)


def weighted_sd(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted standard deviation (``pyabc.weighted_statistics.weighted_std``)."""
    from pyabc.weighted_statistics import weighted_std  # heavy: pyabc (about 1 s)

    points, normalised = _weighted(values, weights)
    return float(weighted_std(points, normalised))


def _weighted(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    points = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    keep = w > 0
    return points[keep], w[keep] / w[keep].sum()
