"""Participants as columns: the per-patient state and their pre-drawn random numbers.

The weekly patient rules run vectorised over these arrays, which is what keeps a
trial-scale run fast; :class:`peersim.model.agents.Patient` agents are views onto
one row each. Every random number a participant will ever need is drawn here, once,
from the site's named streams, so a lever that changes *which* draws are used never
shifts *other* participants' draws (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from peersim.model.constants import MAX_STAY_WEEKS, STAY_LOG_SD
from peersim.scenario import Scenario, Site
from peersim.streams import site_stream

IntArray = np.ndarray
FloatArray = np.ndarray
BoolArray = np.ndarray


@dataclass(slots=True)
class PatientTable:
    """Columns of participant state; row ``i`` is participant ``i``.

    Weeks are model steps (1 = first week of recruitment). ``-1`` marks "none".
    """

    site: IntArray
    offered: BoolArray
    """Randomised to (trial) or offered (service) peer support."""
    admit_week: IntArray
    discharge_week: IntArray
    instability: FloatArray
    """Latent standard-normal instability (scaled by ``rel_patient_heterogeneity``)."""
    readmit_threshold: FloatArray
    """Exp(1) draw: readmitted when the cumulative hazard passes it."""
    u_referral: FloatArray
    u_access: FloatArray
    u_contact_quality: FloatArray
    u_ward_staff: FloatArray
    u_invite: FloatArray
    u_referral_after_discharge: FloatArray
    u_attend: FloatArray
    referred: BoolArray = field(init=False)
    peer_worker: IntArray = field(init=False)
    contacts: IntArray = field(init=False)
    contacts_pre_discharge: IntArray = field(init=False)
    invited: BoolArray = field(init=False)
    relationship: FloatArray = field(init=False)
    dose: FloatArray = field(init=False)
    """Fidelity-weighted contacts received so far."""
    misses_in_row: IntArray = field(init=False)
    disengaged: BoolArray = field(init=False)
    support_over: BoolArray = field(init=False)
    cumulative_hazard: FloatArray = field(init=False)
    hazard_settled: BoolArray = field(init=False)
    """Support is over, so the rest of follow-up is already determined."""
    readmitted: BoolArray = field(init=False)
    """Readmitted within follow-up (known once the hazard is settled)."""
    readmit_week: IntArray = field(init=False)
    """Weeks after discharge of the first readmission, or -1."""

    def __post_init__(self) -> None:
        n = len(self.site)
        self.referred = np.zeros(n, dtype=bool)
        self.peer_worker = np.full(n, -1, dtype=np.int64)
        self.contacts = np.zeros(n, dtype=np.int64)
        self.contacts_pre_discharge = np.zeros(n, dtype=np.int64)
        self.invited = np.zeros(n, dtype=bool)
        self.relationship = np.zeros(n)
        self.dose = np.zeros(n)
        self.misses_in_row = np.zeros(n, dtype=np.int64)
        self.disengaged = np.zeros(n, dtype=bool)
        self.support_over = ~self.offered.copy()
        self.cumulative_hazard = np.zeros(n)
        self.hazard_settled = np.zeros(n, dtype=bool)
        self.readmitted = np.zeros(n, dtype=bool)
        self.readmit_week = np.full(n, -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.site)


def _site_columns(
    scenario: Scenario, site: Site, site_index: int, root: np.random.SeedSequence
) -> dict[str, np.ndarray]:
    weeks = scenario.horizon.recruitment_weeks
    flow = site_stream(root, site_index, "flow")
    per_week = flow.poisson(site.eligible_admissions_per_week, size=weeks)
    admit = np.repeat(np.arange(1, weeks + 1), per_week)
    n = len(admit)
    mu = np.log(site.dur_stay_weeks_mean) - STAY_LOG_SD**2 / 2
    stay = np.clip(np.rint(flow.lognormal(mu, STAY_LOG_SD, size=n)), 1, MAX_STAY_WEEKS)

    randomisation = site_stream(root, site_index, "randomisation")
    u_arm = randomisation.random(n)
    offered = np.ones(n, dtype=bool) if scenario.mode == "service" else u_arm < 0.5

    patient = site_stream(root, site_index, "patient")
    instability = patient.standard_normal(n)
    threshold = patient.exponential(1.0, size=n)

    ward = site_stream(root, site_index, "ward")
    shape = (n, MAX_STAY_WEEKS)
    columns = {
        "u_referral": ward.random(shape),
        "u_access": ward.random(shape),
        "u_contact_quality": ward.random(shape),
        "u_ward_staff": ward.random(shape),
        "u_invite": ward.random(n),
        "u_referral_after_discharge": ward.random(n),
    }
    attendance = site_stream(root, site_index, "attendance")
    support_weeks = max(scenario.protocol.support_weeks, 1)
    columns["u_attend"] = attendance.random((n, support_weeks))
    return {
        "site": np.full(n, site_index, dtype=np.int64),
        "offered": offered,
        "admit_week": admit.astype(np.int64),
        "discharge_week": (admit + stay).astype(np.int64),
        "instability": instability,
        "readmit_threshold": threshold,
        **columns,
    }


def build_patients(scenario: Scenario, root: np.random.SeedSequence) -> PatientTable:
    """Generate every participant of every site, with their random numbers.

    Admissions per week are Poisson with the site's rate over the recruitment
    window; length of stay is log-normal with the site's mean, rounded to whole
    weeks and capped at :data:`~peersim.model.constants.MAX_STAY_WEEKS`.
    """
    parts = [_site_columns(scenario, site, index, root) for index, site in enumerate(scenario.sites)]
    merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return PatientTable(**merged)
