"""Write a sensitivity analysis's tables, JSON and figure into an output directory."""

from __future__ import annotations

import json
from pathlib import Path

from peersim.io.files import OutputDirectory, save_figure, write_parquet, write_text
from peersim.sensitivity.figures import sensitivity_figure
from peersim.sensitivity.workflow import SensitivityResult

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


def write_sensitivity_outputs(
    target: OutputDirectory, result: SensitivityResult, title: str = ""
) -> list[Path]:
    """Write tidy tables (CSV and Parquet), the samples, the JSON document and the figure.

    Returns
    -------
    list[pathlib.Path]
        The files written.
    """
    written = []
    tables = {"indices": result.indices, "screening": result.screening, "diagnostics": result.diagnostics}
    for name, frame in tables.items():
        written.append(write_text(target.file(f"{name}.csv"), frame.to_csv(index=False)))
        written.append(write_parquet(target.file(f"{name}.parquet"), frame))
    written.append(write_parquet(target.file("samples.parquet"), result.samples))
    document = json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n"
    written.append(write_text(target.file("sensitivity.json"), document))
    analysis = result.analysis
    figure = sensitivity_figure(result.method, analysis.indices, analysis.screening, title)
    written.append(save_figure(figure, target.file(figure_name(result.method))))
    return written
