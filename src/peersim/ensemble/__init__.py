"""Ensembles and what-if comparisons: replicates on an executor, run stores, summaries, figures.

* :mod:`~peersim.ensemble.batches`: replicates in batches on any executor, into result sinks;
* :mod:`~peersim.ensemble.runstore`: the resumable run store of Parquet tables;
* :mod:`~peersim.ensemble.summary`: means with 95% intervals per site, arm and week;
* :mod:`~peersim.ensemble.compare`: paired differences of what-ifs on common random numbers;
* :mod:`~peersim.ensemble.workflow`: ``peersim run`` and ``peersim compare`` end to end;
* :mod:`~peersim.ensemble.figures`: the figures of both;
* :mod:`~peersim.ensemble.report`: the files written next to a store or a comparison.
"""
