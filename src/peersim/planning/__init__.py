"""Planning a new site's rollout: predicted outcomes, which lever to pull first, the cheapest plan.

Given a one-site scenario in service mode and a costs file, ``peersim plan``
answers three questions a service planning peer support for discharge asks:

1. **What should we expect?** Engagement, fidelity and 12-month readmission
   for the site as given, with 95% intervals, against the same people without
   peer support (usual care on common random numbers); readmissions averted
   per 100 people discharged, cost per readmission averted and the net cost
   after readmission savings (:func:`~peersim.planning.analysis.prediction`);
   over several service years, the cost per readmission averted of each year
   and to date, and outcomes by diagnostic group
   (:func:`~peersim.planning.analysis.yearly_cost_effect`,
   :func:`~peersim.planning.analysis.group_outcomes`).
2. **Which lever buys the most?** Each open lever moved one step, compared
   with the site as given on common random numbers, gain per unit of added
   cost (:func:`~peersim.planning.analysis.rank_levers`).
3. **What is the cheapest mix that reaches our target?** An exhaustive search
   of the lever grid with targets as chance constraints
   (:func:`~peersim.planning.search.search`).

Modules, in the order a plan uses them: :mod:`~peersim.planning.inputs` (the
site, costs file, targets and budget, parsed and checked),
:mod:`~peersim.planning.levers` (lever grid, plan costs, lever steps),
:mod:`~peersim.planning.evaluate` (runs on an executor),
:mod:`~peersim.planning.analysis` (prediction, ranking, frontier),
:mod:`~peersim.planning.search`, :mod:`~peersim.planning.result` (the checked
inputs and what a plan found), :mod:`~peersim.planning.resume` (finished runs
kept in ``out/checkpoint/``, so an interrupted plan resumes),
:mod:`~peersim.planning.workflow` (end to end), :mod:`~peersim.planning.figures`
and :mod:`~peersim.planning.report` (JSON, Markdown and the output files). See
``docs/planning.md``.
"""
