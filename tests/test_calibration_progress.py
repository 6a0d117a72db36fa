"""What ``calibrate`` and ``ppc`` show while they work, and the budgets they refuse.

* Progress goes through the library's ``progress`` argument: one phase per
  generation of ``population`` accepted particles (plus pyabc's calibration
  sample of a new database), one phase of ``draws`` per predictive check. A
  recording display receives exactly those totals.
* One line per generation (threshold, acceptance, evaluations) goes to ``log``;
  pyabc's own log lines only with ``verbose`` / ``--verbose``.
* Population, generations, replicates and draws have declared maxima, refused
  with the time and memory asked for; long calibrations are announced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_peersim
from peersim.calibration.evaluate import MAX_PREDICTIVE_DRAWS
from peersim.calibration.inputs import targets_from_dict
from peersim.calibration.smc import (
    FULL,
    MAX_GENERATIONS,
    MAX_POPULATION,
    MAX_REPLICATES,
    QUICK,
    CalibrationProblem,
    CalibrationSettings,
    calibration_estimate,
    check_budget,
    run_abc,
)
from peersim.calibration.workflow import check_draws, check_posterior
from peersim.core.scenario_files import default_scenario, parse_scenario
from peersim.errors import PeersimInputError
from peersim.uncertainty import default_posterior

SCENARIO = """
name = "progress_tiny"
[horizon]
recruitment_weeks = 6
follow_up_weeks = 12
[[sites]]
name = "north"
host = "nhs"
geography = "urban"
n_peer_workers = 2
supervisor_hours_per_week = 4
eligible_admissions_per_week = 3
"""

TARGETS = {
    "name": "progress_targets",
    "priors": {"parameters": ["p_readmit_12m_usual_care", "p_attend_base"]},
    "targets": [
        {
            "name": "control",
            "metric": "readmission_rate_control",
            "value": 0.3,
            "low": 0.1,
            "high": 0.5,
            "source": "test",
            "confidence": "A",
        }
    ],
}

PYABC_LINE = re.compile(r"^ABC(\.\w+)? (INFO|DEBUG|WARNING): ", re.MULTILINE)
"""How pyabc's log handler formats its lines (``ABC.Sampler INFO: ...``)."""

PYABC_MESSAGES = ("Calibration sample t =", "t: 0, eps:", "Accepted:", "Stop:")
"""Messages pyabc logs for every run (its own stderr handler prints them by default)."""


@dataclass
class Recording:
    """A progress display that records each phase's label, total and advances."""

    phases: list[tuple[str, int, list[int]]] = field(default_factory=list)

    @contextmanager
    def __call__(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        advances: list[int] = []
        self.phases.append((label, total, advances))
        yield advances.append

    def totals(self) -> list[tuple[str, int, int]]:
        """Each phase's label, total and the sum of its advances."""
        return [(label, total, sum(advances)) for label, total, advances in self.phases]


@pytest.fixture(scope="module")
def problem() -> CalibrationProblem:
    scenario = parse_scenario(SCENARIO, source="scenario.toml")
    return CalibrationProblem.build(targets_from_dict(TARGETS, source="targets.toml"), scenario)


def test_progress_and_lines_per_generation(problem: CalibrationProblem, tmp_path: Path) -> None:
    settings = CalibrationSettings(population=10, generations=2, seed=6, jobs=1)
    progress, lines = Recording(), list[str]()
    outcome = run_abc(problem, settings, tmp_path / "h.db", log=lines.append, progress=progress)
    eps = outcome.populations["epsilon"]
    assert progress.totals() == [
        ("calibration sample (priors)", 10, 10),
        (f"generation 1 of 2, epsilon {eps[0]:.3g}", 10, 10),
        (f"generation 2 of 2, epsilon {eps[1]:.3g}", 10, 10),
    ]
    assert all(all(n == 1 for n in advances) for _, _, advances in progress.phases)  # one per particle
    samples = outcome.populations["samples"]
    assert lines[0].startswith("calibration sample: 10 evaluations from the priors, ")
    for t in (0, 1):
        rate = 10 / samples[t]
        assert lines[1 + t].startswith(
            f"generation {t + 1} of 2: epsilon {eps[t]:.3g}, 10 of {samples[t]} evaluations "
            f"accepted ({rate:.1%}), "
        ), lines
    assert len(lines) == 3
    assert not any(PYABC_LINE.search(line) for line in lines)
    # A resumed run has no calibration sample: its first phase is the next generation.
    more, said = Recording(), list[str]()
    resumed = run_abc(
        problem, replace(settings, generations=3), tmp_path / "h.db", log=said.append, progress=more
    )
    third = resumed.populations["epsilon"][2]
    assert more.totals() == [(f"generation 3 of 3, epsilon {third:.3g}", 10, 10)]


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # pyabc forks
def test_parallel_progress_counts_each_kept_particle_once(
    problem: CalibrationProblem, tmp_path: Path
) -> None:
    # Two workers may accept more particles than the population between them; only those kept count.
    settings = CalibrationSettings(population=10, generations=1, seed=6, jobs=2)
    progress = Recording()
    run_abc(problem, settings, tmp_path / "h.db", progress=progress)
    assert [(total, done) for _, total, done in progress.totals()] == [(10, 10), (10, 10)]


def test_verbose_passes_pyabc_lines_on(problem: CalibrationProblem, tmp_path: Path) -> None:
    settings = CalibrationSettings(population=10, generations=1, seed=6, jobs=1)
    lines: list[str] = []
    run_abc(problem, settings, tmp_path / "h.db", log=lines.append, verbose=True)
    text = "\n".join(lines)
    for message in PYABC_MESSAGES:
        assert message in text, (message, text)
    assert PYABC_LINE.search(text)
    assert "generation 1 of 1: epsilon " in text  # peersim's own line as well


def test_check_progress_per_predictive_draw(problem: CalibrationProblem) -> None:
    progress, lines = Recording(), list[str]()
    check_posterior(
        default_posterior(), problem, draws=12, seed=0, out=None, progress=progress, log=lines.append
    )
    assert progress.totals() == [("posterior predictive draws", 12, 12), ("prior predictive draws", 12, 12)]
    assert [line.split(":")[0] for line in lines] == ["posterior predictive draws", "prior predictive draws"]


def test_cli_shows_pyabc_lines_only_with_verbose(tmp_path: Path) -> None:
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    (tmp_path / "targets.toml").write_text(
        'name = "progress_targets"\n[priors]\nparameters = ["p_readmit_12m_usual_care", "p_attend_base"]\n'
        '[[targets]]\nname = "control"\nmetric = "readmission_rate_control"\nvalue = 0.3\nlow = 0.1\n'
        'high = 0.5\nsource = "test"\nconfidence = "A"\n'
    )
    args = ["calibrate", "targets.toml", "--scenario", "scenario.toml", "--population", "10"]
    args += ["--generations", "1", "--ppc-draws", "10", "--jobs", "1"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        running = [pool.submit(run_peersim, [*args, "--out", "quiet"], tmp_path, 300)]
        running.append(pool.submit(run_peersim, [*args, "--out", "loud", "--verbose"], tmp_path, 300))
        quiet, loud = (future.result() for future in running)
    assert quiet.returncode == 0, quiet.stderr
    assert loud.returncode == 0, loud.stderr
    for message in PYABC_MESSAGES:
        assert message not in quiet.stderr, quiet.stderr
        assert message in loud.stderr, loud.stderr
    assert not PYABC_LINE.search(quiet.stderr), quiet.stderr
    assert PYABC_LINE.search(loud.stderr), loud.stderr
    for result in (quiet, loud):
        assert re.search(
            r"^generation 1 of 1: epsilon \S+, 10 of \d+ evaluations accepted", result.stderr, re.M
        )
        assert "posterior predictive check: 10 draws" in result.stderr


def test_estimate_matches_the_default_calibration() -> None:
    # The shipped calibration (calibration/default, 200 particles, 6 generations) drew 7,031
    # samples plus pyabc's calibration sample of 200; the estimate says 7,440 (+6%).
    measured = pd.read_csv(
        Path(__file__).resolve().parents[1] / "calibration" / "default" / "generations.csv"
    )
    problem = CalibrationProblem.load()
    estimate = calibration_estimate(problem, replace(FULL, jobs=1))
    evaluations = estimate.runs - 2 * FULL.ppc_draws
    actual = int(measured["samples"].sum()) + FULL.population
    assert 0.85 < evaluations / actual < 1.15, (evaluations, actual)
    # A resume counts only what is left: no calibration sample, generations from the one it resumes at.
    left = calibration_estimate(problem, replace(FULL, jobs=1), completed=4)
    tail = int(measured["samples"].iloc[4:].sum())
    assert 0.7 < (left.runs - 2 * FULL.ppc_draws) / tail < 1.3, (left.runs, tail)
    assert estimate.seconds > left.seconds > 0


@pytest.mark.parametrize(
    ("name", "value", "most"),
    [
        ("population", MAX_POPULATION + 1, MAX_POPULATION),
        ("generations", MAX_GENERATIONS + 1, MAX_GENERATIONS),
        ("replicates", MAX_REPLICATES + 1, MAX_REPLICATES),
        ("ppc_draws", MAX_PREDICTIVE_DRAWS + 1, MAX_PREDICTIVE_DRAWS),
    ],
)
def test_budgets_beyond_the_maxima_are_refused_with_time_and_memory(
    problem: CalibrationProblem, name: str, value: int, most: int
) -> None:
    settings = replace(QUICK, jobs=2, **{name: value})  # type: ignore[arg-type]  # all int fields
    with pytest.raises(PeersimInputError) as caught:
        check_budget(problem, settings)
    message = str(caught.value)
    assert message.startswith(
        f"`{name}` {value} is more than the {most:,} allowed: the calibration asked for "
    )
    said = r"would be [\d,]+ model runs, about [\d.,]+ (s|min|h|days?|years?) on one core and [\d.,]+ "
    assert re.search(said + r"(bytes|KiB|MiB|GiB|TiB) of memory; ask for fewer$", message), message
    at_most = replace(QUICK, jobs=2, **{name: most})  # type: ignore[arg-type]  # all int fields
    check_budget(problem, at_most)  # the maximum itself is allowed


def test_a_huge_population_says_how_much_memory_it_would_need(problem: CalibrationProblem) -> None:
    # 10^9 particles, 1 generation: pyabc would hold about 2.1 x 10^9 samples of ~2 kB at once
    # (4.2e12 bytes), and 3.1 x 10^9 runs of ~0.015 s take 1.5 years on one core.
    said = r"would be 3\.1e\+09 model runs, about 1\.5 years on one core and 3\.8 TiB of memory"
    with pytest.raises(PeersimInputError, match=said):
        check_budget(problem, replace(QUICK, population=10**9, generations=1, jobs=2))


def test_draws_beyond_the_maximum_are_refused() -> None:
    with pytest.raises(PeersimInputError, match=r"^`draws` 10001 is more than the 10,000 allowed: .* memory"):
        check_draws(default_scenario(), MAX_PREDICTIVE_DRAWS + 1)
    with pytest.raises(PeersimInputError, match=r"^`draws` must be at least 10, got 3$"):
        check_draws(default_scenario(), 3)
