"""Levers of a new site, the grid of plans they span, and what each plan costs.

A *plan* is one value for every open lever. The levers are the site parameters
declared ``kind="lever"`` in :data:`peersim.parameters.SITE_PARAMS` (supervisor
hours, team preparation sessions, team joint work, peer worker posts and hours,
caseload cap) plus ``host``, the employer of the peer workers, where that
choice is open. A costs file's ``[levers]`` table says which are open and
which values they may take; the site's own value is always added, so the plan
as drafted is one point of the grid.

Costs are for **one year of the running service**, in the costs file's
currency: peer worker posts (FTE from hours a week), supervisor and joint
work hours, team preparation sessions (one-off, counted in the year) and a
host change if the plan moves peer workers to the other employer. Travel
depends on how many community sessions are delivered, so it comes from the
simulation (:func:`travel_cost`).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peersim.errors import PeersimInputError, ScenarioError
from peersim.parameters import SITE_PARAMS, ParamSpec
from peersim.planning.costs import Costs, CostsError
from peersim.scenario import Scenario, Site
from peersim.scenario_io import scenario_from_dict

WEEKS_PER_YEAR = 52
"""Weeks in the year that costs and yearly outcomes refer to."""
MONTHS_PER_YEAR = 12
HOSTS: tuple[str, ...] = ("nhs", "not_for_profit")

NUMERIC_LEVERS: tuple[str, ...] = tuple(name for name, spec in SITE_PARAMS.items() if spec.kind == "lever")
"""Site parameters a service controls, from the declared source."""
LEVERS: tuple[str, ...] = (*NUMERIC_LEVERS, "host")
"""Every lever a costs file may open, in the order plans list them."""
LEVER_LABELS: dict[str, str] = {
    "n_peer_workers": "peer worker posts",
    "peer_worker_hours_per_week": "peer worker hours/week per post",
    "supervisor_hours_per_week": "supervisor hours/week",
    "team_prep_sessions": "team preparation sessions",
    "team_joint_work_hours_per_month": "team joint work hours/month",
    "caseload_cap": "caseload cap",
    "host": "host organisation",
}
"""Short human names of the levers, for tables and reports."""
MAX_PLANS = 5000
"""Largest grid :func:`lever_space` accepts (each plan is simulated)."""

LeverValue = float | int | str


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
    """

    scenario: Scenario
    data: dict[str, Any]
    source: str
    text: str = ""
    """The file's TOML text as written (for reports)."""

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
        """Factor from the simulated recruitment window to one year of admissions."""
        return WEEKS_PER_YEAR / self.scenario.horizon.recruitment_weeks

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
                    dropped.append(f"{name} {base:g}{offset:+g} = {value:g} (outside {_allowed(name, spec)})")
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


def plan_cost(levers: Mapping[str, LeverValue], costs: Costs, site_host: str) -> PlanCost:
    """Yearly resourcing cost of a plan.

    Parameters
    ----------
    levers
        Full lever settings of the plan.
    costs
        Unit costs and basis.
    site_host
        Host of the site as given; a plan with the other host pays
        ``host_change_per_year``.

    Notes
    -----
    * peer workers: posts x hours a week / full-time hours x FTE cost a year;
    * supervision: hours a week x working weeks a year x hourly cost;
    * joint work: hours a month x 12 x hourly cost;
    * team preparation: sessions x cost per session (one-off, in this year).
    """
    unit, basis = costs.unit, costs.basis
    fte = (
        float(levers["n_peer_workers"])
        * float(levers["peer_worker_hours_per_week"])
        / basis.full_time_hours_per_week
    )
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


def describe_plan(levers: Mapping[str, LeverValue], names: Sequence[str] | None = None) -> str:
    """Short text of a plan, e.g. ``supervisor hours/week 5, team preparation sessions 2``."""
    shown = names if names is not None else LEVERS
    parts = []
    for name in shown:
        value = levers[name]
        text = value if isinstance(value, str) else f"{float(value):g}"
        parts.append(f"{LEVER_LABELS[name]} {text}")
    return ", ".join(parts)


def check_budget(budget: float | None) -> float | None:
    """Validate ``--budget``.

    Raises
    ------
    PeersimInputError
        If it is negative or not finite.
    """
    if budget is None:
        return None
    if not budget == budget or budget in (float("inf"), float("-inf")) or budget < 0:
        raise PeersimInputError(f"--budget {budget}: must be a finite amount of 0 or more")
    return float(budget)
