"""A progress bar on stderr for long runs, silent when not on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MIN_RUNS_FOR_BAR = 4
"""Runs below this finish too quickly for a bar to help."""


@contextmanager
def progress_bar(total: int, enabled: bool = True, label: str = "runs") -> Iterator[Callable[[int], None]]:
    """Yield a callback that advances a bar by one run.

    The bar is drawn on stderr only when ``enabled``, stderr and stdout are
    terminals and ``total`` is at least :data:`MIN_RUNS_FOR_BAR`.
    """
    show = enabled and total >= MIN_RUNS_FOR_BAR and sys.stderr.isatty() and sys.stdout.isatty()
    if not show:
        yield lambda _index: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda _index: progress.advance(task)
