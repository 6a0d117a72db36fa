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
work hours, team preparation sessions (one-off, counted in the year) and a
host change if the plan moves peer workers to the other employer
(:func:`plan_cost`). Travel depends on how many community sessions are
delivered, so it comes from the simulation (:func:`travel_cost`).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peersim.core.parameters import SITE_PARAMS, ParamSpec
from peersim.core.scenario import Scenario
from peersim.planning.inputs import HOSTS, LEVERS, Costs, CostsError, LeverValue, PlanningSite

MONTHS_PER_YEAR = 12
"""Months in the year (joint work hours are given a month)."""
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
        Yearly resourcing cost, in the costs file's currency.
    """

    index: int
    levers: dict[str, LeverValue]
    scenario: Scenario
    cost: PlanCost


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
        scenario = site.with_levers(levers)
        plans.append(PlanSpec(index, levers, scenario, plan_cost(levers, costs, str(current["host"]))))
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
