"""Summaries of a run store, written next to it, and figures saved without clobbering files.

Everything here reads the store table by table with only the columns and rows
it needs, so memory stays flat however many replicates the store holds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from peersim.errors import PeersimInputError
from peersim.plots import summary_figure
from peersim.runstore import RunStore, atomic_write
from peersim.summary import INTERVAL, summarise, summary_json

SUMMARY_COLUMNS = ["site", "metric", "value", "replicate"]


@dataclass(frozen=True)
class OutputDirectory:
    """A directory peersim may write figures or tables into.

    Parameters
    ----------
    path
        The directory; created if missing.
    force
        Allow replacing files peersim would write that already exist.
    """

    path: Path
    force: bool = False

    def check(self, names: Sequence[str]) -> None:
        """Refuse writing ``names`` here if the path is a file or they exist without ``force``.

        Raises
        ------
        PeersimInputError
            With a message naming the directory and the clashing files.
        """
        if self.path.exists() and not self.path.is_dir():
            raise PeersimInputError(f"--out {self.path}: exists and is not a directory")
        clashes = [name for name in names if (self.path / name).exists()]
        if clashes and not self.force:
            shown = ", ".join(clashes[:3]) + (" ..." if len(clashes) > 3 else "")
            raise PeersimInputError(f"--out {self.path}: already holds {shown}; use --force to replace them")

    def file(self, name: str) -> Path:
        """Create the directory if needed and return the path of ``name`` in it."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path / name


def save_figure(figure: Figure, path: Path, dpi: int = 120) -> Path:
    """Save ``figure`` as PNG through a temporary file and a rename; return ``path``."""
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    try:
        figure.savefig(temporary, dpi=dpi)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def store_summary(store: RunStore, replicates: int | None = None) -> pd.DataFrame:
    """Mean and 95% interval per site and metric over the store's replicates.

    Parameters
    ----------
    store
        The run store.
    replicates
        Summarise replicates ``0 .. replicates - 1`` only (default: all held).
    """
    return summarise(store.read("metrics", columns=SUMMARY_COLUMNS, replicates=replicates, categorical=True))


def write_store_summary(
    store: RunStore, summary: pd.DataFrame, replicates: int, available: int, failures: list[dict[str, Any]]
) -> list[Path]:
    """Write ``summary.csv``, ``summary.json`` and ``summary.png`` into the store.

    Parameters
    ----------
    store
        The run store (these files are its own and are rewritten each time).
    summary
        Output of :func:`store_summary`.
    replicates
        Replicates asked for (the summary covers those below this index).
    available
        Replicates among them that finished.
    failures
        Failure records of replicates that did not finish, listed in the JSON.

    Returns
    -------
    list[pathlib.Path]
        The files written.
    """
    path = store.path
    atomic_write(path / "summary.csv", summary.to_csv(index=False).encode())
    document = summary_json(summary, store.scenario_name, store.seed, available)
    document["scenario_hash"] = store.manifest["scenario"]["hash"]
    document["failed_replicates"] = [record["replicate"] for record in failures]
    atomic_write(path / "summary.json", (json.dumps(document, indent=2, allow_nan=False) + "\n").encode())
    acceptance = store.read(
        "timeseries",
        columns=["week", "site", "metric", "value"],
        replicates=replicates,
        where={"metric": ["ward_acceptance"]},
        categorical=True,
    )
    figure = summary_figure(summary, acceptance, store.site_names, f"peersim: {store.scenario_name}")
    return [path / "summary.csv", path / "summary.json", save_figure(figure, path / "summary.png")]


def timeseries_bands(store: RunStore, metrics: Sequence[str], replicates: int | None = None) -> pd.DataFrame:
    """Weekly mean and 95% band of replicate values, per site and metric.

    Reads one metric at a time, so memory holds one metric's rows, not the
    whole ``timeseries`` table.

    Returns
    -------
    pandas.DataFrame
        Columns ``site, metric, week, mean, lo, hi, n``; ``lo`` and ``hi`` are
        the 2.5th and 97.5th percentiles over replicates (missing weeks ignored).
    """
    lo_q, hi_q = (p / 100 for p in INTERVAL)
    parts = []
    for metric in metrics:
        rows = store.read(
            "timeseries",
            columns=["site", "week", "value"],
            replicates=replicates,
            where={"metric": [metric]},
            categorical=True,
        )
        grouped = rows.groupby(["site", "week"], sort=False)["value"]
        part = pd.DataFrame(
            {
                "mean": grouped.mean(),
                "lo": grouped.quantile(lo_q),
                "hi": grouped.quantile(hi_q),
                "n": grouped.count(),
            }
        ).reset_index()
        part.insert(1, "metric", metric)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def outcome_summary(store: RunStore, replicates: int | None = None) -> pd.DataFrame:
    """Mean and 95% interval of each outcome per site and arm (from the ``outcomes`` table).

    Returns
    -------
    pandas.DataFrame
        Columns ``site, arm, metric, mean, lo, hi, n`` (see :func:`peersim.summary.summarise`).
    """
    outcomes = store.read(
        "outcomes", columns=["site", "arm", "metric", "value", "replicate"], replicates=replicates
    )
    parts = []
    for arm, rows in outcomes.groupby("arm", sort=False):
        part = summarise(rows.drop(columns="arm"))
        part.insert(1, "arm", arm)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
