"""What a run reads, and what it reports: parameters, scenarios, random streams, result tables.

* :mod:`~peersim.core.parameters`: every numeric parameter, declared once with its bounds;
* :mod:`~peersim.core.scenario`: the validated, frozen scenario;
* :mod:`~peersim.core.scenario_files`: scenario files parsed, validated and built;
* :mod:`~peersim.core.overrides`: ``SITE.KEY=VALUE`` overrides of scenario keys;
* :mod:`~peersim.core.streams`: named, seeded random streams;
* :mod:`~peersim.core.results`: the metric vocabulary and :class:`~peersim.core.results.RunResult`;
* :mod:`~peersim.core.reference`: the scenario reference and ODD tables, generated from the parameters.

With :mod:`peersim.model`, this is the code a run's numbers depend on, hashed
folder by folder (:func:`peersim.io.provenance.model_source_digest`).
"""
