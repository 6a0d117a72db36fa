"""The Mesa model layer: agents, participant rules and the model itself.

It knows nothing of files, command lines, executors or plots.
"""

from peersim.model.agents import Patient, PeerWorker, Supervisor, WardStaff
from peersim.model.model import PeerSupportModel

__all__ = ["Patient", "PeerSupportModel", "PeerWorker", "Supervisor", "WardStaff"]
