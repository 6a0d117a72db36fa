"""Everything ``peersim discover`` reads, parsed and checked: the site, the factors and the target.

Nothing here runs the model, so bad input fails in well under a second.

Site
----
One site in service mode, as ``peersim plan`` reads it
(:func:`peersim.planning.inputs.load_planning_site`); without one, the packaged
copy of ``scenarios/new_site_example.toml``. Its raw TOML data is kept, so a
posterior still draws every mechanism strength the file does not set.

Factors file
------------
The format of ``peersim sensitivity``'s factors files
(:mod:`peersim.sensitivity.inputs`: ``[[factors]]`` tables with ``name``,
optional ``low``/``high`` defaulting to the declared bounds, ``label``,
``sites``, ``description``), read by the same parser and with the same
messages, plus one name that only discovery takes:

* ``geography``: a categorical factor, ``urban`` or ``rural``, each with
  probability one half. In the model geography acts only through travel, so it
  sets the site's geography **and** its travel time to the typical value of
  that geography (15 min one way urban, 45 rural;
  :data:`peersim.core.scenario.DEFAULT_TRAVEL_MINUTES`), replacing the site's
  own. It takes no bounds, and cannot be varied together with
  ``travel_minutes_one_way`` (vary one or the other).

``host`` is the other categorical factor (``nhs`` or ``not_for_profit``,
each with probability one half), as in sensitivity analysis. Integer parameters
(``n_peer_workers``, ``team_prep_sessions``, ``caseload_cap``, ...) are rounded,
each whole value in ``[low, high]`` equally likely. Mechanism strengths may be
factors too: a mechanism strength set by a factor is not drawn from the
posterior (values a scenario sets win over the posterior's).

A ``dummy`` factor that no parameter reads is always added to the design (the
label is reserved): PRIM sees it like any other factor, and a box that
restricts it is fitting noise (see :mod:`peersim.discovery.analysis`).

Every failure raises :class:`~peersim.sensitivity.inputs.FactorsError` naming
the file and the key path (``factors[2].high``) and, for numbers, the allowed
range.

Target
------
``METRIC>=VALUE`` or ``METRIC<=VALUE``, parsed by
:func:`peersim.planning.inputs.parse_target` (so the metrics are those a plan's
target may name, :data:`~peersim.planning.inputs.TARGET_METRICS`). A run *misses*
the target when its value is on the wrong side, or missing (e.g. fidelity when
no session was delivered), as for a plan.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from peersim.core.scenario import DEFAULT_TRAVEL_MINUTES, Scenario
from peersim.core.scenario_files import scenario_from_dict
from peersim.errors import PeersimInputError
from peersim.io.files import parse_toml, read_text_file
from peersim.io.inputs import problems_error
from peersim.planning.inputs import (
    DEFAULT_SITE_RESOURCE,
    PlanningSite,
    default_site,
    load_site,
    planning_site,
)
from peersim.sensitivity.inputs import (
    DUMMY,
    GROUP_SHARES,
    HOST,
    HOST_LEVELS,
    Factor,
    FactorEntry,
    FactorsError,
    FactorSpace,
    _build_entry,
    _check_labels_and_overlaps,
    _site_value,
    extreme_points,
    validate_factors_file,
)
from peersim.sensitivity.inputs import valid_names as sensitivity_names

__all__ = [
    "CATEGORIES",
    "DEFAULT_FACTORS_RESOURCE",
    "DEFAULT_SITE_RESOURCE",
    "DEFAULT_TARGET",
    "DUMMY",
    "GEOGRAPHY",
    "FactorsError",
    "as_planning_site",
    "categories_of",
    "default_factors",
    "default_site",
    "discovery_only",
    "load_factors",
    "load_site",
    "parse_factors",
    "scenario_at",
]

DEFAULT_FACTORS_RESOURCE = "discover_factors_default.toml"
"""Packaged copy of ``scenarios/discover_factors_default.toml`` (used when no factors file is given)."""
DEFAULT_TARGET = "engagement_rate>=0.5"
"""Target used when none is given."""

GEOGRAPHY = "geography"
"""The categorical geography factor (discovery only): 0 = ``"urban"``, 1 = ``"rural"``."""
GEOGRAPHY_LEVELS: tuple[str, str] = ("urban", "rural")
"""Geography of each level of the ``geography`` factor (0, 1)."""
CATEGORIES: dict[str, tuple[str, str]] = {HOST: HOST_LEVELS, GEOGRAPHY: GEOGRAPHY_LEVELS}
"""The categorical factors and their two levels, in code order (0, 1)."""


# --------------------------------------------------------------------------- the site


def as_planning_site(site: Scenario | PlanningSite) -> PlanningSite:
    """Return ``site`` as a :class:`~peersim.planning.inputs.PlanningSite`.

    A :class:`~peersim.core.scenario.Scenario` keeps, of its mechanism strengths,
    only those it sets explicitly, so that a posterior still draws the others.

    Raises
    ------
    peersim.errors.ScenarioError
        For several sites or trial mode.
    """
    if isinstance(site, PlanningSite):
        return site
    data = site.to_toml_dict()
    explicit = site.mechanisms.model_fields_set
    data["mechanisms"] = {k: v for k, v in data.get("mechanisms", {}).items() if k in explicit}
    return planning_site(site, data, f"<scenario {site.name}>")


# --------------------------------------------------------------------------- factors


def default_factors_text() -> str:
    """Return the TOML text of the packaged default factors file of discovery."""
    return resources.files("peersim.data").joinpath(DEFAULT_FACTORS_RESOURCE).read_text("utf-8")


def default_factors(site: PlanningSite) -> FactorSpace:
    """Build the packaged default factors (``scenarios/discover_factors_default.toml``) against ``site``."""
    return parse_factors(default_factors_text(), site, source=f"<embedded {DEFAULT_FACTORS_RESOURCE}>")


def load_factors(path: str | Path | None, site: PlanningSite) -> FactorSpace:
    """Read a factors file and build its factor space against ``site``; ``None`` for the default.

    Raises
    ------
    FactorsError
        If the file is missing, unreadable, malformed or invalid; the message
        names the file and the key path.
    """
    if path is None:
        return default_factors(site)
    return parse_factors(read_text_file(path, FactorsError), site, source=str(path))


def parse_factors(text: str, site: PlanningSite, source: str = "<factors>") -> FactorSpace:
    """Parse, validate and build factors TOML text against ``site``; ``source`` names it in messages."""
    data = parse_toml(text, source, FactorsError)
    space = factors_from_dict(data, site, source)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return FactorSpace(space.factors, space.source, space.description, digest)


def discovery_only(data: dict[str, Any]) -> bool:
    """Whether parsed factors data names a factor only discovery takes (``geography``)."""
    entries = data.get("factors")
    if not isinstance(entries, list):
        return False
    return any(isinstance(entry, dict) and entry.get("name") == GEOGRAPHY for entry in entries)


def factors_from_dict(data: dict[str, Any], site: PlanningSite, source: str = "<factors>") -> FactorSpace:
    """Validate plain data shaped like a factors file and build it against ``site``.

    Raises
    ------
    FactorsError
        Listing every problem found, each with its key path.
    """
    parsed = validate_factors_file(data, source)
    problems: list[str] = []
    factors: list[Factor] = []
    scenario = site.scenario
    site_names = [s.name for s in scenario.sites]
    names = valid_names()
    for i, entry in enumerate(parsed.factors):
        path = f"factors[{i}]"
        if entry.name == GEOGRAPHY:
            factor = _geography(entry, path, site_names, scenario.name, problems)
        elif entry.name not in names and entry.name not in GROUP_SHARES:
            problems.append(
                f"{path}.name: unknown factor {entry.name!r}; valid names are: {', '.join(names)}"
            )
            factor = None
        else:
            factor = _build_entry(entry, path, site_names, scenario.name, problems)
        if factor is not None:
            factors.append(factor)
    problems += _check_labels_and_overlaps(parsed.factors, factors)
    problems += _geography_with_travel(parsed.factors)
    if problems:
        raise problems_error(problems, source, "factors file", FactorsError)
    space = FactorSpace(tuple(factors), source=source, description=parsed.description)
    _check_extremes(site, space, source)
    return space


def _geography(
    entry: FactorEntry, path: str, site_names: list[str], scenario_name: str, problems: list[str]
) -> Factor | None:
    before = len(problems)
    for key in ("low", "high"):
        if getattr(entry, key) is not None:
            problems.append(
                f"{path}.{key}: {GEOGRAPHY} is a categorical factor (urban or rural, each with probability "
                "one half) and takes no bounds"
            )
    label = entry.label if entry.label is not None else GEOGRAPHY
    if label == DUMMY:
        problems.append(f"{path}.label: {DUMMY!r} is reserved for the dummy factor every analysis adds")
    sites = tuple(site_names)
    if entry.sites is not None and entry.sites != "all":
        names = [entry.sites] if isinstance(entry.sites, str) else list(entry.sites)
        missing = [n for n in names if n not in site_names]
        if missing or not names:
            problems.append(
                f"{path}.sites: {', '.join(repr(n) for n in missing) or 'empty list'} not in scenario "
                f"{scenario_name!r}; its sites are: {', '.join(site_names)}"
            )
        sites = tuple(names)
    if len(problems) > before:
        return None
    return Factor(label, GEOGRAPHY, 0.0, 1.0, "binary", "site", sites, "0 = urban, 1 = rural")


def _geography_with_travel(entries: Sequence[FactorEntry]) -> list[str]:
    names = [entry.name for entry in entries]
    if GEOGRAPHY in names and "travel_minutes_one_way" in names:
        urban, rural = DEFAULT_TRAVEL_MINUTES["urban"], DEFAULT_TRAVEL_MINUTES["rural"]
        where = ", ".join(
            f"factors[{i}]" for i, n in enumerate(names) if n in (GEOGRAPHY, "travel_minutes_one_way")
        )
        return [
            f"{where}: geography acts in the model only through travel time (it sets travel to "
            f"{urban:g} min one way urban, {rural:g} rural); vary travel_minutes_one_way or geography, "
            "not both"
        ]
    return []


def categories_of(factor: Factor) -> tuple[str, str] | None:
    """Return the levels of a categorical factor (``host``, ``geography``) in code order, else ``None``."""
    return CATEGORIES.get(factor.name) if factor.kind == "binary" else None


def scenario_at(
    site: PlanningSite, space: FactorSpace, values: Sequence[float], source: str = "<discover>"
) -> Scenario:
    """Return the site's scenario with applied factor ``values`` set, validated again.

    Parameters
    ----------
    site
        The site; its raw data is copied, not modified.
    space
        The factors ``values`` belong to.
    values
        Applied values, one per factor (rounded where needed: :meth:`FactorSpace.values`);
        a categorical factor's value is its level's code (0 or 1).
    source
        Names the point in validation messages.

    Raises
    ------
    peersim.errors.ScenarioError
        If the point gives an invalid scenario.
    """
    data = copy.deepcopy(site.data)
    mechanisms = dict(data.get("mechanisms") or {})
    for factor, value in zip(space.factors, values, strict=True):
        if factor.scope == "mechanism":
            mechanisms[factor.name] = float(value)
            continue
        for table in data["sites"]:
            if table["name"] not in factor.sites:
                continue
            if factor.name == GEOGRAPHY:
                level = GEOGRAPHY_LEVELS[int(value)]
                table[GEOGRAPHY] = level
                table["travel_minutes_one_way"] = DEFAULT_TRAVEL_MINUTES[level]
            else:
                table[factor.name] = _site_value(factor, value)
    if mechanisms:
        data["mechanisms"] = mechanisms
    return scenario_from_dict(data, source=source)


def _check_extremes(site: PlanningSite, space: FactorSpace, source: str) -> None:
    """Refuse factors whose bounds make the site invalid (e.g. no supervisor hours), as sensitivity does."""
    for what, values in extreme_points(space):
        try:
            scenario_at(site, space, values, source="scenario")
        except PeersimInputError as error:
            raise FactorsError(
                f"{source}: with {what}, the site {site.site.name!r} ({site.source}) is invalid: {error}. "
                "Narrow the factor's bounds."
            ) from None


def valid_names() -> list[str]:
    """Names a discovery factor may vary: those of sensitivity analysis, and ``geography``."""
    names = sensitivity_names()
    return [*names[: names.index(HOST) + 1], GEOGRAPHY, *names[names.index(HOST) + 1 :]]
