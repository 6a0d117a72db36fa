"""What a calibration shows: how far each parameter was informed, and what each target taught.

* :func:`identifiability` compares each parameter's posterior spread with its
  prior's: the ratio of weighted posterior standard deviation to the uniform
  prior's, with a one-line verdict (:func:`parameter_verdict`): ``identified``
  up to :data:`IDENTIFIED_RATIO`, ``partly informed`` up to
  :data:`NOT_INFORMED_RATIO`, above it ``not informed``. A parameter that a target
  sets directly (:data:`DIRECTLY_SET`, e.g. usual-care readmission, which the
  model solves ``p_readmit_12m_usual_care`` to reproduce) is "identified" only
  because the target feeds it straight back: an input in disguise.
* :func:`posterior_predictive` (also :func:`predictive_check`) sets each target's
  observation against the prior predictive and the posterior predictive draws
  side by side (:func:`peersim.calibration.evaluate.predictive_draws`: replicate
  ``i`` of the seed, its particle drawn from the replicate seed's stream; one run
  each, the scale of one study; the prior draws on the same replicate seeds). The
  same rule judges both: a point target passes when its observed value lies inside
  the simulated 95% interval (:data:`PPC_INTERVAL`); an ordinal target passes when
  at least :data:`ORDINAL_PASS_SHARE` of the draws meet the constraint.
  :func:`target_verdict` then says what the target taught the calibration:

  - ``already met``: the priors already pass it and the posterior meets it in
    fewer than :data:`INFORMATIVE_GAIN` more of its draws: it taught the
    calibration little or nothing (it cannot fail a check);
  - ``informative``: the posterior passes where the priors failed, or passes
    with a share meeting at least :data:`INFORMATIVE_GAIN` higher;
  - ``missed``: the posterior fails it: the calibrated model does not reproduce it.

  A target no more than :data:`PRIOR_CANNOT_MEET_SHARE` of the prior draws meet,
  and whose prior check fails, is flagged (``prior_cannot_meet``): it lies beyond
  what the model produces under the priors, and ABC-SMC, which starts from the
  priors, can hardly reach it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from peersim.calibration.inputs import BoundTarget, BoundTargets, Priors
from peersim.stats import weighted_quantiles, weighted_sd
from peersim.uncertainty import PER_STUDY_PARAMS, Posterior, study_parameter

NOT_INFORMED_RATIO = 0.8
"""Posterior-to-prior spread ratio above which a parameter is flagged as not informed."""

IDENTIFIED_RATIO = 0.5
"""Spread ratio up to which a parameter counts as identified (above it, up to 0.8: partly informed)."""

PPC_INTERVAL = (2.5, 97.5)
"""Percentiles of the predictive draws shown as the simulated 95% interval."""


ORDINAL_PASS_SHARE = 0.5
"""Share of predictive draws that must meet an ordinal constraint for it to pass."""

INFORMATIVE_GAIN = 0.10
"""Gain in share meeting (posterior minus prior) below which a target the priors pass taught little."""

PRIOR_CANNOT_MEET_SHARE = 0.01
"""Share of prior draws meeting a target at or below which (its prior check failing) it is flagged."""

DIRECTLY_SET: dict[str, str] = {"p_readmit_12m_usual_care": "readmission_rate_control"}
"""Parameter -> the metric that sets it directly.

The model solves ``p_readmit_12m_usual_care`` so that usual-care readmission
equals it (:mod:`peersim.model.hazard`): a target on ``readmission_rate_control``
(any sites, not a contrast) feeds the parameter straight back, so its narrow
posterior says nothing about the mechanisms.
"""

VERDICTS = {
    "already met": "the prior already meets this target: it taught the calibration little or nothing",
    "informative": "the priors miss it (or meet it in clearly fewer draws) and the posterior meets it: "
    "it informed the calibration",
    "missed": "the posterior fails it: the calibrated model cannot meet it",
    "met": "the posterior meets it (no prior predictive draws to compare)",
}
"""What each target verdict (:func:`target_verdict`) means."""

PRIOR_CANNOT_MEET = (
    "the priors cannot meet it: almost no prior predictive draw does, so the calibration, which starts "
    "from the priors, can hardly reach it; check the target or widen the priors"
)
"""The sentence of a flagged target (``prior_cannot_meet``)."""

PARAMETER_VERDICTS = {
    "identified": "identified",
    "partly informed": "partly informed",
    "not informed": "not informed: stays at its prior",
    "set directly": "identified only because a target sets it directly (an input in disguise)",
}
"""Text of each parameter verdict (:func:`parameter_verdict`), by key."""


def parameter_verdict(ratio: float, set_by: str = "") -> str:
    """One-line verdict on a parameter from its spread ratio and the target that sets it, if any.

    ``ratio <= IDENTIFIED_RATIO``: identified; ``<= NOT_INFORMED_RATIO``: partly
    informed; above, or not a number: not informed. A parameter narrowed (ratio at
    most ``NOT_INFORMED_RATIO``) while a target sets it directly (``set_by``, see
    :data:`DIRECTLY_SET`) is identified only because of that target.
    """
    if not ratio <= NOT_INFORMED_RATIO:  # also NaN
        return PARAMETER_VERDICTS["not informed"]
    if set_by:
        return PARAMETER_VERDICTS["set directly"]
    return PARAMETER_VERDICTS["identified" if ratio <= IDENTIFIED_RATIO else "partly informed"]


def sets_parameter(target: BoundTarget) -> str:
    """Return the parameter ``target`` sets directly (:data:`DIRECTLY_SET`), or ``""``.

    In a calibration to several studies a target ``STUDY.name`` sets that study's
    own baseline, ``NAME@STUDY`` (:data:`peersim.uncertainty.PER_STUDY_PARAMS`).
    """
    if target.spec.compare is not None:
        return ""
    metric = target.selectors[0].metric
    name = next((name for name, set_by in DIRECTLY_SET.items() if set_by == metric), "")
    study, dot, _ = target.name.partition(".")
    if name in PER_STUDY_PARAMS and dot:
        return study_parameter(name, study)
    return name


def _set_by(parameters: Iterable[str], links: Iterable[tuple[str, str]]) -> dict[str, str]:
    """For each parameter, the comma-joined names of the targets that set it directly."""
    found: dict[str, list[str]] = {name: [] for name in parameters}
    for target, parameter in links:
        if parameter in found:
            found[parameter].append(target)
    return {name: ", ".join(targets) for name, targets in found.items()}


def identifiability(
    posterior: Posterior, priors: Priors, targets: BoundTargets | None = None
) -> pd.DataFrame:
    """Prior against posterior spread per calibrated parameter, with a verdict.

    Parameters
    ----------
    posterior, priors
        The posterior and the priors it was calibrated from.
    targets
        The targets, to tell a parameter a target sets directly (:data:`DIRECTLY_SET`);
        without them ``set_by`` stays empty (:func:`link_parameters` adds it later).

    Returns
    -------
    pandas.DataFrame
        ``parameter, prior_low, prior_high, posterior_mean, posterior_q05,
        posterior_q95, prior_sd, posterior_sd, spread_ratio, informed, set_by,
        verdict`` (one row per parameter, declaration order); ``informed`` is
        ``spread_ratio <= NOT_INFORMED_RATIO``; ``set_by`` names the targets that
        set the parameter directly; ``verdict`` is :func:`parameter_verdict`.
    """
    links = [(t.name, sets_parameter(t)) for t in targets.targets] if targets is not None else []
    set_by = _set_by(priors.names, links)
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
                "set_by": set_by[prior.name],
                "verdict": parameter_verdict(ratio, set_by[prior.name]),
            }
        )
    return pd.DataFrame(rows)


def link_parameters(ident: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Return ``ident`` with ``set_by`` and ``verdict`` from a predictive check ``table``.

    ``table`` (:func:`posterior_predictive`) names in ``sets_parameter`` the
    parameter each target sets directly; this fills in what :func:`identifiability`
    computed without the targets (and recomputes the same otherwise).
    """
    frame = ident.copy()
    if "sets_parameter" in table.columns:
        links = zip(table["target"], table["sets_parameter"], strict=True)
        set_by = _set_by(frame["parameter"], links)
        frame["set_by"] = [set_by[name] for name in frame["parameter"]]
    elif "set_by" not in frame.columns:
        frame["set_by"] = ""
    frame["verdict"] = [
        parameter_verdict(float(r), str(s))
        for r, s in zip(frame["spread_ratio"], frame["set_by"], strict=True)
    ]
    return frame


def target_verdict(
    prior_passed: bool | None, posterior_passed: bool, prior_share: float, posterior_share: float
) -> str:
    """Return what a target taught the calibration: a key of :data:`VERDICTS`.

    ``missed`` when the posterior fails it; otherwise ``already met`` when the
    priors pass it too and the share meeting gained less than
    :data:`INFORMATIVE_GAIN` (``posterior_share - prior_share``); otherwise
    ``informative``. ``prior_passed`` ``None`` (no prior draws): ``met``.
    """
    if not posterior_passed:
        return "missed"
    if prior_passed is None:
        return "met"
    gain = posterior_share - prior_share + 1e-9  # shares are k/n: 0.6 - 0.5 is a gain of 0.10
    if prior_passed and not gain >= INFORMATIVE_GAIN:  # NaN: no gain
        return "already met"
    return "informative"


def prior_cannot_meet(prior_passed: bool | None, prior_share: float) -> bool:
    """Whether to flag a target as out of the priors' reach (see the module docstring)."""
    return prior_passed is False and bool(prior_share <= PRIOR_CANNOT_MEET_SHARE)


def _share_meeting(target: BoundTarget, values: np.ndarray) -> float:
    return float(np.mean([target.satisfied(v) for v in values])) if values.size else math.nan


def observed_percentile(observed: float, values: np.ndarray) -> float:
    """Where ``observed`` falls among ``values`` (finite ones): percent below it, ties counting half."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return math.nan
    below = np.count_nonzero(finite < observed) + 0.5 * np.count_nonzero(finite == observed)
    return float(100.0 * below / finite.size)


def predictive_summary(target: BoundTarget, values: np.ndarray) -> dict[str, Any]:
    """One target against one set of predictive draws.

    Returns
    -------
    dict
        ``median, lo, hi`` (the :data:`PPC_INTERVAL`), ``share_meeting`` (inside
        the observed interval for a point target, meeting the constraint for an
        ordinal one), ``passed`` (the rule of the module docstring),
        ``percentile`` (:func:`observed_percentile` for a point target, NaN for an
        ordinal one: its share meeting is where the observation falls) and
        ``n_draws`` (finite draws).
    """
    spec = target.spec
    finite = values[np.isfinite(values)]
    if finite.size:
        lo, median, hi = (float(v) for v in np.percentile(finite, [PPC_INTERVAL[0], 50.0, PPC_INTERVAL[1]]))
    else:
        lo = median = hi = math.nan
    meeting = _share_meeting(target, values)
    if spec.is_ordinal:
        passed = bool(meeting >= ORDINAL_PASS_SHARE)
        percentile = math.nan
    else:
        observed = float(spec.value or 0.0)
        passed = bool(finite.size and lo <= observed <= hi)
        percentile = observed_percentile(observed, values)
    return {
        "median": median,
        "lo": lo,
        "hi": hi,
        "share_meeting": meeting,
        "passed": passed,
        "percentile": percentile,
        "n_draws": int(finite.size),
    }


LEGACY_COLUMNS = {
    "simulated_median": "posterior_median",
    "simulated_lo": "posterior_lo",
    "simulated_hi": "posterior_hi",
    "share_meeting": "posterior_share_meeting",
    "passed": "posterior_passed",
}
"""Columns kept under their peersim 0.1 names (notebooks, scripts), each a copy of the posterior's."""


def posterior_predictive(
    draws: pd.DataFrame, targets: BoundTargets, prior_draws: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Prior and posterior predictive check side by side, and what each target taught.

    Parameters
    ----------
    draws
        Posterior predictive draws (:func:`~peersim.calibration.evaluate.predictive_draws`).
    targets
        The targets checked.
    prior_draws
        Prior predictive draws on the same replicate seeds; without them the
        ``prior_*`` columns are missing values, ``prior_passed`` is ``None`` and
        a passing target's verdict is ``met``.

    Returns
    -------
    pandas.DataFrame
        One row per target: ``target, kind, observed, confidence, weight,
        sets_parameter``; for each of ``prior`` and ``posterior`` the
        :func:`predictive_summary` as ``{which}_median, {which}_lo, {which}_hi,
        {which}_share_meeting, {which}_passed, {which}_percentile``, with
        ``prior_n_draws`` and ``n_draws`` (posterior); then ``share_gain``
        (posterior minus prior share meeting), ``verdict``
        (:func:`target_verdict`), ``prior_cannot_meet`` (the flag) and the
        :data:`LEGACY_COLUMNS` (``simulated_median, simulated_lo, simulated_hi,
        share_meeting, passed``: the posterior's).
    """
    rows = []
    for target in targets.targets:
        spec = target.spec
        post = predictive_summary(target, draws[target.name].to_numpy(dtype=float))
        if prior_draws is not None:
            prior = predictive_summary(target, prior_draws[target.name].to_numpy(dtype=float))
            prior_passed: bool | None = bool(prior["passed"])
        else:
            prior = dict.fromkeys(("median", "lo", "hi", "share_meeting", "percentile"), math.nan)
            prior["n_draws"] = 0
            prior_passed = None
        row: dict[str, Any] = {
            "target": target.name,
            "kind": "ordinal" if spec.is_ordinal else "point",
            "observed": spec.observed_text(),
            "confidence": spec.confidence,
            "weight": spec.weight,
            "sets_parameter": sets_parameter(target),
        }
        for which, summary, passed in (("prior", prior, prior_passed), ("posterior", post, post["passed"])):
            row |= {
                f"{which}_median": summary["median"],
                f"{which}_lo": summary["lo"],
                f"{which}_hi": summary["hi"],
                f"{which}_share_meeting": summary["share_meeting"],
                f"{which}_passed": passed,
                f"{which}_percentile": summary["percentile"],
            }
        row |= {
            "prior_n_draws": prior["n_draws"],
            "n_draws": post["n_draws"],
            "share_gain": post["share_meeting"] - prior["share_meeting"],
            "verdict": target_verdict(
                prior_passed, post["passed"], prior["share_meeting"], post["share_meeting"]
            ),
            "prior_cannot_meet": prior_cannot_meet(prior_passed, prior["share_meeting"]),
        }
        row |= {legacy: row[column] for legacy, column in LEGACY_COLUMNS.items()}
        rows.append(row)
    return pd.DataFrame(rows)


predictive_check = posterior_predictive
"""The same as :func:`posterior_predictive`, under the name of what it now checks (prior and posterior)."""


def check_counts(table: pd.DataFrame) -> dict[str, Any]:
    """Count what a predictive check table found (summary lines of the table, report and JSON).

    Returns
    -------
    dict
        ``targets`` (how many), ``posterior_passed`` and ``prior_passed``
        (counts), ``already_met``, ``informative``, ``missed`` and
        ``prior_cannot_meet`` (lists of target names).
    """

    def names(mask: pd.Series) -> list[str]:
        return [str(n) for n in table.loc[mask, "target"]]

    return {
        "targets": len(table),
        "posterior_passed": int(table["posterior_passed"].astype(bool).sum()),
        "prior_passed": int(table["prior_passed"].eq(True).sum()),
        "already_met": names(table["verdict"] == "already met"),
        "informative": names(table["verdict"] == "informative"),
        "missed": names(table["verdict"] == "missed"),
        "prior_cannot_meet": names(table["prior_cannot_meet"].astype(bool)),
    }


def summary_lines(table: pd.DataFrame) -> list[str]:
    """Plain-text lines summarising what the targets taught (terminal and report)."""
    counts = check_counts(table)
    n = counts["targets"]
    already = counts["already_met"]
    lines = [
        f"{counts['posterior_passed']} of {n} targets pass the posterior predictive check; "
        f"{counts['prior_passed']} of {n} already pass under the priors.",
        f"{len(already)} of {n} targets were already met under the priors: they did not inform "
        "the calibration" + (f" ({', '.join(already)})." if already else "."),
    ]
    if counts["missed"]:
        lines.append(f"Missed (the calibrated model cannot meet them): {', '.join(counts['missed'])}.")
    for name in counts["prior_cannot_meet"]:
        lines.append(f"FLAG {name}: {PRIOR_CANNOT_MEET}.")
    return lines
