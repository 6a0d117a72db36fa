"""Scoring a prediction against what a trial published: interval, predictive percentile and CRPS.

The prediction of an outcome is its distribution over replicates: each
replicate is one draw of the mechanism strengths from the posterior and one
simulated trial of the study's size, so the spread holds both the parameter
uncertainty and the sampling noise of a trial that size, which is what the
published value carries too. The published 95% interval is therefore not used
for scoring (it would count the sampling noise twice); it is shown next to the
prediction.

Three scores per outcome:

* **covered**: the observation lies within the central 95% predictive interval
  (2.5th to 97.5th percentile over replicates);
* **predictive percentile**: the share of replicates below the observation,
  ties counted half (the mid-rank, so that a discrete metric is not biased
  upwards); near 0 or 1 means the model is surprised by the trial;
* **CRPS** (continuous ranked probability score), empirical:
  ``mean|X - y| - 0.5 mean|X - X'|`` over the replicates ``X``; in the
  metric's units, lower is better, and 0 only for a sure, exact prediction.
  It rewards both calibration and sharpness. It is a few lines of NumPy
  (a sort and a cumulative sum), so no scoring library (properscoring,
  scoringrules) is taken on as a dependency for it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from peersim.core.results import OVERALL
from peersim.trials.inputs import Outcome, Study

LEVEL = 0.95
"""Central predictive interval whose coverage is reported."""


def crps(draws: np.ndarray, observed: float) -> float:
    """Empirical CRPS of the sample ``draws`` for the observation ``observed`` (lower is better).

    ``mean|X - y| - 0.5 mean|X - X'|``, where the second mean, over all pairs
    of draws, is computed from the sorted sample in ``O(n log n)``:
    ``sum_i (2i - n - 1) x_(i) / n^2`` for ``i = 1..n``.

    Raises
    ------
    ValueError
        If ``draws`` has no finite value.
    """
    x = _finite(draws)
    n = len(x)
    x.sort()
    spread = float(np.sum((2.0 * np.arange(1, n + 1) - n - 1.0) * x)) / (n * n)
    return float(np.mean(np.abs(x - observed))) - spread


def predictive_percentile(draws: np.ndarray, observed: float) -> float:
    """Share of ``draws`` below ``observed``, counting ties half (the mid-rank), 0-1."""
    x = _finite(draws)
    below = float(np.sum(x < observed))
    ties = float(np.sum(x == observed))
    return (below + 0.5 * ties) / len(x)


def interval(draws: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Median and central ``level`` predictive interval of ``draws``: ``(median, lo, hi)``."""
    x = _finite(draws)
    tail = 100.0 * (1.0 - level) / 2.0
    lo, median, hi = np.percentile(x, [tail, 50.0, 100.0 - tail])
    return float(median), float(lo), float(hi)


def _finite(draws: np.ndarray) -> np.ndarray:
    x = np.asarray(draws, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("no finite prediction to score")
    return x.copy()


def outcome_draws(metrics: pd.DataFrame, outcome: Outcome) -> np.ndarray:
    """One value of the outcome's metric per replicate, pooled over sites, in replicate order."""
    rows = metrics[(metrics["site"] == OVERALL) & (metrics["metric"] == outcome.metric)]
    return rows.sort_values("replicate", kind="stable")["value"].to_numpy(dtype=float)


def score_outcome(outcome: Outcome, draws: np.ndarray) -> dict[str, Any]:
    """Return the JSON record of one outcome: observed, predicted median and interval, covered, scores."""
    finite = int(np.isfinite(np.asarray(draws, dtype=float)).sum())
    record: dict[str, Any] = {
        "metric": outcome.metric,
        "observed": outcome.observed,
        "observed_ci": (
            {"low": outcome.ci_low, "high": outcome.ci_high} if outcome.ci_low is not None else None
        ),
        "counts": (
            {"events": outcome.events, "denominator": outcome.denominator}
            if outcome.events is not None
            else None
        ),
        "quantity": outcome.quantity,
        "confidence": outcome.confidence,
        "role": outcome.role,
        "tested": outcome.tested,
        "calibration_target": outcome.calibration_target,
        "note": outcome.note,
    }
    if finite == 0:
        nan = None
        record |= {"predicted": {"median": nan, "lo": nan, "hi": nan}, "covered": False}
        record |= {"percentile": nan, "crps": nan, "replicates": 0}
        return record
    median, lo, hi = interval(draws)
    record["predicted"] = {"median": _round(median), "lo": _round(lo), "hi": _round(hi)}
    record["covered"] = bool(lo <= outcome.observed <= hi)
    record["percentile"] = _round(predictive_percentile(draws, outcome.observed))
    record["crps"] = _round(crps(draws, outcome.observed))
    record["replicates"] = finite
    return record


def score_study(study: Study, metrics: pd.DataFrame) -> list[dict[str, Any]]:
    """Score every outcome of ``study`` against its replicates' headline metrics."""
    return [score_outcome(outcome, outcome_draws(metrics, outcome)) for outcome in study.observed.outcomes]


def _round(value: float, digits: int = 6) -> float:
    return round(float(value), digits) if math.isfinite(value) else float("nan")
