"""Calibration of mechanism strengths to the study's contrasts with ABC-SMC (pyabc).

Modules, in the order a calibration uses them:

* :mod:`~peersim.calibration.inputs`: targets file -> validated, bound targets, and
  uniform priors from the declared bounds;
* :mod:`~peersim.calibration.evaluate`: the model function (parameters ->
  discrepancies) and predictive draws;
* :mod:`~peersim.calibration.smc`: pyabc ABC-SMC, database fingerprint and resume;
* :mod:`~peersim.calibration.analysis`: identifiability and the posterior predictive check;
* :mod:`~peersim.calibration.figures` and :mod:`~peersim.calibration.report`: its
  figures and report;
* :mod:`~peersim.calibration.workflow`: end to end, as ``peersim calibrate`` runs it.

The posterior it produces is read, and drawn from, by :mod:`peersim.uncertainty`,
below every experiment. Nothing here imports pyabc until a calibration runs.
"""
