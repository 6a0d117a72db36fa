"""Baseline readmission hazard, scaled so usual care gives the declared 12-month risk."""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

from peersim.core.results import WEEKS_PER_YEAR
from peersim.model.constants import HAZARD_SHAPE

QUADRATURE_NODES = 40


@cache
def _quadrature() -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    return nodes, weights / weights.sum()


def risk_at_one_year(
    scale: float,
    heterogeneity: float,
    hazard_ratios: tuple[float, ...] = (1.0,),
    shares: tuple[float, ...] = (1.0,),
) -> float:
    """Average 12-month risk when the one-year cumulative hazard is ``scale``.

    Averages ``1 - exp(-scale * hr_g * exp(heterogeneity * z))`` over ``z ~ N(0, 1)``
    by Gauss-Hermite quadrature and over groups ``g`` weighted by ``shares``.
    """
    nodes, weights = _quadrature()
    spread = np.exp(heterogeneity * nodes)
    return float(
        sum(
            share * np.sum(weights * -np.expm1(-scale * ratio * spread))
            for ratio, share in zip(hazard_ratios, shares, strict=True)
        )
    )


@lru_cache(maxsize=1024)  # a pure function of floats; ensembles repeat them
def one_year_scale(
    p_readmit: float,
    heterogeneity: float,
    hazard_ratios: tuple[float, ...] = (1.0,),
    shares: tuple[float, ...] = (1.0,),
) -> float:
    """Solve for the one-year cumulative hazard giving average risk ``p_readmit``.

    Parameters
    ----------
    p_readmit
        Target 12-month readmission probability without peer support, in (0, 1).
    heterogeneity
        SD of the latent instability on the log-hazard scale, >= 0.
    hazard_ratios, shares
        Each diagnostic group's hazard ratio and its expected share of participants
        (shares sum to 1); the average is over groups too.
    """
    low, high = -12.0, 6.0
    for _ in range(60):
        mid = 0.5 * (low + high)
        if risk_at_one_year(float(np.exp(mid)), heterogeneity, hazard_ratios, shares) < p_readmit:
            low = mid
        else:
            high = mid
    return float(np.exp(0.5 * (low + high)))


def baseline_cumulative_hazard(
    p_readmit: float,
    heterogeneity: float,
    weeks: int,
    hazard_ratios: tuple[float, ...] = (1.0,),
    shares: tuple[float, ...] = (1.0,),
) -> np.ndarray:
    """Baseline cumulative hazard (of the reference group) at ``0..weeks`` weeks after discharge.

    Weibull with shape :data:`HAZARD_SHAPE`, scaled so that usual care gives
    average 12-month risk ``p_readmit`` over participants and groups (see
    :func:`one_year_scale`).
    """
    scale = one_year_scale(p_readmit, heterogeneity, hazard_ratios, shares) / WEEKS_PER_YEAR**HAZARD_SHAPE
    return scale * np.arange(weeks + 1, dtype=float) ** HAZARD_SHAPE
