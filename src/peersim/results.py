"""Tidy result tables of one run, computed from a finished model.

Every table is long-format (one value per row) except ``patients``, which has one
row per participant. Scales: shares and fidelity on 0-1; contacts as counts;
strain on 0-1; vacancy in post-weeks.

Fidelity is the *delivered* fidelity: the mean, over every contact delivered at a
site, of the peer worker's practice at the time in each domain of the peer
support fidelity index (0-1 per domain; 1 = fully consistent with the manual).
The index's own item scale and per-site scores were not available, so no mapping
to it is claimed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd

from peersim.model import PeerSupportModel
from peersim.model.constants import FIDELITY_DOMAINS
from peersim.model.model import TIMESERIES_METRICS
from peersim.model.patient_rules import usual_care_readmitted

OVERALL = "overall"
"""Site label of values pooled over all sites."""
ARMS: tuple[str, str] = ("peer_support", "usual_care")
"""Arm labels. In service mode ``usual_care`` is the counterfactual of the same people."""

METRICS: dict[str, str] = {
    "participants": "Participants (both arms in trial mode; everyone offered in service mode)",
    "engagement_rate": "Share of the peer support arm with at least 2 contacts (0-1)",
    "mean_contacts": "Mean peer support contacts in the peer support arm",
    "contacts_before_discharge": "Mean contacts on the ward before discharge, peer support arm",
    "fidelity_index": "Delivered fidelity, mean of the four domains (0-1)",
    **{f"fidelity_{d}": f"Delivered fidelity, {d.replace('_', ' ')} domain (0-1)" for d in FIDELITY_DOMAINS},
    "readmission_rate_intervention": "12-month readmission, peer support arm (0-1)",
    "readmission_rate_control": "12-month readmission, usual care (0-1; counterfactual in service mode)",
    "readmission_rate_engaged": "12-month readmission of engaged participants (0-1)",
    "readmission_rate_not_engaged": "12-month readmission of not-engaged participants (0-1)",
    "itt_odds_ratio": "Intention-to-treat odds ratio of readmission, peer support vs usual care",
    "itt_risk_difference": "Intention-to-treat risk difference of readmission (peer support - usual care)",
    "pw_strain": "Mean peer worker strain over the delivery phase (0-1)",
    "vacancy_weeks": "Peer worker post-weeks left vacant",
    "supervision_sessions": "Supervision sessions delivered",
    "ward_acceptance": "Mean ward staff acceptance at the end of delivery (0-1)",
}
"""Headline metrics reported per site and overall, with their meaning."""


@cache
def package_version() -> str:
    """Installed peersim version (looked up once per process)."""
    return version("peersim")


@dataclass(frozen=True)
class RunResult:
    """Tidy tables from one run of one scenario with one seed.

    Attributes
    ----------
    metrics : pandas.DataFrame
        Headline metrics, columns ``site, metric, value``; ``site`` is a site name
        or ``"overall"``. See :data:`METRICS`.
    outcomes : pandas.DataFrame
        Per site x arm: ``site, arm, metric, value``.
    staff : pandas.DataFrame
        Per site: ``site, metric, value`` (strain, vacancy weeks, supervision,
        acceptance, hires, ward contacts).
    timeseries : pandas.DataFrame
        Weekly per site over the delivery phase: ``week, site, metric, value``.
    patients : pandas.DataFrame
        One row per participant with their arm, contacts and outcome.
    """

    scenario_name: str
    scenario_hash: str
    mode: str
    seed: int
    """Entropy of the seed sequence (the base seed for replicates)."""
    spawn_key: tuple[int, ...]
    """Spawn key of the seed sequence; ``(i,)`` for replicate ``i`` of an ensemble."""
    metrics: pd.DataFrame
    outcomes: pd.DataFrame
    staff: pd.DataFrame
    timeseries: pd.DataFrame
    patients: pd.DataFrame
    version: str = field(default_factory=lambda: package_version())

    @property
    def replicate(self) -> int | None:
        """Replicate index within an ensemble, or ``None`` for a single run."""
        return self.spawn_key[-1] if self.spawn_key else None

    def metric(self, name: str, site: str = OVERALL) -> float:
        """Return one headline metric (``site`` defaults to all sites pooled)."""
        table = self.metrics
        hit = table[(table["site"] == site) & (table["metric"] == name)]
        if hit.empty:
            raise KeyError(f"no metric {name!r} for site {site!r}")
        return float(hit["value"].iloc[0])

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return all tables by name, stamped with scenario hash, seed, replicate and version."""
        stamp: dict[str, Any] = {
            "scenario_hash": self.scenario_hash,
            "seed": self.seed,
            "replicate": -1 if self.replicate is None else self.replicate,
            "version": self.version,
        }
        out = {}
        for name in ("metrics", "outcomes", "staff", "timeseries", "patients"):
            table = getattr(self, name).copy()
            for key, value in stamp.items():
                table[key] = value
            out[name] = table
        return out


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
    if spec.mode == "trial":
        uc = (~p.offered).astype(float)
        uc_readmitted = p.readmitted
    else:
        uc = np.ones(len(p))
        uc_readmitted = usual_care_readmitted(model)

    n_ps = _per_site(site, ps, n_sites)
    n_uc = _per_site(site, uc, n_sites)
    n_eng = _per_site(site, ps * engaged, n_sites)
    readm_ps = _per_site(site, ps * p.readmitted, n_sites)
    readm_uc = _per_site(site, uc * uc_readmitted, n_sites)
    readm_eng = _per_site(site, ps * engaged * p.readmitted, n_sites)
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
    supervision = np.array([s.sessions_delivered for s in model.supervisors_by_site], dtype=float)
    supervision = np.append(supervision, supervision.sum())
    ward = model.ward
    acceptance = _ratio(
        _per_site(ward.site, ward.acceptance, n_sites), _per_site(ward.site, np.ones(len(ward)), n_sites)
    )

    rate_ps = _ratio(readm_ps, n_ps)
    rate_uc = _ratio(readm_uc, n_uc)
    values: dict[str, np.ndarray] = {
        "participants": _per_site(site, np.ones(len(p)), n_sites),
        "engagement_rate": _ratio(n_eng, n_ps),
        "mean_contacts": _ratio(contacts, n_ps),
        "contacts_before_discharge": _ratio(pre, n_ps),
        "fidelity_index": fidelity.mean(axis=0),
        **{f"fidelity_{d}": fidelity[i] for i, d in enumerate(FIDELITY_DOMAINS)},
        "readmission_rate_intervention": rate_ps,
        "readmission_rate_control": rate_uc,
        "readmission_rate_engaged": _ratio(readm_eng, n_eng),
        "readmission_rate_not_engaged": _ratio(readm_ps - readm_eng, n_ps - n_eng),
        "itt_odds_ratio": odds_ratio(readm_ps, n_ps, readm_uc, n_uc),
        "itt_risk_difference": rate_ps - rate_uc,
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
            "readmitted_usual_care": usual_care_readmitted(model),
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
