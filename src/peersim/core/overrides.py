"""Overrides of scenario keys, ``SITE.KEY=VALUE`` (``peersim run --set``, ``load_source(path, sets)``).

An override edits the *raw* TOML data before validation, so a value set on the
command line meets exactly the checks, and gets exactly the error messages, it
would get in a file. Key paths:

* ``SITE.KEY``: a key of the site called ``SITE`` (e.g. ``low.supervisor_hours_per_week=10``);
  ``sites.SITE.KEY`` says the same when a site is named like a section;
* ``SECTION.KEY``: a key of ``[horizon]``, ``[protocol]``, ``[mechanisms]`` or
  ``[switches]`` (e.g. ``mechanisms.rel_supervision=0.3``,
  ``horizon.recruitment_weeks=20``, ``switches.capacity=false``);
* ``KEY``: a top-level key (``name``, ``description``, ``mode``).

``VALUE`` is read as a TOML value (``10``, ``0.3``, ``true``, ``"text"``); a bare
word that is not TOML (``nhs``, ``rural``) is taken as a string.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peersim.core.scenario import Scenario
from peersim.core.scenario_files import (
    DEFAULT_SCENARIO_SOURCE,
    default_scenario_text,
    parse_scenario,
    scenario_from_dict,
)
from peersim.errors import ScenarioError
from peersim.io.files import parse_toml, read_text_file

SECTIONS = ("horizon", "protocol", "mechanisms", "switches")
"""Tables of a scenario file that hold keys directly."""
TOP_LEVEL_KEYS = ("name", "description", "mode")
"""Top-level keys that are plain values."""


@dataclass(frozen=True)
class Override:
    """One parsed ``PATH=VALUE`` override: the key path, the value and the text given."""

    path: tuple[str, ...]
    value: Any
    text: str


def parse_override(text: str) -> Override:
    """Parse ``PATH=VALUE``.

    Raises
    ------
    ScenarioError
        If there is no ``=``, the path is empty or has an empty part, or the text
        holds a line break or another unprintable character.
    """
    if not text.isprintable():  # later messages quote the text, and must stay on one line
        raise ScenarioError(
            f"`sets` {text!r}: holds a line break or another unprintable character; "
            "give KEY=VALUE on one line"
        )
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(
            f"`sets` {text}: expected KEY=VALUE, for example low.supervisor_hours_per_week=10 "
            "or mechanisms.rel_supervision=0.3"
        )
    path = tuple(part.strip() for part in key.split("."))
    if any(not part for part in path):
        raise ScenarioError(f"`sets` {text}: empty part in key path {key!r}")
    raw = raw.strip()
    if not raw:
        raise ScenarioError(f"`sets` {text}: no value after '='")
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word such as nhs or rural
    return Override(path, value, text)


def apply_overrides(
    data: dict[str, Any], overrides: Sequence[Override], source: str = "<scenario>"
) -> dict[str, Any]:
    """Return a copy of raw scenario data with ``overrides`` applied in order.

    ``source`` names the scenario in error messages.

    Only the location is checked here (an unknown site or section is refused);
    keys and values are left to scenario validation, which names the key path.

    Raises
    ------
    ScenarioError
        If a path names no site, section or top-level key, or two overrides set
        the same key.
    """
    out = copy.deepcopy(data)
    given: dict[tuple[int, str], Override] = {}
    for override in overrides:
        holder, key = _locate(out, override, source)
        earlier = given.setdefault((id(holder), key), override)
        if earlier is not override:
            raise ScenarioError(
                f"{source} with `sets` {override.text}: the same key is already set by "
                f"`sets` {earlier.text}; give each key once"
            )
        holder[key] = override.value
    return out


def _site_names(data: dict[str, Any]) -> list[str]:
    sites = data.get("sites")
    if not isinstance(sites, list):
        return []
    return [s["name"] for s in sites if isinstance(s, dict) and isinstance(s.get("name"), str)]


def _site_table(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    for site in data.get("sites") or []:
        if isinstance(site, dict) and site.get("name") == name:
            return site
    return None


def _locate(data: dict[str, Any], override: Override, source: str) -> tuple[dict[str, Any], str]:
    path = override.path
    given = f"{source} with `sets` {override.text}"
    sites = _site_names(data)
    where = (
        f"sites are: {', '.join(sites) or '(none)'}; sections are: {', '.join(SECTIONS)}; "
        f"top-level keys are: {', '.join(TOP_LEVEL_KEYS)}"
    )
    if len(path) == 1:
        if path[0] in TOP_LEVEL_KEYS:
            return data, path[0]
        raise ScenarioError(f"{given}: {path[0]!r} is not a top-level key; {where}")
    if len(path) == 3 and path[0] == "sites":
        site, key = path[1], path[2]
    elif len(path) == 2 and path[0] in SECTIONS:
        if path[0] in sites:
            raise ScenarioError(
                f"{given}: {path[0]!r} is both a section and a site name; "
                f"write sites.{path[0]}.{path[1]} for the site"
            )
        section = data.setdefault(path[0], {})
        if not isinstance(section, dict):
            raise ScenarioError(f"{given}: {path[0]} is not a table in the scenario")
        return section, path[1]
    elif len(path) == 2:
        site, key = path
    else:
        raise ScenarioError(f"{given}: key path {'.'.join(path)!r} is not SITE.KEY; {where}")
    table = _site_table(data, site)
    if table is None:
        raise ScenarioError(f"{given}: no site or section {site!r}; {where}")
    return table, key


@dataclass(frozen=True)
class ScenarioSource:
    """A validated scenario together with where it came from.

    Attributes
    ----------
    scenario
        The validated scenario, overrides applied.
    text
        The file's TOML text, as written (before overrides).
    source
        The file name, or ``<embedded enrich_trial.toml>``.
    overrides
        The ``PATH=VALUE`` override texts applied, in order.
    """

    scenario: Scenario
    text: str
    source: str
    overrides: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Short name: the file stem, with ``+set`` when overridden."""
        stem = Path(self.source).stem if not self.source.startswith("<") else self.scenario.name
        return f"{stem}+set" if self.overrides else stem


def load_source(path: Path | None, sets: Sequence[str] = ()) -> ScenarioSource:
    """Read a scenario file (or the embedded default) and apply ``PATH=VALUE`` overrides.

    Parameters
    ----------
    path
        Scenario TOML file, or ``None`` for the embedded default.
    sets
        ``PATH=VALUE`` texts, applied in order.

    Raises
    ------
    ScenarioError
        For a missing or malformed file, a malformed or misplaced override, or a
        scenario that fails validation; the message names the file, the
        override texts and the key path.
    """
    if path is None:
        text, source = default_scenario_text(), DEFAULT_SCENARIO_SOURCE
    else:
        text, source = read_text_file(path, ScenarioError), str(path)
    return source_with_sets(text, source, sets)


def source_with_sets(text: str, source: str, sets: Sequence[str] = ()) -> ScenarioSource:
    """Validate a scenario's TOML text with ``PATH=VALUE`` overrides applied, as :func:`load_source` does.

    Parameters
    ----------
    text
        The scenario file's TOML text.
    source
        Its file name, for messages.
    sets
        ``PATH=VALUE`` texts, applied in order.

    Raises
    ------
    ScenarioError
        As :func:`load_source` (the same checks and messages).
    """
    if not sets:
        return ScenarioSource(parse_scenario(text, source=source), text, source)
    data = parse_toml(text, source, ScenarioError)
    overrides = [parse_override(item) for item in sets]
    named = f"{source} with `sets` {' '.join(sets)}"
    scenario = scenario_from_dict(apply_overrides(data, overrides, source), source=named)
    return ScenarioSource(scenario, text, source, tuple(sets))
