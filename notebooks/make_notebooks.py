"""Write the notebooks from their cell sources (stored without outputs).

Run ``.venv/bin/python notebooks/make_notebooks.py && .venv/bin/ruff format notebooks``
after editing a cell here; the test suite executes every notebook top to bottom.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

QUICKSTART = [
    new_markdown_cell(
        "# peersim quickstart\n\n"
        "Run the embedded ENRICH-like trial (7 sites, about 590 participants), read the tidy\n"
        "result tables, step the Mesa model by hand, and draw a figure for a report.\n"
        "Everything here uses the public API only."
    ),
    new_code_cell(
        "import peersim\n\nscenario = peersim.default_scenario()\n[s.name for s in scenario.sites]"
    ),
    new_markdown_cell(
        "## One run\n\n`peersim.run(scenario, seed)` is the single entry point; "
        "the same seed gives the same numbers in any process."
    ),
    new_code_cell(
        "result = peersim.run(scenario, seed=1)\n"
        "overall = result.metrics.query(\"site == 'overall'\").set_index('metric')['value']\n"
        "overall.round(3)"
    ),
    new_code_cell(
        "readmission = result.outcomes.query(\"metric == 'readmission_rate'\")\n"
        "readmission.pivot(index='site', columns='arm', values='value').round(3)"
    ),
    new_markdown_cell(
        "## Replicates with 95% intervals\n\nReplicate *i* uses child *i* of `SeedSequence(seed).spawn`."
    ),
    new_code_cell(
        "from peersim.summary import stack_metrics, summarise\n\n"
        "runs = list(peersim.run_replicates(scenario, seed=0, replicates=8))\n"
        "summary = summarise(stack_metrics(runs))\n"
        "summary.query(\"site == 'overall'\").set_index('metric')[['mean', 'lo', 'hi']].round(3)"
    ),
    new_markdown_cell("## The Mesa model, one week at a time"),
    new_code_cell(
        "model = peersim.PeerSupportModel(scenario, rng=1)\n"
        "for _ in range(30):\n"
        "    model.step()\n"
        "{kind.__name__: len(agents) for kind, agents in model.agents_by_type.items()}"
    ),
    new_code_cell("model.datacollector.get_model_vars_dataframe().tail()"),
    new_markdown_cell("## A figure for a report"),
    new_code_cell(
        "import pandas as pd\n"
        "from IPython.display import Image\n\n"
        "from peersim.plots import summary_figure\n\n"
        "timeseries = pd.concat([r.timeseries for r in runs])\n"
        "sites = [s.name for s in scenario.sites]\n"
        "figure = summary_figure(summary, timeseries, sites, 'ENRICH-like trial, 8 replicates')\n"
        "figure.savefig('quickstart_summary.png', dpi=100)\n"
        "Image('quickstart_summary.png')"
    ),
]

NOTEBOOKS = {"01_quickstart.ipynb": QUICKSTART}


def main() -> None:
    """Write every notebook in :data:`NOTEBOOKS`."""
    for name, cells in NOTEBOOKS.items():
        notebook = new_notebook(cells=cells)
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbformat.write(notebook, HERE / name)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
