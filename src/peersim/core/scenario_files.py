"""Read scenario files: parse TOML, then validate, then build a :class:`Scenario`.

Every failure becomes a :class:`~peersim.errors.ScenarioError` whose message names
the file and the key path (for example ``sites[1].caseload_cap``) and, for numbers,
the allowed range from :mod:`peersim.core.parameters`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from peersim.core.parameters import ALL_PARAMS
from peersim.core.scenario import Scenario
from peersim.errors import ScenarioError
from peersim.io.files import parse_toml, read_text_file
from peersim.io.inputs import RANGE_KINDS, Problem, humanise

DEFAULT_SCENARIO_RESOURCE = "enrich_trial.toml"
DEFAULT_SCENARIO_SOURCE = f"<embedded {DEFAULT_SCENARIO_RESOURCE}>"
"""How the embedded default scenario is named in messages and records."""


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path
        A TOML scenario file.

    Returns
    -------
    Scenario
        The validated, frozen scenario.

    Raises
    ------
    ScenarioError
        If the file is missing or unreadable, is not valid TOML, or fails
        validation. The message names the file and the key path.
    """
    return parse_scenario(read_text_file(path, ScenarioError), source=str(path))


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate scenario TOML text; ``source`` names it in error messages."""
    return scenario_from_dict(parse_toml(text, source, ScenarioError), source=source)


def scenario_from_dict(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate plain data shaped like a scenario file."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise humanise(
            error, source, Scenario, "scenario", data=data, rules=SCENARIO_RULES, error_class=ScenarioError
        ) from None


def default_scenario_text() -> str:
    """Return the TOML text of the embedded default scenario (the ENRICH-like trial)."""
    return resources.files("peersim.data").joinpath(DEFAULT_SCENARIO_RESOURCE).read_text("utf-8")


def default_scenario() -> Scenario:
    """Return the embedded default scenario: 7 ENRICH-like sites, about 590 participants."""
    return parse_scenario(default_scenario_text(), source=DEFAULT_SCENARIO_SOURCE)


def _declared_range(problem: Problem) -> str | None:
    if problem.kind not in RANGE_KINDS:
        return None
    spec = ALL_PARAMS.get(str(problem.key))
    allowed = spec.range_text if spec else problem.message.lower()
    return f"{problem.path}: {problem.given!r} is out of range; allowed {allowed}"


def _no_sites(problem: Problem) -> str | None:
    if problem.kind == "too_short" and problem.key == "sites":
        return f"{problem.path}: at least one site is required ([[sites]] tables)"
    return None


def _site_name(problem: Problem) -> str | None:
    if problem.kind == "string_pattern_mismatch":
        return (
            f"{problem.path}: {problem.given!r} is not a valid name; use a letter then letters, "
            "digits, '_' or '-' (at most 40 characters)"
        )
    return None


SCENARIO_RULES = (_declared_range, _no_sites, _site_name)
"""Messages of scenario files: declared ranges, at least one site, valid site names."""
