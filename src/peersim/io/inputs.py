"""Validated input files: one strict base model and one humaniser of validation errors.

Every kind of input file (scenario, targets, factors, costs) is a tree of
:class:`StrictModel` subclasses: unknown keys are refused, values are not
coerced, and the validated result is frozen. :func:`humanise` turns pydantic's
:class:`~pydantic.ValidationError` into one :class:`~peersim.errors.PeersimInputError`
whose message names the file, the key path (``sites[1].caseload_cap``) and what
is wrong, listing the valid keys for an unknown one. Each kind of file may add
:data:`Rule` s for messages of its own (allowed ranges, reserved names).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from peersim.errors import PeersimInputError


class StrictModel(BaseModel):
    """Base of every input model: unknown keys refused, no coercion, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


@dataclass(frozen=True)
class Problem:
    """One pydantic error, with what a message needs.

    Attributes
    ----------
    kind
        Pydantic's error type, e.g. ``"missing"`` or ``"less_than_equal"``.
    loc
        Key path of the error.
    path
        The key path as text, e.g. ``sites[1].caseload_cap (site "low")``.
    key
        The last part of the path (``""`` at the top level).
    given
        The offending value, if pydantic reports one.
    message
        Pydantic's message without its ``"Value error, "`` prefix.
    """

    kind: str
    loc: tuple[int | str, ...]
    path: str
    key: int | str
    given: Any
    message: str

    @property
    def shown(self) -> str:
        """The offending value as short text (at most 60 characters)."""
        text = repr(self.given)
        return text if len(text) <= 60 else text[:57] + "..."


Rule = Callable[[Problem], str | None]
"""A message of a file's own for a problem, or ``None`` to leave it to the general rules."""

RANGE_KINDS = frozenset({"greater_than_equal", "less_than_equal", "greater_than", "less_than"})
"""Pydantic error types of a number outside its bounds."""


def format_path(loc: Sequence[int | str], data: Any = None) -> str:
    """Format a key path, e.g. ``sites[1].caseload_cap``, naming the site when ``data`` has it."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    site = _site_name(tuple(loc), data)
    if site is not None:
        text += f' (site "{site}")'
    return text or "<top level>"


def humanise(
    error: ValidationError,
    source: str,
    root: type[BaseModel],
    what: str,
    *,
    data: Any = None,
    rules: Sequence[Rule] = (),
    trim: Callable[[tuple[int | str, ...]], tuple[int | str, ...]] | None = None,
    error_class: type[PeersimInputError] = PeersimInputError,
) -> PeersimInputError:
    """Return the input error to raise for a validation error of the file ``source``.

    Parameters
    ----------
    error
        What pydantic raised.
    source
        The file name (or ``<embedded ...>``), which starts the message.
    root
        The model of the whole file, whose fields list the valid keys.
    what
        The kind of file, for the header of a message with several problems
        (``"scenario"`` gives ``"invalid scenario"``).
    data
        The raw data validated; names the site of a ``sites[i]`` key path.
    rules
        Messages of the file's own, tried in order before the general ones.
    trim
        Shortens a key path (e.g. drops pydantic's tags of union members).
    error_class
        The exception class returned.

    Returns
    -------
    PeersimInputError
        One line for one problem; a header and one line per problem otherwise.
    """
    lines: list[str] = []
    for err in error.errors():
        if _echo_of_bad_item(err):
            continue
        loc: tuple[int | str, ...] = tuple(err["loc"])
        if trim is not None:
            loc = trim(loc)
        problem = Problem(
            kind=str(err["type"]),
            loc=loc,
            path=format_path(loc, data),
            key=loc[-1] if loc else "",
            given=err.get("input"),
            message=str(err["msg"]).removeprefix("Value error, "),
        )
        line = next((text for rule in rules if (text := rule(problem)) is not None), None)
        if line is None:
            line = _general(problem, root)
        if line not in lines:  # a union type reports one error per member
            lines.append(line)
    return problems_error(lines, source, what, error_class)


def problems_error(
    lines: Sequence[str], source: str, what: str, error_class: type[PeersimInputError] = PeersimInputError
) -> PeersimInputError:
    """One error for the problems found in the file ``source``: one line, or a header and a list."""
    if len(lines) == 1:
        return error_class(f"{source}: {lines[0]}")
    return error_class(f"{source}: invalid {what}\n" + "\n".join(f"  - {line}" for line in lines))


def _general(problem: Problem, root: type[BaseModel]) -> str:
    path = problem.path
    if problem.kind == "extra_forbidden":
        holder = model_at(root, problem.loc[:-1])
        valid = ", ".join(holder.model_fields) if holder is not None else "(none)"
        return f"{path}: unknown key {problem.key!r}; valid keys here are: {valid}"
    if problem.kind == "missing":
        return f"{path}: required key is missing"
    if problem.kind in {"value_error", "assertion_error"}:
        return f"{path}: {problem.message}"
    return f"{path}: {problem.message}, got {problem.shown}"


def model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """Return the model that holds the keys found at key path ``loc`` of a ``root`` file."""
    model: type[BaseModel] = root
    in_mapping = False
    for part in loc:
        if isinstance(part, int):
            continue
        if in_mapping:  # a key of a table of models, e.g. levers.host
            in_mapping = False
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        inner = _model_in(field.annotation)
        if inner is None:
            return None
        model, in_mapping = inner
    return None if in_mapping else model


def _model_in(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """Find the model inside an annotation (``X``, ``X | None``, ``tuple[X, ...]``, ``dict[str, X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is dict and len(args) == 2:
        found = _model_in(args[1])
        return (found[0], True) if found is not None else None
    if origin in (tuple, list, Union, types.UnionType):
        for arg in args:
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _echo_of_bad_item(err: Any) -> bool:
    """Whether ``err`` is pydantic's "too short" echo of a list whose bad items are reported already.

    Pydantic checks the length of a list after dropping its invalid items, so
    one bad item also yields "too short" although the file has items; that
    problem is reported at the item's own key path.
    """
    given = err.get("input")
    return err["type"] == "too_short" and isinstance(given, list | tuple) and len(given) > 0


def _site_name(loc: tuple[int | str, ...], data: Any) -> str | None:
    if len(loc) >= 2 and loc[0] == "sites" and isinstance(loc[1], int) and isinstance(data, dict):
        sites = data.get("sites")
        if isinstance(sites, list) and loc[1] < len(sites) and isinstance(sites[loc[1]], dict):
            name = sites[loc[1]].get("name")
            return name if isinstance(name, str) else None
    return None
