"""A fuzzer over the TOML inputs: whatever a file holds, only peersim's input error escapes.

Hypothesis writes random TOML documents (tables and arrays of tables whose keys
are drawn from the real key names and from junk, holding values of every TOML
type: huge, negative, ``nan`` and ``inf`` numbers, text, dates, arrays and
nested tables), mutates the shipped files (in their data and in their text) and
writes random ``--set`` overrides. Each goes through the parser of its kind and
on to the checks the commands make before any simulation (lever grid, factor
space, targets bound to a scenario, priors). The only exception allowed out is
:class:`~peersim.errors.PeersimInputError`, whose message starts with the file
name on its first line; further lines may only be the ``  - `` items of a
file with several problems.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tomllib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TINY_TOML
from peersim.calibration.inputs import ARM_METRICS, bind_targets, build_priors, parse_targets
from peersim.core.overrides import SECTIONS, TOP_LEVEL_KEYS, load_source
from peersim.core.parameters import ALL_PARAMS
from peersim.core.results import METRICS
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import DEFAULT_SCENARIO_SOURCE, default_scenario, parse_scenario
from peersim.errors import PeersimInputError
from peersim.io.inputs import StrictModel
from peersim.planning.inputs import LEVERS, PlanningSite, load_planning_site, parse_costs
from peersim.planning.levers import lever_space
from peersim.sensitivity.inputs import parse_factors

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "fuzz.toml"
"""The name every fuzzed document goes by in messages."""

FUZZ = settings(
    max_examples=int(os.environ.get("PEERSIM_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
"""About a second per test on one core; set ``PEERSIM_FUZZ_EXAMPLES`` (e.g. 5000) to dig deeper."""

BANNED = ("np.float64", "after validation", "nan is negative", "nan is out of range", "Traceback")
"""Wording that must never reach a user (issue 15)."""


# -- writing TOML ------------------------------------------------------------------------------------


def toml_string(text: str) -> str:
    """A TOML basic string holding ``text`` exactly."""
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    """``value`` as a TOML value (arrays and tables inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_document(data: dict[str, Any]) -> str:
    """A TOML document: plain keys first, then ``[table]`` and ``[[array of tables]]`` sections."""
    lines = [f"{toml_string(k)} = {toml_value(v)}" for k, v in data.items() if not _section(v)]
    for key, value in data.items():
        if isinstance(value, dict) and _section(value):
            lines.append(f"[{toml_string(key)}]")
            lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and _section(value):
            for table in value:
                lines.append(f"[[{toml_string(key)}]]")
                lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _section(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and len(value) > 0 and all(isinstance(item, dict) for item in value)


def test_the_toml_writer_round_trips() -> None:
    data = {
        "name": 'a "b"\n\u0001',
        "x": [1, 2.5, -math.inf, {"k": dt.date(2024, 1, 2)}],
        "t": {"u": True, "v": []},
        "sites": [{"name": "s", "n": 2**70}],
    }
    assert tomllib.loads(toml_document(data)) == data


# -- what documents are made of ------------------------------------------------------------------------


def _field_names(*models: type[StrictModel]) -> set[str]:
    names: set[str] = set()
    for model in models:
        names |= set(model.model_fields)
    return names


@cache
def real_keys() -> tuple[str, ...]:
    from peersim.calibration.inputs import PriorsSpec, Selector, TargetsFile, TargetSpec
    from peersim.core.scenario import Horizon, Mechanisms, Protocol, Site
    from peersim.planning.inputs import Basis, CostsFile, LeverOptions, UnitCosts
    from peersim.sensitivity.inputs import FactorEntry, FactorsFile

    names = _field_names(
        Scenario, Site, Horizon, Protocol, Mechanisms, CostsFile, UnitCosts, Basis, LeverOptions,
        FactorsFile, FactorEntry, TargetsFile, TargetSpec, Selector, PriorsSpec,
    )  # fmt: skip
    return tuple(sorted(names | set(LEVERS) | set(ALL_PARAMS)))


@cache
def scenario() -> Scenario:
    return default_scenario()


@cache
def planning_site() -> PlanningSite:
    return load_planning_site(ROOT / "scenarios" / "new_site_example.toml")


@cache
def real_words() -> tuple[str, ...]:
    words = {"nhs", "not_for_profit", "urban", "rural", "trial", "service", "all", "difference", "ratio"}
    words |= {"V", "A", "peer_support", "usual_care", "host", "dummy", "overall", "GBP", ""}
    words |= set(METRICS) | set(ARM_METRICS) | set(ALL_PARAMS) | {site.name for site in scenario().sites}
    return tuple(sorted(words))


SPECIAL_FLOATS = (math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 0.5, 1e-9, 1e16)

keys = st.one_of(
    st.deferred(lambda: st.sampled_from(real_keys())),
    st.text(max_size=12),
    st.sampled_from(["", " ", "a.b", "sites", "[x]", "\n", "名前", "\u2028"]),
)
numbers = st.one_of(
    st.integers(-3, 60),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(SPECIAL_FLOATS),
    st.floats(),
)
scalars = st.one_of(
    numbers,
    st.booleans(),
    st.deferred(lambda: st.sampled_from(real_words())),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC])),
    st.times(),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=10,
)
tables = st.dictionaries(keys, values, max_size=5)
documents = st.dictionaries(
    keys, st.one_of(values, tables, st.lists(tables, min_size=1, max_size=3)), max_size=6
)


# -- mutations of the shipped files ----------------------------------------------------------------------


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with one to three of its values replaced, deleted, emptied or joined by a junk key."""
    data = tomllib.loads(toml_document(base))  # a fresh copy
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        holder, last = _at(data, path[:-1]), path[-1]
        action = draw(st.sampled_from(["replace", "replace", "delete", "empty", "add", "duplicate"]))
        if action == "replace":
            holder[last] = draw(values)
        elif action == "delete":
            del holder[last]
        elif action == "empty" and isinstance(holder[last], dict | list):
            holder[last] = type(holder[last])()
        elif action == "add" and isinstance(holder, dict):
            holder[draw(keys)] = draw(values)
        elif action == "duplicate" and isinstance(holder, list):
            holder.append(holder[last])
    return data


TOKENS = ("nan", "inf", "-inf", "-1", "0", "1e999", "-1e308", '""', "[]", "{}", "true", "0x10", "1979-05-27")


@st.composite
def edited(draw: st.DrawFn, text: str) -> str:
    """``text`` with one to three edits: a line's value swapped, a span cut, junk typed in, a BOM."""
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split("\n")
        action = draw(st.sampled_from(["value", "value", "cut", "type", "bom", "truncate"]))
        if action == "value":
            index = draw(st.integers(0, len(lines) - 1))
            if "=" in lines[index]:
                key = lines[index].split("=", 1)[0]
                lines[index] = f"{key}= {draw(st.sampled_from(TOKENS) | values.map(toml_value))}"
            text = "\n".join(lines)
        elif action == "cut" and text:
            start = draw(st.integers(0, len(text) - 1))
            text = text[:start] + text[start + draw(st.integers(1, 40)) :]
        elif action == "type":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.text(alphabet='[]{}=",.\n#\\ 0123456789abc_-', max_size=8)) + text[at:]
        elif action == "bom":
            text = "\ufeff" + text
        elif action == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
    return text


def shipped(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def inputs_of(text: str) -> st.SearchStrategy[str]:
    """Documents for one kind: random ones, the shipped file's data mutated, its text edited."""
    base = tomllib.loads(text)
    return st.one_of(documents.map(toml_document), mutated(base).map(toml_document), edited(text))


# -- the property ------------------------------------------------------------------------------------


def assert_only_input_errors(parse: Callable[[], object], *starts: str) -> None:
    """Run ``parse``; any exception but peersim's input error fails, and its message must be clean."""
    try:
        parse()
    except PeersimInputError as error:
        text = str(error)
        lines = text.splitlines()
        assert lines, "empty message"
        assert lines[0].startswith(starts), text
        assert all(line.startswith("  - ") for line in lines[1:]), text
        for phrase in BANNED:
            assert phrase not in text, text


@FUZZ
@given(text=st.one_of(*(inputs_of(shipped(name)) for name in (
    "scenarios/enrich_trial.toml", "scenarios/archetype_low.toml", "scenarios/new_site_example.toml",
))) | inputs_of(TINY_TOML))  # fmt: skip
def test_scenario_files(text: str) -> None:
    assert_only_input_errors(lambda: parse_scenario(text, source=SOURCE), f"{SOURCE}: ")


@FUZZ
@given(text=inputs_of(shipped("scenarios/costs_default.toml")))
def test_costs_files(text: str) -> None:
    # The lever grid is built against a site, as `peersim plan` does before any simulation.
    assert_only_input_errors(lambda: lever_space(parse_costs(text, source=SOURCE), planning_site()), SOURCE)


@FUZZ
@given(text=inputs_of(shipped("scenarios/factors_default.toml")))
def test_factors_files(text: str) -> None:
    assert_only_input_errors(lambda: parse_factors(text, scenario(), source=SOURCE), f"{SOURCE}: ")


@FUZZ
@given(text=inputs_of(shipped("calibration/targets.toml")))
def test_targets_files(text: str) -> None:
    def check() -> None:
        target_set = parse_targets(text, source=SOURCE)
        bind_targets(target_set, scenario())
        build_priors(target_set)

    assert_only_input_errors(check, f"{SOURCE}: ")


@st.composite
def overrides(draw: st.DrawFn) -> str:
    """One ``PATH=VALUE`` text: real or junk paths, TOML or junk values."""
    sites = [site.name for site in scenario().sites]
    head = draw(st.sampled_from([*sites, *SECTIONS, "sites", *TOP_LEVEL_KEYS]) | st.text(max_size=8))
    parts = [head, *draw(st.lists(keys, max_size=2))]
    if draw(st.booleans()) and head == "sites":
        parts = ["sites", draw(st.sampled_from(sites)), draw(keys)]
    value = draw(st.sampled_from(TOKENS) | values.map(toml_value) | st.text(max_size=10))
    return draw(st.sampled_from([f"{'.'.join(parts)}={value}", ".".join(parts), value]))


@FUZZ
@given(sets=st.lists(overrides() | st.text(max_size=20), min_size=1, max_size=3))
def test_set_overrides(sets: list[str]) -> None:
    assert_only_input_errors(lambda: load_source(None, sets), DEFAULT_SCENARIO_SOURCE, "`sets` ")


# -- what the fuzzer found ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "said"),
    [
        (  # was TypeError: unhashable type: 'list' (the default travel time looked the geography up)
            lambda: parse_scenario(TINY_TOML.replace('geography = "rural"', "geography = []"), SOURCE),
            f"{SOURCE}: sites[1].geography (site \"south\"): must be 'urban' or 'rural', got []",
        ),
        (  # was a message broken over two lines by the key's carriage return
            lambda: parse_scenario('"\\r" = 1\n' + TINY_TOML, SOURCE),
            f"{SOURCE}: \"\\r\": unknown key '\\r'; valid keys here are: "
            "name, description, mode, horizon, protocol, mechanisms, switches, sites",
        ),
        (  # was a message broken over two lines by the override's record separator
            lambda: load_source(None, ["\x1e.a=nan"]),
            "`sets` '\\x1e.a=nan': holds a line break or another unprintable character; "
            "give KEY=VALUE on one line",
        ),
    ],
    ids=["geography_is_an_array", "key_holds_a_carriage_return", "override_holds_a_control_character"],
)
def test_what_the_fuzzer_found(parse: Callable[[], object], said: str) -> None:
    with pytest.raises(PeersimInputError) as caught:
        parse()
    assert str(caught.value) == said
