"""``peersim schema``: the JSON Schema of scenario files."""

from __future__ import annotations

import json

import typer


def command() -> None:
    """Print the JSON Schema of scenario files (for editors and validators)."""
    from peersim.core.scenario import Scenario

    typer.echo(json.dumps(Scenario.model_json_schema(), indent=2))
