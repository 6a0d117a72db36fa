"""The ODD description cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from peersim.core.parameters import ALL_PARAMS, MECHANISMS
from peersim.core.reference import ODD_END, ODD_START, odd_parameter_markdown, structural_constants
from peersim.core.scenario import Switches

ODD = (Path(__file__).resolve().parents[1] / "docs" / "odd.md").read_text(encoding="utf-8")
TABLE = ODD.split(ODD_START, 1)[1].split(ODD_END, 1)[0]


def test_every_declared_parameter_is_in_the_odd_parameter_table() -> None:
    missing = [name for name in ALL_PARAMS if f"| `{name}` |" not in TABLE]
    assert not missing, f"add to docs/odd.md (python -m peersim.core.reference docs/odd.md): {missing}"


def test_every_structural_constant_is_in_the_odd_parameter_table() -> None:
    missing = [name for name, _, _ in structural_constants() if f"| `{name}` |" not in TABLE]
    assert not missing


def test_odd_parameter_table_is_current() -> None:
    assert TABLE.strip() == odd_parameter_markdown().strip(), (
        "run: python -m peersim.core.reference docs/odd.md"
    )


def test_every_constant_is_documented() -> None:
    assert all(doc for _, _, doc in structural_constants())


def test_every_mechanism_and_switch_has_a_row_in_the_odd_mechanism_table() -> None:
    missing = [
        f"{number}. {name}" for number, name in MECHANISMS.items() if f"| {number} | {name} |" not in ODD
    ]
    missing += [
        f"[switches] {name}" for name in Switches.model_fields if f"`[switches] {name} = false`" not in ODD
    ]
    assert not missing, f"add to the mechanism table of docs/odd.md, section 7: {missing}"
