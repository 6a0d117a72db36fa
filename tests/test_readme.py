"""The README stays true: quickstart shape and the generated scenario reference."""

from __future__ import annotations

from pathlib import Path

from peersim.parameters import ALL_PARAMS
from peersim.reference import END, START, scenario_reference_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_scenario_reference_is_current() -> None:
    block = README.split(START, 1)[1].split(END, 1)[0]
    assert block.strip() == scenario_reference_markdown().strip(), (
        "run: python -m peersim.reference README.md"
    )


def test_every_declared_parameter_is_documented() -> None:
    missing = [name for name in ALL_PARAMS if f"`{name}`" not in README]
    assert not missing


def test_quickstart_is_two_commands_and_ci_runs_them() -> None:
    quick = README.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in quick.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in commands:
        assert command in ci
