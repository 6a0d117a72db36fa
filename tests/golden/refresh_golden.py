"""Rewrite the golden summary after an intended change to the model's behaviour.

Run ``.venv/bin/python tests/golden/refresh_golden.py`` and commit the new
``default_summary.json`` together with the change that explains it.
"""

from __future__ import annotations

import json
from pathlib import Path

from peersim import default_scenario, run_replicates
from peersim.ensemble.summary import stack_metrics, summarise

GOLDEN = Path(__file__).with_name("default_summary.json")
SEED = 0
REPLICATES = 4


def golden_summary() -> dict[str, dict[str, float]]:
    """Mean of each headline metric per site (and overall) for the default scenario."""
    summary = summarise(stack_metrics(run_replicates(default_scenario(), SEED, REPLICATES)))
    out: dict[str, dict[str, float]] = {}
    for site, metric, mean in zip(summary["site"], summary["metric"], summary["mean"], strict=True):
        out.setdefault(site, {})[metric] = round(float(mean), 6)
    return out


if __name__ == "__main__":
    document = {"seed": SEED, "replicates": REPLICATES, "means": golden_summary()}
    GOLDEN.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
