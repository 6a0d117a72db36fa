"""A discovery's JSON document, its short Markdown report, and the files ``--out`` writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from peersim.discovery.analysis import (
    MASS_MIN,
    OBJECTIVES,
    PASTE_ALPHA,
    PEEL_ALPHA,
    QP_MAX,
    Box,
    limit_text,
    miss_phrase,
)
from peersim.discovery.inputs import categories_of
from peersim.discovery.result import DISCOVERY_FILES, FIGURE, DiscoveryResult
from peersim.io.files import OutputDirectory, save_figure, write_parquet, write_text

__all__ = ["DISCOVERY_FILES", "FIGURE", "discovery_json", "discovery_markdown", "write_discovery_outputs"]

CHOICE_TEXT = (
    "each search peels with two of PRIM's objectives (LENIENT1 and ORIGINAL); the candidates are the "
    "boxes on their peeling trajectories that restrict at least one factor and reach the minimum "
    f"density; each loses, least significant first, the limits whose quasi-p value exceeds {QP_MAX:g}; of "
    "those still at the minimum density, the one with the largest coverage x density is reported "
    "(ties: fewer restricted factors, then the earlier box); then PRIM's covering: the box's runs are "
    "set aside and the search repeats on the rest"
)
"""How the boxes were chosen, in a sentence (for the JSON and the report)."""


def box_record(box: Box) -> dict[str, Any]:
    """Return one box as JSON: coverage, density, n, limits by factor, sentence, and its trajectory."""
    path = {name: box.trajectory[name].to_numpy() for name in box.trajectory.columns}
    return {
        "index": box.index,
        "coverage": round(box.coverage, 6),
        "density": round(box.density, 6),
        "n": box.n,
        "misses": box.misses,
        "mass": round(box.mass, 6),
        "dropped": list(box.dropped),
        "limits": {limit.factor: limit.to_json() for limit in box.limits},
        "sentence": box.sentence,
        "restricts_dummy": box.restricts_dummy,
        "chosen_step": int(path["step"][box.chosen]),
        "objective": box.objective,
        "trajectory": [
            {
                "step": int(path["step"][i]),
                "coverage": round(float(path["coverage"][i]), 6),
                "density": round(float(path["density"][i]), 6),
                "n": int(path["n"][i]),
                "restricted": int(path["restricted"][i]),
            }
            for i in range(len(box.trajectory))
        ],
    }


def posterior_record(result: DiscoveryResult) -> dict[str, Any] | None:
    """Where the mechanism strengths came from: the posterior's source and size, or ``None``."""
    posterior = result.inputs.posterior
    if posterior is None:
        return None
    return {
        "source": posterior.source,
        "particles": posterior.n,
        "effective_sample_size": round(float(posterior.effective_sample_size), 3),
    }


def discovery_json(result: DiscoveryResult) -> dict[str, Any]:
    """Return the JSON document of a discovery (``--json`` and ``discover.json``).

    ``{"boxes": [{"coverage", "density", "limits": {FACTOR: ...}, "n", "sentence", ...}],
    "target", "runs", "misses", "seed", "posterior", ...}``: a numeric limit is
    ``{"low": x, "high": y}`` (``null`` where that side is not restricted), a
    categorical one ``{"values": [LEVEL, ...]}``; each has PRIM's quasi-p value ``qp``.
    """
    inputs = result.inputs
    factors = []
    for factor in inputs.space.factors:
        record: dict[str, Any] = {"label": factor.label, "name": factor.name, "kind": factor.kind}
        levels = categories_of(factor)
        if levels is not None:
            record |= {"kind": "categorical", "levels": list(levels)}
        else:
            record |= {"low": factor.low, "high": factor.high, "unit": factor.unit}
        factors.append(record)
    return {
        "target": inputs.target.text,
        "miss": miss_phrase(inputs.target),
        "boxes": [box_record(box) for box in result.boxes],
        "runs": result.runs,
        "runs_failed": len(result.failures),
        "misses": result.misses,
        "miss_share": round(result.miss_share, 6) if result.runs else None,
        "seed": inputs.seed,
        "posterior": posterior_record(result),
        "n": inputs.n,
        "replicates": inputs.replicates,
        "factors": factors,
        "min_density": inputs.min_density,
        "max_boxes": inputs.max_boxes,
        "method": {
            "prim": "ema_workbench.analysis.prim.Prim (binary mode)",
            "objectives": list(OBJECTIVES),
            "qp_max": QP_MAX,
            "peel_alpha": PEEL_ALPHA,
            "paste_alpha": PASTE_ALPHA,
            "mass_min": MASS_MIN,
            "design": "scrambled Latin hypercube (scipy.stats.qmc), seeded from the base seed",
            "choice": CHOICE_TEXT,
        },
        "notes": list(result.notes),
        "warnings": list(result.warnings),
        **result.stamp,
        "seconds": round(result.seconds, 3),
    }


def discovery_markdown(result: DiscoveryResult) -> str:
    """Return the short Markdown report ``discover.md``: the answer first, then what ran and how."""
    inputs = result.inputs
    site = inputs.site
    lines = [
        f"# Where {site.site.name} misses `{inputs.target.text}`",
        "",
        f"Across {result.runs:,} runs of the site over the conditions sampled, {miss_phrase(inputs.target)} "
        f"in {result.misses:,} ({result.miss_share:.0%}).",
        "",
    ]
    if result.boxes:
        for box in result.boxes:
            lines += [f"**Box {box.index}.** {box.sentence[0].upper()}{box.sentence[1:]}.", ""]
        lines += ["| box | factor | limits | quasi-p |", "|---|---|---|---|"]
        for box in result.boxes:
            for limit in box.limits:
                shown = limit_text(limit)
                qp = f"{limit.qp:.2g}" if limit.qp is not None else "-"
                lines.append(f"| {box.index} | {limit.factor} | {shown} | {qp} |")
        lines.append("")
    else:
        lines += [
            f"No box of conditions reaches density {inputs.min_density:g}: PRIM found no region of the "
            "factors where most runs miss.",
            "",
        ]
    for note in (*result.notes, *result.warnings):
        lines.append(f"- {note}")
    if result.notes or result.warnings:
        lines.append("")
    lines += [f"![PRIM trade-off and box limits]({FIGURE})", "", "## What ran", ""]
    posterior = inputs.posterior
    drawn = (
        f"each run drew its mechanism strengths from `{posterior.source}` ({posterior.n} particles, "
        f"effective sample size {posterior.effective_sample_size:.0f})"
        if posterior is not None
        else "mechanism strengths at the site's point values (no posterior)"
    )
    lines += [
        f"- Site: {site.site.name} (`{site.source}`), scenario hash {site.scenario.hash}.",
        f"- Factors: {', '.join(inputs.space.labels)} (`{inputs.space.source}`), plus a dummy that "
        "changes nothing.",
        f"- {inputs.n:,} design points (Latin hypercube, seed {inputs.seed}) x {inputs.replicates} "
        f"replicate(s), each run on its own seed; {drawn}.",
        f"- {len(result.failures)} run(s) failed." if result.failures else "- No run failed.",
        "",
        "## Method and limits",
        "",
        "A run misses the target when its value is on the wrong side of it, or missing. PRIM "
        "(EMA Workbench) peels the space of factors towards boxes where a larger share of runs miss. "
        "**Coverage** is the share of all misses inside a box; **density** the share of the box's runs "
        f"that miss. Box choice: {CHOICE_TEXT}; minimum density {inputs.min_density:g}, at most "
        f"{inputs.max_boxes} boxes. The quasi-p value of a limit tests the box against the same box "
        "without it (small is better). A box describes where misses concentrate among the conditions "
        "sampled, within the ranges of the factors file; it is not a causal claim beyond the model.",
        "",
    ]
    return "\n".join(lines)


def write_discovery_outputs(target: OutputDirectory, result: DiscoveryResult) -> list[Path]:
    """Write ``discover.json``, ``discover.md``, ``discover.png``, ``runs.csv`` and ``runs.parquet``."""
    from peersim.discovery.figures import discovery_figure  # heavy: matplotlib

    written = []
    document = json.dumps(discovery_json(result), indent=2, allow_nan=False) + "\n"
    written.append(write_text(target.file("discover.json"), document))
    written.append(write_text(target.file("discover.md"), discovery_markdown(result)))
    written.append(save_figure(discovery_figure(result), target.file(FIGURE)))
    table = result.table.assign(
        scenario_hash=result.stamp.get("scenario_hash", ""),
        seed=result.inputs.seed,
        version=result.stamp.get("version", ""),
    )
    written.append(write_text(target.file("runs.csv"), table.to_csv(index=False)))
    written.append(write_parquet(target.file("runs.parquet"), table))
    return written
