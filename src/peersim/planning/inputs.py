"""Everything a plan reads, parsed and checked: the site, the costs file, targets and the budget.

Nothing here runs the model, so bad input fails in well under a second.

Site
----
A plan starts from a one-site scenario in service mode (:func:`load_planning_site`):
everyone eligible is offered peer support, and usual care is the counterfactual
of the same people on common random numbers.

Costs file
----------
TOML, read in three steps like a scenario file: parse (TOML), validate
(pydantic, unknown keys rejected), build (lever options checked against the
declared bounds of :mod:`peersim.core.parameters`, in
:func:`peersim.planning.levers.lever_space`). Every failure is a
:class:`CostsError` naming the file and the key path, e.g.
``costs.toml: unit_costs.supervisor_hour: -5 is negative; ...``. Layout::

    currency = "GBP"
    price_year = "2024/25"

    [unit_costs]                 # all required, all >= 0, in `currency`
    peer_worker_fte_per_year = 32_900
    supervisor_hour = 34.31
    team_joint_work_hour = 29.19
    team_prep_session = 645
    travel_per_minute = 0.28
    readmission = 16_000
    host_change_per_year = 0     # optional (default 0)

    [basis]                      # optional
    full_time_hours_per_week = 37.5
    working_weeks_per_year = 45.18

    [levers]                     # optional; the levers a plan may change
    supervisor_hours_per_week = { values = [2.5, 5, 7.5, 10] }
    n_peer_workers = { add = [-1, 0, 1] }
    host = { values = ["not_for_profit", "nhs"] }

``scenarios/costs_default.toml`` documents where each default figure comes from.

Targets
-------
``METRIC>=VALUE`` or ``METRIC<=VALUE`` (:func:`parse_target`). A plan meets its
targets *with probability p* when, in a replicate (one draw of the mechanism
strengths from the posterior, unless the plan runs without one, and one draw of
the model's own randomness), **every** target holds; the probability is the
share of replicates in which they all hold. A missing value (e.g. fidelity when no session was
delivered) counts as not met. The share is judged with its one-sided 95% Wilson
score bound (:func:`peersim.stats.wilson_bounds`):

* a plan is **accepted** when the *lower* bound is at least the required
  probability (0.8 by default): with 95% confidence the plan meets its targets
  at least that often, so a re-run with fresh seeds should agree;
* during screening (few replicates), a plan is **kept** for confirmation when
  the *upper* bound reaches the required probability, i.e. when the
  replicates so far cannot rule it out.

This is stricter than the plain share: with 40 replicates a plan needs 37 or
more successes (a share of about 0.93) to be accepted at 0.8.

Budget
------
A yearly amount in the costs file's currency, 0 or more (:func:`check_budget`).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from peersim.core.parameters import SITE_PARAMS
from peersim.core.results import METRIC_RANGES, METRICS, range_text
from peersim.core.results import WEEKS_PER_YEAR as RESULT_WEEKS_PER_YEAR
from peersim.core.scenario import Scenario, Site
from peersim.core.scenario_files import scenario_from_dict
from peersim.errors import PeersimInputError, ScenarioError
from peersim.io.files import parse_toml, read_text_file
from peersim.io.inputs import RANGE_KINDS, Problem, StrictModel, humanise
from peersim.stats import normal_quantile

LeverValue = float | int | str
"""A lever's value: a number, or a host name for ``host``."""
NUMERIC_LEVERS: tuple[str, ...] = tuple(name for name, spec in SITE_PARAMS.items() if spec.kind == "lever")
"""Site parameters a service controls, from the declared source."""
LEVERS: tuple[str, ...] = (*NUMERIC_LEVERS, "host")
"""Every lever a costs file may open, in the order plans list them."""
HOSTS: tuple[str, ...] = ("nhs", "not_for_profit")
"""Values of the ``host`` lever."""
WEEKS_PER_YEAR = RESULT_WEEKS_PER_YEAR
"""Weeks in the year that costs and yearly outcomes refer to (a service year of a run's ``years`` table)."""


@dataclass(frozen=True)
class ServiceYears:
    """The service years a plan is costed over: the weeks of admissions in each, and when funding ends.

    Year 1 is weeks 1-52 of the delivery phase, as in a run's ``years`` table.
    The years costed are those with admissions (the recruitment window): the
    service is paid for while it takes referrals, and the people admitted in a
    year are that year's outcomes. A last, partial year is costed pro rata.

    Attributes
    ----------
    recruitment_weeks
        Weeks of admissions (the scenario's ``horizon.recruitment_weeks``, at least 1).
    funding_end_week
        The site's ``funding_end_week``: from this week a post that is or falls
        vacant is not refilled, and only posts still held are paid (0: funded throughout).
    """

    recruitment_weeks: int
    funding_end_week: int = 0

    @property
    def count(self) -> int:
        """Service years with admissions (at least 1)."""
        return -(-self.recruitment_weeks // WEEKS_PER_YEAR)

    @property
    def years(self) -> float:
        """Length of the recruitment window in years (> 0; 52 weeks a year)."""
        return self.recruitment_weeks / WEEKS_PER_YEAR

    @property
    def one_off_share(self) -> float:
        """Share of a one-off cost (team preparation) in the mean year: 1 / years, at most 1."""
        return 1.0 / max(1.0, self.years)

    def admission_weeks(self, year: int) -> int:
        """Weeks of admissions in service year ``year`` (1-based): 52, or fewer in a last, partial year."""
        first = (year - 1) * WEEKS_PER_YEAR
        return max(0, min(WEEKS_PER_YEAR, self.recruitment_weeks - first))

    def funded_weeks(self, year: int) -> int:
        """Weeks of admissions in ``year`` before the funding end week (all of them without one)."""
        weeks = self.admission_weeks(year)
        if self.funding_end_week <= 0:
            return weeks
        first = (year - 1) * WEEKS_PER_YEAR + 1  # delivery week of the year's first day
        return max(0, min(weeks, self.funding_end_week - first))

    def unfunded_weeks(self, year: int) -> range:
        """Delivery weeks of admissions in ``year`` from the funding end week on (empty without one)."""
        first = (year - 1) * WEEKS_PER_YEAR + 1
        last = first + self.admission_weeks(year) - 1
        if self.funding_end_week <= 0:
            return range(0)
        return range(max(first, self.funding_end_week), last + 1)


def service_years(scenario: Scenario) -> ServiceYears:
    """Return the service years a one-site scenario's plans are costed over (:class:`ServiceYears`)."""
    return ServiceYears(scenario.horizon.recruitment_weeks, scenario.sites[0].funding_end_week)


# ---------------------------------------------------------------------------
# The site


@dataclass(frozen=True)
class PlanningSite:
    """The one-site service-mode scenario a plan starts from.

    Attributes
    ----------
    scenario
        The validated scenario as given.
    data
        Its raw TOML data; plans edit this and validate again, so mechanism
        values the file sets stay marked as set (a posterior does not override them).
    source
        File name, for messages.
    text
        The file's TOML text as written (for reports; ``""`` if not kept).
    """

    scenario: Scenario
    data: dict[str, Any]
    source: str
    text: str = ""

    @property
    def site(self) -> Site:
        """The single site."""
        return self.scenario.sites[0]

    @property
    def current(self) -> dict[str, LeverValue]:
        """Every lever's value in the site as given."""
        site = self.site
        return {name: getattr(site, name) for name in LEVERS}

    @property
    def year_scale(self) -> float:
        """Factor from the simulated recruitment window to one year (52 weeks) of admissions (> 0)."""
        return WEEKS_PER_YEAR / self.scenario.horizon.recruitment_weeks

    @property
    def service_years(self) -> ServiceYears:
        """The service years the site's plans are costed over."""
        return service_years(self.scenario)

    def with_levers(self, levers: Mapping[str, LeverValue]) -> Scenario:
        """Return the scenario with ``levers`` set on the site (validated again).

        Raises
        ------
        ScenarioError
            If the combination is invalid, naming the file and the plan.
        """
        data = copy.deepcopy(self.data)
        data["sites"][0].update(dict(levers))
        shown = ", ".join(f"{k}={v}" for k, v in levers.items())
        return scenario_from_dict(data, source=f"{self.source} with plan {shown}")


def planning_site(scenario: Scenario, data: dict[str, Any], source: str, text: str = "") -> PlanningSite:
    """Check a scenario can be planned for: one site, service mode.

    Parameters
    ----------
    scenario
        The validated scenario.
    data
        The TOML data it was validated from (copied).
    source
        File name, for messages.
    text
        The TOML text, quoted in reports.

    Raises
    ------
    ScenarioError
        For a trial-mode scenario or one with several sites.
    """
    if scenario.mode != "service":
        raise ScenarioError(
            f"{source}: mode is {scenario.mode!r}; peersim plan needs a one-site scenario in service mode "
            '(mode = "service"), where everyone eligible is offered peer support and usual care is '
            "the counterfactual of the same people on common random numbers"
        )
    if len(scenario.sites) != 1:
        names = ", ".join(s.name for s in scenario.sites)
        raise ScenarioError(
            f"{source}: has {len(scenario.sites)} sites ({names}); peersim plan plans one site at a time"
        )
    return PlanningSite(scenario, copy.deepcopy(data), source, text)


def load_planning_site(path: str | Path) -> PlanningSite:
    """Read a site file and check it is one site in service mode.

    Raises
    ------
    ScenarioError
        For a missing, malformed or invalid file (naming the file and the key
        path), several sites or trial mode.
    """
    return _planning_site_text(read_text_file(path, ScenarioError), str(path))


def _planning_site_text(text: str, source: str) -> PlanningSite:
    """Validate a site file's TOML ``text`` and check it can be planned for (:func:`planning_site`)."""
    data = parse_toml(text, source, ScenarioError)
    return planning_site(scenario_from_dict(data, source=source), data, source, text)


DEFAULT_SITE_RESOURCE = "new_site_example.toml"
"""Packaged copy of ``scenarios/new_site_example.toml``: the site used when none is given."""
DEFAULT_SITE_SOURCE = f"<embedded {DEFAULT_SITE_RESOURCE}>"
"""How messages name the packaged site."""


def default_site() -> PlanningSite:
    """Return the packaged example site (``scenarios/new_site_example.toml``)."""
    return _planning_site_text(default_site_text(), DEFAULT_SITE_SOURCE)


def load_site(path: str | Path | None) -> PlanningSite:
    """Read a one-site service-mode scenario; ``None`` returns :func:`default_site`.

    Raises
    ------
    peersim.errors.ScenarioError
        For a missing, malformed or invalid file (naming the file and the key
        path), several sites or trial mode.
    """
    return default_site() if path is None else load_planning_site(path)


def default_site_text() -> str:
    """TOML text of the packaged example site (:data:`DEFAULT_SITE_RESOURCE`)."""
    return resources.files("peersim.data").joinpath(DEFAULT_SITE_RESOURCE).read_text("utf-8")


# ---------------------------------------------------------------------------
# Costs files

DEFAULT_COSTS_RESOURCE = "costs_default.toml"
"""Packaged copy of ``scenarios/costs_default.toml`` (used when no costs file is given)."""


class CostsError(PeersimInputError):
    """A costs file that cannot be used (missing, malformed TOML, bad key or value)."""


MAX_UNIT_COST = 1e9
"""Largest unit cost accepted (in the file's currency); above it a figure is a typing slip."""


class UnitCosts(StrictModel):
    """Unit costs, in the file's currency at its price year; all non-negative.

    Attributes
    ----------
    peer_worker_fte_per_year
        Salary plus employer on-costs of one full-time peer worker for a year.
    supervisor_hour
        One hour of the peer workers' supervisor (per working hour).
    team_joint_work_hour
        One hour of clinical team time spent in joint work with peer workers.
    team_prep_session
        One team preparation session before go-live (all attendees' time).
    travel_per_minute
        Mileage paid per minute of a peer worker's travel to a community session.
    readmission
        Cost of one psychiatric readmission (bed days x cost per bed day).
    host_change_per_year
        Extra yearly cost of employing peer workers in the other organisation
        than the site's draft plan does (0 means no difference).
    """

    peer_worker_fte_per_year: float = Field(
        ge=0, le=MAX_UNIT_COST, allow_inf_nan=False, description="Peer worker FTE for a year."
    )
    supervisor_hour: float = Field(
        ge=0, le=MAX_UNIT_COST, allow_inf_nan=False, description="One supervisor hour."
    )
    team_joint_work_hour: float = Field(
        ge=0, le=MAX_UNIT_COST, allow_inf_nan=False, description="One hour of clinical team joint work."
    )
    team_prep_session: float = Field(
        ge=0, le=MAX_UNIT_COST, allow_inf_nan=False, description="One team preparation session."
    )
    travel_per_minute: float = Field(
        ge=0, le=MAX_UNIT_COST, allow_inf_nan=False, description="Mileage per minute travelled."
    )
    readmission: float = Field(
        ge=0, le=MAX_UNIT_COST, allow_inf_nan=False, description="One psychiatric readmission."
    )
    host_change_per_year: float = Field(
        default=0.0, ge=0, le=MAX_UNIT_COST, allow_inf_nan=False, description="Changing the host, per year."
    )


class Basis(StrictModel):
    """How hours and weeks convert to yearly costs.

    Attributes
    ----------
    full_time_hours_per_week
        Contracted hours of one FTE (Agenda for Change: 37.5), in (0, 80].
    working_weeks_per_year
        Weeks a member of staff works in a year, after annual leave and public
        holidays, in (0, 52]; converts hours a week to hours a year for supervision.
    """

    full_time_hours_per_week: float = Field(default=37.5, gt=0, le=80)
    working_weeks_per_year: float = Field(default=45.18, gt=0, le=52)


class LeverOptions(StrictModel):
    """Options of one lever: absolute ``values`` or ``add`` offsets from the site's value."""

    values: tuple[float | str, ...] | None = Field(default=None, min_length=1, strict=False)
    add: tuple[float, ...] | None = Field(default=None, min_length=1, strict=False)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.values is None) == (self.add is None):
            raise ValueError("give exactly one of 'values' (absolute) or 'add' (offsets from the site)")
        return self


class CostsFile(StrictModel):
    """A validated costs file (see the module docstring for its layout)."""

    currency: str = Field(default="GBP", min_length=1, max_length=8)
    price_year: str = Field(default="unstated", min_length=1, max_length=40)
    unit_costs: UnitCosts
    basis: Basis = Field(default_factory=Basis)
    levers: dict[str, LeverOptions] = Field(default_factory=dict, strict=False)


class Costs(BaseModel):
    """A costs file with where it came from.

    Attributes
    ----------
    file
        The validated content.
    source
        File name, or ``<embedded costs_default.toml>``.
    text
        The TOML text as written.
    """

    model_config = ConfigDict(frozen=True)

    file: CostsFile
    source: str
    text: str

    @property
    def unit(self) -> UnitCosts:
        """The unit costs."""
        return self.file.unit_costs

    @property
    def basis(self) -> Basis:
        """The costing basis."""
        return self.file.basis

    @property
    def currency(self) -> str:
        """Currency code, e.g. ``GBP``."""
        return self.file.currency


def load_costs(path: str | Path | None) -> Costs:
    """Read and validate a costs file; ``None`` reads the packaged default.

    Raises
    ------
    CostsError
        If the file is missing, unreadable, malformed or invalid; the message
        names the file and the key path.
    """
    if path is None:
        return parse_costs(default_costs_text(), source=f"<embedded {DEFAULT_COSTS_RESOURCE}>")
    return parse_costs(read_text_file(path, CostsError), source=str(path))


def default_costs_text() -> str:
    """TOML text of the packaged default costs file."""
    return resources.files("peersim.data").joinpath(DEFAULT_COSTS_RESOURCE).read_text("utf-8")


def parse_costs(text: str, source: str = "<costs>") -> Costs:
    """Validate costs TOML text; ``source`` names it in error messages."""
    data = parse_toml(text, source, CostsError)
    return Costs(file=costs_from_dict(data, source), source=source, text=text)


def costs_from_dict(data: dict[str, Any], source: str = "<costs>") -> CostsFile:
    """Validate plain data shaped like a costs file.

    Lever names and values are checked later, against the site
    (:func:`peersim.planning.levers.lever_space`), where their bounds are known.
    """
    try:
        return CostsFile.model_validate(data)
    except ValidationError as error:
        raise humanise(
            error,
            source,
            CostsFile,
            "costs file",
            rules=(_negative_cost, _out_of_range),
            error_class=CostsError,
        ) from None


def _negative_cost(problem: Problem) -> str | None:
    if problem.kind == "greater_than_equal" and problem.loc and problem.loc[0] == "unit_costs":
        return f"{problem.path}: {problem.given!r} is negative; unit costs must be 0 or more"
    return None


def _out_of_range(problem: Problem) -> str | None:
    if problem.kind not in RANGE_KINDS:
        return None
    if problem.loc and problem.loc[0] == "unit_costs":
        return (
            f"{problem.path}: {problem.shown} is out of range; allowed 0 to {MAX_UNIT_COST:g} "
            "(a larger unit cost is a typing slip)"
        )
    bound = problem.message.lower().replace("input should be ", "must be ")
    return f"{problem.path}: {problem.shown} is out of range ({bound})"


# ---------------------------------------------------------------------------
# Targets and the budget

DERIVED_METRICS: dict[str, str] = {
    "readmissions_averted_per_100": "12-month readmissions averted per 100 people discharged "
    "(usual care minus peer support, same people)",
    "readmissions_averted_per_year": "Readmissions averted in a year of admissions",
    "cost_total": "Yearly cost of the plan (the mean service year), resourcing plus travel",
    "net_cost": "Yearly cost less the cost of the readmissions averted",
}
"""Plan outcomes computed from the model's metrics and the costs file."""
TARGET_METRICS: dict[str, str] = {
    **{name: text for name, text in METRICS.items()},
    "readmissions_averted_per_100": DERIVED_METRICS["readmissions_averted_per_100"],
    "readmissions_averted_per_year": DERIVED_METRICS["readmissions_averted_per_year"],
}
"""Metrics a target may name (costs are constrained with a budget instead)."""
TARGET_RANGES: dict[str, tuple[float, float]] = {
    **METRIC_RANGES,
    "readmissions_averted_per_100": (-100.0, 100.0),
    "readmissions_averted_per_year": (-math.inf, math.inf),
}
"""The values each target metric can take; a target value outside them is refused."""

DEFAULT_PROBABILITY = 0.8
"""Probability with which a recommended plan must meet all its targets."""
CONFIDENCE = 0.95
"""One-sided confidence of the Wilson bounds used to judge that probability."""

Operator = Literal[">=", "<="]
_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|=>|=<|>|<|=)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Target:
    """One target: ``metric op value`` (``value`` in the metric's units)."""

    metric: str
    op: Operator
    value: float

    @property
    def text(self) -> str:
        """The target as written, normalised (e.g. ``engagement_rate>=0.5``)."""
        return f"{self.metric}{self.op}{self.value:g}"

    @property
    def higher_is_better(self) -> bool:
        """Whether larger values of the metric move towards the target."""
        return self.op == ">="

    def met(self, values: np.ndarray) -> np.ndarray:
        """Whether each value meets the target (missing values do not)."""
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            hit = values >= self.value if self.op == ">=" else values <= self.value
        return hit & np.isfinite(values)


def parse_target(text: str) -> Target:
    """Parse ``METRIC>=VALUE`` or ``METRIC<=VALUE``.

    Raises
    ------
    PeersimInputError
        For another operator, a value that is not a finite number or lies
        outside the metric's :data:`TARGET_RANGES`, or a metric that is not in
        :data:`TARGET_METRICS`; the message lists the valid metrics.
    """
    match = _PATTERN.match(text)
    if match is None:
        raise PeersimInputError(
            f"`targets` {text!r}: expected METRIC>=VALUE or METRIC<=VALUE, e.g. engagement_rate>=0.5"
        )
    metric, op, raw = match.groups()
    if op not in (">=", "<="):
        raise PeersimInputError(
            f"`targets` {text!r}: use >= or <= (a target is met at or beyond its value), not {op!r}"
        )
    if metric not in TARGET_METRICS:
        raise PeersimInputError(
            f"`targets` {text!r}: unknown metric {metric!r}; metrics are: {', '.join(TARGET_METRICS)}"
        )
    try:
        value = float(raw)
    except ValueError:
        raise PeersimInputError(f"`targets` {text!r}: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise PeersimInputError(f"`targets` {text!r}: the value must be finite")
    low, high = TARGET_RANGES[metric]
    if not low <= value <= high:
        raise PeersimInputError(
            f"`targets` {text!r}: {metric} lies in {range_text((low, high))}, so {value:g} is out of range"
        )
    return Target(metric, ">=" if op == ">=" else "<=", value)


def parse_targets(texts: Sequence[str]) -> tuple[Target, ...]:
    """Parse several targets; the same metric and direction may not appear twice.

    Raises
    ------
    PeersimInputError
        For a bad target (see :func:`parse_target`), one given twice, or a
        floor above a ceiling on the same metric.
    """
    targets = tuple(parse_target(text) for text in texts)
    seen: dict[tuple[str, str], Target] = {}
    for target in targets:
        key = (target.metric, target.op)
        if key in seen:
            raise PeersimInputError(f"`targets`: {target.metric}{target.op} is given twice; give it once")
        seen[key] = target
    for (metric, op), floor in seen.items():
        ceiling = seen.get((metric, "<="))
        if op == ">=" and ceiling is not None and floor.value > ceiling.value:
            raise PeersimInputError(
                f"`targets` {floor.text} and {ceiling.text} contradict each other: no value meets both"
            )
    return targets


def min_replicates(probability: float = DEFAULT_PROBABILITY, confidence: float = CONFIDENCE) -> int:
    """Fewest replicates with which a plan that always meets its targets can be accepted.

    With every replicate a success the lower Wilson bound is ``n / (n + z^2)``,
    ``z`` the one-sided normal quantile of ``confidence``; both arguments lie in (0, 1).
    """
    z = normal_quantile(confidence)
    return max(1, math.ceil(probability * z * z / (1.0 - probability) - 1e-9))


def check_budget(budget: float | None) -> float | None:
    """Validate a yearly budget (in the costs file's currency); ``None`` means no budget.

    Raises
    ------
    PeersimInputError
        If it is negative or not finite.
    """
    if budget is None:
        return None
    if not math.isfinite(budget) or budget < 0:
        raise PeersimInputError(f"`budget` {budget}: must be a finite amount of 0 or more")
    return float(budget)
