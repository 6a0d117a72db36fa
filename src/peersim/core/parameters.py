"""The single declared source of peersim's parameters, their defaults and bounds.

Every numeric input the model reads is declared here once, as a :class:`ParamSpec`.
Scenario validation, sensitivity analysis and calibration all take their bounds
from this module, so they can never disagree.

Two kinds of parameter are kept apart:

* **Mechanism strengths** (:data:`MECHANISM_PARAMS`) are uncertain causal
  strengths that calibration estimates. Each belongs to one of the
  nine mechanisms of the model (:data:`MECHANISMS`, described in docs/odd.md) and
  most have an ``off`` value that makes their mechanism vanish.
* **Site parameters** (:data:`SITE_PARAMS`) are the levers a service controls and
  the context it works in (travel, admissions, length of stay).

Sources carry a confidence tag: **[V]** read in the source text, **[A]**
approximate (reported second-hand; a range, never an exact target), or
"assumption" (docs/odd.md lists the sources).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["uncertainty", "lever", "context"]


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """Declaration of one numeric parameter.

    Parameters
    ----------
    name
        Key used in scenario files and code.
    default
        Value used when a scenario does not set it.
    low, high
        Inclusive bounds. Validation rejects values outside them; sensitivity
        analysis and calibration priors use them as their default range.
    unit
        Unit of the value, or ``"1"`` for dimensionless quantities.
    description
        One-line meaning, written for a scenario author.
    kind
        ``"uncertainty"`` (a mechanism strength), ``"lever"`` (controlled by the
        service) or ``"context"`` (a fact about the site).
    mechanism
        Number of the mechanism (1-9, :data:`MECHANISMS`) the parameter belongs to, if any.
    off
        Value at which the parameter's mechanism has no effect, if it has one.
    source
        Where the default comes from, with a confidence tag.
    integer
        Whether only whole numbers are valid.
    """

    name: str
    default: float
    low: float
    high: float
    unit: str
    description: str
    kind: Kind
    mechanism: int | None = None
    off: float | None = None
    source: str = "assumption"
    integer: bool = False

    def contains(self, value: float) -> bool:
        """Return whether ``value`` lies within the inclusive bounds."""
        return self.low <= value <= self.high

    @property
    def range_text(self) -> str:
        """Bounds formatted for error messages, e.g. ``"0 to 40 hours/week"``.

        A unit that only restates the scale (``"1"``, ``"0-1"``) is not repeated.
        """
        unit = "" if self.unit in ("1", f"{self.low:g}-{self.high:g}") else f" {self.unit}"
        return f"{self.low:g} to {self.high:g}{unit}"


def _index(specs: tuple[ParamSpec, ...]) -> dict[str, ParamSpec]:
    return {spec.name: spec for spec in specs}


MECHANISM_PARAMS: dict[str, ParamSpec] = _index(
    (
        ParamSpec(
            "rel_prep_acceptance",
            0.6,
            0.0,
            1.0,
            "1",
            "Share of the gap to full ward staff acceptance closed by complete team "
            "preparation; also scales the weekly gain from ongoing joint work.",
            "uncertainty",
            mechanism=1,
            off=0.0,
            source="direction [V] (Gillard 2024 case study); size assumption",
        ),
        ParamSpec(
            "rel_contact_feedback",
            0.04,
            0.0,
            0.15,
            "1/contact",
            "Change in a ward staff member's acceptance after one good (up) or poor "
            "(down) ward contact with a peer worker, as a share of the room to move.",
            "uncertainty",
            mechanism=1,
            off=0.0,
            source="direction [V] (Gillard 2024); size assumption",
        ),
        ParamSpec(
            "rel_acceptance_access",
            3.0,
            0.0,
            6.0,
            "logit/unit acceptance",
            "How strongly ward acceptance raises referral, ward access and "
            "invitations to discharge planning (log-odds per unit of acceptance).",
            "uncertainty",
            mechanism=1,
            off=0.0,
            source="direction [V] (Gillard 2024; Marks 2021); size assumption",
        ),
        ParamSpec(
            "rel_host_boundary",
            0.5,
            0.0,
            1.0,
            "1",
            "Strength of the organisational boundary for peer workers hosted by a "
            "not-for-profit: lost ward access and authority, and supervisor time "
            "spent on joint working.",
            "uncertainty",
            mechanism=2,
            off=0.0,
            source="direction [V] (Gillard 2024); size assumption",
        ),
        ParamSpec(
            "rel_supervision",
            0.6,
            0.0,
            1.0,
            "1/session",
            "Effect of one supervision session: share of the gap to manual-consistent "
            "practice it closes (times 0.35), strain relief and team building.",
            "uncertainty",
            mechanism=3,
            off=0.0,
            source="direction [V] (Gillard 2024); size assumption",
        ),
        ParamSpec(
            "rel_geography",
            1.0,
            0.0,
            2.0,
            "1",
            "Multiplier on every effect of travel time: sessions per hour, "
            "supervision and team building, and missed sessions.",
            "uncertainty",
            mechanism=4,
            off=0.0,
            source="direction [V] (Gillard 2024); size assumption",
        ),
        ParamSpec(
            "rel_fidelity_engagement",
            3.0,
            0.0,
            6.0,
            "logit/unit fidelity",
            "Log-odds change in attending a session per unit of the peer worker's fidelity (0-1 scale); "
            "relational fidelity also shapes the relationships contacts build in proportion to it "
            "(one for one at 3).",
            "uncertainty",
            mechanism=5,
            off=0.0,
            source="direction [V] (ENRICH; White 2023 OR 1.4 for relationship building); size assumption",
        ),
        ParamSpec(
            "rel_dose_readmission",
            0.3,
            0.0,
            1.5,
            "log hazard ratio",
            "Reduction in the log hazard of readmission at a saturating, fully "
            "faithful dose of peer support.",
            "uncertainty",
            mechanism=6,
            off=0.0,
            source="association of engagement with less readmission [V] (Gillard 2024); causal size [A]",
        ),
        ParamSpec(
            "rel_strain",
            1.0,
            0.0,
            3.0,
            "1",
            "Multiplier on how strongly peer worker strain causes absence and turnover.",
            "uncertainty",
            mechanism=7,
            off=0.0,
            source="assumption (McKay 2018 on turnover as a lever [V])",
        ),
        ParamSpec(
            "rel_patient_heterogeneity",
            0.5,
            0.0,
            1.5,
            "SD (log scale)",
            "Standard deviation of a latent instability that raises a participant's "
            "readmission hazard and lowers their attendance (selection into "
            "engagement).",
            "uncertainty",
            mechanism=8,
            off=0.0,
            source="assumption",
        ),
        ParamSpec(
            "p_attend_base",
            0.6,
            0.3,
            0.95,
            "probability",
            "Probability of attending a scheduled community session at reference "
            "conditions (fidelity 0.7, neutral relationship, no travel).",
            "uncertainty",
            mechanism=5,
            source="assumption (default first set with the held-out CORE trial's attendance in mind)",
        ),
        ParamSpec(
            "p_ward_access_base",
            0.35,
            0.05,
            0.95,
            "probability/week",
            "Weekly chance that an allocated peer worker meets their participant on "
            "the ward, at ward acceptance 0.5 and without a host boundary.",
            "uncertainty",
            mechanism=1,
            source="assumption",
        ),
        ParamSpec(
            "p_readmit_12m_usual_care",
            0.51,
            0.3,
            0.7,
            "probability",
            "12-month readmission probability without peer support, averaged over participants.",
            "uncertainty",
            mechanism=6,
            source="ENRICH control arm about 51% [A]",
        ),
        ParamSpec(
            "rel_worker_spread",
            0.5,
            0.0,
            1.0,
            "1",
            "How much peer workers differ from one another: scales the spread of each "
            "person's relational skill (log-SD 0.3 at 1) and of the rate their practice "
            "drifts without supervision (log-SD 0.6 at 1), drawn when they start.",
            "uncertainty",
            mechanism=9,
            off=0.0,
            source="assumption (individual differences in peer worker practice [V], Gillard 2024)",
        ),
        ParamSpec(
            "rel_experience",
            0.5,
            0.0,
            1.0,
            "1",
            "How much experience in the role steadies practice: drift without "
            "supervision is (1 + rel_experience x (0.5 - experience)) times the "
            "person's own rate; experience grows with weeks in post.",
            "uncertainty",
            mechanism=9,
            off=0.0,
            source="assumption (McKay 2018 on turnover and training timing [V])",
        ),
        ParamSpec(
            "hr_readmit_personality_disorder",
            1.3,
            0.5,
            2.0,
            "hazard ratio",
            "Readmission hazard of participants with a personality disorder diagnosis "
            "relative to psychosis, without peer support.",
            "uncertainty",
            mechanism=8,
            off=1.0,
            source="assumption (ENRICH stratified by diagnostic group [V]; group risks not published)",
        ),
        ParamSpec(
            "hr_readmit_other",
            0.85,
            0.5,
            2.0,
            "hazard ratio",
            "Readmission hazard of participants with other eligible non-psychotic "
            "disorders relative to psychosis, without peer support.",
            "uncertainty",
            mechanism=8,
            off=1.0,
            source="assumption (ENRICH stratified by diagnostic group [V]; group risks not published)",
        ),
        ParamSpec(
            "or_attend_personality_disorder",
            1.2,
            0.33,
            3.0,
            "odds ratio",
            "Odds of attending a community session for a participant with a personality "
            "disorder diagnosis relative to psychosis (an observed characteristic that "
            "selects who engages).",
            "uncertainty",
            mechanism=8,
            off=1.0,
            source="assumption (participant factors predicted engagement [V], White 2023)",
        ),
        ParamSpec(
            "or_attend_other",
            1.1,
            0.33,
            3.0,
            "odds ratio",
            "Odds of attending a community session for a participant with another "
            "eligible non-psychotic disorder relative to psychosis.",
            "uncertainty",
            mechanism=8,
            off=1.0,
            source="assumption (participant factors predicted engagement [V], White 2023)",
        ),
    )
)

SITE_PARAMS: dict[str, ParamSpec] = _index(
    (
        ParamSpec(
            "travel_minutes_one_way",
            15.0,
            0.0,
            180.0,
            "minutes",
            "Typical one-way travel time to a community session. Defaults to 15 "
            "for urban and 45 for rural sites.",
            "context",
            mechanism=4,
            source="assumption",
        ),
        ParamSpec(
            "n_peer_workers",
            4,
            0,
            40,
            "posts",
            "Peer worker posts at the site (ENRICH: 32 peer workers over 7 sites [V]).",
            "lever",
            mechanism=7,
            source="ENRICH 32 over 7 sites [V]",
            integer=True,
        ),
        ParamSpec(
            "peer_worker_hours_per_week",
            22.5,
            1.0,
            40.0,
            "hours/week",
            "Contracted hours of each peer worker post.",
            "lever",
            mechanism=7,
            source="assumption",
        ),
        ParamSpec(
            "supervisor_hours_per_week",
            6.0,
            0.0,
            40.0,
            "hours/week",
            "Supervisor time for this site's peer workers, including any joint "
            "working across an organisational boundary.",
            "lever",
            mechanism=3,
            source="assumption",
        ),
        ParamSpec(
            "team_prep_sessions",
            2,
            0,
            20,
            "sessions",
            "Preparation sessions with ward and community teams before go-live.",
            "lever",
            mechanism=1,
            source="ENRICH planned a co-delivered preparation session per team [A]; count assumption",
            integer=True,
        ),
        ParamSpec(
            "team_joint_work_hours_per_month",
            2.0,
            0.0,
            40.0,
            "hours/month",
            "Ongoing joint work with clinical teams after go-live.",
            "lever",
            mechanism=1,
            source="assumption",
        ),
        ParamSpec(
            "ward_acceptance_baseline",
            0.5,
            0.0,
            1.0,
            "0-1",
            "Ward staff acceptance of peer workers before any preparation.",
            "context",
            mechanism=1,
            source="assumption",
        ),
        ParamSpec(
            "eligible_admissions_per_week",
            2.0,
            0.01,
            50.0,
            "participants/week",
            "Eligible admissions recruited per week during the recruitment window.",
            "context",
            mechanism=8,
            source="ENRICH 590 participants over 7 sites [V]; rate assumption",
        ),
        ParamSpec(
            "caseload_cap",
            8,
            1,
            50,
            "participants",
            "Most participants one peer worker supports at once.",
            "lever",
            mechanism=7,
            source="assumption",
            integer=True,
        ),
        ParamSpec(
            "n_ward_staff",
            6,
            1,
            50,
            "staff",
            "Ward staff members who refer participants and host peer worker visits.",
            "context",
            mechanism=1,
            source="assumption",
            integer=True,
        ),
        ParamSpec(
            "dur_stay_weeks_mean",
            5.0,
            1.0,
            26.0,
            "weeks",
            "Mean length of the index admission (log-normal, capped at 26 weeks).",
            "context",
            mechanism=8,
            source="assumption (English acute mental health stays of about a month)",
        ),
        ParamSpec(
            "dur_vacancy_weeks",
            12.0,
            0.0,
            52.0,
            "weeks",
            "Weeks from a peer worker leaving to a replacement starting.",
            "context",
            mechanism=7,
            source="assumption",
        ),
        ParamSpec(
            "other_duties_share",
            0.2,
            0.0,
            0.6,
            "share of hours",
            "Share of peer worker hours taken by the role's other duties: team meetings, "
            "administration, training and travel to base.",
            "lever",
            mechanism=7,
            source="assumption",
        ),
        ParamSpec(
            "ward_staff_turnover_per_year",
            0.15,
            0.0,
            1.0,
            "share/year",
            "Share of ward staff who leave in a year; each is replaced at once by a newcomer "
            "at the site's baseline acceptance, who missed the team preparation.",
            "context",
            mechanism=1,
            source="assumption (NHS mental health nursing turnover of the order of 10-15%/year)",
        ),
        ParamSpec(
            "supervisor_turnover_per_year",
            0.1,
            0.0,
            1.0,
            "share/year",
            "Chance a year that the site's supervisor leaves; the post is then vacant for "
            "dur_vacancy_weeks and the team loses cohesion.",
            "context",
            mechanism=3,
            source="assumption",
        ),
        ParamSpec(
            "funding_end_week",
            0,
            0,
            520,
            "week",
            "Week from which peer worker posts that are or fall vacant are not refilled "
            "(time-limited funding); 0 means funded throughout.",
            "lever",
            mechanism=7,
            source="assumption",
            integer=True,
        ),
        ParamSpec(
            "share_psychosis",
            0.5,
            0.0,
            1.0,
            "share",
            "Share of eligible admissions with a psychosis diagnosis (the three shares sum to 1).",
            "context",
            mechanism=8,
            source="assumption (ENRICH stratified by diagnostic group [V]; shares not published here)",
        ),
        ParamSpec(
            "share_personality_disorder",
            0.2,
            0.0,
            1.0,
            "share",
            "Share of eligible admissions with a personality disorder diagnosis.",
            "context",
            mechanism=8,
            source="assumption",
        ),
        ParamSpec(
            "share_other",
            0.3,
            0.0,
            1.0,
            "share",
            "Share of eligible admissions with another eligible non-psychotic disorder.",
            "context",
            mechanism=8,
            source="assumption",
        ),
    )
)

HORIZON_PARAMS: dict[str, ParamSpec] = _index(
    (
        ParamSpec(
            "recruitment_weeks",
            40,
            1,
            260,
            "weeks",
            "Weeks over which participants are admitted and recruited.",
            "context",
            mechanism=8,
            source="assumption",
            integer=True,
        ),
        ParamSpec(
            "follow_up_weeks",
            52,
            4,
            104,
            "weeks",
            "Follow-up for readmission after each discharge (ENRICH: 12 months [V]).",
            "context",
            mechanism=6,
            source="ENRICH primary outcome at 12 months [V]",
            integer=True,
        ),
    )
)

PROTOCOL_PARAMS: dict[str, ParamSpec] = _index(
    (
        ParamSpec(
            "weekly_session_weeks",
            10,
            0,
            52,
            "weeks",
            "Weeks of weekly community sessions after discharge.",
            "context",
            source="ENRICH site description: weekly for 10 weeks [V]",
            integer=True,
        ),
        ParamSpec(
            "fortnightly_session_weeks",
            6,
            0,
            52,
            "weeks",
            "Further weeks of fortnightly sessions.",
            "context",
            source="ENRICH site description: fortnightly for 6 weeks [V]",
            integer=True,
        ),
        ParamSpec(
            "dur_session_minutes",
            60.0,
            15.0,
            240.0,
            "minutes",
            "Length of one community session, excluding travel.",
            "context",
            source="assumption",
        ),
        ParamSpec(
            "dur_max_wait_weeks",
            4,
            0,
            52,
            "weeks",
            "Weeks after discharge by which a referred participant must have a first peer "
            "worker; a referral still waiting then lapses and counts as unmet demand.",
            "context",
            source="assumption (peer support is meant to begin around discharge [V], ENRICH manual)",
            integer=True,
        ),
        ParamSpec(
            "engaged_min_contacts",
            2,
            1,
            20,
            "contacts",
            "Contacts that count a participant as engaged (ENRICH: at least 2 [V]).",
            "context",
            source="ENRICH engagement definition, at least 2 contacts [A]",
            integer=True,
        ),
    )
)

ALL_PARAMS: dict[str, ParamSpec] = {
    **MECHANISM_PARAMS,
    **SITE_PARAMS,
    **HORIZON_PARAMS,
    **PROTOCOL_PARAMS,
}
"""Every declared numeric parameter, by name (names are unique across groups)."""

MECHANISMS: dict[int, str] = {
    1: "Team preparation and ward staff acceptance",
    2: "Host organisation boundary",
    3: "Supervision resourcing",
    4: "Geography and travel",
    5: "Fidelity to engagement",
    6: "Engagement to outcome",
    7: "Capacity, caseload and strain",
    8: "Patient flow, groups and heterogeneity",
    9: "Peer worker differences and experience",
}
"""The nine mechanisms of the model (described in docs/odd.md), by number."""
