"""What a calibration shows: how far each parameter was informed, and the posterior predictive check.

* :func:`identifiability` compares each parameter's posterior spread with its
  prior's: the ratio of weighted posterior standard deviation to the uniform
  prior's. Near 1 the targets did not inform the parameter (flagged above
  :data:`NOT_INFORMED_RATIO`).
* :func:`posterior_predictive` sets each target's observation against the
  simulated 95% interval of predictive draws
  (:func:`peersim.calibration.evaluate.predictive_draws`: replicate ``i`` of the
  seed, its particle drawn from the replicate seed's posterior stream; one run
  each, the scale of one study). A point target passes when its observed value
  lies inside that interval; an ordinal target passes when at least half of the
  draws meet the constraint.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from peersim.calibration.inputs import BoundTargets, Priors
from peersim.stats import weighted_quantiles, weighted_sd
from peersim.uncertainty import Posterior

NOT_INFORMED_RATIO = 0.8
"""Posterior-to-prior spread ratio above which a parameter is flagged as not informed."""

PPC_INTERVAL = (2.5, 97.5)
"""Percentiles of the posterior predictive draws shown as the simulated 95% interval."""

FEW_EFFECTIVE_PARTICLES = 50
"""Effective sample size below which the report warns that summaries are rough."""

ORDINAL_PASS_SHARE = 0.5
"""Share of posterior predictive draws that must meet an ordinal constraint for it to pass."""


def identifiability(posterior: Posterior, priors: Priors) -> pd.DataFrame:
    """Prior against posterior spread per calibrated parameter.

    Returns
    -------
    pandas.DataFrame
        ``parameter, prior_low, prior_high, posterior_mean, posterior_q05,
        posterior_q95, prior_sd, posterior_sd, spread_ratio, informed`` (one row
        per parameter, declaration order); ``informed`` is
        ``spread_ratio <= NOT_INFORMED_RATIO``.
    """
    rows = []
    for prior in priors.priors:
        values = posterior.particles[prior.name].to_numpy(dtype=float)
        q05, q95 = weighted_quantiles(values, posterior.weights, [0.05, 0.95])
        sd = weighted_sd(values, posterior.weights)
        ratio = sd / prior.sd
        rows.append(
            {
                "parameter": prior.name,
                "prior_low": prior.low,
                "prior_high": prior.high,
                "posterior_mean": float(np.sum(posterior.weights * values)),
                "posterior_q05": float(q05),
                "posterior_q95": float(q95),
                "prior_sd": prior.sd,
                "posterior_sd": sd,
                "spread_ratio": ratio,
                "informed": bool(ratio <= NOT_INFORMED_RATIO),
            }
        )
    return pd.DataFrame(rows)


def _share_meeting(target: Any, values: np.ndarray) -> float:
    return float(np.mean([target.satisfied(v) for v in values])) if values.size else math.nan


def posterior_predictive(
    draws: pd.DataFrame, targets: BoundTargets, prior_draws: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Posterior predictive check table from :func:`predictive_draws`.

    Parameters
    ----------
    draws
        Posterior predictive draws.
    targets
        The targets checked.
    prior_draws
        Prior predictive draws (same replicate seeds), to show how much each
        target could inform: ``prior_share_meeting``.

    Returns
    -------
    pandas.DataFrame
        ``target, kind, observed, confidence, weight, simulated_median,
        simulated_lo, simulated_hi, share_meeting, [prior_share_meeting,]
        n_draws, passed``. For a point target ``share_meeting`` is the share of
        draws inside the observed interval; for an ordinal one, the share
        meeting the constraint.
    """
    rows = []
    for target in targets.targets:
        values = draws[target.name].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        spec = target.spec
        if finite.size:
            lo, median, hi = np.percentile(finite, [PPC_INTERVAL[0], 50.0, PPC_INTERVAL[1]])
        else:
            lo = median = hi = math.nan
        meeting = _share_meeting(target, values)
        if spec.is_ordinal:
            passed = bool(meeting >= ORDINAL_PASS_SHARE)
        else:
            passed = bool(finite.size and lo <= float(spec.value or 0.0) <= hi)
        rows.append(
            {
                "target": target.name,
                "kind": "ordinal" if spec.is_ordinal else "point",
                "observed": spec.observed_text(),
                "confidence": spec.confidence,
                "weight": spec.weight,
                "simulated_median": float(median),
                "simulated_lo": float(lo),
                "simulated_hi": float(hi),
                "share_meeting": meeting,
                **(
                    {
                        "prior_share_meeting": _share_meeting(
                            target, prior_draws[target.name].to_numpy(dtype=float)
                        )
                    }
                    if prior_draws is not None
                    else {}
                ),
                "n_draws": int(finite.size),
                "passed": passed,
            }
        )
    return pd.DataFrame(rows)
