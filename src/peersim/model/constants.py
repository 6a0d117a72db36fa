"""Structural constants of the model: fixed shapes, not calibrated strengths.

These set the *form* of each rule; the uncertain *strengths* live in
:data:`peersim.core.parameters.MECHANISM_PARAMS` and multiply them. All are
assumptions, chosen so that the default scenario lands near the published ENRICH
figures; docs/odd.md lists them with their units.
"""

from __future__ import annotations

# Fidelity (0-1 per domain; 1 = practice fully consistent with the manual).
FIDELITY_AFTER_TRAINING = 0.75
"""Fidelity of a newly trained peer worker in every domain."""
FIDELITY_FLOOR = 0.3
"""Level practice drifts towards without supervision."""
FIDELITY_DRIFT_PER_WEEK = 0.04
"""Share of the distance to the floor lost per week (halved by full team cohesion)."""
SUPERVISION_PULL = 0.35
"""Share of the gap to 1 closed by one supervision session at ``rel_supervision`` = 1."""
FIDELITY_STRAIN_HIT: tuple[float, ...] = (0.03, 0.03, 0.015, 0.015)
"""Weekly fidelity loss per domain at strain 1 (relational domains suffer most)."""
FIDELITY_TRAVEL_HIT_PER_HOUR = 0.02
"""Weekly loss in the strengths/community domain per hour of one-way travel."""
FIDELITY_REFERENCE = 0.7
"""Fidelity at which attendance equals ``p_attend_base``."""
FIDELITY_RELATIONSHIP_STRENGTH = 3.0
"""``rel_fidelity_engagement`` at which relational fidelity shapes relationships one for one."""

# Strain (0-1) and staffing.
STRAIN_ADJUST_RATE = 0.1
"""Weekly share of the gap between strain and its current target closed."""
STRAIN_LOAD_WEIGHT = 0.6
"""Strain target per unit of workload ratio (minutes demanded / minutes available)."""
STRAIN_ISOLATION_WEIGHT = 0.5
"""Strain target at zero team cohesion (isolated, unsupported work)."""
SUPERVISION_STRAIN_RELIEF = 0.03
"""Strain removed by one supervision session at ``rel_supervision`` = 1."""
ABSENCE_PER_STRAIN = 0.15
"""Weekly probability of a week's absence at strain 1 and ``rel_strain`` = 1."""
TURNOVER_BASE_PER_WEEK = 0.004
"""Weekly probability that a peer worker leaves for reasons unrelated to strain (~19%/year)."""
TURNOVER_PER_STRAIN = 0.008
"""Extra weekly leaving probability at strain 1 and ``rel_strain`` = 1."""
RELATIONSHIP_KEPT_ON_HANDOVER = 0.5
"""Share of a participant's relationship kept when their peer worker leaves."""

# Peer workers as people (mechanism 9).
SKILL_LOG_SD = 0.3
"""Log-SD of relational skill across people at ``rel_worker_spread`` = 1."""
DRIFT_LOG_SD = 0.6
"""Log-SD of the personal drift rate across people at ``rel_worker_spread`` = 1."""
TRAIT_CLIP = (0.4, 2.5)
"""Range a personal multiplier (skill, drift rate) is clipped to."""
EXPERIENCE_REFERENCE = 0.5
"""Experience at which a person drifts at exactly their own rate."""
EXPERIENCE_WEEKS = 104.0
"""Weeks in post that close 63% of the gap to full experience."""
FIRST_COHORT_EXPERIENCE_MAX = 0.6
"""The posts' first holders start with experience uniform on 0 to this; replacements start at 0."""

# Supervisors.
SUPERVISOR_ABSENCE_PER_WEEK = 0.04
"""Weekly chance the supervisor is away (leave, sickness): no sessions that week (~2 weeks/year)."""

# Supervision.
SUPERVISION_SESSION_HOURS = 1.25
"""Supervisor hours per one-to-one session, including preparation and notes."""
SUPERVISION_IN_PERSON_SHARE = 0.5
"""Share of sessions held in person, which cost the supervisor a round trip."""
BOUNDARY_SUPERVISOR_HOURS = 2.0
"""Supervisor hours per week spent on joint working across a host boundary at strength 1."""
COHESION_RATE = 0.1
"""Weekly share of the gap between team cohesion and supervision coverage closed."""
COHESION_LOSS_ON_TURNOVER = 0.2
"""Share of team cohesion lost when a peer worker or the supervisor leaves."""

# Ward staff acceptance (0-1).
PREP_SESSIONS_SCALE = 3.0
"""Preparation sessions that close 63% of the preparation effect (1 - e^-1)."""
JOINT_WORK_RATE = 0.01
"""Weekly share of the gap to full acceptance closed per hour/week of joint work."""
ACCEPTANCE_REGRESSION = 0.02
"""Weekly pull of acceptance back towards the staff member's own anchor (habit; turnover is explicit)."""
P_GOOD_CONTACT_REF = 0.75
"""Chance a ward contact goes well at fidelity 0.7, no strain and no boundary."""
GOOD_CONTACT_FIDELITY_LOGIT = 3.0
"""Log-odds of a good ward contact per unit of peer worker fidelity."""
GOOD_CONTACT_STRAIN_LOGIT = 2.0
"""Log-odds lost per unit of strain."""
BOUNDARY_CONTACT_LOGIT = 1.0
"""Log-odds of a good ward contact lost across a host boundary at strength 1."""

# Referral, ward access and discharge planning.
P_REFERRAL_REF = 0.35
"""Weekly chance ward staff refer an offered inpatient at acceptance 0.5."""
BOUNDARY_ACCESS_LOGIT = 1.5
"""Log-odds of ward access lost across a host boundary at strength 1."""
P_INVITE_REF = 0.4
"""Chance an allocated peer worker is invited to discharge planning at acceptance 0.5."""
BOUNDARY_AUTHORITY_LOGIT = 1.5
"""Log-odds of an invitation lost across a host boundary at strength 1."""
WARD_VISIT_MINUTES = 60.0
"""Peer worker minutes per ward visit."""
BOUNDARY_PEER_WORKER_MINUTES = 60.0
"""Weekly peer worker minutes lost to cross-organisation admin at strength 1."""

# Participant relationship and attendance.
RELATIONSHIP_START = 0.2
"""Relationship of a participant who has not yet met their peer worker (0-1)."""
FIRST_CONTACT_GAIN = 0.45
"""Relationship gained at a first contact, times the relationship target and (1 - strain/2)."""
CONTACT_GAIN = 0.25
"""Share of the gap to the relationship target (relational fidelity x skill) closed per further contact."""
INVITE_BONUS = 0.1
"""Relationship gained when the peer worker joins discharge planning."""
MISS_LOSS = 0.08
"""Relationship lost when a participant misses a session."""
CANCEL_LOSS = 0.03
"""Relationship lost when the peer worker cannot come."""
RELATIONSHIP_LOGIT = 2.0
"""Log-odds of attendance per unit of relationship above 0.5."""
HETEROGENEITY_ATTENDANCE_LOGIT = 1.0
"""Log-odds of attendance lost per SD of latent instability at heterogeneity 1."""
TRAVEL_MISS_LOGIT_PER_HOUR = 0.8
"""Log-odds of attendance lost per hour of one-way travel."""
MAX_MISSES_IN_ROW = 2
"""Consecutive missed sessions after which a participant disengages."""

# Readmission.
HAZARD_SHAPE = 0.75
"""Weibull shape of the baseline readmission hazard (<1: risk is highest early)."""
DOSE_SCALE_CONTACTS = 4.0
"""Fidelity-weighted contacts giving 63% of the maximum protective effect."""
MAX_STAY_WEEKS = 26
"""Longest index admission (weeks); longer draws are capped."""
STAY_LOG_SD = 0.6
"""Log-scale SD of the log-normal length of stay."""
