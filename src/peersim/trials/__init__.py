"""Held-out validation: predict published trials the model was never calibrated on, and score it.

Pipeline
--------
1. The **registry** (:mod:`~peersim.trials.inputs`): one folder per study
   under ``peersim/data/trials/`` (or any folder given), with the study's
   design as an ordinary ``scenario.toml`` and what it published as
   ``observed.toml``: each outcome a headline metric, its value, its exact
   definition, a confidence tag and a role (``predicted``: a test;
   ``input``: set by the scenario; ``calibration``: informed a default
   calibration target). A test keeps every registry study out of the
   default calibration targets, except what an entry declares.
2. The **prediction** (:mod:`~peersim.trials.workflow`): replicates of every
   study's scenario on one executor, each with its own weighted draw of
   mechanism strengths from the shipped posterior (values the scenario sets
   are kept), seeded ``replicate_seed(seed, i)``.
3. The **scores** (:mod:`~peersim.trials.evaluate`): predicted median and
   central 95% interval, coverage, the predictive percentile of the
   observation and the CRPS.
4. The **outputs** (:mod:`~peersim.trials.report`, :mod:`~peersim.trials.figures`):
   ``trials.json``, ``trials.csv``, ``trials.png`` and ``report.md``.
"""

from peersim.trials.evaluate import crps, predictive_percentile
from peersim.trials.inputs import Outcome, Registry, Study, load_registry, load_study
from peersim.trials.workflow import DEFAULT_REPLICATES, TrialsResult, run_trials

__all__ = [
    "DEFAULT_REPLICATES",
    "Outcome",
    "Registry",
    "Study",
    "TrialsResult",
    "crps",
    "load_registry",
    "load_study",
    "predictive_percentile",
    "run_trials",
]
