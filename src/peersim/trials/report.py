"""Write the held-out validation's JSON, table, figure and Markdown report into an output directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from peersim.io.files import OutputDirectory, save_figure, write_text
from peersim.io.provenance import package_version
from peersim.io.templates import render
from peersim.trials.figures import trials_figure

__all__ = ["trials_markdown", "write_trials"]


def write_trials(target: OutputDirectory, document: dict[str, Any], table: pd.DataFrame) -> list[Path]:
    """Write ``trials.json``, ``trials.csv``, ``trials.png`` and ``report.md``; return them.

    ``document`` and ``table`` are a :class:`~peersim.trials.workflow.TrialsResult`'s.
    """
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    return [
        write_text(target.file("trials.json"), text),
        write_text(target.file("trials.csv"), table.to_csv(index=False)),
        save_figure(trials_figure(table, "peersim trials: held-out validation"), target.file("trials.png")),
        write_text(target.file("report.md"), trials_markdown(document)),
    ]


def trials_markdown(document: dict[str, Any]) -> str:
    """Render the Markdown report of a ``peersim trials`` document."""
    posterior = document.get("posterior")
    studies = []
    for study in document["trials"]:
        outcomes = []
        for outcome in study["outcomes"]:
            outcomes.append(outcome | {"observed_text": observed_text(outcome)})
        studies.append(study | {"outcomes": outcomes, "pinned": study.get("pinned_by_scenario", [])})
    return render(
        "trials.md.j2",
        version=package_version(),
        registry=document["registry"],
        replicates=document["replicates"],
        seed=document["seed"],
        posterior=f"`{posterior['source']}`" if posterior else "nothing (the scenarios' point values)",
        studies=studies,
        tested=document["tests"]["tested"],
        covered=document["tests"]["covered"],
    )


def observed_text(outcome: dict[str, Any]) -> str:
    """``0.66 [0.43, 0.99]``, ``0.29 (64/218)`` or ``0.72``: the published value as reported."""
    text = f"{outcome['observed']:g}"
    ci = outcome.get("observed_ci")
    if ci:
        text += f" [{ci['low']:g}, {ci['high']:g}]"
    counts = outcome.get("counts")
    if counts:
        text += f" ({counts['events']}/{counts['denominator']})"
    return text
