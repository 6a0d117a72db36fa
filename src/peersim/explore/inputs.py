"""What the explorer's sidebar holds: the site, its context, its levers and the form a planner fills in.

The explorer starts from a one-site service-mode scenario (the *plan*, as
``peersim plan`` reads it) and a costs file. A planner moves levers to make a
*draft*; :func:`read_form` turns the form's texts into a validated
:class:`Draft`. Each lever value goes through exactly the checks and messages
of ``peersim run --set SITE.KEY=VALUE`` (:func:`peersim.core.overrides.source_with_sets`),
so a bad value in the page reads as it would on the command line; the target
is parsed as ``peersim plan --target`` parses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from peersim.core.overrides import source_with_sets
from peersim.core.parameters import SITE_PARAMS
from peersim.core.scenario import Scenario
from peersim.core.streams import MAX_SEED
from peersim.discovery.inputs import DEFAULT_TARGET
from peersim.errors import PeersimInputError
from peersim.model.site_model import SITE_LEVERS
from peersim.planning.inputs import (
    HOSTS,
    Costs,
    LeverValue,
    PlanningSite,
    Target,
    load_costs,
    load_site,
    parse_target,
)
from peersim.planning.levers import LEVER_LABELS, lever_space
from peersim.uncertainty import Posterior, resolve_posterior

FORM_LEVERS: tuple[str, ...] = SITE_LEVERS
"""Levers the sidebar offers, in its order (the others stay as the site file has them)."""
CONTEXT_KEYS: dict[str, str] = {
    "host": "host organisation",
    "geography": "geography",
    "travel_minutes_one_way": "travel to community sessions (minutes one way)",
    "eligible_admissions_per_week": "eligible admissions a week",
    "ward_acceptance_baseline": "ward staff acceptance at the start (0-1)",
}
"""The site's context shown above the levers: key and label."""
DEFAULT_REPLICATES = 40
"""Replicate budget the form starts with."""
MAX_REPLICATES = 400
"""Largest replicate budget the form accepts (each replicate runs the plan and the draft)."""


@dataclass(frozen=True)
class ExploreInputs:
    """The site being planned, its costs and the posterior its replicates draw from.

    Attributes
    ----------
    site
        The one-site service-mode scenario as given: *the plan*.
    costs
        Unit costs and lever options.
    posterior
        Weighted particles of mechanism strengths each replicate draws from, or
        ``None`` for the scenario's point values.
    """

    site: PlanningSite
    costs: Costs
    posterior: Posterior | None

    @property
    def site_name(self) -> str:
        """Name of the single site."""
        return self.site.site.name


def load_explore_inputs(
    site: str | Path | None = None,
    costs: str | Path | None = None,
    posterior: str | Path | None = None,
    use_posterior: bool = True,
) -> ExploreInputs:
    """Read and check the site, the costs file and the posterior the explorer starts from.

    Parameters
    ----------
    site
        One-site scenario TOML in service mode; ``None`` for the packaged
        ``new_site_example.toml``.
    costs
        Costs TOML; ``None`` for the packaged ``costs_default.toml``.
    posterior
        Posterior Parquet file; ``None`` for the shipped posterior.
    use_posterior
        ``False`` to run at the scenario's point values.

    Raises
    ------
    PeersimInputError
        For a missing, malformed or invalid file (naming the file and the key
        path), a site that is not one site in service mode, lever options that
        do not fit the site, or a posterior that does not fit it.
    """
    planned = load_site(site)
    loaded = load_costs(costs)
    lever_space(loaded, planned)  # the costs file's lever options must fit the site
    chosen = resolve_posterior(posterior, use_posterior)
    if chosen is not None:
        chosen.check_against(planned.scenario)
    return ExploreInputs(planned, loaded, chosen)


@dataclass(frozen=True)
class LeverField:
    """One lever of the sidebar: its current value, the plan options and the declared bounds.

    Attributes
    ----------
    name
        Scenario key, e.g. ``n_peer_workers``.
    label
        Human name, e.g. ``peer worker posts``.
    value
        The plan's value (the site as given).
    low, high
        Declared bounds (``nan`` for ``host``).
    unit
        Unit of the value (``""`` for ``host``).
    options
        Values the costs file's ``[levers]`` table offers (with the site's own),
        empty when the costs file keeps the lever closed.
    """

    name: str
    label: str
    value: LeverValue
    low: float
    high: float
    unit: str
    options: tuple[LeverValue, ...]

    @property
    def choices(self) -> tuple[str, ...]:
        """Values a choice lever takes (``host``); empty for numbers."""
        return HOSTS if self.name == "host" else ()

    @property
    def hint(self) -> str:
        """One line under the field: the values the costs file prices, and what validation allows."""
        if self.name == "host":
            return f"one of {', '.join(HOSTS)}"
        allowed = f"allowed {self.low:g} to {self.high:g}"
        if not self.options:
            return f"{allowed}; not priced in the costs file"
        priced = ", ".join(f"{float(v):g}" for v in self.options if not isinstance(v, str))
        return f"priced: {priced}; {allowed}"

    @property
    def title(self) -> str:
        """The field's label: its human name, with the unit unless the name says it."""
        if not self.unit or self.unit in self.label:
            return self.label
        return f"{self.label} ({self.unit})"


def lever_fields(inputs: ExploreInputs) -> list[LeverField]:
    """Return the sidebar's levers (:data:`FORM_LEVERS`) with values, options and bounds."""
    space = lever_space(inputs.costs, inputs.site)
    options = {lever.name: lever.values for lever in space.levers}
    current = inputs.site.current
    fields = []
    for name in FORM_LEVERS:
        if name == "host":
            fields.append(LeverField(name, LEVER_LABELS[name], current[name], math.nan, math.nan, "", ()))
            continue
        spec = SITE_PARAMS[name]
        fields.append(
            LeverField(
                name,
                LEVER_LABELS[name],
                current[name],
                spec.low,
                spec.high,
                spec.unit,
                options.get(name, ()),
            )
        )
    return fields


def site_context(inputs: ExploreInputs) -> list[tuple[str, str]]:
    """Return the site's context as ``(label, value)`` rows (host, geography, travel, admissions...)."""
    site = inputs.site.site
    rows = [(label, _shown(getattr(site, key))) for key, label in CONTEXT_KEYS.items()]
    horizon = inputs.site.scenario.horizon
    rows.append(("weeks of admissions simulated", str(horizon.recruitment_weeks)))
    return rows


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("_", " ")


@dataclass(frozen=True)
class Draft:
    """A validated draft: the levers a planner set, its scenario and how to run it.

    Attributes
    ----------
    levers
        Every lever of :data:`FORM_LEVERS`, as set.
    changes
        The ``PATH=VALUE`` texts that turn the plan into the draft (levers
        whose value differs from the plan's), in ``--set`` form.
    scenario
        The draft site, validated.
    replicates
        Paired replicates to run (2 to :data:`MAX_REPLICATES`).
    target
        The target whose chance is shown.
    seed
        Base seed, shared by plan and draft (common random numbers).
    """

    levers: dict[str, LeverValue]
    changes: tuple[str, ...]
    scenario: Scenario
    replicates: int
    target: Target
    seed: int = 0


@dataclass
class FormError(PeersimInputError):
    """Bad values in the form: one message per field, keyed by field name.

    Field names are lever names and ``replicates``, ``target``, ``seed``; the
    key ``levers`` holds a message about the levers together (a combination
    validation refuses).
    """

    messages: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__("; ".join(self.messages.values()))


def read_form(inputs: ExploreInputs, form: Mapping[str, str]) -> Draft:
    """Turn the form's texts into a validated draft.

    Parameters
    ----------
    inputs
        The site, costs and posterior explored.
    form
        Texts by field name: each lever of :data:`FORM_LEVERS` (missing: the
        plan's value), ``replicates``, ``target`` and ``seed`` (missing: the
        defaults). Lever texts are read as ``--set`` reads a value: TOML
        (``5``, ``7.5``) or a bare word (``nhs``).

    Raises
    ------
    FormError
        With one message per bad field; each lever's is the message
        ``peersim run --set SITE.KEY=VALUE`` gives for the same value.
    """
    messages: dict[str, str] = {}
    site = inputs.site
    current = site.current
    changes: list[str] = []
    for name in FORM_LEVERS:
        raw = form.get(name, "").strip()
        if not raw or raw == _shown_value(current[name]):
            continue
        change = f"{inputs.site_name}.{name}={raw}"
        try:
            source_with_sets(site.text, site.source, [change])
        except PeersimInputError as error:
            messages[name] = str(error)
            continue
        changes.append(change)
    replicates = _whole(
        form.get("replicates", ""), "replicates", DEFAULT_REPLICATES, 2, MAX_REPLICATES, messages
    )
    seed = _whole(form.get("seed", ""), "seed", 0, 0, MAX_SEED, messages)
    target_text = form.get("target", "").strip() or DEFAULT_TARGET
    target = None
    try:
        target = parse_target(target_text)
    except PeersimInputError as error:
        messages["target"] = str(error)
    scenario = None
    if not any(name in messages for name in FORM_LEVERS):
        try:
            scenario = source_with_sets(site.text, site.source, changes).scenario
        except PeersimInputError as error:
            messages["levers"] = str(error)
    if messages or scenario is None or target is None:
        raise FormError(messages)
    levers = {name: getattr(scenario.sites[0], name) for name in FORM_LEVERS}
    return Draft(levers, tuple(changes), scenario, replicates, target, seed)


def _shown_value(value: LeverValue) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def form_defaults(inputs: ExploreInputs) -> dict[str, str]:
    """Return the form as it opens: the plan's lever values, the default replicates, target and seed."""
    form = {name: _shown_value(inputs.site.current[name]) for name in FORM_LEVERS}
    form.update(replicates=str(DEFAULT_REPLICATES), target=DEFAULT_TARGET, seed="0")
    return form


def _whole(raw: str, name: str, default: int, low: int, high: int, messages: dict[str, str]) -> int:
    """Read a whole number in ``[low, high]``; note a message under ``name`` if it is not one."""
    text = raw.strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        messages[name] = f"`{name}` {text!r}: must be a whole number from {low} to {high}"
        return default
    if not low <= value <= high:
        messages[name] = f"`{name}` {value}: out of range; allowed {low} to {high}"
    return value
