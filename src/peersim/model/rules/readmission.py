"""Readmission after discharge, and its counterfactual without peer support.

The weekly hazard is the Weibull baseline (:mod:`peersim.model.hazard`) times
``hr_g * exp(sigma * z - effect)``, where ``hr_g`` is the hazard ratio of the
participant's diagnostic group, ``z`` is latent instability and ``effect`` grows
with the fidelity-weighted dose (mechanism 6).
"""

from __future__ import annotations

import numpy as np

from peersim.model import constants as c
from peersim.model.setup import Setup
from peersim.model.state import PatientTable


def readmissions(patients: PatientTable, week: int, setup: Setup) -> None:
    """Advance readmission for discharged participants.

    While a participant is in support their dose can still change, so their
    hazard is accumulated week by week, and a readmission ends support. Once
    support is over the rest of their follow-up is fixed, so it is *settled*:
    the week the cumulative hazard would pass their threshold is found
    directly, exactly as weekly accumulation would find it.
    """
    p = patients
    follow_up = setup.follow_up_weeks
    k = week - p.discharge_week
    live = ((k >= 1) & (k <= follow_up) & ~p.hazard_settled).nonzero()[0]
    if live.size:
        kl = k[live]
        p.cumulative_hazard[live] += setup.baseline_hazard[kl] * _hazard_multiplier(p, live, setup)
        now = live[p.cumulative_hazard[live] >= p.readmit_threshold[live]]
        p.readmitted[now] = True
        p.readmit_week[now] = k[now]
        p.support_over[now] = True
        p.hazard_settled[now] = True
    done = (p.support_over & ~p.hazard_settled & (k >= 0)).nonzero()[0]
    if done.size:
        settle(p, done, np.minimum(k[done], follow_up), setup)


def _hazard_multiplier(patients: PatientTable, rows: np.ndarray, setup: Setup) -> np.ndarray:
    mech = setup.mechanisms
    effect = mech.rel_dose_readmission * (1.0 - np.exp(-patients.dose[rows] / c.DOSE_SCALE_CONTACTS))
    return np.exp(setup.log_hazard_offset[rows] - effect)


def settle(patients: PatientTable, rows: np.ndarray, weeks_done: np.ndarray, setup: Setup) -> None:
    """Fix the remaining follow-up of ``rows``, whose hazard can no longer change."""
    p = patients
    cumulative = setup.baseline_cumulative
    target = cumulative[weeks_done] + (p.readmit_threshold[rows] - p.cumulative_hazard[rows]) / (
        _hazard_multiplier(p, rows, setup)
    )
    when = np.searchsorted(cumulative, target, side="left")
    hit = when < len(cumulative)
    p.readmitted[rows[hit]] = True
    p.readmit_week[rows[hit]] = when[hit]
    p.hazard_settled[rows] = True


def usual_care_readmitted(patients: PatientTable, setup: Setup) -> np.ndarray:
    """Counterfactual: whether each participant is readmitted without peer support.

    Uses the participant's own instability, group and threshold (common random
    numbers), with no dose effect.
    """
    return setup.baseline_cumulative[-1] * np.exp(setup.log_hazard_offset) >= patients.readmit_threshold
