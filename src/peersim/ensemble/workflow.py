"""``peersim run`` and ``peersim compare`` end to end: stores opened, replicates run, summaries written.

:func:`run_ensemble` runs replicates of one scenario, into a resumable run
store if ``out`` is given, and summarises them; :func:`compare` does the same
for a base and its what-ifs on common random numbers and takes their paired
differences; :func:`plot_store` draws a store's figures. Each checks its
outputs before any simulation starts, and on Ctrl-C keeps what finished and
raises :class:`~peersim.errors.Interrupted` saying how to resume.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from peersim.core.overrides import ScenarioSource
from peersim.core.results import GROUP_METRICS, GROUPS, METRICS, WEEKS_PER_YEAR, YEAR_METRICS
from peersim.core.scenario import Scenario
from peersim.core.streams import check_seed
from peersim.ensemble.batches import EnsembleJob, EnsembleReport, MemorySink, ResultSink, run_ensembles
from peersim.ensemble.compare import (
    BREAKDOWN_TABLES,
    COMPARE_FILES,
    compare_json,
    comparison_labels,
    describe_source,
    site_mismatch,
    stacked_breakdowns,
    stacked_differences,
)
from peersim.ensemble.runstore import RunStore
from peersim.ensemble.summary import TABLE_KEYS, store_summary, summarise, summary_json
from peersim.errors import Interrupted, PeersimInputError, RunsFailedError
from peersim.executor import (
    Backend,
    Executor,
    Progress,
    executor_for,
    no_progress,
    sigint_ignored,
)
from peersim.io.estimates import Workload
from peersim.io.files import OutputDirectory
from peersim.io.inputs import check_count
from peersim.model.constants import MAX_STAY_WEEKS
from peersim.simulation import Runner, estimated_seconds
from peersim.uncertainty import Posterior

PACKAGE = str(Path(__file__).resolve().parents[1])
"""peersim's own folder: warnings name the caller's line outside it."""


MAX_REPLICATES = 100_000
"""Most replicates one run or comparison may ask for, per scenario.

100,000 replicates of the embedded default are about 3 hours on one core here and
a run store of a few GB; more is better split over seeds, or is a typing slip.
"""

BYTES_PER_KEPT_ROW = 150
"""Rough memory of one row of a kept table in this process (pandas, categorical labels)."""


def ensemble_estimate(scenarios: Sequence[Scenario], replicates: int) -> Workload:
    """Rough serial time and memory of ``replicates`` of each scenario (before resuming a store).

    Memory counts the rows this process keeps for the summaries: per site and
    overall, the headline metrics, each service year's metrics and each
    diagnostic group's metrics, per replicate.
    """
    seconds = sum(estimated_seconds(scenario) for scenario in scenarios) * replicates
    rows = sum(_kept_rows(scenario) for scenario in scenarios) * replicates
    return Workload(replicates * len(scenarios), seconds, rows * BYTES_PER_KEPT_ROW)


def _kept_rows(scenario: Scenario) -> int:
    """Rows of the ``metrics``, ``years`` and ``groups`` tables one replicate of ``scenario`` gives."""
    longest = scenario.horizon.recruitment_weeks + MAX_STAY_WEEKS + scenario.protocol.support_weeks + 1
    years = -(-longest // WEEKS_PER_YEAR)
    per_label = len(METRICS) + years * len(YEAR_METRICS) + len(GROUPS) * len(GROUP_METRICS)
    return (len(scenario.sites) + 1) * per_label


def check_ensemble(scenarios: Sequence[Scenario], seed: int, replicates: int, at_least: int = 1) -> Workload:
    """Check the seed and the replicate count of a run or comparison before any work; return its estimate.

    Raises
    ------
    PeersimInputError
        For a seed the streams do not accept, fewer than ``at_least`` replicates,
        or more than :data:`MAX_REPLICATES` (with the time and memory asked for).
    """
    check_seed(seed)
    check_count(replicates, "replicates", at_least, "for an interval" if at_least == 2 else "")
    work = ensemble_estimate(scenarios, replicates)
    if replicates > MAX_REPLICATES:
        raise PeersimInputError(
            f"`replicates` {replicates:,} is more than the {MAX_REPLICATES:,} allowed: it would be "
            f"{work.cost_text()}; ask for fewer, or split the work over several seeds"
        )
    return work


def design_change(base: Scenario, whatif: Scenario) -> str | None:
    """Say how ``whatif``'s design (mode, horizon) differs from ``base``'s; ``None`` if it does not."""
    changes = []
    if whatif.mode != base.mode:
        changes.append(f"mode {whatif.mode} instead of {base.mode}")
    for key in ("recruitment_weeks", "follow_up_weeks"):
        ours, theirs = getattr(base.horizon, key), getattr(whatif.horizon, key)
        if ours != theirs:
            changes.append(f"horizon.{key} {theirs} instead of {ours}")
    return ", ".join(changes) or None


@dataclass
class RunOutcome:
    """What :func:`run_ensemble` did.

    Attributes
    ----------
    source
        The scenario run, with its file and overrides.
    seed, replicates
        Base seed and replicates asked for.
    report
        Replicates resumed, finished now and failed.
    summary
        Mean and 95% interval per site and metric (``None`` if no replicate finished).
    posterior
        Record of the posterior mechanism strengths were drawn from (``None``: point values).
    store
        The run store, if one was written.
    written
        Files written besides the store's tables.
    held
        Replicates the summary describes: every one the store holds (which
        may be more than asked for), or those run in memory.
    years, groups
        Mean and 95% interval per service year or diagnostic group, site and
        metric (columns ``year, site, metric, mean, lo, hi, n`` and ``group,
        site, ...``), over the same replicates; ``None`` without a summary or
        for a store that does not keep the table.
    """

    source: ScenarioSource
    seed: int
    replicates: int
    report: EnsembleReport
    summary: pd.DataFrame | None
    posterior: dict[str, Any] | None
    store: RunStore | None = None
    written: list[Path] = field(default_factory=list)
    held: int = 0
    years: pd.DataFrame | None = None
    groups: pd.DataFrame | None = None

    def counts(self) -> str | None:
        """Say how the replicates summarised came about when a store was resumed (``None`` otherwise).

        ``"4 resumed from STORE"``, or ``"store STORE holds 8 replicate(s); 4
        asked, none new"`` when the store holds more than was asked for.
        """
        report = self.report
        if self.store is None or (report.skipped == 0 and self.held == report.finished):
            return None
        if self.held == report.available:
            return f"{report.skipped} resumed from {self.store.path}"
        return (
            f"store {self.store.path} holds {self.held} replicate(s); {self.replicates} asked, "
            f"{report.finished or 'none'} new"
        )

    def document(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready document (the ``peersim run --json`` output).

        Raises
        ------
        ValueError
            If no replicate finished (there is no summary).
        """
        if self.summary is None:
            raise ValueError("no replicate finished, so there is no summary")
        document = summary_json(
            self.summary, self.source.scenario.name, self.seed, self.held, self.years, self.groups
        )
        document["posterior"] = self.posterior
        if self.report.failures:
            document["failed_replicates"] = [f.replicate for f in self.report.failures]
        return document


def run_ensemble(
    source: ScenarioSource,
    seed: int = 0,
    replicates: int = 10,
    posterior: Posterior | None = None,
    out: Path | None = None,
    force: bool = False,
    executor: Executor | Backend | None = None,
    progress: Progress = no_progress,
    repair: bool = False,
) -> RunOutcome:
    """Run replicates of one scenario and summarise them, into a resumable run store if ``out`` is given.

    Parameters
    ----------
    source
        The scenario, with the file and overrides it came from (see
        :func:`peersim.core.overrides.load_source`).
    seed
        Base seed (non-negative); replicate ``i`` uses ``replicate_seed(seed, i)``.
    replicates
        Replicates ``0 .. replicates - 1``, at least 1.
    posterior
        Draw each replicate's mechanism strengths from this posterior (``None``:
        the scenario's point values).
    out
        Run store directory; running again with the same arguments resumes it.
    force
        Replace a store in ``out`` written for another scenario, seed or posterior.
    executor
        A running executor, or where to start one (default: a local pool when
        the work pays for it, else this process).
    progress
        Progress display of the replicates.
    repair
        Drop damaged parts of the store in ``out`` (from every table) and run
        their replicates again.

    Returns
    -------
    RunOutcome
        With a store, its summary describes every replicate the store holds.

    Raises
    ------
    PeersimInputError
        For a posterior that does not fit the scenario, or a store in ``out``
        that cannot take these runs or is damaged (checked before any simulation).
    StoreNotWritten
        If the disk refuses the store's files; what was kept resumes.
    Interrupted
        On Ctrl-C, after keeping what finished.
    """
    scenario = source.scenario
    check_ensemble([scenario], seed, replicates)
    if posterior is not None:
        posterior.check_against(scenario)
    store = None
    if out is not None:
        fingerprint = posterior.fingerprint if posterior is not None else None
        store = RunStore.open_for_writing(
            out, source, seed, force=force, posterior=fingerprint, repair=repair
        )
    memory = MemorySink(tables=SUMMARISED_TABLES)
    sink: ResultSink = store if store is not None else memory
    resume = f"Run again with `out` {out} to resume the store" if out is not None else None
    (report,) = _run_jobs(
        [EnsembleJob(scenario, sink)],
        seed,
        replicates,
        Runner(posterior),
        executor,
        progress,
        scenario.name,
        resume,
    )
    outcome = RunOutcome(
        source, seed, replicates, report, None, posterior.describe(scenario) if posterior else None, store
    )
    if report.available == 0:
        return outcome
    if store is not None:
        try:
            from peersim.ensemble.report import write_store_summary  # heavy: matplotlib, only with `out`

            outcome.summary = store_summary(store)  # the whole store, whatever was asked this time
            outcome.years, outcome.groups = (
                _store_table_summary(store, table) for table in ("years", "groups")
            )
            outcome.held = len(store.completed())
            outcome.written = write_store_summary(store, outcome.summary, outcome.years, outcome.groups)
        except KeyboardInterrupt:  # every replicate is kept; only the summary files are missing
            raise _interrupted([store], replicates, resume) from None
    else:
        outcome.summary, outcome.years, outcome.groups = (
            summarise(memory.read(table, replicates=replicates), TABLE_KEYS[table])
            for table in SUMMARISED_TABLES
        )
        outcome.held = report.available
    return outcome


SUMMARISED_TABLES = ("metrics", "years", "groups")
"""Tables :func:`run_ensemble` summarises (and keeps in memory without a store)."""


def _store_table_summary(store: RunStore, table: str) -> pd.DataFrame | None:
    """:func:`store_summary` of ``table``, or ``None`` if the store does not keep it."""
    return store_summary(store, table=table) if table in store.tables else None


@dataclass
class CompareOutcome:
    """What :func:`compare` did.

    Attributes
    ----------
    sources, labels
        The base then each what-if, and their labels (``base``, then file stems).
    reports
        One per scenario, in that order.
    differences
        Paired differences of every what-if against the base (``None`` if some
        scenario has no finished replicate).
    years, groups
        The same per service year and per diagnostic group, all sites pooled
        (columns :data:`peersim.ensemble.compare.BREAKDOWN_COLUMNS`; ``None``
        with ``differences``).
    document
        The comparison as a JSON-ready document (``None`` with ``differences``).
    written
        Files written besides the stores' tables.
    """

    sources: list[ScenarioSource]
    labels: list[str]
    seed: int
    replicates: int
    reports: list[EnsembleReport]
    differences: pd.DataFrame | None = None
    years: pd.DataFrame | None = None
    groups: pd.DataFrame | None = None
    document: dict[str, Any] | None = None
    written: list[Path] = field(default_factory=list)


def compare(
    base: ScenarioSource,
    whatifs: Sequence[ScenarioSource],
    seed: int = 0,
    replicates: int = 20,
    posterior: Posterior | None = None,
    out: Path | None = None,
    force: bool = False,
    executor: Executor | Backend | None = None,
    progress: Progress = no_progress,
    labels: Sequence[str] | None = None,
    allow_design_change: bool = False,
    repair: bool = False,
) -> CompareOutcome:
    """Compare what-ifs with a base scenario on common random numbers: paired differences with 95% intervals.

    Per metric, overall and per site: the mean paired difference, the 95%
    predictive interval of the per-replicate differences (the primary answer:
    posterior + model noise, or model noise only without ``posterior``), the
    95% interval of the mean, and the share of replicates in which the what-if
    is better (see :mod:`peersim.ensemble.compare`).

    The same statistics per service year and per diagnostic group, all sites
    pooled, are in ``years`` and ``groups`` of the outcome and of its document.

    With ``out``, each scenario gets a run store ``out/LABEL`` and the
    comparison's ``compare.csv``, ``compare.json``, ``forest.png`` and ``report.html`` are
    written there; running again resumes the stores.

    Parameters
    ----------
    base, whatifs
        The scenario the what-ifs are compared with, and at least one what-if.
    seed, replicates
        Base seed, shared by every scenario, and paired replicates (at least 2).
    posterior, out, force, executor, progress
        As for :func:`run_ensemble`.
    labels
        Labels of the what-ifs (the ``comparison`` column, and the run store
        directories); by default their file stems, made unique.
    allow_design_change
        Allow a what-if whose mode (trial or service) or horizon differs from
        the base's: its people and weeks then differ too, so the pairs compare
        different designs, not only the levers.
    repair
        Drop damaged parts of the stores in ``out`` and run their replicates again.

    Raises
    ------
    PeersimInputError
        For no what-if, a what-if of another mode or horizon (without
        ``allow_design_change``), a posterior that does not fit, or outputs in
        ``out`` that cannot be replaced without ``force`` (checked before any
        simulation).
    Interrupted
        On Ctrl-C, after keeping what finished.

    Warns
    -----
    UserWarning
        When a what-if's sites differ from the base's in name or order.
    """
    if not whatifs:
        raise PeersimInputError("compare: give at least one what-if scenario (or `sets` to make one)")
    sources = [base, *whatifs]
    check_ensemble([source.scenario for source in sources], seed, replicates, at_least=2)
    labels = ["base", *labels] if labels is not None else comparison_labels(sources)
    for source, label in zip(whatifs, labels[1:], strict=True):
        change = design_change(base.scenario, source.scenario)
        if change and not allow_design_change:
            raise PeersimInputError(
                f"compare: what-if {label!r} ({source.source}) changes the design, not only levers: "
                f"{change}; compare scenarios of one design, or use `allow_design_change=True`"
            )
        mismatch = site_mismatch(base.scenario, source.scenario, label)
        if mismatch is not None:
            warnings.warn(mismatch, UserWarning, skip_file_prefixes=(PACKAGE,))
    if posterior is not None:
        for source in sources:
            posterior.check_against(source.scenario)
    sinks: list[RunStore | MemorySink]
    if out is not None:
        if not (out / "base" / "manifest.json").exists():  # else the files are those of an earlier compare
            OutputDirectory(out, force=force).check(COMPARE_FILES)
        fingerprint = posterior.fingerprint if posterior is not None else None
        sinks = [
            RunStore.open_for_writing(
                out / label, source, seed, force=force, posterior=fingerprint, repair=repair
            )
            for source, label in zip(sources, labels, strict=True)
        ]
    else:
        sinks = [MemorySink(tables=("metrics", *BREAKDOWN_TABLES)) for _ in sources]
    jobs = [EnsembleJob(source.scenario, sink) for source, sink in zip(sources, sinks, strict=True)]
    resume = f"Run again with `out` {out} to resume the stores" if out is not None else None
    reports = _run_jobs(jobs, seed, replicates, Runner(posterior), executor, progress, "compare", resume)
    outcome = CompareOutcome(sources, labels, seed, replicates, reports)
    if any(report.available == 0 for report in reports):
        return outcome
    # With stores, every pair they hold (a store may hold more than asked this time).
    held = None if out is not None else replicates
    outcome.differences = stacked_differences(sinks, labels, held)
    breakdowns = stacked_breakdowns(sinks, labels, held)
    outcome.years, outcome.groups = breakdowns["years"], breakdowns["groups"]
    pairs = set.intersection(*(sink.completed() for sink in sinks))
    document = compare_json(
        outcome.differences,
        describe_source(base, labels[0]),
        [describe_source(s, label) for s, label in zip(whatifs, labels[1:], strict=True)],
        seed,
        len(pairs) if out is not None else replicates,
        with_posterior=posterior is not None,
        breakdowns=breakdowns,
    )
    document["posterior"] = posterior.describe(base.scenario) if posterior is not None else None
    failures = [(label, f) for report, label in zip(reports, labels, strict=True) for f in report.failures]
    if failures:
        document["failures"] = [
            {"scenario": label, "replicate": f.replicate, "error": f.error} for label, f in failures
        ]
    outcome.document = document
    if out is not None:
        try:
            from peersim.ensemble.report import write_comparison  # heavy: matplotlib, only with `out`

            outcome.written = write_comparison(out, outcome.differences, document, base.scenario.name)
        except KeyboardInterrupt:  # every pair is kept in the stores; only the comparison files are missing
            raise _interrupted(sinks, replicates, resume) from None
    return outcome


def compare_scenarios(
    base: Scenario,
    whatifs: Mapping[str, Scenario],
    seed: int = 0,
    replicates: int = 20,
    posterior: Posterior | None = None,
    executor: Executor | Backend | None = None,
    allow_design_change: bool = False,
    by: Literal["site", "year", "group"] = "site",
) -> pd.DataFrame:
    """Run a base scenario and what-ifs on common random numbers and return their paired differences.

    The public form of ``peersim compare`` without run stores (:func:`compare`):
    replicate ``i`` of every scenario uses ``replicate_seed(seed, i)`` and, with
    a posterior, the same draw of mechanism strengths, so the differences are paired.

    Parameters
    ----------
    base
        The scenario the what-ifs are compared with.
    whatifs
        What-if scenarios by label (the ``comparison`` column); at least one.
    seed
        Base seed (non-negative), shared by every scenario.
    replicates
        Paired replicates per scenario, at least 2 (for an interval).
    posterior
        Draw mechanism strengths per replicate from this posterior (e.g.
        :func:`peersim.uncertainty.default_posterior`, what ``peersim compare``
        uses); ``None`` runs the scenarios' point values.
    executor
        A running executor, or where to start one (default: a local pool on
        every core when the work pays for it, else this process).
    allow_design_change
        Allow what-ifs of another mode or horizon than the base (see :func:`compare`).
    by
        ``site``: the headline metrics per site and overall; ``year``: the
        metrics of the ``years`` table per service year (column ``year``, 1 =
        delivery weeks 1-52); ``group``: those of the ``groups`` table per
        diagnostic group (column ``group``). Years and groups are all sites
        pooled (``site`` is ``overall``).

    Returns
    -------
    pandas.DataFrame
        :func:`peersim.stats.paired_differences` of every what-if, stacked
        (columns :data:`peersim.stats.PAIRED_COLUMNS`, with ``year`` or
        ``group`` before ``site`` when ``by`` asks for them): per ``comparison``,
        ``site`` and ``metric`` the means ``base`` and ``whatif``, the mean
        ``difference`` (what-if - base) with its 95% interval of the mean
        (``lo``, ``hi``), the 95% predictive interval of the effect
        (``predictive_lo``, ``predictive_hi``: 2.5th-97.5th percentile of the
        per-replicate differences; with a posterior it carries the uncertainty
        about mechanism strengths, without it the model's noise only),
        ``p_benefit`` (share of replicates in which the what-if is better by
        :data:`peersim.core.results.HIGHER_IS_BETTER`; a tie is no benefit;
        NaN without a direction) and the number of pairs ``n``.

    Raises
    ------
    PeersimInputError
        For no what-if, fewer than 2 replicates, a what-if of another design,
        or another ``by``.
    RunsFailedError
        If a replicate failed.

    Warns
    -----
    UserWarning
        When a what-if's sites differ from the base's in name or order.
    """
    if by not in ("site", "year", "group"):
        raise PeersimInputError(f"`by` {by!r}: choose 'site', 'year' or 'group'")
    outcome = compare(
        _in_memory(base),
        [_in_memory(scenario) for scenario in whatifs.values()],
        seed,
        replicates,
        posterior=posterior,
        executor=executor,
        labels=list(whatifs),
        allow_design_change=allow_design_change,
    )
    failures = [f for report in outcome.reports for f in report.failures]
    if failures or outcome.differences is None:
        first = failures[0]
        raise RunsFailedError(
            f"{len(failures)} replicate(s) failed, e.g. replicate {first.replicate}: {first.error}"
        )
    chosen = {"site": outcome.differences, "year": outcome.years, "group": outcome.groups}[by]
    assert chosen is not None  # filled with the differences
    return chosen


def _in_memory(scenario: Scenario) -> ScenarioSource:
    """Wrap a scenario built in Python as a source; its JSON data stands in for the file text."""
    return ScenarioSource(scenario, scenario.model_dump_json(), f"<scenario {scenario.name}>")


def plot_store(store_path: Path, out: Path | None = None, force: bool = False) -> list[Path]:
    """Draw a run store's per-site trajectories and end-of-run outcomes; return the files written.

    Parameters
    ----------
    store_path
        A run store.
    out
        Directory for the figures (default: the store itself, whose figures are its own).
    force
        Replace figures already in ``out``.
    """
    from peersim.ensemble.report import write_plots  # heavy: matplotlib

    store = RunStore.open(store_path)
    return write_plots(store, OutputDirectory(out if out is not None else store.path, force=force))


def _run_jobs(
    jobs: Sequence[EnsembleJob],
    seed: int,
    replicates: int,
    runner: Runner,
    executor: Executor | Backend | None,
    progress: Progress,
    label: str,
    resume: str | None,
) -> list[EnsembleReport]:
    """Run the replicates each job lacks on an executor that pays for the work; keep what finished."""
    if replicates < 1:
        raise PeersimInputError(f"`replicates` must be at least 1, got {replicates}")
    missing = [_missing(job.sink, replicates) for job in jobs]
    pending = sum(missing)
    if pending == 0:
        return [EnsembleReport(replicates, skipped=replicates) for _ in jobs]
    work = sum(n * estimated_seconds(job.scenario) for n, job in zip(missing, jobs, strict=True))
    try:
        with executor_for(executor, work) as pool, progress(label, pending) as advance:
            return run_ensembles(jobs, seed, replicates, pool, on_progress=advance, runner=runner)
    except KeyboardInterrupt:  # the executor has stopped its workers; what finished is in the sinks
        raise _interrupted([job.sink for job in jobs], replicates, resume) from None


def _interrupted(sinks: Sequence[ResultSink], replicates: int, resume: str | None) -> Interrupted:
    """Build the error for a Ctrl-C: the replicates every one of ``sinks`` kept, and how to resume."""
    with sigint_ignored():  # a second Ctrl-C must not cut the count short
        kept = min(replicates - _missing(sink, replicates) for sink in sinks)
    return Interrupted(kept, replicates, "replicate(s)", resume)


def _missing(sink: ResultSink, replicates: int) -> int:
    """Replicates among ``0 .. replicates - 1`` that ``sink`` does not hold."""
    held = sink.completed()
    return replicates - sum(1 for index in held if 0 <= index < replicates)
