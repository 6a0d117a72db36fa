"""``peersim explore``: the planner's explorer in the browser, served on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from peersim.cli.common import JobsOption, NoPosteriorOption, PosteriorOption

INSTALL_HINT = "peersim explore needs the explore extra: pip install -e '.[explore]' (or 'peersim[explore]')"


def command(
    site: Annotated[
        Path | None,
        typer.Argument(
            help="One-site scenario TOML file in service mode (the plan). Default: the packaged copy of "
            "scenarios/new_site_example.toml.",
            show_default=False,
        ),
    ] = None,
    costs: Annotated[
        Path | None,
        typer.Option(
            "--costs",
            "-c",
            help="Costs TOML: unit costs and the lever options the sidebar offers. "
            "Default: the packaged copy of scenarios/costs_default.toml.",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int, typer.Option("--port", "-p", help="Port on 127.0.0.1 to serve on (0: any free port).")
    ] = 8765,
    posterior: PosteriorOption = None,
    no_posterior: NoPosteriorOption = False,
    jobs: JobsOption = None,
) -> None:
    """Explore a site's plan in the browser: move levers, run, read the effect with its uncertainty.

    Serves an interactive page on http://127.0.0.1:PORT/ (this machine only; no
    browser is opened, open the URL printed). The sidebar shows the site's
    context and levers; "Run" compares the draft with the plan on common random
    numbers, each replicate drawing its mechanism strengths from the shipped
    posterior, and shows partial results as replicates finish; "Where it
    fails" runs scenario discovery around the draft, and "Model" steps one
    run week by week. "Save plan" downloads the draft as a scenario TOML file,
    "Report" the comparison as one HTML file. Stop with Ctrl-C.
    """
    try:
        import solara  # noqa: F401 - only to tell whether the extra is installed
    except ImportError:
        typer.echo(f"peersim: error: {INSTALL_HINT}", err=True)
        raise typer.Exit(2) from None
    from peersim.explore.server import ExploreConfig, serve

    config = ExploreConfig(site, costs, posterior, not no_posterior, jobs)

    def ready(url: str) -> None:
        typer.echo(
            f"peersim explore: serving {site or 'the example site'} at {url} (Ctrl-C to stop)", err=True
        )

    serve(config, port, ready)
    typer.echo("peersim explore: stopped", err=True)
