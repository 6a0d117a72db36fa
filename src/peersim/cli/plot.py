"""``peersim plot``: figures of a run store (trajectories and end-of-run outcomes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def command(
    store_path: Annotated[
        Path,
        typer.Argument(metavar="RUNSTORE", help="A run store (peersim run --out DIR).", show_default=False),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Directory for the figures. Default: the run store itself."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace figures already in --out.")] = False,
) -> None:
    """Draw per-site trajectories with 95% bands and end-of-run outcomes by site and arm."""
    from peersim.ensemble.workflow import plot_store

    for path in plot_store(store_path, out, force):
        typer.echo(f"wrote {path}")
