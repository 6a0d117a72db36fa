"""The lever grid of a new site: its plans, what each costs, and the one-step moves the ranking compares.

A *plan* is one value for every open lever. The levers are the site parameters
declared ``kind="lever"`` in :data:`peersim.core.parameters.SITE_PARAMS` (supervisor
hours, team preparation sessions, team joint work, peer worker posts and hours,
caseload cap) plus ``host``, the employer of the peer workers, where that
choice is open. A costs file's ``[levers]`` table says which are open and
which values they may take; the site's own value is always added, so the plan
as drafted is one point of the grid (:func:`lever_space`, :func:`build_plans`).

Costs are for **one year of the running service**, in the costs file's
currency: peer worker posts (FTE from hours a week), supervisor and joint
work hours, team preparation sessions (one-off) and a host change if the plan
moves peer workers to the other employer (:func:`plan_cost`). Travel depends
on how many community sessions are delivered, so it comes from the
simulation (:func:`travel_cost`).

Over several service years (:class:`~peersim.planning.inputs.ServiceYears`)
each year is costed the same way (:func:`plan_cost_by_year`): the recurring
costs pro rata to the year's weeks of admissions, team preparation in year 1
only, and, once the site's funding has ended, peer worker pay only for the
posts still held (simulated, :func:`post_week_pay`). The plan's yearly cost
is the mean year: recurring costs per 52 weeks of admissions, team
preparation spread over the service years (counted once when a year or less
is simulated).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from peersim.core.parameters import SITE_PARAMS, ParamSpec
from peersim.core.scenario import Scenario
from peersim.planning.inputs import (
    HOSTS,
    LEVERS,
    WEEKS_PER_YEAR,
    Costs,
    CostsError,
    LeverValue,
    PlanningSite,
    ServiceYears,
)

MONTHS_PER_YEAR = 12
"""Months in the year (joint work hours are given a month)."""
LEVER_LABELS: dict[str, str] = {
    "n_peer_workers": "peer worker posts",
    "peer_worker_hours_per_week": "peer worker hours/week per post",
    "supervisor_hours_per_week": "supervisor hours/week",
    "team_prep_sessions": "team preparation sessions",
    "team_joint_work_hours_per_month": "team joint work hours/month",
    "caseload_cap": "caseload cap",
    "other_duties_share": "share of hours on other duties",
    "funding_end_week": "week funding of vacant posts ends",
    "host": "host organisation",
}
"""Short human names of the levers, for tables and reports."""
MAX_PLANS = 5000
"""Largest grid :func:`lever_space` accepts (each plan is simulated)."""


@dataclass(frozen=True)
class Lever:
    """One open lever: its name and the values plans may give it (sorted; includes the site's)."""

    name: str
    values: tuple[LeverValue, ...]
    current: LeverValue

    @property
    def label(self) -> str:
        """Human name."""
        return LEVER_LABELS[self.name]

    def step(self) -> tuple[LeverValue, str] | None:
        """Return the ranking step from the site's value: the next value up, else the next down.

        Returns ``(value, direction)`` with direction ``"up"`` or ``"down"``, or
        ``None`` when the lever has a single value. ``host`` steps to the other host.
        """
        if len(self.values) < 2:
            return None
        if self.name == "host":
            other = next(v for v in self.values if v != self.current)
            return other, "switch"
        index = self.values.index(self.current)
        if index + 1 < len(self.values):
            return self.values[index + 1], "up"
        return self.values[index - 1], "down"


@dataclass(frozen=True)
class LeverSpace:
    """The open levers and the grid of plans they span."""

    levers: tuple[Lever, ...]
    current: dict[str, LeverValue] = field(default_factory=dict)
    """Every lever's value in the site as given (open or not)."""
    dropped: tuple[str, ...] = ()
    """Notes on option values left out (outside bounds after ``add``)."""

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the open levers."""
        return tuple(lever.name for lever in self.levers)

    @property
    def size(self) -> int:
        """Number of plans in the grid."""
        n = 1
        for lever in self.levers:
            n *= len(lever.values)
        return n

    def plans(self) -> list[dict[str, LeverValue]]:
        """Every plan of the grid: full lever settings (open levers varied, others as given)."""
        out = []
        for combo in itertools.product(*(lever.values for lever in self.levers)):
            plan = dict(self.current)
            plan.update(zip(self.names, combo, strict=True))
            out.append(plan)
        return out


def lever_space(costs: Costs, site: PlanningSite, max_plans: int = MAX_PLANS) -> LeverSpace:
    """Build the grid of plans from a costs file's ``[levers]`` table and the site.

    Raises
    ------
    CostsError
        For an unknown lever, a value of the wrong type or outside the declared
        bounds, a plan without supervision or without peer workers, or a grid
        larger than ``max_plans``; the message names the file and the key path.
    """
    source = costs.source
    current = site.current
    levers = []
    dropped: list[str] = []
    for name, options in costs.file.levers.items():
        if name not in LEVERS:
            raise CostsError(
                f"{source}: levers.{name}: unknown lever {name!r}; levers are: {', '.join(LEVERS)}"
            )
        if options.values is not None:
            values = [
                _check_value(name, value, f"levers.{name}.values[{i}]", source)
                for i, value in enumerate(options.values)
            ]
        else:
            if name == "host":
                raise CostsError(f"{source}: levers.host.add: host takes 'values', not 'add' offsets")
            base = float(current[name])
            values = []
            spec = SITE_PARAMS[name]
            for offset in options.add or ():
                value = base + offset
                if not spec.contains(value) or _unworkable(name, value):
                    note = f"{name} {base:g}{offset:+g} = {value:g} (outside {_allowed(name, spec)})"
                    dropped.append(note)
                    warnings.warn(
                        f"{source}: levers.{name}.add: {offset:+g} is left out for site "
                        f"{site.site.name!r}: {note}",
                        UserWarning,
                        stacklevel=2,
                    )
                    continue
                values.append(_check_value(name, value, f"levers.{name}.add", source))
        values.append(current[name])
        unique = sorted(set(values), key=_sort_key)
        levers.append(Lever(name, tuple(unique), current[name]))
    levers.sort(key=lambda lever: LEVERS.index(lever.name))
    space = LeverSpace(tuple(levers), current, tuple(dropped))
    if space.size > max_plans:
        counts = " x ".join(f"{len(lever.values)} {lever.name}" for lever in space.levers)
        raise CostsError(
            f"{source}: [levers] give {space.size} plans ({counts}); at most {max_plans} can be "
            "searched: give fewer values"
        )
    return space


def _sort_key(value: LeverValue) -> tuple[int, float, str]:
    if isinstance(value, str):
        return (1, 0.0, value)
    return (0, float(value), "")


def _allowed(name: str, spec: ParamSpec) -> str:
    if name == "supervisor_hours_per_week":
        return f"more than 0, up to {spec.high:g}"
    if name == "n_peer_workers":
        return f"1 to {spec.high:g}"
    return spec.range_text


def _unworkable(name: str, value: float) -> bool:
    """Values the declared bounds allow but a peer support plan cannot use."""
    return (name == "supervisor_hours_per_week" and value <= 0) or (name == "n_peer_workers" and value < 1)


def _check_value(name: str, value: Any, path: str, source: str) -> LeverValue:
    if name == "host":
        if value not in HOSTS:
            raise CostsError(f"{source}: {path}: {value!r} is not a host; use one of: {', '.join(HOSTS)}")
        return str(value)
    spec = SITE_PARAMS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CostsError(f"{source}: {path}: {value!r} is not a number ({spec.unit})")
    if spec.integer:
        if float(value) != int(value):
            raise CostsError(f"{source}: {path}: {value!r} must be a whole number of {spec.unit}")
        number: LeverValue = int(value)
    else:
        number = float(value)
    if not spec.contains(float(number)) or _unworkable(name, float(number)):
        raise CostsError(f"{source}: {path}: {value!r} is out of range; allowed {_allowed(name, spec)}")
    return number


@dataclass(frozen=True)
class PlanCost:
    """Yearly resourcing cost of a plan, by component (travel excluded; see :func:`travel_cost`)."""

    peer_workers: float
    supervision: float
    team_preparation: float
    joint_work: float
    host_change: float

    @property
    def committed(self) -> float:
        """Sum of the components: what the plan commits before any session is delivered."""
        return (
            self.peer_workers + self.supervision + self.team_preparation + self.joint_work + self.host_change
        )

    def as_dict(self) -> dict[str, float]:
        """Components by name, with the ``committed`` total."""
        return {
            "peer_workers": self.peer_workers,
            "supervision": self.supervision,
            "team_preparation": self.team_preparation,
            "joint_work": self.joint_work,
            "host_change": self.host_change,
            "committed": self.committed,
        }


ONE_YEAR = ServiceYears(WEEKS_PER_YEAR)
"""One year of admissions, funded throughout: the horizon of :func:`plan_cost` when none is given."""


def plan_cost(
    levers: Mapping[str, LeverValue], costs: Costs, site_host: str, horizon: ServiceYears = ONE_YEAR
) -> PlanCost:
    """Yearly resourcing cost of a plan: the mean service year of ``horizon``.

    Parameters
    ----------
    levers
        Full lever settings of the plan.
    costs
        Unit costs and basis.
    site_host
        Host of the site as given; a plan with the other host pays
        ``host_change_per_year``.
    horizon
        The service years costed (default: one year, funded throughout).

    Notes
    -----
    For a full year of admissions:

    * peer workers: posts x hours a week / full-time hours x FTE cost a year;
    * supervision: hours a week x working weeks a year x hourly cost;
    * joint work: hours a month x 12 x hourly cost;
    * team preparation: sessions x cost per session (one-off).

    Over ``horizon`` the recurring costs are per 52 weeks of admissions (peer
    worker posts only for the weeks before the funding end: pay for posts
    still held after it is simulated, see :func:`post_week_pay`) and team
    preparation is spread over the service years
    (:attr:`~peersim.planning.inputs.ServiceYears.one_off_share`), so the
    years of :func:`plan_cost_by_year` add up to this cost times the years
    of admissions (when there is a year or more).
    """
    full = _full_year(levers, costs, site_host)
    funded = sum(horizon.funded_weeks(year) for year in range(1, horizon.count + 1))
    return replace(
        full,
        peer_workers=full.peer_workers * funded / horizon.recruitment_weeks,
        team_preparation=full.team_preparation * horizon.one_off_share,
    )


def plan_cost_by_year(
    levers: Mapping[str, LeverValue], costs: Costs, site_host: str, horizon: ServiceYears
) -> tuple[PlanCost, ...]:
    """Resourcing cost of each service year of ``horizon`` (travel and pay after the funding end excluded).

    Year ``y`` pays the recurring costs of :func:`plan_cost` pro rata to its
    weeks of admissions out of 52 (peer worker posts to its weeks before the
    funding end), and team preparation, a one-off before go-live, in year 1.
    """
    full = _full_year(levers, costs, site_host)
    out = []
    for year in range(1, horizon.count + 1):
        share = horizon.admission_weeks(year) / WEEKS_PER_YEAR
        out.append(
            PlanCost(
                peer_workers=full.peer_workers * horizon.funded_weeks(year) / WEEKS_PER_YEAR,
                supervision=full.supervision * share,
                team_preparation=full.team_preparation if year == 1 else 0.0,
                joint_work=full.joint_work * share,
                host_change=full.host_change * share,
            )
        )
    return tuple(out)


def post_week_pay(levers: Mapping[str, LeverValue], costs: Costs) -> float:
    """Pay of one peer worker post for one week: its FTE x the FTE cost a year / 52 (>= 0)."""
    return _post_fte(levers, costs) * costs.unit.peer_worker_fte_per_year / WEEKS_PER_YEAR


def _post_fte(levers: Mapping[str, LeverValue], costs: Costs) -> float:
    """Full-time equivalents of one post: hours a week / full-time hours."""
    return float(levers["peer_worker_hours_per_week"]) / costs.basis.full_time_hours_per_week


def _full_year(levers: Mapping[str, LeverValue], costs: Costs, site_host: str) -> PlanCost:
    """Resourcing cost of a full year of admissions, funded throughout (see :func:`plan_cost`)."""
    unit, basis = costs.unit, costs.basis
    fte = float(levers["n_peer_workers"]) * _post_fte(levers, costs)
    return PlanCost(
        peer_workers=fte * unit.peer_worker_fte_per_year,
        supervision=float(levers["supervisor_hours_per_week"])
        * basis.working_weeks_per_year
        * unit.supervisor_hour,
        team_preparation=float(levers["team_prep_sessions"]) * unit.team_prep_session,
        joint_work=float(levers["team_joint_work_hours_per_month"])
        * MONTHS_PER_YEAR
        * unit.team_joint_work_hour,
        host_change=unit.host_change_per_year if levers["host"] != site_host else 0.0,
    )


def travel_cost[Contacts: (float, np.ndarray)](
    community_contacts: Contacts, travel_minutes_one_way: float, year_scale: float, costs: Costs
) -> Contacts:
    """Yearly mileage for ``community_contacts`` sessions of one simulated recruitment window.

    Each community session is a return journey of ``2 x travel_minutes_one_way``;
    ward contacts are taken to need no mileage. The peer worker's time on the
    road is already paid in their hours (and costs sessions in the model).
    """
    return community_contacts * year_scale * 2.0 * travel_minutes_one_way * costs.unit.travel_per_minute


@dataclass(frozen=True)
class PlanSpec:
    """One plan of the grid: its lever settings, scenario and yearly resourcing cost.

    Attributes
    ----------
    index
        Position in the grid (0-based), the key of its outcomes.
    levers
        Full lever settings (open levers varied, the others as given).
    scenario
        The site with these settings, validated.
    cost
        Yearly resourcing cost (the mean service year), in the costs file's currency.
    years
        Resourcing cost of each service year; empty for a plan built by hand.
    """

    index: int
    levers: dict[str, LeverValue]
    scenario: Scenario
    cost: PlanCost
    years: tuple[PlanCost, ...] = ()
    """Resourcing cost of each service year (:func:`plan_cost_by_year`)."""


def plan_spec(
    index: int, levers: Mapping[str, LeverValue], scenario: Scenario, site: PlanningSite, costs: Costs
) -> PlanSpec:
    """Cost a plan of ``site``: its yearly resourcing cost and that of each service year.

    Parameters
    ----------
    index
        The plan's key among the plans run together.
    levers
        Full lever settings; a host other than the site's pays ``host_change_per_year``.
    scenario
        The site with these settings, validated.
    site, costs
        The site as given (its host and service years) and the unit costs.
    """
    host = str(site.current["host"])
    horizon = site.service_years
    return PlanSpec(
        index,
        dict(levers),
        scenario,
        plan_cost(levers, costs, host, horizon),
        plan_cost_by_year(levers, costs, host, horizon),
    )


def build_plans(site: PlanningSite, space: LeverSpace, costs: Costs) -> tuple[list[PlanSpec], int]:
    """Every plan of the grid and the index of the site as given.

    Raises
    ------
    ScenarioError
        If a lever combination fails scenario validation (named with the plan).
    """
    current = space.current
    plans = []
    current_index = -1
    for index, levers in enumerate(space.plans()):
        plans.append(plan_spec(index, levers, site.with_levers(levers), site, costs))
        if levers == current:
            current_index = index
    if current_index < 0:  # pragma: no cover - the site's values are always in the grid
        raise RuntimeError("the site as given is not in the lever grid")
    return plans, current_index


@dataclass(frozen=True)
class Step:
    """One open lever moved one step from the site as given (see :meth:`Lever.step`).

    Attributes
    ----------
    lever
        Lever name (one of :data:`~peersim.planning.inputs.LEVERS`).
    before, after
        Its value in the site as given and after the step.
    direction
        ``"up"``, ``"down"`` or ``"switch"`` (``host``).
    plan
        Index of the plan that differs from the site as given in this lever only.
    """

    lever: str
    before: LeverValue
    after: LeverValue
    direction: str
    plan: int


def lever_steps(space: LeverSpace, plans: Sequence[PlanSpec], current: int) -> tuple[Step, ...]:
    """Return the step of every open lever that has one, in lever order, with the plan it leads to."""
    lookup = {_key(spec.levers): spec.index for spec in plans}
    steps = []
    for lever in space.levers:
        step = lever.step()
        if step is not None:
            after, direction = step
            levers = {**plans[current].levers, lever.name: after}
            steps.append(Step(lever.name, lever.current, after, direction, lookup[_key(levers)]))
    return tuple(steps)


def _key(levers: Mapping[str, LeverValue]) -> tuple[LeverValue, ...]:
    return tuple(levers[name] for name in LEVERS)
