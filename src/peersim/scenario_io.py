"""Read scenario files: parse TOML, then validate, then build a :class:`Scenario`.

Every failure becomes a :class:`~peersim.errors.ScenarioError` whose message names
the file and the key path (for example ``sites[1].caseload_cap``) and, for numbers,
the allowed range from :mod:`peersim.parameters`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from peersim.errors import ScenarioError
from peersim.parameters import ALL_PARAMS
from peersim.scenario import Scenario
from peersim.toml_io import parse_toml, read_text_file

DEFAULT_SCENARIO_RESOURCE = "enrich_trial.toml"


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
        lines = [_describe(err, data) for err in error.errors() if not _follows_site_error(err)]
        header = f"{source}: invalid scenario"
        if len(lines) == 1:
            raise ScenarioError(f"{source}: {lines[0]}") from None
        raise ScenarioError(header + "\n" + "\n".join(f"  - {line}" for line in lines)) from None


def _follows_site_error(err: Any) -> bool:
    """Whether ``err`` is pydantic's echo of an invalid site, not a problem of its own.

    Pydantic checks the length of ``sites`` after dropping invalid items, so one bad
    site also yields "too short" although the file has sites; that error is
    already reported at the site's own key path.
    """
    given = err.get("input")
    return (
        err["type"] == "too_short"
        and tuple(err["loc"]) == ("sites",)
        and isinstance(given, (list, tuple))
        and len(given) > 0
    )


def default_scenario_text() -> str:
    """Return the TOML text of the embedded default scenario (the ENRICH-like trial)."""
    return resources.files("peersim.data").joinpath(DEFAULT_SCENARIO_RESOURCE).read_text("utf-8")


def default_scenario() -> Scenario:
    """Return the embedded default scenario: 7 ENRICH-like sites, about 590 participants."""
    return parse_scenario(default_scenario_text(), source=f"<embedded {DEFAULT_SCENARIO_RESOURCE}>")


def format_path(loc: tuple[int | str, ...], data: Any = None) -> str:
    """Format a pydantic location as a key path, e.g. ``sites[1].caseload_cap``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    site = _site_name(loc, data)
    if site is not None:
        text += f' (site "{site}")'
    return text or "<top level>"


def _site_name(loc: tuple[int | str, ...], data: Any) -> str | None:
    if len(loc) >= 2 and loc[0] == "sites" and isinstance(loc[1], int) and isinstance(data, dict):
        sites = data.get("sites")
        if isinstance(sites, list) and loc[1] < len(sites) and isinstance(sites[loc[1]], dict):
            name = sites[loc[1]].get("name")
            return name if isinstance(name, str) else None
    return None


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """Return the pydantic model that holds the keys found at ``loc``."""
    model: type[BaseModel] = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            model = inner
        else:
            return None
    return model


def _describe(err: Any, data: Any) -> str:
    loc: tuple[int | str, ...] = tuple(err["loc"])
    kind: str = err["type"]
    given = err.get("input")
    path = format_path(loc, data)
    key = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        holder = _model_at(loc[:-1])
        valid = ", ".join(holder.model_fields) if holder else "(none)"
        return f"{path}: unknown key {key!r}; valid keys here are: {valid}"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        spec = ALL_PARAMS.get(str(key))
        allowed = spec.range_text if spec else err["msg"].lower()
        return f"{path}: {given!r} is out of range; allowed {allowed}"
    if kind == "too_short" and key == "sites":
        return f"{path}: at least one site is required ([[sites]] tables)"
    if kind == "string_pattern_mismatch":
        return (
            f"{path}: {given!r} is not a valid name; use a letter then letters, "
            "digits, '_' or '-' (at most 40 characters)"
        )
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind in {"value_error", "assertion_error"}:
        return f"{path}: {message}"
    shown = repr(given)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{path}: {message}, got {shown}"
