"""How long, and how much memory, some work will take: as numbers, and as text for the person who asked.

Experiments estimate their work before they start (:class:`Workload`): the
command line prints :meth:`Workload.text` on stderr, and a request beyond an
experiment's declared maximum is refused with :meth:`Workload.cost_text` in
the message, so that nobody waits hours, or runs out of memory, to learn that
they asked for too much.
"""

from __future__ import annotations

from dataclasses import dataclass

_UNITS = (("year", 365.25 * 86400), ("day", 86400), ("h", 3600), ("min", 60), ("s", 1))
_BYTES = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def duration_text(seconds: float) -> str:
    """Write a duration rounded for reading: ``"40 s"``, ``"2 min"``, ``"3.5 h"``, ``"12,000 years"``."""
    if seconds < 1:
        return "under a second"
    for name, size in _UNITS:
        if seconds >= size:
            value = seconds / size
            shown = f"{value:,.1f}" if value < 10 and name not in ("s", "min") else f"{value:,.0f}"
            plural = "s" if name in ("year", "day") and shown != "1" else ""
            return f"{shown} {name}{plural}"
    return f"{seconds:.0f} s"  # pragma: no cover - the loop ends at seconds


def bytes_text(size: float) -> str:
    """Write a memory size in binary units: ``"512 KiB"``, ``"1.5 GiB"``, ``"192 TiB"``."""
    for name, unit in _BYTES:
        if size >= unit:
            value = size / unit
            return f"{value:,.1f} {name}" if value < 10 else f"{value:,.0f} {name}"
    return f"{size:.0f} bytes"


@dataclass(frozen=True)
class Workload:
    """Model runs about to be made, with their serial time and the memory they need here.

    Attributes
    ----------
    runs
        Model runs (replicates) to make.
    seconds
        Serial seconds they take on one core (a rough estimate: the real time
        varies with the machine by a factor of two).
    memory
        Bytes the experiment holds in this process for them (results, design).
    what
        What the runs are for, in a few words (``"to screen 4 plans"``), or ``""``.
    """

    runs: int
    seconds: float
    memory: float
    what: str = ""

    def text(self, workers: int = 1) -> str:
        """Say in one line how long the work takes on ``workers``, to print before it starts.

        For example ``"about 2 min of simulation (480 runs) on 2 workers"``.
        """
        workers = max(1, workers)
        where = f"{workers} workers" if workers > 1 else "1 worker"
        what = f" {self.what}" if self.what else ""
        took = duration_text(self.seconds / workers)
        about = "" if took.startswith("under") else "about "
        return f"{about}{took} of simulation ({self.runs:,} runs{what}) on {where}"

    def cost_text(self) -> str:
        """Say what the work would cost: runs, serial time on one core and memory.

        For example ``"4.0e+13 model runs, about 130,000 years on one core and 192 TiB of memory"``.
        """
        runs = f"{self.runs:,}" if self.runs < 10**9 else f"{self.runs:.1e}"
        return (
            f"{runs} model runs, about {duration_text(self.seconds)} on one core "
            f"and {bytes_text(self.memory)} of memory"
        )
