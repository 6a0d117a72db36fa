"""The README stays true: quickstart shape and the generated scenario reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from peersim.core.parameters import ALL_PARAMS
from peersim.core.reference import END, START, scenario_reference_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_scenario_reference_is_current() -> None:
    block = README.split(START, 1)[1].split(END, 1)[0]
    assert block.strip() == scenario_reference_markdown().strip(), (
        "run: python -m peersim.core.reference README.md"
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


def test_python_api_example_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    block = README.split("## Python API", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)  # the example's paths are relative to the repository root
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md (Python API)", "exec"), namespace)
    differences = namespace["differences"]
    engagement = differences.query("site == 'overall' and metric == 'engagement_rate'").iloc[0]
    assert engagement["n"] == 20
    # More supervision raises engagement at archetype_low (seen: interval 0.076 to 0.195).
    assert engagement["lo"] > 0


def test_every_notebook_is_listed_in_the_readme() -> None:
    section = README.split("## Notebooks", 1)[1].split("\n## ", 1)[0]
    notebooks = sorted(path.stem for path in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    assert [name for name in notebooks if f"`{name}`" not in section] == []
