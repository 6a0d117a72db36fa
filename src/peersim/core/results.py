"""What a run reports: the metric vocabulary and :class:`RunResult`, its tidy tables.

Every table is long-format (one value per row) except ``patients``, which has one
row per participant. Scales: shares and fidelity on 0-1; contacts as counts;
strain on 0-1; vacancy in post-weeks. :func:`peersim.model.results.collect` fills
the tables from a finished model.

Fidelity is the *delivered* fidelity: the mean, over every contact delivered at a
site, of the peer worker's practice at the time in each domain of the peer
support fidelity index (0-1 per domain; 1 = fully consistent with the manual).
The index's own item scale and per-site scores were not available, so no mapping
to it is claimed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from peersim.io.provenance import package_version

FIDELITY_DOMAINS: tuple[str, ...] = (
    "trusting_relationships",
    "reciprocity_mutuality",
    "leadership_choice_control",
    "strengths_community",
)
"""The four domains of the peer support fidelity index (Gillard et al. 2021)."""

GROUPS: tuple[str, ...] = ("psychosis", "personality_disorder", "other")
"""Diagnostic groups ENRICH stratified randomisation on (Gillard et al. 2022)."""

WEEKS_PER_YEAR = 52
"""Weeks in a service year of the ``years`` table (year 1 = weeks 1-52)."""

OVERALL = "overall"
"""Site label of values pooled over all sites."""
ARMS: tuple[str, str] = ("peer_support", "usual_care")
"""Arm labels. In service mode ``usual_care`` is the counterfactual of the same people."""

METRICS: dict[str, str] = {
    "participants": "Participants (both arms in trial mode; everyone offered in service mode)",
    "engagement_rate": "Share of the peer support arm with at least 2 contacts (0-1)",
    "mean_contacts": "Mean peer support contacts in the peer support arm",
    "contacts_before_discharge": "Mean contacts on the ward before discharge, peer support arm",
    "unmet_demand": (
        "Share of the peer support arm referred but never given a peer worker within the protocol's "
        "dur_max_wait_weeks of discharge (0-1; capacity that binds)"
    ),
    "mean_wait_weeks": "Mean weeks from referral to a first peer worker, of those given one",
    "fidelity_index": "Delivered fidelity, mean of the four domains (0-1)",
    **{f"fidelity_{d}": f"Delivered fidelity, {d.replace('_', ' ')} domain (0-1)" for d in FIDELITY_DOMAINS},
    "readmission_rate_intervention": "12-month readmission, peer support arm (0-1)",
    "readmission_rate_control": "12-month readmission, usual care (0-1; counterfactual in service mode)",
    "readmission_rate_engaged": "12-month readmission of engaged participants (0-1)",
    "readmission_rate_not_engaged": "12-month readmission of not-engaged participants (0-1)",
    "itt_odds_ratio": "Intention-to-treat odds ratio of readmission, peer support vs usual care",
    "itt_odds_ratio_stratified": (
        "Intention-to-treat odds ratio of readmission, Mantel-Haenszel over strata of site and "
        "diagnostic group (the strata ENRICH randomised within)"
    ),
    "itt_risk_difference": "Intention-to-treat risk difference of readmission (peer support - usual care)",
    "engaged_vs_control_difference": (
        "Readmission of engaged participants minus the usual care arm (-1 to 1; a naive contrast, "
        "confounded by who engages)"
    ),
    "engaged_vs_not_engaged_difference": (
        "Readmission of engaged minus not-engaged participants, within the peer support arm "
        "(-1 to 1; confounded by selection into engagement, not an effect)"
    ),
    "cace_risk_difference": (
        "Complier-average causal effect: the intention-to-treat risk difference divided by the "
        "share engaged, as a trial analyst computes it (risk difference; can pass -1 when few engage)"
    ),
    "true_effect_engaged": (
        "The model's true effect on the engaged: their readmission minus their own usual-care "
        "counterfactual (-1 to 1; known only inside the model)"
    ),
    "readmissions_averted": (
        "Readmissions averted in the peer support arm: each participant's usual-care counterfactual "
        "minus what happened (count; known only inside the model)"
    ),
    "pw_strain": "Mean peer worker strain over the delivery phase (0-1)",
    "vacancy_weeks": "Peer worker post-weeks left vacant while funded (unfunded posts not counted)",
    "supervision_sessions": "Supervision sessions delivered",
    "ward_acceptance": "Mean ward staff acceptance at the end of delivery (0-1)",
}
"""Headline metrics reported per site and overall, with their meaning."""

COUNT_METRICS = frozenset({"participants", "vacancy_weeks", "supervision_sessions", "readmissions_averted"})
"""Headline metrics that are counts rather than shares or ratios."""

_UNBOUNDED = float("inf")

_NOT_SHARES: dict[str, tuple[float, float]] = {
    "mean_contacts": (0.0, _UNBOUNDED),
    "contacts_before_discharge": (0.0, _UNBOUNDED),
    "mean_wait_weeks": (0.0, _UNBOUNDED),
    "itt_odds_ratio": (0.0, _UNBOUNDED),
    "itt_odds_ratio_stratified": (0.0, _UNBOUNDED),
    "itt_risk_difference": (-1.0, 1.0),
    "engaged_vs_control_difference": (-1.0, 1.0),
    "engaged_vs_not_engaged_difference": (-1.0, 1.0),
    "cace_risk_difference": (-_UNBOUNDED, _UNBOUNDED),
    "true_effect_engaged": (-1.0, 1.0),
}

METRIC_RANGES: dict[str, tuple[float, float]] = {
    metric: _NOT_SHARES.get(metric, (0.0, _UNBOUNDED) if metric in COUNT_METRICS else (0.0, 1.0))
    for metric in METRICS
}
"""The values each headline metric can take (shares 0-1, counts and ratios from 0);
a target outside them could never be met."""


def range_text(bounds: tuple[float, float]) -> str:
    """``0 to 1``, ``0 or more`` or ``any value`` for a range of :data:`METRIC_RANGES`."""
    low, high = bounds
    if low == -_UNBOUNDED and high == _UNBOUNDED:
        return "any value"
    return f"{low:g} or more" if high == _UNBOUNDED else f"{low:g} to {high:g}"


HIGHER_IS_BETTER: dict[str, bool | None] = {
    **{metric: True for metric in METRICS},
    "participants": None,
    "engaged_vs_not_engaged_difference": None,
    **{
        metric: False
        for metric in (
            "readmission_rate_intervention",
            "readmission_rate_control",
            "readmission_rate_engaged",
            "readmission_rate_not_engaged",
            "itt_odds_ratio",
            "itt_odds_ratio_stratified",
            "itt_risk_difference",
            "unmet_demand",
            "mean_wait_weeks",
            "engaged_vs_control_difference",
            "cace_risk_difference",
            "true_effect_engaged",
            "pw_strain",
            "vacancy_weeks",
        )
    },
}
"""Which direction of each headline metric counts as better for a what-if: ``True`` when a
rise is an improvement (engagement, fidelity, contacts, acceptance, supervision), ``False``
when a fall is (readmission, its effects and odds ratio, strain, vacancy), ``None`` when
neither is (the number of participants; the within-arm gap, which measures selection)."""


TIMESERIES_METRICS: tuple[str, ...] = (
    "ward_acceptance",
    "pw_strain",
    "fidelity_index",
    "engagement_rate",
    "caseload",
    "vacancies",
    "supervision_sessions",
    "contacts",
)
"""Per-site weekly series of the ``timeseries`` table."""

YEAR_METRICS: dict[str, str] = {
    "participants": "Participants admitted in the year (both arms in trial mode)",
    "engagement_rate": "Share of the year's peer support arm with at least 2 contacts (0-1)",
    "unmet_demand": "Share of the year's peer support arm never given a peer worker (0-1)",
    "readmission_rate_intervention": "12-month readmission of the year's peer support arm (0-1)",
    "readmissions_averted": "Readmissions averted among the year's peer support arm (count)",
    "fidelity_index": "Delivered fidelity of the year's contacts (0-1)",
    "ward_acceptance": "Mean ward staff acceptance over the year's weeks (0-1)",
    "peer_worker_leavers": "Peer workers who left in the year",
    "ward_staff_leavers": "Ward staff who left in the year",
    "vacant_post_weeks": "Peer worker post-weeks not held in the year (vacant or unfunded)",
    "supervision_sessions": "Supervision sessions in the year",
}
"""Metrics of the ``years`` table, for every service year of the delivery phase (year 1 =
weeks 1-52). Participants belong to the year of their admission, so a year after admissions
end has none (its rates are NaN); staff measures belong to the year of the week, and the
last year may be part of one."""

GROUP_METRICS: dict[str, str] = {
    "participants": "Participants in the group (both arms in trial mode)",
    "engagement_rate": "Share of the group's peer support arm with at least 2 contacts (0-1)",
    "mean_contacts": "Mean contacts, the group's peer support arm",
    "unmet_demand": "Share of the group's peer support arm never given a peer worker (0-1)",
    "readmission_rate_intervention": "12-month readmission, the group's peer support arm (0-1)",
    "readmission_rate_control": (
        "12-month readmission, the group's usual care (0-1; counterfactual in service mode)"
    ),
    "itt_risk_difference": "Intention-to-treat risk difference within the group",
    "readmissions_averted": "Readmissions averted in the group's peer support arm (count)",
}
"""Metrics of the ``groups`` table, per diagnostic group of :data:`GROUPS`."""

TABLES: tuple[str, ...] = (
    "metrics",
    "outcomes",
    "staff",
    "timeseries",
    "patients",
    "workers",
    "years",
    "groups",
)
"""The tables of a :class:`RunResult`, in the order they are written."""


def label_strings(categories: tuple[str, ...], codes: np.ndarray) -> Any:
    """Return ``categories[codes]`` as a pandas string array (several times faster than from numpy)."""
    return _string_array(categories).take(codes)


@lru_cache(maxsize=256)
def _string_array(categories: tuple[str, ...]) -> Any:
    return pd.Series(list(categories)).array


@dataclass(frozen=True)
class Labels:
    """A column of text labels, kept as codes into ``categories`` until its table is built."""

    categories: tuple[str, ...]
    codes: np.ndarray


class DeferredTables:
    """Tables whose columns a run has computed, built as DataFrames when first read.

    Building a DataFrame costs more than computing its columns, and most uses of
    a run (calibration, sensitivity, ensembles summarised in memory) read only
    the headline metrics; run stores and anyone reading the table build it the
    first time, and later reads return the same frame.

    Parameters
    ----------
    columns
        ``{table: {column: values}}``; values are arrays, or :class:`Labels`.
    """

    def __init__(self, columns: dict[str, dict[str, Any]]) -> None:
        self._columns = columns
        self._built: dict[str, pd.DataFrame] = {}

    def table(self, name: str) -> pd.DataFrame:
        """Return table ``name``, building it on first use."""
        if name not in self._built:
            data = {
                key: label_strings(value.categories, value.codes) if isinstance(value, Labels) else value
                for key, value in self._columns[name].items()
            }
            self._built[name] = pd.DataFrame(data)
        return self._built[name]


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
        One row per participant with their group, arm, contacts and outcome.
    workers, years, groups : pandas.DataFrame
        Properties, built on first read from ``deferred`` (see :class:`DeferredTables`):
        one row per person who held a peer worker post (``site, post, hire,
        start_week, end_week`` with -1 for still in post at the end, their traits,
        contacts, delivered fidelity and peak caseload); per service year and
        site, ``year, site, metric, value`` (:data:`YEAR_METRICS`); per
        diagnostic group and site, ``group, site, metric, value``
        (:data:`GROUP_METRICS`).
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
    deferred: DeferredTables = field(repr=False)
    version: str = field(default_factory=package_version)

    @property
    def workers(self) -> pd.DataFrame:
        """One row per person who held a peer worker post (see the class docstring)."""
        return self.deferred.table("workers")

    @property
    def years(self) -> pd.DataFrame:
        """Per service year and site: ``year, site, metric, value`` (:data:`YEAR_METRICS`)."""
        return self.deferred.table("years")

    @property
    def groups(self) -> pd.DataFrame:
        """Per diagnostic group and site: ``group, site, metric, value`` (:data:`GROUP_METRICS`)."""
        return self.deferred.table("groups")

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
        for name in TABLES:
            table = getattr(self, name).copy()
            for key, value in stamp.items():
                table[key] = value
            out[name] = table
        return out
