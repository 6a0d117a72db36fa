"""Shared fixtures: a tiny fast scenario and paths to the shipped scenario files."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from peersim.core.scenario import Scenario
from peersim.core.scenario_files import parse_scenario

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
"""The scenario files shipped in the repository (and other inputs, such as factors files)."""


def shipped_scenario_files() -> list[Path]:
    """Scenario files in ``scenarios/``: every TOML file except ``[[factors]]`` and costs files."""
    files = []
    for path in sorted(SCENARIOS_DIR.glob("*.toml")):
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        if "factors" not in data and "unit_costs" not in data:
            files.append(path)
    return files


TINY_TOML = """\
# A tiny two-site trial that runs in a few milliseconds.
name = "tiny"
description = "Two small sites for fast tests"
mode = "trial"

[horizon]
recruitment_weeks = 8
follow_up_weeks = 26

[[sites]]
name = "north"
host = "nhs"
geography = "urban"
n_peer_workers = 2
supervisor_hours_per_week = 4
eligible_admissions_per_week = 1.5
caseload_cap = 4

[[sites]]
name = "south"
host = "not_for_profit"
geography = "rural"
n_peer_workers = 1
supervisor_hours_per_week = 2
eligible_admissions_per_week = 1.0
caseload_cap = 3
"""
"""TOML text of :func:`tiny_scenario`; tests edit it to make bad files."""


def tiny_site(name: str, **overrides: Any) -> dict[str, Any]:
    """Return a valid site table, as plain data, with ``overrides`` applied."""
    site: dict[str, Any] = {
        "name": name,
        "host": "nhs",
        "geography": "urban",
        "n_peer_workers": 2,
        "supervisor_hours_per_week": 4.0,
        "eligible_admissions_per_week": 1.0,
    }
    site.update(overrides)
    return site


def tiny_data(**overrides: Any) -> dict[str, Any]:
    """Return valid scenario data with one site, with top-level ``overrides`` applied."""
    data: dict[str, Any] = {
        "name": "tiny",
        "horizon": {"recruitment_weeks": 8, "follow_up_weeks": 26},
        "sites": [tiny_site("north")],
    }
    data.update(overrides)
    return data


@pytest.fixture(scope="session")
def tiny_toml() -> str:
    """TOML text of a tiny two-site trial."""
    return TINY_TOML


@pytest.fixture(scope="session")
def tiny_scenario() -> Scenario:
    """A tiny two-site trial (about 20 participants) that runs in milliseconds."""
    return parse_scenario(TINY_TOML, source="<tiny>")


@pytest.fixture(scope="session")
def scenarios_dir() -> Path:
    """The repository's ``scenarios/`` directory."""
    return SCENARIOS_DIR


def peersim_command(*args: str) -> list[str]:
    """Return the command line of the real ``peersim`` console entry with ``args``."""
    return [sys.executable, "-m", "peersim", *args]


def run_peersim(args: Sequence[str], cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m peersim ARGS`` in ``cwd`` and capture its text output."""
    env = {**os.environ, "MPLBACKEND": "Agg", "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        peersim_command(*args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
