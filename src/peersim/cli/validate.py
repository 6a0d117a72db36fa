"""``peersim validate``: check scenario files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def command(
    files: Annotated[list[Path], typer.Argument(help="Scenario TOML files to check.", show_default=False)],
) -> None:
    """Check scenario files and report each one's sites, mode and hash."""
    from peersim.core.scenario_files import load_scenario

    for path in files:
        scenario = load_scenario(path)
        typer.echo(
            f"{path}: valid scenario {scenario.name!r}: {len(scenario.sites)} site(s), "
            f"{scenario.mode} mode, hash {scenario.hash}"
        )
