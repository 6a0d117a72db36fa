"""``peersim validate`` and ``peersim schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from peersim.scenario import Scenario
from peersim.scenario_io import load_scenario


def validate_cmd(
    files: Annotated[list[Path], typer.Argument(help="Scenario TOML files to check.", show_default=False)],
) -> None:
    """Check scenario files and report each one's sites, mode and hash."""
    for path in files:
        scenario = load_scenario(path)
        typer.echo(
            f"{path}: valid scenario {scenario.name!r}: {len(scenario.sites)} site(s), "
            f"{scenario.mode} mode, hash {scenario.hash}"
        )


def schema_cmd() -> None:
    """Print the JSON Schema of scenario files (for editors and validators)."""
    typer.echo(json.dumps(Scenario.model_json_schema(), indent=2))
