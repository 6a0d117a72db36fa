"""Tell which kind of input a file is, and check it with the loader of the command that reads it.

The kinds, and the top-level keys that tell them apart (:data:`MARKERS`):

* ``scenario`` (``peersim run``, ``compare``, ``plan``'s site): ``[[sites]]``;
* ``costs`` (``peersim plan --costs``): ``[unit_costs]``;
* ``factors`` (``peersim sensitivity`` and ``peersim discover``): ``[[factors]]``; a file
  naming a factor only discovery takes (``geography``) is checked as ``peersim discover``
  reads it, against the site given (one site in service mode) or the packaged example site;
* ``targets`` (``peersim calibrate`` and ``ppc``): ``[[targets]]``;
* ``trial`` (``peersim trials``: a registry study's ``observed.toml``): ``[[outcomes]]``,
  checked with the ``scenario.toml`` beside it when there is one, as the registry
  loads them;
* ``posterior`` (``--posterior``): a Parquet file (``.parquet``, or Parquet's
  magic bytes ``PAR1``).

Factors, targets and posteriors are checked against a scenario, as the commands
that read them do: the embedded default scenario unless one is given, which is
also what ``sensitivity``, ``calibrate`` and ``ppc`` use without ``--scenario``
(unless a targets file names its own, with its ``scenario`` key). A costs file's lever options are
checked against a site only when the scenario given is one site in service
mode, as ``peersim plan`` needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from peersim.calibration.inputs import bind_targets, build_priors, load_targets, study_scenario
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import default_scenario, load_scenario
from peersim.discovery.inputs import default_site, discovery_only
from peersim.discovery.inputs import factors_from_dict as discovery_factors
from peersim.errors import PeersimInputError, ScenarioError
from peersim.io.files import existing_file, parse_toml, read_text_file
from peersim.planning.inputs import PlanningSite, load_costs, load_planning_site
from peersim.planning.levers import lever_space
from peersim.sensitivity.inputs import FactorsError, factors_from_dict
from peersim.trials.inputs import OBSERVED_FILE, SCENARIO_FILE, load_observed, load_study
from peersim.uncertainty import load_posterior

InputKind = Literal["scenario", "costs", "factors", "targets", "trial", "posterior"]
"""The kinds of input file peersim reads."""

KINDS: dict[InputKind, str] = {
    "scenario": "[[sites]] (scenario)",
    "costs": "[unit_costs] (costs)",
    "factors": "[[factors]] (factors)",
    "targets": "[[targets]] (targets)",
    "trial": "[[outcomes]] (a trials registry entry)",
    "posterior": "a Parquet file (posterior)",
}
"""Each kind, with what marks a file as that kind (for messages)."""

MARKERS: dict[str, InputKind] = {
    "sites": "scenario",
    "unit_costs": "costs",
    "factors": "factors",
    "targets": "targets",
    "outcomes": "trial",
}
"""Top-level keys that decide a TOML file's kind: one key each, required in its kind."""

HINTS: dict[str, InputKind] = {
    "mode": "scenario",
    "horizon": "scenario",
    "protocol": "scenario",
    "mechanisms": "scenario",
    "levers": "costs",
    "basis": "costs",
    "currency": "costs",
    "price_year": "costs",
    "priors": "targets",
    "held_out": "trial",
    "citation": "trial",
}
"""Other top-level keys of one kind only: they decide when no marker is present."""

PARQUET_MAGIC = b"PAR1"
"""First bytes of every Parquet file."""


@dataclass(frozen=True)
class FileCheck:
    """The outcome of checking one file.

    Attributes
    ----------
    path
        The file, as given.
    kind
        Its kind, or ``None`` when it could not be told.
    summary
        What was found, when the file is valid (e.g. ``"valid costs file: GBP ..."``).
    error
        The message the command reading the file would give, when it is not
        (it starts with the file name, as every input error does).
    """

    path: Path
    kind: InputKind | None
    summary: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether the file is valid."""
        return not self.error

    @property
    def problem(self) -> str:
        """The error without the file name that starts it (``""`` for a valid file)."""
        return self.error.removeprefix(f"{self.path}: ")


@dataclass(frozen=True)
class _Against:
    """What files are checked against: a scenario, and the planning site if it is one."""

    scenario: Scenario
    site: PlanningSite | None
    why_no_site: str


def detect_kind(path: str | Path) -> InputKind:
    """Tell a file's kind from its content (see the module docstring).

    Raises
    ------
    PeersimInputError
        If the file is missing or unreadable, is not valid TOML (and not
        Parquet), or has the keys of no kind or of several; naming the file.
    """
    path = existing_file(path)
    if path.suffix.lower() == ".parquet":
        return "posterior"
    try:
        with path.open("rb") as handle:
            start = handle.read(len(PARQUET_MAGIC))
    except OSError as problem:
        raise PeersimInputError(f"{path}: cannot be read ({problem.strerror or problem})") from None
    if start == PARQUET_MAGIC:
        return "posterior"
    data = parse_toml(read_text_file(path), str(path))
    for table in (MARKERS, HINTS):
        found = sorted({table[key] for key in data if key in table})
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            shown = ", ".join(KINDS[kind] for kind in found)
            raise PeersimInputError(
                f"{path}: has the top-level keys of several kinds of input file ({shown}); "
                "give `kind` to check it as one of them"
            )
    expected = ", ".join(text for kind, text in KINDS.items() if kind != "posterior")
    raise PeersimInputError(
        f"{path}: cannot tell which kind of input file this is: it has none of {expected}; give `kind`"
    )


def check_file(
    path: str | Path,
    kind: InputKind | None = None,
    scenario: Scenario | None = None,
    site: PlanningSite | None = None,
) -> FileCheck:
    """Check one file with the loader of its kind; never raises for a bad file.

    Parameters
    ----------
    path
        The file.
    kind
        Its kind; ``None`` tells it from the content (:func:`detect_kind`).
    scenario
        What factors, targets and posteriors are checked against; ``None`` for
        the embedded default scenario.
    site
        The site a costs file's lever options are checked against; ``None``
        checks the costs file alone.

    Returns
    -------
    FileCheck
        With a summary if the file is valid, and the message the command
        reading it would give if not.

    Raises
    ------
    PeersimInputError
        If ``kind`` is not one of :data:`KINDS` (a bad call, not a bad file).
    """
    path = Path(path)
    if kind is not None and kind not in KINDS:
        raise PeersimInputError(f"`kind` {kind}: not a kind of input file; kinds are: {', '.join(KINDS)}")
    against = _Against(scenario if scenario is not None else default_scenario(), site, "")
    return _check(path, kind, against)


def check_files(
    paths: Sequence[str | Path], kind: InputKind | None = None, scenario: str | Path | None = None
) -> list[FileCheck]:
    """Check every file (each with the loader of its kind), one bad file not stopping the rest.

    Parameters
    ----------
    paths
        The files, in the order reported.
    kind
        Check every file as this kind; ``None`` tells each file's kind from its content.
    scenario
        Scenario file the factors, targets and posteriors are checked against,
        and whose site (if it is one site in service mode) a costs file's lever
        options are checked against; ``None`` for the embedded default scenario
        (costs files are then checked without a site).

    Returns
    -------
    list of FileCheck
        One per file, in order.

    Raises
    ------
    PeersimInputError
        If ``scenario`` cannot be used or ``kind`` is not a kind; nothing is checked then.
    """
    if kind is not None and kind not in KINDS:
        raise PeersimInputError(f"`kind` {kind}: not a kind of input file; kinds are: {', '.join(KINDS)}")
    if scenario is None:
        against = _Against(default_scenario(), None, "no site given; give `scenario` to check them")
    else:
        spec = load_scenario(scenario)
        try:
            site: PlanningSite | None = load_planning_site(scenario)
            why = ""
        except ScenarioError:
            site, why = None, f"{scenario} is not one site in service mode"
        against = _Against(spec, site, why)
    return [_check(Path(path), kind, against) for path in paths]


def _check(path: Path, kind: InputKind | None, against: _Against) -> FileCheck:
    found: InputKind | None = kind
    try:
        if found is None:
            found = detect_kind(path)
        summary = _CHECKS[found](path, against)
    except PeersimInputError as error:
        return FileCheck(path, found, error=str(error))
    return FileCheck(path, found, summary=summary)


def _scenario(path: Path, against: _Against) -> str:
    scenario = load_scenario(path)
    return (
        f"valid scenario {scenario.name!r}: {len(scenario.sites)} site(s), "
        f"{scenario.mode} mode, hash {scenario.hash}"
    )


def _costs(path: Path, against: _Against) -> str:
    costs = load_costs(path)
    levers = ", ".join(costs.file.levers) or "none"
    text = f"valid costs file: {costs.currency} at {costs.file.price_year} prices; levers open: {levers}"
    if against.site is None:
        if costs.file.levers:
            reason = f" ({against.why_no_site})" if against.why_no_site else ""
            text += f"; lever options not checked against a site{reason}"
        return text
    space = lever_space(costs, against.site)
    text += f"; {space.size} plan(s) for site {against.site.site.name!r}"
    if space.dropped:
        text += f"; options left out: {'; '.join(space.dropped)}"
    return text


def _factors(path: Path, against: _Against) -> str:
    # A file naming a factor only `peersim discover` takes (geography) is checked as discover reads it.
    data = parse_toml(read_text_file(path, FactorsError), str(path), FactorsError)
    if discovery_only(data):
        site = against.site if against.site is not None else default_site()
        space = discovery_factors(data, site, source=str(path))
        return (
            f"valid factors file for peersim discover: {len(space.factors)} factor(s) "
            f"({', '.join(space.labels)}), checked against site {site.site.name!r} ({site.source})"
        )
    space = factors_from_dict(data, against.scenario, source=str(path))
    return (
        f"valid factors file: {len(space.factors)} factor(s) ({', '.join(space.labels)}), "
        f"checked against scenario {against.scenario.name!r}"
    )


def _targets(path: Path, against: _Against) -> str:
    # What CalibrationProblem.build does for `peersim calibrate` and `ppc`: bind, then the priors.
    # A file naming its own scenario (`scenario = ...`) is checked against that one.
    target_set = load_targets(path)
    named = study_scenario(target_set)
    scenario = named[0] if named is not None else against.scenario
    bind_targets(target_set, scenario)
    priors = build_priors(target_set)
    return (
        f"valid targets file {target_set.spec.name!r}: {len(target_set.names)} target(s), "
        f"{len(priors.names)} calibrated parameter(s), checked against scenario {scenario.name!r}"
    )


def _trial(path: Path, against: _Against) -> str:
    # What `peersim trials` reads: the study folder when its scenario is beside the file.
    if (path.parent / SCENARIO_FILE).is_file() and path.name == OBSERVED_FILE:
        study = load_study(path.parent)
        observed, checked = study.observed, f", checked with {study.folder / SCENARIO_FILE}"
    else:
        observed, checked = load_observed(path), ""
    tested = sum(outcome.role == "predicted" for outcome in observed.outcomes)
    return f"valid trial {observed.name!r}: {len(observed.outcomes)} outcome(s), {tested} predicted{checked}"


def _posterior(path: Path, against: _Against) -> str:
    posterior = load_posterior(path)
    posterior.check_against(against.scenario)
    return (
        f"valid posterior: {posterior.n} particle(s), effective sample size "
        f"{posterior.effective_sample_size:.1f}, {len(posterior.parameters)} parameter(s) drawn"
        + (f", {len(posterior.fixed)} fixed" if posterior.fixed else "")
    )


_CHECKS: dict[InputKind, Callable[[Path, _Against], str]] = {
    "scenario": _scenario,
    "costs": _costs,
    "factors": _factors,
    "targets": _targets,
    "trial": _trial,
    "posterior": _posterior,
}
"""The check of each kind: the loader of the command that reads it, and a summary of what it found."""
