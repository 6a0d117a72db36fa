"""Factors files: which levers and mechanism strengths to vary, over what range, where.

A factors file is TOML, read in three steps like a scenario file:

1. **parse** the TOML text;
2. **validate** its shape with pydantic (unknown keys, wrong types, missing names);
3. **build** a :class:`FactorSpace` against a scenario: names must be declared
   parameters, bounds must lie inside the declared bounds of
   :mod:`peersim.core.parameters` (the single declared source, so sensitivity analysis
   never disagrees with scenario validation or calibration), ``low < high``, and
   every named site must exist in the scenario.

Every failure raises :class:`FactorsError` naming the file, the key path (for
example ``factors[2].high``) and, for numbers, the allowed range.

File shape::

    description = "free text"

    [[factors]]
    name = "supervisor_hours_per_week"   # a site parameter, "host", or a mechanism strength
    low = 1                              # optional: defaults to the declared lower bound
    high = 12                            # optional: defaults to the declared upper bound
    sites = "all"                        # optional: "all" (default), a site name, or a list
    label = "supervision"                # optional: name in outputs (defaults to `name`)

* **Site parameters** (:data:`peersim.core.parameters.SITE_PARAMS`, for example
  ``supervisor_hours_per_week``, ``team_prep_sessions``, ``caseload_cap``,
  ``peer_worker_hours_per_week``, ``travel_minutes_one_way``) are set to the
  sampled value at every site the factor names.
* **``host``** is a 0/1 factor: 0 means peer workers are employed inside the
  service (``"nhs"``), 1 by a not-for-profit (``"not_for_profit"``); each is
  sampled with probability one half. It takes no bounds.
* **Mechanism strengths** (:data:`peersim.core.parameters.MECHANISM_PARAMS`) apply to
  the whole scenario and take no ``sites``.

**Integer parameters are rounded when applied.** ``n_peer_workers``,
``team_prep_sessions``, ``caseload_cap`` and ``n_ward_staff`` are sampled
uniformly on ``[low - 0.5, high + 0.5]`` and rounded to the nearest whole number
(then kept within ``[low, high]``), so every whole value from ``low`` to ``high``
is equally likely. Their bounds must be whole numbers.

Every factor is sampled uniformly between its bounds.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError

from peersim.core.parameters import MECHANISM_PARAMS, SITE_PARAMS, ParamSpec
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import scenario_from_dict
from peersim.errors import PeersimInputError
from peersim.io.files import parse_toml, read_text_file
from peersim.io.inputs import Problem, StrictModel, humanise, problems_error

DEFAULT_FACTORS_RESOURCE = "factors_default.toml"
"""Name of the embedded copy of ``scenarios/factors_default.toml``."""

DUMMY = "dummy"
"""Label of the factor the model ignores, added to every analysis (reserved)."""

HOST = "host"
"""The 0/1 host organisation factor: 0 = ``"nhs"``, 1 = ``"not_for_profit"``."""

HOST_LEVELS: tuple[str, str] = ("nhs", "not_for_profit")
"""Host of each level of the ``host`` factor (0, 1)."""

ALL_SITES = "all"

FactorKind = Literal["continuous", "integer", "binary"]
Scope = Literal["site", "mechanism", "none"]


class FactorsError(PeersimInputError):
    """A factors file, or a factor space, that cannot be used."""


# --------------------------------------------------------------------------- built form


@dataclass(frozen=True)
class Factor:
    """One factor of a sensitivity analysis, with validated bounds.

    Parameters
    ----------
    label
        Name in outputs (unique within a factor space).
    name
        Parameter it sets: a site parameter, ``"host"``, a mechanism strength, or
        any name for factors of an analytic function (``scope="none"``).
    low, high
        Bounds in the parameter's unit (``0`` and ``1`` for ``host``).
    kind
        ``"continuous"``, ``"integer"`` (rounded when applied) or ``"binary"``.
    scope
        ``"site"`` (set at the sites in ``sites``), ``"mechanism"`` (scenario-wide)
        or ``"none"`` (not a scenario parameter: the dummy, analytic functions).
    sites
        Sites a ``"site"`` factor is applied to.
    unit
        Unit of the value, for display.
    """

    label: str
    name: str
    low: float
    high: float
    kind: FactorKind = "continuous"
    scope: Scope = "none"
    sites: tuple[str, ...] = ()
    unit: str = "1"

    @property
    def sample_bounds(self) -> tuple[float, float]:
        """Bounds handed to the SALib sampler (widened by 0.5 for integers)."""
        if self.kind == "integer":
            return (self.low - 0.5, self.high + 0.5)
        return (self.low, self.high)

    def value(self, sampled: float) -> float:
        """Return the value applied for a sampled number (rounded for integer and binary factors)."""
        if self.kind == "integer":
            return float(min(max(math.floor(sampled + 0.5), self.low), self.high))
        if self.kind == "binary":
            return 1.0 if sampled >= 0.5 * (self.low + self.high) else 0.0
        return float(sampled)

    def values_of(self, sampled: np.ndarray) -> np.ndarray:
        """:meth:`value` of every number of ``sampled`` at once (the same numbers, as an array)."""
        column = np.asarray(sampled, dtype=np.float64)
        if self.kind == "integer":
            return np.clip(np.floor(column + 0.5), self.low, self.high)
        if self.kind == "binary":
            return np.where(column >= 0.5 * (self.low + self.high), 1.0, 0.0)
        return column.copy()


@dataclass(frozen=True)
class FactorSpace:
    """The factors to vary, validated (against a scenario where they set its parameters).

    Parameters
    ----------
    factors
        The factors, in order. The dummy factor is not among them: the analysis
        engine adds it.
    source
        Where the factors came from (a file name), for messages.
    description
        Free text from the factors file.
    """

    factors: tuple[Factor, ...]
    source: str = "<factors>"
    description: str = ""
    text_hash: str = field(default="")

    def __post_init__(self) -> None:
        labels = [f.label for f in self.factors]
        if not labels:
            raise FactorsError(f"{self.source}: at least one factor is required")
        if DUMMY in labels:
            raise FactorsError(f"{self.source}: the label {DUMMY!r} is reserved for the added dummy factor")
        duplicated = sorted({x for x in labels if labels.count(x) > 1})
        if duplicated:
            raise FactorsError(f"{self.source}: duplicate factor labels {duplicated}")

    @property
    def labels(self) -> tuple[str, ...]:
        """Factor labels, in order."""
        return tuple(f.label for f in self.factors)

    def values(self, sampled: Any) -> tuple[float, ...]:
        """Return applied values (rounded where needed) for one sampled row of the real factors."""
        return tuple(f.value(float(x)) for f, x in zip(self.factors, sampled, strict=True))

    def applied(self, sampled: np.ndarray) -> np.ndarray:
        """Return the applied values of many sampled rows (rows x factors), like :meth:`values`."""
        return np.column_stack([f.values_of(sampled[:, j]) for j, f in enumerate(self.factors)])


def apply_point(
    base: dict[str, Any], space: FactorSpace, values: tuple[float, ...], source: str = "<sensitivity>"
) -> Scenario:
    """Return the scenario at one sample point, re-validated.

    Parameters
    ----------
    base
        Validated scenario data (``Scenario.to_toml_dict()``); not modified.
    space
        The factor space ``values`` belong to.
    values
        Applied values (see :meth:`FactorSpace.values`), one per factor.
    source
        Names the point in validation messages.

    Raises
    ------
    peersim.errors.ScenarioError
        If the point gives an invalid scenario (for example no supervisor hours
        for a site with peer workers).
    """
    data: dict[str, Any] = {**base, "sites": [dict(site) for site in base["sites"]]}
    mechanisms = dict(data.get("mechanisms") or {})
    for factor, value in zip(space.factors, values, strict=True):
        if factor.scope == "mechanism":
            mechanisms[factor.name] = float(value)
        elif factor.scope == "site":
            for site in data["sites"]:
                if site["name"] in factor.sites:
                    site[factor.name] = _site_value(factor, value)
    data["mechanisms"] = mechanisms
    return scenario_from_dict(data, source=source)


def _site_value(factor: Factor, value: float) -> Any:
    if factor.name == HOST:
        return HOST_LEVELS[int(value)]
    if factor.kind == "integer":
        return int(value)
    return float(value)


# --------------------------------------------------------------------------- file schema


class FactorEntry(StrictModel):
    """One ``[[factors]]`` table of a factors file."""

    name: str = Field(description="Site parameter, 'host', or mechanism strength to vary.")
    label: str | None = Field(default=None, description="Name in outputs; defaults to `name`.")
    sites: str | list[str] | None = Field(
        default=None, description="'all' (default), one site name, or a list; site parameters only."
    )
    low: float | None = Field(default=None, description="Lower bound; defaults to the declared bound.")
    high: float | None = Field(default=None, description="Upper bound; defaults to the declared bound.")
    description: str = Field(default="", description="Free text.")


class FactorsFile(StrictModel):
    """A factors file: a description and at least one ``[[factors]]`` table."""

    description: str = ""
    factors: list[FactorEntry] = Field(min_length=1)


GROUP_SHARES = ("share_psychosis", "share_personality_disorder", "share_other")
"""Site parameters that are not factors: they are tied together (they sum to 1)."""


def valid_names() -> list[str]:
    """Names a factor may vary: site parameters (but the group shares), ``host`` and mechanism strengths."""
    return [*(name for name in SITE_PARAMS if name not in GROUP_SHARES), HOST, *MECHANISM_PARAMS]


def default_factors_text() -> str:
    """Return the TOML text of the embedded default factors file."""
    return resources.files("peersim.data").joinpath(DEFAULT_FACTORS_RESOURCE).read_text("utf-8")


def load_factors(path: str | Path, scenario: Scenario) -> FactorSpace:
    """Read a factors file and build its factor space against ``scenario``.

    Raises
    ------
    FactorsError
        If the file is missing, unreadable, malformed or invalid; the message
        names the file and the key path.
    """
    return parse_factors(read_text_file(path, FactorsError), scenario, source=str(path))


def default_factors(scenario: Scenario) -> FactorSpace:
    """Build the embedded default factors (``scenarios/factors_default.toml``) against ``scenario``."""
    return parse_factors(default_factors_text(), scenario, source=f"<embedded {DEFAULT_FACTORS_RESOURCE}>")


def parse_factors(text: str, scenario: Scenario, source: str = "<factors>") -> FactorSpace:
    """Parse, validate and build factors TOML text; ``source`` names it in messages."""
    data = parse_toml(text, source, FactorsError)
    space = factors_from_dict(data, scenario, source=source)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return FactorSpace(space.factors, space.source, space.description, digest)


def factors_from_dict(data: dict[str, Any], scenario: Scenario, source: str = "<factors>") -> FactorSpace:
    """Validate plain data shaped like a factors file and build it against ``scenario``."""
    return build_space(validate_factors_file(data, source), scenario, source)


def validate_factors_file(data: dict[str, Any], source: str = "<factors>") -> FactorsFile:
    """Validate plain data shaped like a factors file (keys and types; names and bounds come later).

    Raises
    ------
    FactorsError
        Listing every problem found, each with its key path.
    """
    try:
        return FactorsFile.model_validate(data)
    except ValidationError as error:
        raise humanise(
            error,
            source,
            FactorsFile,
            "factors file",
            rules=FACTORS_RULES,
            trim=_file_path,
            error_class=FactorsError,
        ) from None


def build_space(parsed: FactorsFile, scenario: Scenario, source: str = "<factors>") -> FactorSpace:
    """Check names, bounds and sites of validated factors data and build the factor space.

    Raises
    ------
    FactorsError
        Listing every problem found, each with its key path.
    """
    problems: list[str] = []
    factors: list[Factor] = []
    site_names = [s.name for s in scenario.sites]
    for i, entry in enumerate(parsed.factors):
        factor = _build_entry(entry, f"factors[{i}]", site_names, scenario.name, problems)
        if factor is not None:
            factors.append(factor)
    problems += _check_labels_and_overlaps(parsed.factors, factors)
    if problems:
        raise problems_error(problems, source, "factors file", FactorsError)
    space = FactorSpace(tuple(factors), source=source, description=parsed.description)
    _check_extremes(space, scenario, source)
    return space


def _build_entry(
    entry: FactorEntry, path: str, site_names: list[str], scenario_name: str, problems: list[str]
) -> Factor | None:
    name = entry.name
    label = entry.label if entry.label is not None else name
    spec: ParamSpec | None
    if name == HOST:
        spec, scope, kind = None, "site", "binary"
    elif name in SITE_PARAMS:
        spec, scope = SITE_PARAMS[name], "site"
        kind = "integer" if spec.integer else "continuous"
    elif name in MECHANISM_PARAMS:
        spec, scope = MECHANISM_PARAMS[name], "mechanism"
        kind = "integer" if spec.integer else "continuous"
    else:
        problems.append(f"{path}.name: unknown factor {name!r}; valid names are: {', '.join(valid_names())}")
        return None
    if name in GROUP_SHARES:
        problems.append(
            f"{path}.name: {name} cannot be a factor: the three diagnostic group shares must sum to 1, "
            "so one cannot vary alone; vary the group effects (hr_readmit_*, or_attend_*) instead"
        )
        return None
    if label == DUMMY:
        problems.append(f"{path}.label: {DUMMY!r} is reserved for the dummy factor every analysis adds")
    before = len(problems)
    low, high = _bounds(entry, spec, path, problems)
    sites: tuple[str, ...] = ()
    if scope == "mechanism":
        if entry.sites is not None:
            problems.append(
                f"{path}.sites: {name} is a mechanism strength, which applies to the whole "
                "scenario; remove `sites`"
            )
    else:
        sites = _sites(entry.sites, path, site_names, scenario_name, problems)
    if len(problems) > before:
        return None
    unit = spec.unit if spec is not None else "0 = nhs, 1 = not_for_profit"
    return Factor(label, name, low, high, kind, scope, sites, unit)  # type: ignore[arg-type]


def _bounds(
    entry: FactorEntry, spec: ParamSpec | None, path: str, problems: list[str]
) -> tuple[float, float]:
    if spec is None:  # host: a 0/1 factor
        for key in ("low", "high"):
            if getattr(entry, key) is not None:
                problems.append(
                    f"{path}.{key}: {HOST} is a 0/1 factor (0 = nhs, 1 = not_for_profit) and takes no bounds"
                )
        return 0.0, 1.0
    low = spec.low if entry.low is None else entry.low
    high = spec.high if entry.high is None else entry.high
    ok = True
    for key, value in (("low", entry.low), ("high", entry.high)):
        if value is None:
            continue
        if not spec.contains(value):
            problems.append(
                f"{path}.{key}: {value:g} is out of range for {spec.name}; allowed {spec.range_text}"
            )
            ok = False
        elif spec.integer and value != int(value):
            problems.append(f"{path}.{key}: {spec.name} takes whole numbers, got {value:g}")
            ok = False
    if ok and not low < high:
        problems.append(
            f"{path}: low ({low:g}) must be less than high ({high:g}) for {spec.name} "
            f"(allowed {spec.range_text})"
        )
    return float(low), float(high)


def _sites(
    given: str | list[str] | None, path: str, site_names: list[str], scenario_name: str, problems: list[str]
) -> tuple[str, ...]:
    if given is None or given == ALL_SITES:
        return tuple(site_names)
    names = [given] if isinstance(given, str) else given
    if not names:
        problems.append(f'{path}.sites: empty list; name at least one site, or use "all"')
        return ()
    missing = [n for n in names if n not in site_names]
    if missing:
        shown = ", ".join(repr(n) for n in missing)
        problems.append(
            f"{path}.sites: {shown} not in scenario {scenario_name!r}; its sites are: {', '.join(site_names)}"
        )
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        problems.append(f"{path}.sites: {duplicated} listed more than once")
    return tuple(names)


def _check_labels_and_overlaps(entries: list[FactorEntry], factors: list[Factor]) -> list[str]:
    problems: list[str] = []
    labels = [e.label if e.label is not None else e.name for e in entries]
    for label in sorted({x for x in labels if labels.count(x) > 1}):
        where = ", ".join(f"factors[{i}]" for i, x in enumerate(labels) if x == label)
        problems.append(f"{where}: the label {label!r} is used more than once; give each a distinct `label`")
    for i, a in enumerate(factors):
        for b in factors[i + 1 :]:
            if a.name != b.name:
                continue
            if a.scope == "mechanism":
                continue  # reported as a duplicate label unless relabelled, which is still a clash
            shared = sorted(set(a.sites) & set(b.sites))
            if shared:
                problems.append(
                    f"factors {a.label!r} and {b.label!r} both set {a.name} at {', '.join(shared)}; "
                    "a parameter can be varied by one factor per site"
                )
    mech = [f for f in factors if f.scope == "mechanism"]
    for i, a in enumerate(mech):
        for b in mech[i + 1 :]:
            if a.name == b.name:
                problems.append(
                    f"factors {a.label!r} and {b.label!r} both set the mechanism strength {a.name}"
                )
    return problems


def extreme_points(space: FactorSpace) -> list[tuple[str, tuple[float, ...]]]:
    """Return the points a factor space is checked at, each with what it is for messages.

    Each factor at each of its bounds (the others mid-range), then every factor
    at its low bound, then every factor at its high bound.
    """
    mid = tuple(f.value(0.5 * (f.low + f.high)) for f in space.factors)
    checks: list[tuple[str, tuple[float, ...]]] = []
    for i, factor in enumerate(space.factors):
        for end, value in (("low", factor.low), ("high", factor.high)):
            changed = (*mid[:i], value, *mid[i + 1 :])
            checks.append((f"{factor.label} at its {end} bound {value:g}", changed))
    checks.append(("all factors at their low bounds", tuple(f.low for f in space.factors)))
    checks.append(("all factors at their high bounds", tuple(f.high for f in space.factors)))
    return checks


def _check_extremes(space: FactorSpace, scenario: Scenario, source: str) -> None:
    """Refuse factors whose bounds make the scenario invalid (e.g. zero supervisor hours)."""
    base = scenario.to_toml_dict()
    for what, values in extreme_points(space):
        try:
            apply_point(base, space, values, source="scenario")
        except PeersimInputError as error:
            raise FactorsError(
                f"{source}: with {what}, the scenario {scenario.name!r} is invalid: {error}. "
                "Narrow the factor's bounds."
            ) from None


# --------------------------------------------------------------------------- messages


_EXPECTED: dict[str, str] = {
    "name": "a string",
    "label": "a string",
    "description": "a string",
    "sites": 'a site name, "all", or a list of site names',
    "low": "a number",
    "high": "a number",
    "factors": "an array of [[factors]] tables",
}


def _file_path(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Keep the file's own key path; drop pydantic's tags of union members after it."""
    return loc[:3] if loc[:1] == ("factors",) and len(loc) >= 3 else loc[:1]


def _no_factors(problem: Problem) -> str | None:
    if problem.kind == "too_short" and problem.key == "factors":
        return f"{problem.path}: at least one factor is required ([[factors]] tables)"
    return None


def _wrong_type(problem: Problem) -> str | None:
    if str(problem.key) in _EXPECTED and problem.kind.endswith("_type"):
        return f"{problem.path}: must be {_EXPECTED[str(problem.key)]}, got {problem.shown}"
    return None


FACTORS_RULES = (_no_factors, _wrong_type)
"""Messages of factors files: at least one factor, and what each key must be."""
