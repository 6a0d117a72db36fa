"""The tidy tables of one finished run (:class:`~peersim.core.results.RunResult`).

:func:`collect` reads a finished :class:`~peersim.model.PeerSupportModel` and
builds every table; see :mod:`peersim.core.results` for their meaning and scales.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from peersim.core.results import ARMS, FIDELITY_DOMAINS, OVERALL, TIMESERIES_METRICS, RunResult
from peersim.model.model import PeerSupportModel
from peersim.model.rules.readmission import usual_care_readmitted


def _per_site(site: np.ndarray, values: np.ndarray, n_sites: int) -> np.ndarray:
    """Sum ``values`` per site and append the total (length ``n_sites + 1``)."""
    sums = np.bincount(site, weights=values, minlength=n_sites)
    return np.append(sums, sums.sum())


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full(len(num), np.nan), where=den > 0)


def odds_ratio(events_a: np.ndarray, n_a: np.ndarray, events_b: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """Odds ratio of a vs b, with 0.5 added to every cell where any cell is zero (Haldane)."""
    a, b = events_a, n_a - events_a
    c, d = events_b, n_b - events_b
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    adj = np.where(zero, 0.5, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = ((a + adj) * (d + adj)) / ((b + adj) * (c + adj))
    return np.where((n_a > 0) & (n_b > 0), result, np.nan)


def collect(model: PeerSupportModel) -> RunResult:
    """Build the tidy tables of a finished model."""
    spec = model.spec
    p = model.patients
    if model.running or not p.hazard_settled.all():
        raise RuntimeError("collect() needs a finished model: run_model() until running is False")
    n_sites = len(spec.sites)
    names = [s.name for s in spec.sites]
    labels = [*names, OVERALL]
    site = p.site
    ps = p.offered.astype(float)
    engaged = p.contacts >= spec.protocol.engaged_min_contacts
    counterfactual = usual_care_readmitted(p, model.setup)
    if spec.mode == "trial":
        uc = (~p.offered).astype(float)
        uc_readmitted = p.readmitted
    else:
        uc = np.ones(len(p))
        uc_readmitted = counterfactual

    n_ps = _per_site(site, ps, n_sites)
    n_uc = _per_site(site, uc, n_sites)
    n_eng = _per_site(site, ps * engaged, n_sites)
    readm_ps = _per_site(site, ps * p.readmitted, n_sites)
    readm_uc = _per_site(site, uc * uc_readmitted, n_sites)
    readm_eng = _per_site(site, ps * engaged * p.readmitted, n_sites)
    readm_eng_uc = _per_site(site, ps * engaged * counterfactual, n_sites)
    contacts = _per_site(site, ps * p.contacts, n_sites)
    pre = _per_site(site, ps * p.contacts_pre_discharge, n_sites)

    posts = model.posts
    post_site = posts.site
    fid_sums = np.stack(
        [
            _per_site(post_site, posts.fidelity_contact_sums[:, d], n_sites)
            for d in range(len(FIDELITY_DOMAINS))
        ]
    )
    fid_n = _per_site(post_site, posts.contacts_total.astype(float), n_sites)
    fidelity = np.stack([_ratio(row, fid_n) for row in fid_sums])

    series = model.timeseries()
    held = series[:, :, TIMESERIES_METRICS.index("vacancies")]
    in_post = np.array([s.n_peer_workers for s in spec.sites])[None, :] - held
    strain = series[:, :, TIMESERIES_METRICS.index("pw_strain")]
    strain_weighted = np.nansum(strain * in_post, axis=0)
    strain_mean = _ratio(
        np.append(strain_weighted, strain_weighted.sum()), np.append(in_post.sum(0), in_post.sum())
    )
    vacancy = _per_site(post_site, posts.vacancy_weeks.astype(float), n_sites)
    supervision = np.array([s.sessions_delivered for s in model.supervisors], dtype=float)
    supervision = np.append(supervision, supervision.sum())
    ward = model.ward
    acceptance = _ratio(
        _per_site(ward.site, ward.acceptance, n_sites), _per_site(ward.site, np.ones(len(ward)), n_sites)
    )

    rate_ps = _ratio(readm_ps, n_ps)
    rate_uc = _ratio(readm_uc, n_uc)
    rate_eng = _ratio(readm_eng, n_eng)
    rate_not_eng = _ratio(readm_ps - readm_eng, n_ps - n_eng)
    engagement = _ratio(n_eng, n_ps)
    values: dict[str, np.ndarray] = {
        "participants": _per_site(site, np.ones(len(p)), n_sites),
        "engagement_rate": engagement,
        "mean_contacts": _ratio(contacts, n_ps),
        "contacts_before_discharge": _ratio(pre, n_ps),
        "fidelity_index": fidelity.mean(axis=0),
        **{f"fidelity_{d}": fidelity[i] for i, d in enumerate(FIDELITY_DOMAINS)},
        "readmission_rate_intervention": rate_ps,
        "readmission_rate_control": rate_uc,
        "readmission_rate_engaged": rate_eng,
        "readmission_rate_not_engaged": rate_not_eng,
        "itt_odds_ratio": odds_ratio(readm_ps, n_ps, readm_uc, n_uc),
        "itt_risk_difference": rate_ps - rate_uc,
        "engaged_vs_control_difference": rate_eng - rate_uc,
        "engaged_vs_not_engaged_difference": rate_eng - rate_not_eng,
        "cace_risk_difference": _ratio(rate_ps - rate_uc, engagement),
        "true_effect_engaged": _ratio(readm_eng - readm_eng_uc, n_eng),
        "pw_strain": strain_mean,
        "vacancy_weeks": vacancy,
        "supervision_sessions": supervision,
        "ward_acceptance": acceptance,
    }
    metrics = _long(labels, values, "site")

    arm_values = {
        "participants": (n_ps, n_uc),
        "readmission_rate": (rate_ps, rate_uc),
        "engagement_rate": (values["engagement_rate"], None),
        "mean_contacts": (values["mean_contacts"], np.zeros(n_sites + 1)),
        "contacts_before_discharge": (values["contacts_before_discharge"], np.zeros(n_sites + 1)),
        "fidelity_index": (values["fidelity_index"], None),
        **{f"fidelity_{d}": (fidelity[i], None) for i, d in enumerate(FIDELITY_DOMAINS)},
    }
    rows: list[tuple[str, str, str, float]] = []
    for metric, (ps_vals, uc_vals) in arm_values.items():
        for arm, vals in zip(ARMS, (ps_vals, uc_vals), strict=True):
            if vals is not None:
                rows.extend((label, arm, metric, float(v)) for label, v in zip(labels, vals, strict=True))
    outcomes = pd.DataFrame(rows, columns=["site", "arm", "metric", "value"])

    staff_values = {
        "pw_strain": strain_mean,
        "vacancy_weeks": vacancy,
        "supervision_sessions": supervision,
        "ward_acceptance": acceptance,
        "peer_worker_hires": _per_site(post_site, (posts.hires - 1).astype(float), n_sites),
        "good_ward_contacts": _per_site(ward.site, ward.good_contacts.astype(float), n_sites),
        "poor_ward_contacts": _per_site(ward.site, ward.poor_contacts.astype(float), n_sites),
    }
    staff = _long(labels, staff_values, "site")

    weeks, _, n_metrics = series.shape
    timeseries = pd.DataFrame(
        {
            "week": np.repeat(np.arange(1, weeks + 1), n_sites * n_metrics),
            "site": _strings(names, np.tile(np.repeat(np.arange(n_sites), n_metrics), weeks)),
            "metric": _strings(TIMESERIES_METRICS, np.tile(np.arange(n_metrics), weeks * n_sites)),
            "value": series.reshape(-1),
        }
    )
    patients = pd.DataFrame(
        {
            "site": _strings(names, site),
            "arm": _strings(ARMS, np.where(p.offered, 0, 1)),
            "admit_week": p.admit_week,
            "discharge_week": p.discharge_week,
            "contacts": p.contacts,
            "contacts_before_discharge": p.contacts_pre_discharge,
            "engaged": engaged & p.offered,
            "invited_to_discharge_planning": p.invited,
            "disengaged": p.disengaged,
            "readmitted": p.readmitted,
            "readmit_week": p.readmit_week,
            "readmitted_usual_care": counterfactual,
        }
    )
    root = model.seed_sequence
    entropy = root.entropy
    return RunResult(
        scenario_name=spec.name,
        scenario_hash=spec.hash,
        mode=spec.mode,
        seed=int(entropy) if isinstance(entropy, (int, np.integer)) else -1,
        spawn_key=tuple(int(k) for k in root.spawn_key),
        metrics=metrics,
        outcomes=outcomes,
        staff=staff,
        timeseries=timeseries,
        patients=patients,
    )


def _strings(categories: Sequence[str], codes: np.ndarray) -> Any:
    """Return ``categories[codes]`` as a pandas string array (several times faster than from numpy)."""
    return _string_array(tuple(categories)).take(codes)


@lru_cache(maxsize=256)
def _string_array(categories: tuple[str, ...]) -> Any:
    return pd.Series(list(categories)).array


def _long(labels: list[str], values: dict[str, np.ndarray], key: str) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame(
        {
            key: _strings(labels, np.tile(np.arange(n), len(values))),
            "metric": _strings(list(values), np.repeat(np.arange(len(values)), n)),
            "value": np.concatenate([np.asarray(v, dtype=float) for v in values.values()]),
        }
    )
