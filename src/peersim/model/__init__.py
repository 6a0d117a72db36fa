"""The Mesa model layer: agents, their state, the weekly rules and the model itself.

It knows nothing of files, command lines, executors or plots.
"""

from peersim.model.agents import Patient, PeerWorker, Supervisor, WardStaff
from peersim.model.model import PeerSupportModel
from peersim.model.results import collect

__all__ = ["Patient", "PeerSupportModel", "PeerWorker", "Supervisor", "WardStaff", "collect"]
