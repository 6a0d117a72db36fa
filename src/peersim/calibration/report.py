"""The calibration report (Markdown), rendered from the template ``calibration.md.j2``.

The template (``peersim/templates/calibration.md.j2``) lays out the summary, the
targets, the generations, prior against posterior, and the posterior predictive
check around the saved figures; this module only hands it the tables.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from peersim.calibration.analysis import FEW_EFFECTIVE_PARTICLES, NOT_INFORMED_RATIO, ORDINAL_PASS_SHARE
from peersim.calibration.inputs import BoundTargets
from peersim.io.templates import render

TEMPLATE = "calibration.md.j2"
"""Package template of the report."""


def report_markdown(
    *,
    title: str,
    summary: dict[str, Any],
    populations: pd.DataFrame | None,
    ident: pd.DataFrame,
    ppc: pd.DataFrame,
    targets: BoundTargets,
    figures: dict[str, str],
) -> str:
    """Render the calibration report (Markdown) around saved figures.

    Parameters
    ----------
    title
        First heading.
    summary
        Listed under the title, one ``key: value`` line each; a value
        ``effective_sample_size`` below :data:`FEW_EFFECTIVE_PARTICLES` adds a
        warning.
    populations
        ABC-SMC generations (:attr:`CalibrationOutcome.populations
        <peersim.calibration.smc.CalibrationOutcome.populations>`), or ``None``
        for a check of an existing posterior.
    ident
        :func:`~peersim.calibration.analysis.identifiability`.
    ppc
        :func:`~peersim.calibration.analysis.posterior_predictive`.
    targets
        The targets checked.
    figures
        Relative paths of the saved figures, by key ``marginals`` and ``ppc``.

    Returns
    -------
    str
        The report, ending with a newline.
    """
    target_rows = pd.DataFrame(
        [
            {
                "target": t.name,
                "observed": t.spec.observed_text(),
                "confidence": t.spec.confidence,
                "weight": t.spec.weight,
                "source": t.spec.source,
            }
            for t in targets.targets
        ]
    )
    return render(
        TEMPLATE,
        title=title,
        summary=summary,
        effective_sample_size=float(summary.get("effective_sample_size", math.inf)),
        few_effective_particles=FEW_EFFECTIVE_PARTICLES,
        targets=_table(target_rows),
        generations=_table(populations if populations is not None else pd.DataFrame()),
        ident=_table(ident),
        not_informed_ratio=NOT_INFORMED_RATIO,
        ppc=_table(ppc),
        ordinal_pass_share=ORDINAL_PASS_SHARE,
        figures=figures,
    )


def _table(frame: pd.DataFrame) -> dict[str, Any]:
    """Return ``frame`` as the template takes it: column names, and rows of plain Python values."""
    return {"columns": [str(c) for c in frame.columns], "rows": frame.to_dict(orient="records")}
