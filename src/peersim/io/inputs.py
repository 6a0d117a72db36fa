"""Validated input files: one strict base model and one humaniser of validation errors.

Every kind of input file (scenario, targets, factors, costs) is a tree of
:class:`StrictModel` subclasses: unknown keys are refused, values are not
coerced, numbers must be finite (``nan`` and ``inf`` are refused), and the
validated result is frozen. :func:`humanise` turns pydantic's
:class:`~pydantic.ValidationError` into one :class:`~peersim.errors.PeersimInputError`
whose message names the file, the key path (``sites[1].caseload_cap``) and what
is wrong, listing the valid keys for an unknown one. Each kind of file may add
:data:`Rule` s for messages of its own (allowed ranges, reserved names).

Messages speak of the file, not of pydantic: values appear as they are written
in TOML (:func:`shown_value`: ``nan``, ``1.5``, ``'text'``, never
``np.float64(nan)``), keys as TOML quotes them (:func:`toml_key`), a value that
is not a finite number says so (``is not a number (nan)``, ``must be finite,
got inf``) before any range check, a wrong type says what the value must be
(``must be a number or a string``, once per value even for a union type), and a
list that is too short says how many values it must list.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from peersim.errors import PeersimInputError


class StrictModel(BaseModel):
    """Base of every input model: unknown keys refused, no coercion, finite numbers only, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


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
        The offending value, if pydantic reports one, as plain Python data
        (a numpy number becomes a ``float`` or ``int``, see :func:`plain`).
    message
        Pydantic's message without its ``"Value error, "`` prefix.
    context
        Pydantic's details of the error (``min_length``, ``max_length``, ...).
    """

    kind: str
    loc: tuple[int | str, ...]
    path: str
    key: int | str
    given: Any
    message: str
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        """The offending value as short text (at most 60 characters, see :func:`shown_value`)."""
        return shown_value(self.given)


def check_count(value: Any, term: str, at_least: int, reason: str = "") -> int:
    """Return ``value`` if it is a whole number of at least ``at_least`` (a count of runs, draws...).

    Raises
    ------
    PeersimInputError
        Naming ``term`` (an argument's name, shown in backquotes) and, for too
        small a value, why the least is what it is (``reason``, e.g. "for an interval").
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise PeersimInputError(f"`{term}` must be a whole number, got {value!r}")
    if value < at_least:
        why = f" {reason}" if reason else ""
        raise PeersimInputError(f"`{term}` must be at least {at_least}{why}, got {value}")
    return value


def plain(value: Any) -> Any:
    """Return ``value`` as plain Python data: numpy scalars become ``float``/``int``/``bool``/``str``.

    Lists, tuples and dicts are converted item by item; anything else is returned as is.
    """
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    if isinstance(value, list | tuple):
        return type(value)(plain(item) for item in value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def shown_value(value: Any, limit: int = 60) -> str:
    """Show a value in a message as it is written in a TOML file, in at most ``limit`` characters.

    Numbers appear plainly (``1.5``, ``nan``, ``-inf``, ``1e+308``, never
    ``np.float64(nan)``), text quoted (``'rural'``), dates and times as ISO
    8601, arrays as ``[1, 2]`` and tables as ``{key = 1}``; ``True`` and
    ``False`` as Python writes them, which reads the same for a TOML author.
    """
    text = _toml_text(plain(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _toml_text(value: Any) -> str:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(str(k))} = {_toml_text(v)}" for k, v in value.items()) + "}"
    return repr(value)


Rule = Callable[[Problem], str | None]
"""A message of a file's own for a problem, or ``None`` to leave it to the general rules."""

RANGE_KINDS = frozenset({"greater_than_equal", "less_than_equal", "greater_than", "less_than"})
"""Pydantic error types of a number outside its bounds."""


BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
"""A TOML key that needs no quotes."""

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_key(key: str) -> str:
    r"""Write a key as TOML does: bare (``caseload_cap``) or quoted with escapes (``"a b"``, ``"\n"``).

    A quoted key never holds a line break or another unprintable character, so a
    message naming it stays on one line.
    """
    if BARE_KEY.match(key):
        return key
    out = []
    for char in key:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def format_path(loc: Sequence[int | str], data: Any = None) -> str:
    """Format a key path, e.g. ``sites[1].caseload_cap``, naming the site when ``data`` has it.

    Keys that are not bare TOML keys are quoted as TOML quotes them (:func:`toml_key`).
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = toml_key(str(part))
            text += f".{key}" if text else key
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
        Messages of the file's own, tried in order before the general ones (a
        value that is not a finite number is reported before any of them, the
        same way in every file).
    trim
        Shortens a key path. Pydantic's tags of union members (``values[0].float``)
        are dropped before, and a union reports only the members the value could
        be (:func:`_collapse_unions`).
    error_class
        The exception class returned.

    Returns
    -------
    PeersimInputError
        One line for one problem; a header and one line per problem otherwise.
    """
    lines: list[str] = []
    for err in _collapse_unions([err for err in error.errors() if not _echo_of_bad_item(err)]):
        loc: tuple[int | str, ...] = tuple(err["loc"])
        if trim is not None:
            loc = trim(loc)
        problem = Problem(
            kind=str(err["type"]),
            loc=loc,
            path=format_path(loc, data),
            key=loc[-1] if loc else "",
            given=plain(err.get("input")),
            message=str(err["msg"]).removeprefix("Value error, "),
            context=dict(err.get("ctx") or {}),
        )
        line = next((text for rule in (_not_finite, *rules) if (text := rule(problem)) is not None), None)
        if line is None:
            line = _general(problem, root)
        if line not in lines:
            lines.append(line)
    return problems_error(lines, source, what, error_class)


def problems_error(
    lines: Sequence[str], source: str, what: str, error_class: type[PeersimInputError] = PeersimInputError
) -> PeersimInputError:
    """One error for the problems found in the file ``source``: one line, or a header and a list."""
    if len(lines) == 1:
        return error_class(f"{source}: {lines[0]}")
    return error_class(f"{source}: invalid {what}\n" + "\n".join(f"  - {line}" for line in lines))


UNION_TAG = re.compile(
    r"^(?:float|int|str|bool|bytes|none|"
    r"(?:list|tuple|dict|set|frozenset|literal|nullable|chain|is-instance|lax-or-strict|json-or-python|"
    r"function-(?:after|before|wrap|plain))\[.*\])$"
)
"""How pydantic names a member of a union type in a key path (``float``, ``list[str]``)."""

TYPE_KINDS: dict[str, str] = {
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "an array",
    "tuple_type": "an array",
    "set_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dataclass_type": "a table",
    "none_required": "absent",
}
"""Pydantic's errors of a value of the wrong type, and what the value must be instead, in TOML's words."""


def _union_at(err: Any) -> tuple[tuple[int | str, ...], str] | None:
    """Find the key path of the union an error belongs to, and the member's tag (``None`` outside one)."""
    loc = tuple(err["loc"])
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if index > 0 and isinstance(part, str) and UNION_TAG.match(part):
            if last and err["type"] == "extra_forbidden":  # an unknown key that looks like a tag
                return None
            return loc[:index], part
    return None


def _untagged(loc: Sequence[int | str]) -> tuple[int | str, ...]:
    return tuple(
        part
        for index, part in enumerate(loc)
        if not (index > 0 and isinstance(part, str) and UNION_TAG.match(part))
    )


def _expected(err: Any) -> str:
    if err["type"] == "literal_error":
        return str(err["msg"]).removeprefix("Input should be ")
    return TYPE_KINDS.get(str(err["type"]), str(err["msg"]).removeprefix("Input should be "))


def _collapse_unions(errors: Sequence[Any]) -> list[Any]:
    """Report a union by the members the value could be, without pydantic's member tags.

    Pydantic reports one error per member of a union type (``float | str``).
    A member whose only error is the value's type at the union's own key path
    does not apply; when some member does apply (the value is a number, but
    ``nan``), only its errors are kept; when none does, one ``union_type``
    error says what the value may be (``a number or a string``).
    """
    order: list[Any] = []
    members: dict[tuple[int | str, ...], dict[str, list[Any]]] = {}
    for err in errors:
        found = _union_at(err)
        if found is None:
            order.append(err)
            continue
        where, tag = found
        if where not in members:
            members[where] = {}
            order.append(where)
        members[where].setdefault(tag, []).append(err)
    out: list[Any] = []
    for item in order:
        if not isinstance(item, tuple):
            out.append(item)
            continue
        by_member = members[item]
        wrong = {
            tag
            for tag, errs in by_member.items()
            if len(errs) == 1
            and (errs[0]["type"] in TYPE_KINDS or errs[0]["type"] == "literal_error")
            and _untagged(errs[0]["loc"]) == item
        }
        applies = [err for tag, errs in by_member.items() if tag not in wrong for err in errs]
        if applies:
            out += [{**err, "loc": _untagged(err["loc"])} for err in applies]
            continue
        expected = list(dict.fromkeys(_expected(errs[0]) for errs in by_member.values()))
        first = next(iter(by_member.values()))[0]
        out.append(
            {
                "type": "union_type",
                "loc": item,
                "msg": f"Input should be {' or '.join(expected)}",
                "input": first.get("input"),
                "ctx": {"expected": " or ".join(expected)},
            }
        )
    return out


def _not_finite(problem: Problem) -> str | None:
    """Say that a number is ``nan`` or infinite, instead of "out of range" or "negative"."""
    given = problem.given
    if problem.kind == "finite_number" or (
        problem.kind in RANGE_KINDS and isinstance(given, float) and not math.isfinite(given)
    ):
        if isinstance(given, float) and math.isnan(given):
            return f"{problem.path}: is not a number (nan)"
        return f"{problem.path}: must be finite, got {problem.shown}"
    return None


def _count(n: int, noun: str) -> str:
    return f"{'one' if n == 1 else n} {noun}{'' if n == 1 else 's'}"


def _general(problem: Problem, root: type[BaseModel]) -> str:
    path, context = problem.path, problem.context
    if problem.kind == "extra_forbidden":
        holder = model_at(root, problem.loc[:-1])
        valid = ", ".join(holder.model_fields) if holder is not None else "(none)"
        return f"{path}: unknown key {problem.key!r}; valid keys here are: {valid}"
    if problem.kind == "missing":
        return f"{path}: required key is missing"
    if problem.kind in {"value_error", "assertion_error"}:
        return f"{path}: {problem.message}"
    noun = "entry" if isinstance(problem.given, dict) else "value"
    if problem.kind == "too_short" and "min_length" in context:
        return f"{path}: must list at least {_count(int(context['min_length']), noun)}, got {problem.shown}"
    if problem.kind == "too_long" and "max_length" in context:
        return f"{path}: must list at most {_count(int(context['max_length']), noun)}, got {problem.shown}"
    if problem.kind == "string_too_short" and "min_length" in context:
        least = int(context["min_length"])
        return (
            f"{path}: must not be empty" if least == 1 else f"{path}: must have at least {least} characters"
        )
    if problem.kind == "string_too_long" and "max_length" in context:
        return f"{path}: must have at most {int(context['max_length'])} characters, got {problem.shown}"
    if problem.kind == "union_type" and "expected" in context:
        return f"{path}: must be {context['expected']}, got {problem.shown}"
    if problem.kind in TYPE_KINDS:
        return f"{path}: must be {TYPE_KINDS[problem.kind]}, got {problem.shown}"
    message = problem.message
    if message.startswith("Input should be "):
        message = "must be " + message.removeprefix("Input should be ")
    return f"{path}: {message}, got {problem.shown}"


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
