"""Writing run outputs to a directory without ever clobbering what a user wrote."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from peersim.plots import summary_figure
from peersim.results import RunResult
from peersim.scenario import Scenario
from peersim.summary import summary_json

TABLES = ("metrics", "outcomes", "staff", "timeseries", "patients")
RUN_FILES = (
    *(f"{name}.parquet" for name in TABLES),
    "summary.csv",
    "summary.json",
    "summary.png",
)
"""Files ``peersim run --out`` writes."""


@dataclass(frozen=True)
class OutputDirectory:
    """A directory peersim may write into.

    Parameters
    ----------
    path
        The directory; created if missing.
    force
        Allow replacing files peersim would write that already exist.
    """

    path: Path
    force: bool = False

    def check(self, names: Sequence[str] = RUN_FILES) -> str | None:
        """Return why writing ``names`` here is refused, or ``None`` if it is allowed."""
        if self.path.exists() and not self.path.is_dir():
            return f"--out {self.path}: exists and is not a directory"
        clashes = [name for name in names if (self.path / name).exists()]
        if clashes and not self.force:
            shown = ", ".join(clashes[:3]) + (" ..." if len(clashes) > 3 else "")
            return f"--out {self.path}: already holds {shown}; use --force to replace them"
        return None

    def file(self, name: str) -> Path:
        """Create the directory if needed and return the path of ``name`` in it."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path / name


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, path)


def write_run_outputs(
    target: OutputDirectory,
    scenario: Scenario,
    seed: int,
    results: Sequence[RunResult],
    summary: pd.DataFrame,
) -> list[Path]:
    """Write tidy tables of every replicate, the summary and its figure.

    Returns
    -------
    list[pathlib.Path]
        The files written.
    """
    written = []
    per_table = [result.tables() for result in results]
    for name in TABLES:
        path = target.file(f"{name}.parquet")
        _write_parquet(pd.concat([tables[name] for tables in per_table], ignore_index=True), path)
        written.append(path)
    path = target.file("summary.csv")
    _atomic_write_bytes(path, summary.to_csv(index=False).encode())
    written.append(path)
    document = summary_json(summary, scenario.name, seed, len(results))
    document["scenario_hash"] = scenario.hash
    path = target.file("summary.json")
    _atomic_write_bytes(path, (json.dumps(document, indent=2) + "\n").encode())
    written.append(path)
    timeseries = pd.concat([result.timeseries for result in results], ignore_index=True)
    figure = summary_figure(
        summary, timeseries, [s.name for s in scenario.sites], f"peersim: {scenario.name}"
    )
    path = target.file("summary.png")
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=120)
    os.replace(temporary, path)
    written.append(path)
    return written
