"""Statistics every experiment reports, from SciPy and pyabc: intervals, paired differences, bounds.

* :func:`mean_interval`: Student-t interval of a mean (``scipy.stats.t``);
* :func:`paired_differences`: the mean paired difference of two ensembles run on
  common random numbers, with that interval, the predictive interval of the
  per-replicate differences and the share of replicates in which the what-if is
  better (:func:`paired_summary` for one site and metric);
* :func:`benefit_share`: that share, by a metric's declared direction (and, with
  ``harm=True``, the share in which it is worse);
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
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from peersim.core.results import HIGHER_IS_BETTER

INTERVAL = (2.5, 97.5)
"""Percentiles of replicate values reported as their 95% interval."""

CONFIDENCE = 0.95
"""Level of every two-sided confidence interval peersim reports."""

PAIRED_KEYS = ["site", "metric", "replicate"]
PAIRED_STATISTICS = [
    "base",
    "whatif",
    "difference",
    "lo",
    "hi",
    "predictive_lo",
    "predictive_hi",
    "p_benefit",
    "p_harm",
    "n",
]
"""What :func:`paired_summary` reports of one site and metric, in this order."""
PAIRED_COLUMNS = ["comparison", "site", "metric", *PAIRED_STATISTICS]
"""Columns of :func:`paired_differences` (and of ``compare.csv``)."""


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


def benefit_share(differences: np.ndarray, higher_is_better: bool | None, harm: bool = False) -> float:
    """Share of paired differences (what-if - base) in which the what-if is better (or worse).

    ``higher_is_better`` is the metric's direction
    (:data:`peersim.core.results.HIGHER_IS_BETTER`): ``True`` counts differences
    above 0, ``False`` those below 0, and ``None`` (no direction) gives NaN, as
    do no differences. A tie, a difference of exactly 0, is *not* a benefit, so
    a scenario compared with itself gives 0. With ``harm=True`` the share in which
    the what-if is worse; a tie is no harm either, so benefit + harm + ties = 1.
    """
    d = np.asarray(differences, dtype=float)
    if higher_is_better is None or d.size == 0:
        return math.nan
    better = d > 0.0 if higher_is_better != harm else d < 0.0
    return float(np.count_nonzero(better) / d.size)


def paired_summary(
    base: np.ndarray, whatif: np.ndarray, higher_is_better: bool | None
) -> tuple[float, float, float, float, float, float, float, float, float, int]:
    """Statistics of one site and metric's pairs, in the order of :data:`PAIRED_STATISTICS`.

    Pairs where either value is missing (not finite) are left out first. Then:
    the mean of each side; the mean difference ``what-if - base`` with the 95%
    t-interval of that mean (:func:`mean_interval`: ``lo``, ``hi``); the 2.5th
    and 97.5th percentiles of the per-replicate differences (``predictive_lo``,
    ``predictive_hi``, numpy's linear percentiles: where the effect of one run
    falls, with the mechanism strengths each replicate drew and the model's
    noise); :func:`benefit_share` by ``higher_is_better`` (ties are no benefit),
    then the share worse (``p_harm``; ties are no harm); and the number of pairs
    ``n``. Both intervals are missing with fewer than 2 pairs and have zero width
    when every pair agrees; with no pairs all but ``n = 0`` are missing.
    """
    a = np.asarray(base, dtype=float)
    b = np.asarray(whatif, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size == 0:
        nan = math.nan
        return nan, nan, nan, nan, nan, nan, nan, nan, nan, 0
    d = b - a
    mean, lo, hi = mean_interval(d)
    plo, phi = percentile_interval(d) if d.size >= 2 else (math.nan, math.nan)
    share = benefit_share(d, higher_is_better)
    harm = benefit_share(d, higher_is_better, harm=True)
    return float(a.mean()), float(b.mean()), mean, lo, hi, plo, phi, share, harm, int(a.size)


def paired_differences(
    base: pd.DataFrame,
    whatif: pd.DataFrame,
    comparison: str,
    higher_is_better: Mapping[str, bool | None] = HIGHER_IS_BETTER,
) -> pd.DataFrame:
    """Paired differences ``what-if - base`` per site and metric: mean, both 95% intervals, benefit share.

    Parameters
    ----------
    base, whatif
        Headline metrics of the two ensembles (columns ``site, metric, value,
        replicate``). Rows are paired on site, metric and replicate; sites or
        replicates only one side has are left out, and so are pairs where
        either value is missing (e.g. no engaged participant at a site).
    comparison
        Label of the what-if, copied into the ``comparison`` column.
    higher_is_better
        Direction of each metric, for ``p_benefit`` (default
        :data:`peersim.core.results.HIGHER_IS_BETTER`); a metric it does not
        name has no direction.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PAIRED_COLUMNS`: ``comparison, site, metric``, then
        :func:`paired_summary` of the ``n`` pairs: the means of each side and
        of the difference, the 95% t-interval of the mean difference (``lo``,
        ``hi``), the 2.5th-97.5th percentiles of the per-replicate differences
        (``predictive_lo``, ``predictive_hi``), and ``p_benefit``, the share of
        pairs in which the what-if is better by the metric's direction (a
        difference of exactly 0 is no benefit; missing without a direction), and
        ``p_harm``, the share in which it is worse.
    """
    columns = [*PAIRED_KEYS, "value"]
    merged = base[columns].merge(whatif[columns], on=PAIRED_KEYS, suffixes=("_base", "_whatif"))
    rows = []
    for (site, metric), group in merged.groupby(["site", "metric"], sort=False):
        a = group["value_base"].to_numpy(dtype=float)
        b = group["value_whatif"].to_numpy(dtype=float)
        rows.append((comparison, site, metric, *paired_summary(a, b, higher_is_better.get(str(metric)))))
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
