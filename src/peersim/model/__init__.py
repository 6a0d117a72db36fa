"""The Mesa model layer: agents, their state, the weekly rules and the model itself.

It does no file handling of its own (:class:`~peersim.model.site_model.SiteModel`, the
model for Mesa's tools, reads a scenario through :mod:`peersim.core`), and knows nothing
of command lines, executors or plots.
"""

from peersim.model.agents import Patient, PeerWorker, Supervisor, WardStaff
from peersim.model.model import PeerSupportModel
from peersim.model.results import collect

__all__ = ["Patient", "PeerSupportModel", "PeerWorker", "Supervisor", "WardStaff", "collect"]
