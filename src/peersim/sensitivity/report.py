"""Write a sensitivity analysis's tables, JSON and figure into an output directory."""

from __future__ import annotations

import json
from pathlib import Path

from peersim.io.files import OutputDirectory, save_figure, write_parquet, write_text
from peersim.sensitivity.figures import sensitivity_figure
from peersim.sensitivity.result import TABLE_NAMES, SensitivityResult, figure_name, sensitivity_files

__all__ = ["TABLE_NAMES", "figure_name", "sensitivity_files", "write_sensitivity_outputs"]


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
