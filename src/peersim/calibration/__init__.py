"""Calibration of mechanism strengths to the study's contrasts with ABC-SMC (pyabc).

Modules, in the order a calibration uses them:

* :mod:`~peersim.calibration.targets`: targets file -> validated, bound targets;
* :mod:`~peersim.calibration.priors`: uniform priors from the declared bounds;
* :mod:`~peersim.calibration.model`: the model function (parameters -> discrepancies);
* :mod:`~peersim.calibration.smc`: pyabc ABC-SMC, database fingerprint and resume;
* :mod:`~peersim.calibration.posterior`: weighted particles, drawing per replicate;
* :mod:`~peersim.calibration.report`: identifiability, posterior predictive check, figures;
* :mod:`~peersim.calibration.workflow`: end to end, as ``peersim calibrate`` runs it.

Nothing here imports pyabc until a calibration runs.
"""
