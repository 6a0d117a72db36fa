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
        "from peersim.ensemble.summary import stack_metrics, summarise\n\n"
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
        "from peersim.ensemble.figures import summary_figure\n\n"
        "timeseries = pd.concat([r.timeseries for r in runs])\n"
        "sites = [s.name for s in scenario.sites]\n"
        "figure = summary_figure(summary, timeseries, sites, 'ENRICH-like trial, 8 replicates')\n"
        "figure.savefig('quickstart_summary.png', dpi=100)\n"
        "Image('quickstart_summary.png')"
    ),
]

WHAT_IF = [
    new_markdown_cell(
        "# What if a low-engagement site had better supervision, or prepared its teams?\n\n"
        "`scenarios/archetype_low.toml` is the study's low-engagement setting: a rural site whose\n"
        "peer workers a not-for-profit employs across an organisational boundary, with stretched\n"
        "supervision (2.5 supervisor hours a week for 5 peer workers) and no team preparation.\n"
        "Two shipped what-ifs change one lever each; a third, built here with `--set`-style\n"
        "overrides, changes both. Every scenario runs on **common random numbers** (replicate *i*\n"
        "of each uses the same seed and the same posterior draw of mechanism strengths), so the\n"
        "differences are paired and the noise the runs share cancels.\n\n"
        "Run from the `notebooks/` folder (paths are relative to it)."
    ),
    new_code_cell(
        "from pathlib import Path\n\n"
        "import peersim\n"
        "from peersim.core.overrides import load_source\n"
        "from peersim.uncertainty import default_posterior\n\n"
        "SCENARIOS = Path('..') / 'scenarios'\n"
        "base = peersim.load_scenario(SCENARIOS / 'archetype_low.toml')\n"
        "whatifs = {\n"
        "    'more supervision': peersim.load_scenario(SCENARIOS / 'whatif_low_more_supervision.toml'),\n"
        "    'team preparation': peersim.load_scenario(SCENARIOS / 'whatif_low_team_preparation.toml'),\n"
        "    'both': load_source(\n"
        "        SCENARIOS / 'whatif_low_more_supervision.toml',\n"
        "        ['low.team_prep_sessions=4', 'low.team_joint_work_hours_per_month=4'],\n"
        "    ).scenario,\n"
        "}"
    ),
    new_markdown_cell("The levers each what-if changes, against the base:"),
    new_code_cell(
        "import pandas as pd\n\n"
        "levers = ['supervisor_hours_per_week', 'team_prep_sessions', 'team_joint_work_hours_per_month']\n"
        "pd.DataFrame(\n"
        "    {\n"
        "        label: [getattr(s.sites[0], lever) for lever in levers]\n"
        "        for label, s in {'base': base, **whatifs}.items()\n"
        "    },\n"
        "    index=levers,\n"
        ")"
    ),
    new_markdown_cell(
        "## Paired differences\n\n"
        "`peersim.compare_scenarios` is `peersim compare` without the run stores. Mechanism\n"
        "strengths are drawn per replicate from the shipped posterior, as `peersim compare` does\n"
        "by default; pass `posterior=None` for the point values."
    ),
    new_code_cell(
        "differences = peersim.compare_scenarios(\n"
        "    base, whatifs, seed=0, replicates=24, posterior=default_posterior()\n"
        ")\n"
        "headline = ['engagement_rate', 'fidelity_index', 'ward_acceptance']\n"
        "headline += ['readmission_rate_intervention']\n"
        "columns = ['difference', 'predictive_lo', 'predictive_hi', 'p_benefit', 'lo', 'hi']\n"
        "(\n"
        "    differences.query(\"site == 'overall' and metric in @headline\")\n"
        "    .set_index(['comparison', 'metric'])[columns]\n"
        "    .round(3)\n"
        ")"
    ),
    new_markdown_cell(
        "Each replicate draws its own mechanism strengths from the posterior, so the spread of\n"
        "the per-replicate differences is the uncertainty of the effect itself.\n"
        "`predictive_lo` and `predictive_hi`, their 2.5th and 97.5th percentiles, are the\n"
        "primary answer: the 95% predictive interval of the effect on a site like this one,\n"
        "posterior + model noise. `p_benefit` is the share of replicates in which the what-if\n"
        "is better, by each metric's direction (`peersim.core.results.HIGHER_IS_BETTER`:\n"
        "readmission is better lower); a difference of exactly 0 is not a benefit. `lo` and\n"
        "`hi` bound the 95% t-interval of the *mean* paired difference over the replicates:\n"
        "how precisely the ensemble pins down the expected effect. It narrows as replicates\n"
        "are added; the predictive interval does not.\n\n"
        "More supervision raises fidelity and engagement together (and lowers peer worker\n"
        "strain); team preparation raises ward acceptance and engagement but, in this model,\n"
        "not fidelity; together they raise engagement by a little less than the sum of the\n"
        "two. Readmission moves far less than engagement, because peer support lowers it only\n"
        "through the dose a participant receives. Paired on common random numbers, even these\n"
        "small changes get narrow intervals of the mean; the predictive intervals show how far\n"
        "the effect at one site can stray from that mean, and a trial comparing two such sites\n"
        "would not detect them."
    ),
    new_markdown_cell("## A figure for a report"),
    new_code_cell(
        "from IPython.display import Image\n\n"
        "from peersim.ensemble.figures import forest_figure\n\n"
        "figure = forest_figure(\n"
        "    differences,\n"
        "    title='archetype_low: what-if minus base, 24 paired replicates, '\n"
        "    '95% predictive interval (thick) and interval of the mean (thin)',\n"
        ")\n"
        "figure.savefig('what_if_forest.png', dpi=100)\n"
        "Image('what_if_forest.png')"
    ),
]

SENSITIVITY = [
    new_markdown_cell(
        "# Which implementation factors matter? A small Morris screening\n\n"
        "Elementary effects (Morris) over the default factors of `scenarios/factors_default.toml`:\n"
        "the site levers (supervisor hours, team preparation, host organisation, travel, capacity)\n"
        "and the uncertain mechanism strengths, applied to every site of the default trial. A\n"
        "`dummy` factor that changes nothing but the random numbers is always added: a factor\n"
        "whose mu* is not above the dummy's upper 95% bound is reported as non-influential.\n\n"
        "The budget here (16 trajectories, 2 replicates a point) is for a demonstration; the\n"
        "command-line default is 40 trajectories, and `peersim sensitivity` runs Sobol' by default."
    ),
    new_code_cell(
        "import peersim\n"
        "from peersim.executor import make_executor\n"
        "from peersim.sensitivity import PeersimTarget, default_factors, run_sensitivity\n\n"
        "scenario = peersim.default_scenario()\n"
        "space = default_factors(scenario)\n"
        "[(f.label, f.sample_bounds) for f in space.factors]"
    ),
    new_code_cell(
        "outputs = ['engagement_rate', 'fidelity_index', 'readmission_rate_intervention']\n"
        "target = PeersimTarget(scenario, space, outputs)\n"
        "with make_executor('local', jobs=2) as pool:\n"
        "    result = run_sensitivity(\n"
        "        space, target, method='morris', n=16, replicates=2, seed=0, executor=pool\n"
        "    )\n"
        "result.runs"
    ),
    new_markdown_cell("## The factors that move engagement, by mu* (mean absolute elementary effect)"),
    new_code_cell(
        "result.top('engagement_rate', k=6)[['factor', 'value', 'conf', 'threshold', 'influential']]"
    ),
    new_markdown_cell(
        "## Screening against the dummy, for every output\n\n"
        "Readmission is dominated by noise at this budget (see `noise_share` in the diagnostics):\n"
        "the screening says which factors are *distinguishable* from reshuffled random numbers,\n"
        "not which ones are irrelevant."
    ),
    new_code_cell("result.screening.pivot(index='factor', columns='output', values='influential')"),
    new_code_cell("result.diagnostics[['output', 'noise_share', 'threshold', 'influential', 'settled']]"),
    new_markdown_cell("## A figure for a report"),
    new_code_cell(
        "from IPython.display import Image\n\n"
        "from peersim.sensitivity.figures import sensitivity_figure\n\n"
        "figure = sensitivity_figure(\n"
        "    'morris',\n"
        "    result.analysis.indices,\n"
        "    result.analysis.screening,\n"
        "    'Morris screening of the default trial (16 trajectories, 2 replicates a point)',\n"
        ")\n"
        "figure.savefig('sensitivity_morris.png', dpi=100)\n"
        "Image('sensitivity_morris.png')"
    ),
]

CALIBRATION = [
    new_markdown_cell(
        "# Calibrating mechanism strengths with ABC-SMC, and checking the fit\n\n"
        "The mechanism strengths (`rel_*`) and base probabilities are not measured in the study;\n"
        "they are calibrated with pyabc's ABC-SMC against the study's contrasts (the targets in\n"
        "`calibration/targets.toml`, also packaged as the default). This notebook runs the\n"
        "`--quick` budget (40 particles, 3 generations): enough to see the workflow and the\n"
        "checks, far too little for a posterior to rely on. The shipped posterior came from the\n"
        "full budget (`peersim calibrate --out calibration/default --seed 0`, see\n"
        "`docs/calibration.md`)."
    ),
    new_code_cell(
        "from dataclasses import replace\n"
        "from pathlib import Path\n\n"
        "from peersim.calibration.smc import QUICK, CalibrationProblem\n"
        "from peersim.calibration.workflow import calibrate\n\n"
        "problem = CalibrationProblem.load()  # the packaged targets and the embedded default scenario\n"
        "problem.priors.names"
    ),
    new_markdown_cell(
        "`calibrate` runs ABC-SMC with its own SQLite history (`history.db`; run again without\n"
        "`force` to resume it), then simulates the posterior predictive check and writes a report.\n"
        "This notebook owns `calibration_quick/`, so it replaces it each time (`force=True`)."
    ),
    new_code_cell(
        "out = Path('calibration_quick')\n"
        "settings = replace(QUICK, seed=0, jobs=2)\n"
        "calibration = calibrate(problem, settings, out / 'history.db', out, force=True)\n"
        "calibration.outcome.populations[['t', 'epsilon', 'particles', 'samples']]"
    ),
    new_markdown_cell(
        "## Posterior predictive check\n\n"
        "For every target: the simulated 95% interval of study-sized runs drawn from the\n"
        "posterior, and the share of draws meeting the observation, after calibration and under\n"
        "the priors."
    ),
    new_code_cell(
        "columns = ['target', 'simulated_median', 'simulated_lo', 'simulated_hi']\n"
        "columns += ['share_meeting', 'prior_share_meeting', 'passed']\n"
        "calibration.check.ppc[columns].round(3)"
    ),
    new_markdown_cell(
        "## Which parameters the targets inform\n\n"
        "A posterior SD above 0.8 of the prior SD means the targets barely inform a parameter."
    ),
    new_code_cell(
        "columns = ['parameter', 'prior_low', 'prior_high', 'posterior_q05', 'posterior_q95']\n"
        "calibration.check.identifiability[[*columns, 'spread_ratio', 'informed']].round(3)"
    ),
    new_markdown_cell("## A figure for a report"),
    new_code_cell(
        "from IPython.display import Image\n\n"
        "from peersim.calibration.figures import ppc_figure\n\n"
        "draws = calibration.check.draws.query(\"draws_from == 'posterior'\")\n"
        "figure = ppc_figure(calibration.check.ppc, draws, problem.targets)\n"
        "figure.savefig('calibration_ppc.png', dpi=100)\n"
        "Image('calibration_ppc.png')"
    ),
]

PLANNING = [
    new_markdown_cell(
        "# Planning the rollout of a new site\n\n"
        "`scenarios/new_site_example.toml` is a rural site whose peer workers a not-for-profit\n"
        "would employ, with a first draft of resourcing. With the unit costs and lever options of\n"
        "`scenarios/costs_default.toml`, a plan answers three questions: what to expect of the\n"
        "draft, which lever buys the most per pound, and the cheapest mix of levers within a\n"
        "budget. See `docs/planning.md`.\n\n"
        "As `peersim plan` does, each replicate draws its mechanism strengths from the shipped\n"
        "posterior (one weighted particle, shared by every plan of the replicate), so the\n"
        "intervals carry uncertainty about the mechanisms as well as the model's own randomness;\n"
        "`prepare(..., use_posterior=False)` runs the scenario's point values instead.\n\n"
        "This notebook uses 8 replicates a plan (4 to screen the lever grid) to stay quick; the\n"
        "command-line default is 40. Run from the `notebooks/` folder."
    ),
    new_code_cell(
        "from pathlib import Path\n\n"
        "from peersim.executor import make_executor\n"
        "from peersim.planning.analysis import prediction_table\n"
        "from peersim.planning.report import answer_lines\n"
        "from peersim.planning.workflow import plan, prepare\n\n"
        "SCENARIOS = Path('..') / 'scenarios'\n"
        "inputs = prepare(\n"
        "    SCENARIOS / 'new_site_example.toml',\n"
        "    SCENARIOS / 'costs_default.toml',\n"
        "    budget=100_000,\n"
        "    replicates=8,\n"
        "    seed=0,\n"
        ")\n"
        "print(inputs.posterior.source, inputs.posterior.n, 'particles')\n"
        "len(inputs.space.plans())"
    ),
    new_code_cell(
        "with make_executor('local', jobs=2) as pool:\n"
        "    result = plan(inputs, pool)\n"
        "print('\\n'.join(answer_lines(result)))\n"
        "prediction_table(result.prediction).round(3)"
    ),
    new_markdown_cell(
        "## The frontier of the lever grid\n\n"
        "`result.frontier` has one row per plan: its levers, expected yearly cost and outcomes.\n"
        "`frontier_engagement` marks the plans that no plan costing the same or less beats on\n"
        "engagement; these are the only plans worth considering for that outcome."
    ),
    new_code_cell(
        "columns = [*inputs.space.names, 'cost_total', 'engagement_rate', 'readmissions_averted_per_100']\n"
        "result.frontier.query('frontier_engagement').sort_values('cost_total')[columns].round(3)"
    ),
    new_markdown_cell("## A figure for a report"),
    new_code_cell(
        "from IPython.display import Image\n\n"
        "from peersim.planning.figures import frontier_figure\n\n"
        "figure = frontier_figure(\n"
        "    result.frontier,\n"
        "    'engagement_rate',\n"
        "    result.current,\n"
        "    result.search.recommended,\n"
        "    inputs.budget,\n"
        "    currency=inputs.costs.currency,\n"
        "    title='rural_nfp: yearly cost against expected engagement (8 replicates a plan)',\n"
        ")\n"
        "figure.savefig('planning_frontier.png', dpi=100)\n"
        "Image('planning_frontier.png')"
    ),
]

NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_what_if.ipynb": WHAT_IF,
    "03_sensitivity.ipynb": SENSITIVITY,
    "04_calibration.ipynb": CALIBRATION,
    "05_rollout_planning.ipynb": PLANNING,
}


def main() -> None:
    """Write every notebook in :data:`NOTEBOOKS`."""
    for name, cells in NOTEBOOKS.items():
        notebook = new_notebook(cells=cells)
        for index, cell in enumerate(notebook.cells):  # stable ids, so regenerating changes nothing
            cell.id = f"{Path(name).stem[:2]}-{index:02d}"
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbformat.write(notebook, HERE / name)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
