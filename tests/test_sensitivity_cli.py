"""``peersim sensitivity`` through the real console entry, in subprocesses.

Each subprocess pays about 1.5 s of imports, so the independent invocations are
started together by one module fixture (a few at a time) and the tests inspect
the recorded results.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from conftest import TINY_TOML, run_peersim
from peersim.core.results import METRICS

Result = subprocess.CompletedProcess[str]

GOOD_FACTORS = """\
[[factors]]
name = "supervisor_hours_per_week"
low = 1
high = 12

[[factors]]
name = "rel_supervision"
"""

BAD_FACTORS = {
    "unknown_name": ('[[factors]]\nname = "supervision_hours"\n', ["factors[0].name", "unknown factor"]),
    "low_not_below_high": (
        '[[factors]]\nname = "caseload_cap"\nlow = 9\nhigh = 4\n',
        ["factors[0]", "low (9) must be less than high (4)", "1 to 50"],
    ),
    "missing_site": (
        '[[factors]]\nname = "caseload_cap"\nsites = ["north", "east"]\n',
        ["factors[0].sites", "'east' not in scenario 'tiny'", "north, south"],
    ),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    root = tmp_path_factory.mktemp("sensitivity_cli")
    (root / "tiny.toml").write_text(TINY_TOML)
    (root / "factors.toml").write_text(GOOD_FACTORS)
    for name, (text, _) in BAD_FACTORS.items():
        (root / f"{name}.toml").write_text(text)
    tiny = ["--scenario", "tiny.toml", "--replicates", "1", "--jobs", "1"]
    commands: dict[str, list[str]] = {
        "sobol_json": ["sensitivity", "factors.toml", *tiny, "--n", "6", "--json", "--out", "sobol"],
        "morris_text": [
            "sensitivity",
            "factors.toml",
            *tiny,
            "--method",
            "morris",
            "--n",
            "4",
            "--out",
            "morris",
        ],
        "pawn_json": ["sensitivity", "factors.toml", *tiny, "--method", "pawn", "--n", "40", "--json"],
        "unknown_metric": ["sensitivity", "factors.toml", *tiny, "--outputs", "engagement_rate,engagment"],
        "n_too_small": ["sensitivity", "factors.toml", *tiny, "--method", "morris", "--n", "2"],
        "unknown_method": ["sensitivity", "factors.toml", *tiny, "--method", "sobel"],
        **{name: ["sensitivity", f"{name}.toml", *tiny] for name in BAD_FACTORS},
    }

    def go(key: str) -> tuple[str, Result]:
        return key, run_peersim(commands[key], cwd=root)

    with ThreadPoolExecutor(4) as pool:
        results = dict(pool.map(go, list(commands)))
    # After the first analysis has written its files: refused without --force.
    results["out_exists"] = run_peersim(commands["sobol_json"], cwd=root)
    results["root"] = root  # type: ignore[assignment]
    return results


def test_sobol_rounds_n_up_and_writes_tables_json_and_figure(runs: dict[str, Result]) -> None:
    result = runs["sobol_json"]
    assert result.returncode == 0, result.stderr
    assert "Sobol' sampling needs N to be a power of 2: using N = 8 (asked for 6)" in result.stderr
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)  # exactly one JSON document
    assert document["method"] == "sobol"
    assert document["n"] == 8
    assert document["factors"] == ["supervisor_hours_per_week", "rel_supervision", "dummy"]
    assert document["points"] == 8 * (3 + 2)
    out = Path(runs["root"]) / "sobol"  # type: ignore[arg-type]
    for name in ("indices", "screening", "diagnostics"):
        assert (out / f"{name}.csv").is_file()
        assert (out / f"{name}.parquet").is_file()
    assert (out / "sobol.png").stat().st_size > 0
    indices = pd.read_parquet(out / "indices.parquet")
    assert {"output", "factor", "index", "n", "value", "conf", "scenario_hash", "seed", "version"} <= set(
        indices.columns
    )
    assert set(indices["n"]) == {8, 4}  # N and the N/2 re-analysis
    samples = pd.read_parquet(out / "samples.parquet")
    assert len(samples) == document["points"]


def test_out_directory_is_not_overwritten_without_force(runs: dict[str, Result]) -> None:
    result = runs["out_exists"]
    assert result.returncode == 2
    assert "use --force" in result.stderr
    assert "Traceback" not in result.stderr


def test_morris_prints_a_table_and_writes_its_scatter(runs: dict[str, Result]) -> None:
    result = runs["morris_text"]
    assert result.returncode == 0, result.stderr
    assert "mu_star" in result.stdout
    assert "dummy" in result.stdout
    assert (Path(runs["root"]) / "morris" / "morris.png").is_file()  # type: ignore[arg-type]


def test_pawn_runs(runs: dict[str, Result]) -> None:
    result = runs["pawn_json"]
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {row["index"] for row in document["screening"]} == {"pawn_median"}


@pytest.mark.parametrize(
    ("key", "fragments"),
    [
        ("unknown_metric", ["--outputs", "unknown metric 'engagment'", *METRICS]),
        ("n_too_small", ["--n 2 is too small for morris", "at least 4"]),
        ("unknown_method", ["--method", "'sobel'", "sobol, morris, pawn"]),
        *[(name, [f"{name}.toml", *fragments]) for name, (_, fragments) in BAD_FACTORS.items()],
    ],
)
def test_bad_input_exits_2_with_one_clear_message(
    runs: dict[str, Result], key: str, fragments: list[str]
) -> None:
    result = runs[key]
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("peersim: error: ")
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
