"""Typed, frozen scenario: the validated description of sites, mode and horizon.

A scenario is parsed from TOML (see :mod:`peersim.core.scenario_files`), validated
here and then handed to the model. Bounds come from :mod:`peersim.core.parameters`,
the one declared source, so a field here cannot disagree with sensitivity analysis
or calibration.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from peersim.core.parameters import (
    HORIZON_PARAMS,
    MECHANISM_PARAMS,
    PROTOCOL_PARAMS,
    SITE_PARAMS,
    ParamSpec,
)
from peersim.core.results import OVERALL
from peersim.io.inputs import StrictModel

Host = Literal["nhs", "not_for_profit"]
Geography = Literal["urban", "rural"]
Mode = Literal["trial", "service"]

DEFAULT_TRAVEL_MINUTES: dict[str, float] = {"urban": 15.0, "rural": 45.0}
"""One-way travel minutes assumed when a site gives only its geography."""

SITE_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,39}$"

RESERVED_SITE_NAMES = frozenset({OVERALL})
"""Labels the output tables use for pooled values; a site may not take one (in any case)."""


def _declared(registry: dict[str, ParamSpec], name: str) -> Any:
    spec = registry[name]
    default: float | int = int(spec.default) if spec.integer else spec.default
    return Field(default=default, ge=spec.low, le=spec.high, description=spec.description)


def _required(registry: dict[str, ParamSpec], name: str) -> Any:
    spec = registry[name]
    return Field(ge=spec.low, le=spec.high, description=spec.description)


class Mechanisms(StrictModel):
    """Uncertain mechanism strengths (see :data:`peersim.core.parameters.MECHANISM_PARAMS`).

    Every field defaults to its declared default; setting a ``rel_*`` field to 0
    switches its mechanism off.
    """

    rel_prep_acceptance: float = _declared(MECHANISM_PARAMS, "rel_prep_acceptance")
    rel_contact_feedback: float = _declared(MECHANISM_PARAMS, "rel_contact_feedback")
    rel_acceptance_access: float = _declared(MECHANISM_PARAMS, "rel_acceptance_access")
    rel_host_boundary: float = _declared(MECHANISM_PARAMS, "rel_host_boundary")
    rel_supervision: float = _declared(MECHANISM_PARAMS, "rel_supervision")
    rel_geography: float = _declared(MECHANISM_PARAMS, "rel_geography")
    rel_fidelity_engagement: float = _declared(MECHANISM_PARAMS, "rel_fidelity_engagement")
    rel_dose_readmission: float = _declared(MECHANISM_PARAMS, "rel_dose_readmission")
    rel_strain: float = _declared(MECHANISM_PARAMS, "rel_strain")
    rel_patient_heterogeneity: float = _declared(MECHANISM_PARAMS, "rel_patient_heterogeneity")
    p_attend_base: float = _declared(MECHANISM_PARAMS, "p_attend_base")
    p_ward_access_base: float = _declared(MECHANISM_PARAMS, "p_ward_access_base")
    p_readmit_12m_usual_care: float = _declared(MECHANISM_PARAMS, "p_readmit_12m_usual_care")
    rel_worker_spread: float = _declared(MECHANISM_PARAMS, "rel_worker_spread")
    rel_experience: float = _declared(MECHANISM_PARAMS, "rel_experience")
    hr_readmit_personality_disorder: float = _declared(MECHANISM_PARAMS, "hr_readmit_personality_disorder")
    hr_readmit_other: float = _declared(MECHANISM_PARAMS, "hr_readmit_other")
    or_attend_personality_disorder: float = _declared(MECHANISM_PARAMS, "or_attend_personality_disorder")
    or_attend_other: float = _declared(MECHANISM_PARAMS, "or_attend_other")

    @property
    def group_hazard_ratios(self) -> tuple[float, float, float]:
        """Readmission hazard ratio of each group of :data:`~peersim.core.results.GROUPS` (psychosis = 1)."""
        return (1.0, self.hr_readmit_personality_disorder, self.hr_readmit_other)

    @property
    def group_attend_odds_ratios(self) -> tuple[float, float, float]:
        """Attendance odds ratio of each group of :data:`~peersim.core.results.GROUPS` (psychosis = 1)."""
        return (1.0, self.or_attend_personality_disorder, self.or_attend_other)


class Switches(StrictModel):
    """Structural switches for the two mechanisms that have no single strength.

    ``capacity = false`` makes peer worker capacity unlimited (no caseload cap, no
    limit on minutes, so no workload strain); ``patient_flow = false`` makes
    admissions arrive at a steady rate and every stay last the site's mean, with no
    random variation.
    """

    capacity: bool = Field(default=True, description="Caseload caps and peer worker hours bind.")
    patient_flow: bool = Field(
        default=True, description="Admissions are Poisson and stays log-normal (false: steady and fixed)."
    )


class Horizon(StrictModel):
    """Time horizon: recruitment window and follow-up after each discharge (weeks)."""

    recruitment_weeks: int = _declared(HORIZON_PARAMS, "recruitment_weeks")
    follow_up_weeks: int = _declared(HORIZON_PARAMS, "follow_up_weeks")


class Protocol(StrictModel):
    """The peer support intervention as delivered after discharge (ENRICH manual)."""

    weekly_session_weeks: int = _declared(PROTOCOL_PARAMS, "weekly_session_weeks")
    fortnightly_session_weeks: int = _declared(PROTOCOL_PARAMS, "fortnightly_session_weeks")
    dur_session_minutes: float = _declared(PROTOCOL_PARAMS, "dur_session_minutes")
    engaged_min_contacts: int = _declared(PROTOCOL_PARAMS, "engaged_min_contacts")
    dur_max_wait_weeks: int = _declared(PROTOCOL_PARAMS, "dur_max_wait_weeks")

    @property
    def support_weeks(self) -> int:
        """Length of the community support window after discharge (weeks)."""
        return self.weekly_session_weeks + self.fortnightly_session_weeks


class Site(StrictModel):
    """One service: its context and the levers it controls.

    ``travel_minutes_one_way`` defaults from ``geography`` (15 urban, 45 rural).
    """

    name: str = Field(pattern=SITE_NAME_PATTERN, description="Unique site name.")
    host: Host = Field(description="Employer of the peer workers.")
    geography: Geography = Field(description="Urban or rural catchment.")
    travel_minutes_one_way: float = _declared(SITE_PARAMS, "travel_minutes_one_way")
    n_peer_workers: int = _required(SITE_PARAMS, "n_peer_workers")
    peer_worker_hours_per_week: float = _declared(SITE_PARAMS, "peer_worker_hours_per_week")
    supervisor_hours_per_week: float = _required(SITE_PARAMS, "supervisor_hours_per_week")
    team_prep_sessions: int = _declared(SITE_PARAMS, "team_prep_sessions")
    team_joint_work_hours_per_month: float = _declared(SITE_PARAMS, "team_joint_work_hours_per_month")
    ward_acceptance_baseline: float = _declared(SITE_PARAMS, "ward_acceptance_baseline")
    eligible_admissions_per_week: float = _required(SITE_PARAMS, "eligible_admissions_per_week")
    caseload_cap: int = _declared(SITE_PARAMS, "caseload_cap")
    n_ward_staff: int = _declared(SITE_PARAMS, "n_ward_staff")
    dur_stay_weeks_mean: float = _declared(SITE_PARAMS, "dur_stay_weeks_mean")
    dur_vacancy_weeks: float = _declared(SITE_PARAMS, "dur_vacancy_weeks")
    other_duties_share: float = _declared(SITE_PARAMS, "other_duties_share")
    ward_staff_turnover_per_year: float = _declared(SITE_PARAMS, "ward_staff_turnover_per_year")
    supervisor_turnover_per_year: float = _declared(SITE_PARAMS, "supervisor_turnover_per_year")
    funding_end_week: int = Field(
        default=0,
        le=int(SITE_PARAMS["funding_end_week"].high),
        description=SITE_PARAMS["funding_end_week"].description,
        json_schema_extra={"minimum": 0},  # checked by _funding_after_start, with its own message
    )
    share_psychosis: float = _declared(SITE_PARAMS, "share_psychosis")
    share_personality_disorder: float = _declared(SITE_PARAMS, "share_personality_disorder")
    share_other: float = _declared(SITE_PARAMS, "share_other")

    @property
    def group_shares(self) -> tuple[float, float, float]:
        """Share of admissions in each group of :data:`~peersim.core.results.GROUPS`."""
        return (self.share_psychosis, self.share_personality_disorder, self.share_other)

    @field_validator("funding_end_week", mode="after")
    @classmethod
    def _funding_after_start(cls, week: int) -> int:
        if week < 0:
            raise ValueError(
                f"funding_end_week {week} is before the service starts (week 1): give the week from "
                "which vacant posts are not refilled (1 or later), or 0 for funding throughout"
            )
        return week

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> Self:
        total = sum(self.group_shares)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"share_psychosis + share_personality_disorder + share_other = {total:g}, but the "
                "diagnostic group shares must sum to 1 (defaults 0.5, 0.2, 0.3; set all three)"
            )
        return self

    @field_validator("name", mode="after")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name.lower() in RESERVED_SITE_NAMES:
            raise ValueError(
                f"{name!r} is reserved: output tables use it for values pooled over all sites; "
                "give the site another name"
            )
        return name

    @model_validator(mode="before")
    @classmethod
    def _travel_from_geography(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and "travel_minutes_one_way" not in data
            and isinstance(data.get("geography"), str)  # a list or table is refused as a geography later
            and data.get("geography") in DEFAULT_TRAVEL_MINUTES
        ):
            return {**data, "travel_minutes_one_way": DEFAULT_TRAVEL_MINUTES[data["geography"]]}
        return data

    @model_validator(mode="after")
    def _supervised(self) -> Self:
        if self.n_peer_workers > 0 and self.supervisor_hours_per_week == 0:
            raise ValueError(
                f"supervisor_hours_per_week is 0 but n_peer_workers is {self.n_peer_workers}: "
                "peer workers need supervision, so give the site supervisor hours "
                "or set n_peer_workers = 0"
            )
        return self


class Scenario(StrictModel):
    """A validated peersim scenario: one or more sites, a mode and a horizon.

    Parameters
    ----------
    name
        Short label used in outputs.
    mode
        ``"trial"``: participants randomised 1:1 to peer support or usual care,
        as in ENRICH. ``"service"``: everyone eligible is offered peer support and
        the usual-care counterfactual is evaluated on the same random numbers.
    """

    name: str = Field(min_length=1, max_length=80, description="Scenario label.")
    description: str = Field(default="", description="Free text for people.")
    mode: Mode = Field(default="trial", description="trial (1:1 randomised) or service.")
    horizon: Horizon = Field(default_factory=Horizon)
    protocol: Protocol = Field(default_factory=Protocol)
    mechanisms: Mechanisms = Field(default_factory=Mechanisms)
    switches: Switches = Field(default_factory=Switches)
    sites: tuple[Site, ...] = Field(min_length=1, strict=False, description="At least one site.")

    @field_validator("sites", mode="after")
    @classmethod
    def _unique_site_names(cls, sites: tuple[Site, ...]) -> tuple[Site, ...]:
        seen: set[str] = set()
        for site in sites:
            key = site.name.lower()
            if key in seen:
                raise ValueError(f"duplicate site name {site.name!r}: site names must be unique")
            seen.add(key)
        return sites

    def site(self, name: str) -> Site:
        """Return the site called ``name``.

        Raises
        ------
        KeyError
            If no site has that name.
        """
        for site in self.sites:
            if site.name == name:
                return site
        raise KeyError(name)

    @property
    def hash(self) -> str:
        """Stable 16-hex-digit digest of the validated content (not its formatting)."""
        text = self.model_dump_json()
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_toml_dict(self) -> dict[str, Any]:
        """Return the scenario as plain data, in the shape of a scenario file."""
        data = self.model_dump(mode="json")
        data["sites"] = list(data["sites"])
        return data
