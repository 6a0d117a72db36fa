"""The real ``peersim`` console entry, run in subprocesses: bad input and outputs.

Each subprocess pays about 1.5 s of imports, so the independent invocations are
started together by one module fixture (a few at a time) and the tests then
inspect their recorded results.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import TINY_TOML, run_peersim, shipped_scenario_files
from peersim.core.parameters import MECHANISM_PARAMS, SITE_PARAMS
from peersim.core.scenario_files import default_scenario

Result = subprocess.CompletedProcess[str]

OVERALL_METRICS = (
    "engagement_rate",
    "mean_contacts",
    "fidelity_index",
    "readmission_rate_intervention",
    "readmission_rate_control",
    "readmission_rate_engaged",
    "readmission_rate_not_engaged",
    "itt_odds_ratio",
)


@dataclass(frozen=True)
class BadInput:
    """A bad scenario file and what its one error line must name."""

    file: str
    text: str | None
    """File content; ``None`` leaves the file missing."""
    names: tuple[str, ...]
    """Fragments the message must contain besides the file name (key path, range...)."""


def _edit(old: str, new: str) -> str:
    assert old in TINY_TOML, old
    return TINY_TOML.replace(old, new, 1)


BAD_INPUTS: dict[str, BadInput] = {
    "missing_file": BadInput("absent.toml", None, ("no such file",)),
    "malformed_toml": BadInput(
        "malformed.toml", _edit('name = "tiny"', 'name = "tiny'), ("malformed TOML", "line 2")
    ),
    "unknown_key": BadInput(
        "unknown_key.toml",
        _edit("caseload_cap = 4\n", "caseload_cap = 4\nsupervisor_hours = 4\n"),
        ("sites[0].supervisor_hours", "unknown key 'supervisor_hours'", "supervisor_hours_per_week"),
    ),
    "wrong_type": BadInput(
        "wrong_type.toml",
        _edit("n_peer_workers = 2", 'n_peer_workers = "two"'),
        ("sites[0].n_peer_workers", "'two'"),
    ),
    "negative_value": BadInput(
        "negative.toml",
        _edit("n_peer_workers = 1", "n_peer_workers = -1"),
        ("sites[1].n_peer_workers", "-1", SITE_PARAMS["n_peer_workers"].range_text),
    ),
    "out_of_range_mechanism": BadInput(
        "too_strong.toml",
        _edit("[[sites]]", "[mechanisms]\nrel_strain = 9.5\n\n[[sites]]"),
        ("mechanisms.rel_strain", "9.5", MECHANISM_PARAMS["rel_strain"].range_text),
    ),
    "zero_supervision_with_peer_workers": BadInput(
        "unsupervised.toml",
        _edit("supervisor_hours_per_week = 4", "supervisor_hours_per_week = 0"),
        ("sites[0]", '"north"', "supervisor_hours_per_week", "n_peer_workers"),
    ),
    "empty_site_list": BadInput(
        "no_sites.toml", 'name = "tiny"\nsites = []\n', ("sites", "at least one site")
    ),
    "duplicate_site_name": BadInput(
        "duplicate.toml", _edit('name = "south"', 'name = "North"'), ("sites", "duplicate site name 'North'")
    ),
}


TABLES = ("metrics", "outcomes", "staff", "timeseries", "patients")


def _hashes(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory``, by path relative to it."""
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@dataclass
class OutSequence:
    """Three runs into one ``--out`` directory and the files after each."""

    first: Result
    second: Result
    third: Result
    after_first: dict[str, str]
    after_second: dict[str, str]
    after_third: dict[str, str]
    directory: Path


def _out_sequence(cwd: Path) -> OutSequence:
    out = cwd / "results"
    first = run_peersim(["run", "tiny.toml", "-n", "2", "--out", "results"], cwd)
    after_first = _hashes(out) if out.is_dir() else {}
    second = run_peersim(["run", "tiny.toml", "-n", "2", "--seed", "1", "--out", "results"], cwd)
    after_second = _hashes(out) if out.is_dir() else {}
    third = run_peersim(["run", "tiny.toml", "-n", "2", "--seed", "1", "--out", "results", "--force"], cwd)
    after_third = _hashes(out) if out.is_dir() else {}
    return OutSequence(first, second, third, after_first, after_second, after_third, out)


@dataclass
class CliRuns:
    """Recorded results of every invocation, by name."""

    cwd: Path
    results: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.results[name]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> CliRuns:
    cwd = tmp_path_factory.mktemp("cli")
    (cwd / "tiny.toml").write_text(TINY_TOML, encoding="utf-8")
    for case in BAD_INPUTS.values():
        if case.text is not None:
            (cwd / case.file).write_text(case.text, encoding="utf-8")
    taken = cwd / "taken"
    taken.write_text("a user's own notes\n", encoding="utf-8")
    shipped = shipped_scenario_files()
    for path in shipped:
        shutil.copy(path, cwd / path.name)

    jobs: dict[str, Callable[[], Any]] = {
        f"bad:{name}": (lambda case=case: run_peersim(["run", case.file, "-n", "1"], cwd))
        for name, case in BAD_INPUTS.items()
    }
    jobs.update(
        {
            "out_sequence": lambda: _out_sequence(cwd),
            "json": lambda: run_peersim(["run", "--json", "-n", "2", "--seed", "7"], cwd),
            "default_table": lambda: run_peersim(["run", "-n", "1"], cwd),
            "out_is_a_file": lambda: run_peersim(["run", "tiny.toml", "-n", "1", "--out", "taken"], cwd),
            "validate_good": lambda: run_peersim(["validate", "tiny.toml", *(p.name for p in shipped)], cwd),
            "validate_bad": lambda: run_peersim(["validate", "tiny.toml", "negative.toml"], cwd),
            "schema": lambda: run_peersim(["schema"], cwd),
            "seed_negative": lambda: run_peersim(["run", "tiny.toml", "--seed", "-1", "-n", "1"], cwd),
            "replicates_zero": lambda: run_peersim(["run", "tiny.toml", "--replicates", "0"], cwd),
        }
    )
    runs = CliRuns(cwd)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        runs.results = {name: future.result() for name, future in futures.items()}
    return runs


def assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.stdout, result.stdout
    assert "Traceback" not in result.stderr, result.stderr


def assert_one_error(result: Result) -> str:
    """Check exit 2, no traceback and exactly one ``peersim: error:`` line; return it."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert_no_traceback(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got:\n{result.stderr}"
    assert lines[0].startswith("peersim: error: "), lines[0]
    return lines[0]


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gives_one_clear_error(cli: CliRuns, name: str) -> None:
    case = BAD_INPUTS[name]
    result: Result = cli[f"bad:{name}"]
    line = assert_one_error(result)
    assert line.startswith(f"peersim: error: {case.file}: "), line
    for fragment in case.names:
        assert fragment in line, f"{fragment!r} missing from {line!r}"
    assert result.stdout == "", result.stdout


def test_bad_input_files_are_left_as_they_were(cli: CliRuns) -> None:
    assert not (cli.cwd / "absent.toml").exists()
    for case in BAD_INPUTS.values():
        if case.text is not None:
            assert (cli.cwd / case.file).read_text(encoding="utf-8") == case.text


@pytest.mark.parametrize(
    ("name", "option"), [("seed_negative", "--seed"), ("replicates_zero", "--replicates")]
)
def test_bad_options_are_rejected_without_traceback(cli: CliRuns, name: str, option: str) -> None:
    result: Result = cli[name]
    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    assert option in result.stderr
    assert result.stdout == ""


# -- run ------------------------------------------------------------------------------------------


def test_run_json_is_exactly_one_document(cli: CliRuns) -> None:
    result: Result = cli["json"]
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    document = json.loads(result.stdout)
    assert {"scenario", "seed", "replicates", "overall", "sites"} <= set(document)
    assert document["scenario"] == "enrich_trial"
    assert document["seed"] == 7
    assert document["replicates"] == 2
    assert set(document["sites"]) == {s.name for s in default_scenario().sites}
    overall = document["overall"]
    for metric in OVERALL_METRICS:
        entry = overall[metric]
        assert set(entry) >= {"mean", "lo", "hi"}, metric
        mean, lo, hi = entry["mean"], entry["lo"], entry["hi"]
        assert all(isinstance(v, float) and math.isfinite(v) for v in (mean, lo, hi)), (metric, entry)
        assert lo <= mean <= hi, (metric, entry)
    for site, metrics in document["sites"].items():
        for metric, entry in metrics.items():
            if entry["mean"] is not None:
                assert entry["lo"] <= entry["mean"] <= entry["hi"], (site, metric, entry)


def test_run_without_a_file_uses_the_embedded_default(cli: CliRuns) -> None:
    result: Result = cli["default_table"]
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    first = result.stdout.splitlines()[0]
    assert "enrich_trial" in first, first
    assert "embedded default" in first, first
    for site in default_scenario().sites:
        assert site.name[:21] in result.stdout
    assert "engagement_rate" in result.stdout


def test_out_writes_tables_summary_and_figure_and_never_clobbers(cli: CliRuns) -> None:
    seq: OutSequence = cli["out_sequence"]
    assert seq.first.returncode == 0, seq.first.stderr
    assert_no_traceback(seq.first)
    written = set(seq.after_first)
    for table in TABLES:
        parquet = [name for name in written if table in name and name.endswith(".parquet")]
        assert parquet, f"no Parquet file for the {table} table in {sorted(written)}"
    assert {"summary.csv", "summary.json", "summary.png"} <= written

    # Another seed into the same directory, without --force: refused, nothing touched.
    line = assert_one_error(seq.second)
    assert "results" in line, line
    assert "--force" in line, line
    assert seq.second.stdout == ""
    assert seq.after_second == seq.after_first, "a refused run changed the files"

    # With --force the outputs are replaced by those of the new seed.
    assert seq.third.returncode == 0, seq.third.stderr
    assert_no_traceback(seq.third)
    assert {"summary.csv", "summary.json", "summary.png"} <= set(seq.after_third)
    assert seq.after_third["summary.json"] != seq.after_first["summary.json"]
    assert seq.after_third["summary.csv"] != seq.after_first["summary.csv"]
    summary = json.loads((seq.directory / "summary.json").read_text(encoding="utf-8"))
    assert summary["seed"] == 1
    assert summary["replicates"] == 2
    metrics = [name for name in seq.after_third if "metrics" in name and name.endswith(".parquet")]
    assert metrics
    assert all(seq.after_third[name] != seq.after_first.get(name) for name in metrics)


def test_out_refuses_an_existing_regular_file(cli: CliRuns) -> None:
    line = assert_one_error(cli["out_is_a_file"])
    assert "taken" in line, line
    assert "not a directory" in line, line
    assert (cli.cwd / "taken").read_text(encoding="utf-8") == "a user's own notes\n"


# -- validate and schema ---------------------------------------------------------------------------


def test_validate_good_files(cli: CliRuns) -> None:
    result: Result = cli["validate_good"]
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    lines = result.stdout.strip().splitlines()
    names = ["tiny.toml", *(p.name for p in shipped_scenario_files())]
    assert len(lines) == len(names)
    for line, name in zip(lines, names, strict=True):
        assert line.startswith(f"{name}: valid scenario"), line


def test_validate_bad_file(cli: CliRuns) -> None:
    result: Result = cli["validate_bad"]
    line = assert_one_error(result)
    assert line.startswith("peersim: error: negative.toml: sites[1].n_peer_workers"), line
    assert result.stdout.startswith("tiny.toml: valid scenario")


def test_schema_is_json_describing_sites(cli: CliRuns) -> None:
    result: Result = cli["schema"]
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert "sites" in schema["properties"]
    assert "sites" in schema["required"]
