"""The planner's explorer: move a site's levers in the browser and see the effect with its uncertainty.

``peersim explore SITE`` serves a Solara page on 127.0.0.1 (the ``explore``
extra). The page only lays out what these modules compute, each usable
without a browser (notebooks and tests use them directly):

- :mod:`~peersim.explore.inputs`: the site, its context and levers, and the
  form read into a validated draft (the checks of ``--set``);
- :mod:`~peersim.explore.evaluate`: paired runs of the plan and the draft on
  common random numbers, a few replicates per task;
- :mod:`~peersim.explore.workflow`: :func:`~peersim.explore.workflow.explore_run`,
  partial results as tasks finish, cancellable;
- :mod:`~peersim.explore.view`: :func:`~peersim.explore.view.view_of`, what
  the page shows, a pure function of the finished pairs;
- :mod:`~peersim.explore.present`, :mod:`~peersim.explore.figures` and
  :mod:`~peersim.explore.report`: tables, figures, the saved plan and the
  HTML report;
- :mod:`~peersim.explore.server` and :mod:`~peersim.explore.app`: the server
  and the Solara page.
"""
