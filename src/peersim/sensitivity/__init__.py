"""Global sensitivity analysis of implementation factors with SALib.

Which levers (supervisor hours, team preparation, host organisation, travel,
capacity) and which uncertain mechanism strengths drive engagement, fidelity and
readmission, and how much of each output's variance does each explain alone (S1)
and with its interactions (ST)?

Pipeline
--------
1. A **factors file** (:mod:`~peersim.sensitivity.inputs`) names the factors,
   their bounds (defaulting to the declared bounds of :mod:`peersim.core.parameters`)
   and the sites they apply to. Integer parameters are rounded when applied.
2. A **design** (:mod:`~peersim.sensitivity.design`) is sampled with SALib's
   Sobol', Morris or Latin hypercube sampler, always with an extra ``dummy``
   factor that no model parameter reads.
3. The **engine** (:mod:`~peersim.sensitivity.evaluate`) applies each point to the
   scenario's validated data, re-validates it with
   :func:`peersim.core.scenario_files.scenario_from_dict`, and runs it with
   :func:`peersim.run` through a :class:`peersim.executor.Executor` (local
   processes or Dask), one task per point.
4. The **analysis** (:mod:`~peersim.sensitivity.analysis`) computes indices with
   SALib's analysers, screens against the dummy, reports the noise floor and
   checks convergence; :mod:`~peersim.sensitivity.figures` draws them.
5. The **workflow** (:mod:`~peersim.sensitivity.workflow`) refuses an analysis
   beyond its declared maxima and an unusable output directory before any
   simulation, keeps each finished point in ``out/checkpoint/``
   (:mod:`~peersim.sensitivity.resume`) so that Ctrl-C loses nothing and the same
   call resumes, and writes the results (:mod:`~peersim.sensitivity.report`).

The model is stochastic: how that is handled
--------------------------------------------
* **Replicate averaging on common random numbers.** Each point runs
  ``replicates`` replicates and the analysis uses their mean. Replicate ``r`` at
  every point runs on ``peersim.core.streams.replicate_seed(seed, r)``, so points
  differ by their factors, not by luck, and the differences SALib's estimators
  take (``A`` against ``AB_j``; steps of a Morris trajectory) are between runs on
  the same random numbers.
* **The dummy sees the noise.** A dummy that changed nothing at all would get
  indices of exactly zero from SALib's Sobol' and Morris estimators (the two runs
  they compare would be identical), a threshold that screens nothing. So the
  dummy, which still changes no parameter, is the one thing that changes the
  random numbers: the points that differ from their partner only in the dummy
  (Sobol' ``AB_dummy``; a Morris step of the dummy; PAWN points with the dummy in
  the upper half of its range) run on fresh seeds of their own (see
  :mod:`peersim.sensitivity.design`). The dummy's indices are then those of a
  factor that does nothing but reshuffle the random numbers: the screening
  threshold. A factor whose key index (ST for Sobol', mu* for Morris, median KS
  for PAWN) is at or below the dummy's upper 95% bound is reported as
  **non-influential**. The threshold is conservative under common random
  numbers: a real factor compares runs that share their seeds, and only the part
  of the noise its change de-synchronises can inflate its index.
* **Noise floor.** Separately, the variance of the replicate mean at a fixed
  point (20 independent replicates at the centre of the factor box) relative to
  the variance of the replicate mean across the points on common random numbers.
  For Sobol' this is the ST a pure-noise factor would get; the dummy's ST
  estimates the same quantity averaged over the design.

Convergence: bootstrap 95% intervals for every screened index, and a
re-analysis of the design's first half (``N/2``: the first half of the Sobol'
blocks, Morris trajectories or Latin rows, each a valid design of its own);
indices that moved by more than their interval and a practical margin, negative
indices beyond their interval, and wide intervals are warned about.

Nothing here imports SALib at import time; the samplers and analysers are
imported inside the functions that use them.
"""

from peersim.sensitivity.design import DEFAULT_N, METHODS, Method, check_n, make_design
from peersim.sensitivity.evaluate import PeersimTarget, SensitivityRunError, Target
from peersim.sensitivity.inputs import (
    DUMMY,
    Factor,
    FactorsError,
    FactorSpace,
    default_factors,
    load_factors,
    parse_factors,
)
from peersim.sensitivity.workflow import SensitivityResult, run_sensitivity

__all__ = [
    "DEFAULT_N",
    "DUMMY",
    "METHODS",
    "Factor",
    "FactorSpace",
    "FactorsError",
    "Method",
    "PeersimTarget",
    "SensitivityResult",
    "SensitivityRunError",
    "Target",
    "check_n",
    "default_factors",
    "load_factors",
    "make_design",
    "parse_factors",
    "run_sensitivity",
]
