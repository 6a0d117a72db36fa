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

from peersim.core.results import (
    ARMS,
    FIDELITY_DOMAINS,
    GROUP_METRICS,
    GROUPS,
    OVERALL,
    TIMESERIES_METRICS,
    WEEKS_PER_YEAR,
    YEAR_METRICS,
    DeferredTables,
    Labels,
    RunResult,
    label_strings,
)
from peersim.model.model import PeerSupportModel
from peersim.model.rules.readmission import usual_care_readmitted
from peersim.model.rules.workers import PERSON_COLUMNS, PERSON_DTYPES, person_record


def _per_site(site: np.ndarray, values: np.ndarray, n_sites: int) -> np.ndarray:
    """Sum ``values`` per site and append the total (length ``n_sites + 1``)."""
    sums = np.bincount(site, weights=values, minlength=n_sites)
    return np.append(sums, sums.sum())


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise (``den`` broadcast to ``num``'s shape), NaN where ``den`` is 0."""
    den = np.broadcast_to(den, num.shape)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def _per_cell(key: np.ndarray, site: np.ndarray, values: np.ndarray, n_keys: int, n_sites: int) -> np.ndarray:
    """Sum ``values`` per (key, site), with each key's total over sites appended: shape (keys, sites + 1)."""
    sums = np.bincount(key * n_sites + site, weights=values, minlength=n_keys * n_sites).reshape(
        n_keys, n_sites
    )
    return np.column_stack([sums, sums.sum(axis=1)])


def _long_columns(key: str, keys: Any, labels: list[str], values: dict[str, np.ndarray]) -> dict[str, Any]:
    """Columns ``key, site, metric, value`` of a table of ``values`` shaped (keys, labels) per metric.

    ``keys`` holds one key column entry per key (numbers, or :class:`Labels` categories).
    """
    n_keys, n_labels = next(iter(values.values())).shape
    key_codes = _pattern_codes(n_keys, n_labels, len(values))
    return {
        key: Labels(keys, key_codes) if isinstance(keys, tuple) else np.asarray(keys)[key_codes],
        "site": Labels(tuple(labels), _pattern_codes(n_labels, 1, n_keys * len(values))),
        "metric": Labels(tuple(values), _pattern_codes(len(values), n_keys * n_labels, 1)),
        "value": np.concatenate([v.reshape(-1) for v in values.values()]),
    }


def odds_ratio(events_a: np.ndarray, n_a: np.ndarray, events_b: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """Odds ratio of a vs b, with 0.5 added to every cell where any cell is zero (Haldane)."""
    a, b = events_a, n_a - events_a
    c, d = events_b, n_b - events_b
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    adj = np.where(zero, 0.5, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = ((a + adj) * (d + adj)) / ((b + adj) * (c + adj))
    return np.where((n_a > 0) & (n_b > 0), result, np.nan)


def mantel_haenszel_odds_ratio(
    events_a: np.ndarray, n_a: np.ndarray, events_b: np.ndarray, n_b: np.ndarray
) -> float:
    """Mantel-Haenszel odds ratio of a vs b over strata (one element per stratum).

    ``sum(a d / n) / sum(b c / n)`` over strata with both arms present; NaN when
    no stratum contributes to the denominator.
    """
    a, b = events_a, n_a - events_a
    c, d = events_b, n_b - events_b
    n = n_a + n_b
    both = (n_a > 0) & (n_b > 0)
    num = float(np.sum(np.where(both, a * d / np.where(n > 0, n, 1.0), 0.0)))
    den = float(np.sum(np.where(both, b * c / np.where(n > 0, n, 1.0), 0.0)))
    return num / den if den > 0 else float("nan")


def _stratified(strata: np.ndarray, n_strata: int, arms: tuple[np.ndarray, ...]) -> float:
    sums = [np.bincount(strata, weights=v, minlength=n_strata) for v in arms]
    return mantel_haenszel_odds_ratio(*sums)


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

    allocated = p.allocated_week >= 0
    waits = np.where(allocated, p.allocated_week - p.referred_week, 0).astype(float)
    unmet = _per_site(site, ps * p.unmet, n_sites)
    wait_sum = _per_site(site, ps * waits, n_sites)
    n_allocated = _per_site(site, ps * allocated, n_sites)
    averted_each = ps * (counterfactual.astype(float) - p.readmitted)
    averted = _per_site(site, averted_each, n_sites)
    n_groups = len(GROUPS)
    arms = (ps * p.readmitted, ps, uc * uc_readmitted, uc)
    strata = site * n_groups + p.group
    stratified = np.array(
        [_stratified(p.group[site == s], n_groups, tuple(v[site == s] for v in arms)) for s in range(n_sites)]
        + [_stratified(strata, n_sites * n_groups, arms)]
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
        "unmet_demand": _ratio(unmet, n_ps),
        "mean_wait_weeks": _ratio(wait_sum, n_allocated),
        "fidelity_index": fidelity.mean(axis=0),
        **{f"fidelity_{d}": fidelity[i] for i, d in enumerate(FIDELITY_DOMAINS)},
        "readmission_rate_intervention": rate_ps,
        "readmission_rate_control": rate_uc,
        "readmission_rate_engaged": rate_eng,
        "readmission_rate_not_engaged": rate_not_eng,
        "itt_odds_ratio": odds_ratio(readm_ps, n_ps, readm_uc, n_uc),
        "itt_odds_ratio_stratified": stratified,
        "itt_risk_difference": rate_ps - rate_uc,
        "engaged_vs_control_difference": rate_eng - rate_uc,
        "engaged_vs_not_engaged_difference": rate_eng - rate_not_eng,
        "cace_risk_difference": _ratio(rate_ps - rate_uc, engagement),
        "true_effect_engaged": _ratio(readm_eng - readm_eng_uc, n_eng),
        "readmissions_averted": averted,
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
        "peer_worker_leavers": _per_site(
            np.array([person[0] for person in posts.people], dtype=np.int64),
            np.ones(len(posts.people)),
            n_sites,
        ),
        "ward_staff_leavers": _per_site(ward.site, ward.leavers.astype(float), n_sites),
        "supervisor_leavers": np.append(
            t := np.array([s.turnovers for s in model.supervisors], dtype=float), t.sum()
        ),
        "weeks_without_supervisor": np.append(
            w := np.array([s.weeks_without for s in model.supervisors], dtype=float), w.sum()
        ),
    }
    staff = _long(labels, staff_values, "site")

    weeks, _, n_metrics = series.shape
    timeseries = pd.DataFrame(
        copy=False,
        data={
            "week": np.repeat(np.arange(1, weeks + 1), n_sites * n_metrics),
            "site": _pattern(tuple(names), n_metrics, weeks),
            "metric": _pattern(TIMESERIES_METRICS, 1, weeks * n_sites),
            "value": series.reshape(-1),
        },
    )
    patients = pd.DataFrame(
        {
            "site": _strings(names, site),
            "group": _strings(GROUPS, p.group),
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
            "referred_week": p.referred_week,
            "allocated_week": p.allocated_week,
            "unmet_demand": p.unmet,
            "first_contact_relationship": p.first_contact_gain,
        },
    )
    workers = _workers(model, names)
    years = _years(model, labels, engaged, averted_each)
    groups = _groups(model, labels, engaged, averted_each, uc, uc_readmitted)
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
        deferred=DeferredTables({"workers": workers, "years": years, "groups": groups}),
    )


def _workers(model: PeerSupportModel, names: list[str]) -> dict[str, Any]:
    """One row per person who held a post: those who left, then those still in post (end week -1)."""
    posts = model.posts
    held = posts.in_post.nonzero()[0].tolist()
    records = [*posts.people, *(person_record(posts, post, -1) for post in held)]
    if records:
        columns = [np.array(values) for values in zip(*records, strict=True)]
    else:
        columns = [np.zeros(0, dtype=dtype) for dtype in PERSON_DTYPES]
    order = np.lexsort((columns[2], columns[1]))
    data: dict[str, Any] = {name: column[order] for name, column in zip(PERSON_COLUMNS, columns, strict=True)}
    data["site"] = Labels(tuple(names), data["site"].astype(np.int64))
    return data


def _year_weeks(model: PeerSupportModel) -> tuple[int, np.ndarray]:
    """Service years of the delivery phase, and each delivery week's year index (0-based)."""
    weeks = min(model.steps, model.delivery_weeks)
    n_years = max(-(-weeks // WEEKS_PER_YEAR), -(-model.spec.horizon.recruitment_weeks // WEEKS_PER_YEAR))
    return n_years, np.arange(weeks) // WEEKS_PER_YEAR


def _years(
    model: PeerSupportModel, labels: list[str], engaged: np.ndarray, averted: np.ndarray
) -> dict[str, Any]:
    """Build the ``years`` table: participants by admission year, staff by week.

    ``averted`` is each participant's readmission averted (0 or 1; 0 in usual care).
    """
    p = model.patients
    n_sites = len(labels) - 1
    n_years, week_year = _year_weeks(model)
    cohort = (p.admit_week - 1) // WEEKS_PER_YEAR
    ps = p.offered.astype(float)

    def per_cell(values: np.ndarray) -> np.ndarray:
        return _per_cell(cohort, p.site, values, n_years, n_sites)

    record = model.record
    rows = record.rows[: len(week_year)]

    def per_year(values: np.ndarray) -> np.ndarray:
        sums = np.zeros((n_years, n_sites))
        np.add.at(sums, week_year, values[: len(week_year)])
        return np.column_stack([sums, sums.sum(axis=1)])

    contacts = per_year(rows[:, :, TIMESERIES_METRICS.index("contacts")])
    counts = model.ward.counts.astype(float)
    acceptance = rows[:, :, TIMESERIES_METRICS.index("ward_acceptance")]
    weeks_in_year = np.bincount(week_year, minlength=n_years).astype(float)[:, None]
    acceptance_sums = per_year(acceptance * counts)
    staff = np.append(counts, counts.sum())
    n_ps = per_cell(ps)
    values = {
        "participants": per_cell(np.ones(len(p))),
        "engagement_rate": _ratio(per_cell(ps * engaged), n_ps),
        "unmet_demand": _ratio(per_cell(ps * p.unmet), n_ps),
        "readmission_rate_intervention": _ratio(per_cell(ps * p.readmitted), n_ps),
        "readmissions_averted": per_cell(averted),
        "fidelity_index": _ratio(per_year(record.fidelity_contacts), contacts),
        "ward_acceptance": _ratio(acceptance_sums, weeks_in_year * staff[None, :]),
        "peer_worker_leavers": per_year(record.peer_worker_leavers),
        "ward_staff_leavers": per_year(record.ward_staff_leavers),
        "vacant_post_weeks": per_year(rows[:, :, TIMESERIES_METRICS.index("vacancies")]),
        "supervision_sessions": per_year(rows[:, :, TIMESERIES_METRICS.index("supervision_sessions")]),
    }
    assert tuple(values) == tuple(YEAR_METRICS)
    return _long_columns("year", np.arange(1, n_years + 1), labels, values)


def _groups(
    model: PeerSupportModel,
    labels: list[str],
    engaged: np.ndarray,
    averted: np.ndarray,
    uc: np.ndarray,
    uc_readmitted: np.ndarray,
) -> dict[str, Any]:
    """Build the ``groups`` table: each diagnostic group's outcomes per site and overall."""
    p = model.patients
    n_sites = len(labels) - 1
    ps = p.offered.astype(float)

    def per_cell(values: np.ndarray) -> np.ndarray:
        return _per_cell(p.group, p.site, values, len(GROUPS), n_sites)

    n_ps, n_uc = per_cell(ps), per_cell(uc)
    rate_ps = _ratio(per_cell(ps * p.readmitted), n_ps)
    rate_uc = _ratio(per_cell(uc * uc_readmitted), n_uc)
    values = {
        "participants": per_cell(np.ones(len(p))),
        "engagement_rate": _ratio(per_cell(ps * engaged), n_ps),
        "mean_contacts": _ratio(per_cell(ps * p.contacts), n_ps),
        "unmet_demand": _ratio(per_cell(ps * p.unmet), n_ps),
        "readmission_rate_intervention": rate_ps,
        "readmission_rate_control": rate_uc,
        "itt_risk_difference": rate_ps - rate_uc,
        "readmissions_averted": per_cell(averted),
    }
    assert tuple(values) == tuple(GROUP_METRICS)
    return _long_columns("group", GROUPS, labels, values)


def _strings(categories: Sequence[str], codes: np.ndarray) -> Any:
    """Return ``categories[codes]`` as a pandas string array."""
    return label_strings(tuple(categories), codes)


def _pattern(categories: tuple[str, ...], repeat: int, tile: int) -> Any:
    """Return ``categories``, each repeated ``repeat`` times, the whole tiled ``tile`` times, as strings."""
    return _strings(categories, _pattern_codes(len(categories), repeat, tile))


@lru_cache(maxsize=1024)
def _pattern_codes(n: int, repeat: int, tile: int) -> np.ndarray:
    codes = np.tile(np.repeat(np.arange(n), repeat), tile)
    codes.flags.writeable = False
    return codes


def _long(labels: list[str], values: dict[str, np.ndarray], key: str) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame(
        copy=False,
        data={
            key: _pattern(tuple(labels), 1, len(values)),
            "metric": _pattern(tuple(values), n, 1),
            "value": np.concatenate([np.asarray(v, dtype=float) for v in values.values()]),
        },
    )
