"""``peersim validate``: check input files of every kind, each with its command's own messages."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from peersim.cli.common import EXIT_BAD_INPUT, flags


class KindName(StrEnum):
    """Kinds of input file ``--kind`` may name (:data:`peersim.validation.KINDS`)."""

    scenario = "scenario"
    costs = "costs"
    factors = "factors"
    targets = "targets"
    trial = "trial"
    posterior = "posterior"


def command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Input files: scenario, costs, factors or targets TOML, or a posterior Parquet file.",
            show_default=False,
        ),
    ],
    kind: Annotated[
        KindName | None,
        typer.Option(
            "--kind",
            help="Check every file as this kind. Default: told from each file's content "
            "([[sites]], [unit_costs], [[factors]], [[targets]]; Parquet).",
            show_default=False,
        ),
    ] = None,
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            help="Scenario to check factors, targets and posteriors against, and whose site (one site, "
            "service mode) a costs file's levers are checked against. Default: the embedded scenario.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check input files of every kind and report each one: what it holds, or what is wrong.

    Every file is checked, each with the messages of the command that reads it:
    a valid file gets one line on stdout, a bad one its error on stderr, as
    that command would print it. Exits 2 if any file is not valid.
    """
    # The library loads only when the command runs (heavy: pandas, Mesa), not for `peersim --help`.
    from peersim.validation import check_files

    checks = check_files(files, kind.value if kind is not None else None, scenario)
    for check in checks:
        if check.ok:
            typer.echo(f"{check.path}: {flags(check.summary)}")
        else:
            typer.echo(f"peersim: error: {flags(check.error)}", err=True)
    if not all(check.ok for check in checks):
        raise typer.Exit(EXIT_BAD_INPUT)
