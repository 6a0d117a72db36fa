"""Scenario discovery: the site conditions and levers under which a rollout misses its target.

``peersim plan`` answers "what should this site expect, and what is the
cheapest plan that works?". Discovery asks the converse question of a plan:
over a space of conditions it does not control (travel, host, ward
acceptance, demand) and levers it might not get (posts, hours, supervision),
where does it stop working? It is the scenario discovery of robust decision
making (Bryant and Lempert 2010), with EMA Workbench's PRIM.

Pipeline
--------
1. **Inputs** (:mod:`~peersim.discovery.inputs`): one site in service mode
   (default: the packaged ``scenarios/new_site_example.toml``), a factors file
   in the format of ``peersim sensitivity`` plus the categorical
   ``geography`` (default: ``scenarios/discover_factors_default.toml``), and a
   target ``METRIC>=X`` or ``METRIC<=X`` (as ``peersim plan --target``).
2. **Design** (:mod:`~peersim.discovery.design`): a scrambled Latin
   hypercube over the factors and a ``dummy`` that no parameter reads, seeded
   from the base seed (:class:`scipy.stats.qmc.LatinHypercube`); every run has
   a seed of its own.
3. **Runs** (:mod:`~peersim.discovery.evaluate`): ``replicates`` runs per
   point through a :class:`peersim.executor.Executor` (local processes or
   Dask), each drawing its mechanism strengths from the posterior (the shipped
   one by default), so the runs sample parameter uncertainty and the model's
   randomness as well as the factors. Each run meets or misses the target.
4. **Analysis** (:mod:`~peersim.discovery.analysis`): PRIM
   (:mod:`ema_workbench.analysis.prim`) peels the factor space towards boxes
   where the runs miss; a box is chosen on each peeling trajectory (largest
   coverage x density among boxes at least :data:`~peersim.discovery.analysis.MIN_DENSITY`
   dense) and PRIM's covering finds up to three; each box gets its limits,
   coverage, density, ``n`` and a sentence such as "engagement falls below 0.5
   in 83% of runs where travel ≥ 53 min one way and the host is a
   not-for-profit".
5. **Workflow** (:mod:`~peersim.discovery.workflow`): :func:`discover` (one
   call, for Python and the browser explorer) or :func:`prepare` then
   :func:`run_discovery` (the command line, which checks every input and the
   output directory before starting a pool), returning a
   :class:`~peersim.discovery.result.DiscoveryResult`;
   :mod:`~peersim.discovery.report` and :mod:`~peersim.discovery.figures`
   write ``discover.json``,
   ``discover.md``, ``discover.png`` (trade-off curve and box limits),
   ``runs.csv`` and ``runs.parquet``.

Reproducible: the same seed gives the same design, runs and boxes with any
executor and number of workers (outcomes are placed by point and replicate;
PRIM is deterministic). Nothing here imports EMA Workbench, SciPy or
matplotlib at import time.
"""

from peersim.discovery.analysis import MAX_BOXES, MIN_DENSITY, Box, Limit
from peersim.discovery.design import MIN_N, Design, make_design, run_seed
from peersim.discovery.inputs import DEFAULT_TARGET, load_factors, load_site, parse_factors
from peersim.discovery.report import discovery_json
from peersim.discovery.result import DEFAULT_N, DEFAULT_REPLICATES, DiscoveryInputs, DiscoveryResult
from peersim.discovery.workflow import discover, prepare, run_discovery

__all__ = [
    "DEFAULT_N",
    "DEFAULT_REPLICATES",
    "DEFAULT_TARGET",
    "MAX_BOXES",
    "MIN_DENSITY",
    "MIN_N",
    "Box",
    "Design",
    "DiscoveryInputs",
    "DiscoveryResult",
    "Limit",
    "discover",
    "discovery_json",
    "load_factors",
    "load_site",
    "make_design",
    "parse_factors",
    "prepare",
    "run_discovery",
    "run_seed",
]
