"""Write a sensitivity analysis's tables and JSON into an output directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from peersim.output import OutputDirectory
from peersim.sensitivity.runner import SensitivityResult

TABLE_NAMES = ("indices", "screening", "diagnostics")


def sensitivity_files(method: str) -> tuple[str, ...]:
    """Files ``peersim sensitivity --out`` writes for ``method``."""
    return (
        *(f"{name}.csv" for name in TABLE_NAMES),
        *(f"{name}.parquet" for name in TABLE_NAMES),
        "samples.parquet",
        "sensitivity.json",
        figure_name(method),
    )


def figure_name(method: str) -> str:
    """File name of the figure of ``method``."""
    return f"{method}.png"


def _replace(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _parquet(frame: pd.DataFrame, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, path)


def write_sensitivity_outputs(target: OutputDirectory, result: SensitivityResult) -> list[Path]:
    """Write tidy tables (CSV and Parquet), the samples and the JSON document.

    Returns
    -------
    list[pathlib.Path]
        The files written (the figure is saved by the caller).
    """
    written = []
    tables = {"indices": result.indices, "screening": result.screening, "diagnostics": result.diagnostics}
    for name, frame in tables.items():
        path = target.file(f"{name}.csv")
        _replace(path, frame.to_csv(index=False).encode())
        written.append(path)
        path = target.file(f"{name}.parquet")
        _parquet(frame, path)
        written.append(path)
    path = target.file("samples.parquet")
    _parquet(result.samples, path)
    written.append(path)
    path = target.file("sensitivity.json")
    _replace(path, (json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n").encode())
    written.append(path)
    return written
