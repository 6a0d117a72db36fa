"""``peersim plan`` through the real console entry, in subprocesses: bad input and outputs.

Each subprocess pays about 1.5 s of imports, so the invocations are started
together by one module fixture (three at a time) and the tests inspect their
recorded results.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import run_peersim
from test_planning_fixtures import SMALL_LEVERS, TINY_SITE, tiny_costs

Result = subprocess.CompletedProcess[str]

FAST = ["--replicates", "12", "--jobs", "1", "--seed", "5"]
"""Options of the runs that simulate: 12 replicates (the fewest a target allows), in one process."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cwd = tmp_path_factory.mktemp("plan_cli")
    files = {
        "site.toml": TINY_SITE,
        "trial.toml": TINY_SITE.replace('mode = "service"', 'mode = "trial"'),
        "costs.toml": tiny_costs(SMALL_LEVERS),
        "negative.toml": tiny_costs(SMALL_LEVERS).replace("supervisor_hour = 34.31", "supervisor_hour = -5"),
        "unknown_lever.toml": tiny_costs("peer_worker_pay = { values = [1, 2] }\n"),
        "new_levers.toml": tiny_costs(
            "other_duties_share = { values = [0.1, 0.2] }\nfunding_end_week = { values = [0, 30] }\n"
        ),
    }
    for name, text in files.items():
        (cwd / name).write_text(text, encoding="utf-8")

    def plan(*args: str) -> Callable[[], Result]:
        return lambda: run_peersim(["plan", *args], cwd)

    args = ["site.toml", "--costs", "costs.toml", "--budget", "90000", "--target", "engagement_rate>=0.4"]
    taken = cwd / "taken"
    taken.mkdir()
    (taken / "plan.md").write_text("a user's own notes\n", encoding="utf-8")

    jobs: dict[str, Callable[[], Any]] = {
        "negative_cost": plan("site.toml", "--costs", "negative.toml", *FAST),
        "unknown_lever": plan("site.toml", "--costs", "unknown_lever.toml", *FAST),
        "unknown_metric": plan("site.toml", "--costs", "costs.toml", "--target", "happiness>=0.5", *FAST),
        "trial_mode": plan("trial.toml", "--costs", "costs.toml", *FAST),
        "budget_below_current": plan(
            "site.toml",
            "--costs",
            "costs.toml",
            "--budget",
            "40000",
            "--target",
            "engagement_rate>=0.4",
            *FAST,
            # About the no-answer message, not the model's answer: the point values keep the plan it names
            # fixed (with the shipped posterior the cheapest plan meeting the target is another one).
            "--no-posterior",
        ),
        "out_refused": plan(*args, *FAST, "--out", "taken"),
        "out_force": plan(*args, *FAST, "--out", "taken", "--force", "--json"),
        "no_posterior": plan(*args, *FAST, "--no-posterior", "--json"),
        "new_levers": plan("site.toml", "--costs", "new_levers.toml", "--budget", "200000", *FAST, "--json"),
        "posterior_and_no_posterior": plan(
            *args, *FAST, "--posterior", "posterior.parquet", "--no-posterior"
        ),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        results = {name: future.result() for name, future in futures.items()}
    results["cwd"] = cwd
    return results


def one_error_line(result: Result) -> str:
    """Check exit 2, no traceback and exactly one ``peersim: error:`` line on stderr; return it."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("peersim: error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("negative_cost", ("negative.toml", "unit_costs.supervisor_hour", "-5", "negative")),
        ("unknown_lever", ("unknown_lever.toml", "levers.peer_worker_pay", "unknown lever", "caseload_cap")),
        ("unknown_metric", ("--target", "unknown metric 'happiness'", "engagement_rate")),
        ("trial_mode", ("trial.toml", "mode is 'trial'", "service mode")),
        ("posterior_and_no_posterior", ("--posterior and --no-posterior contradict each other",)),
    ],
)
def test_bad_input_gives_one_clear_error(runs: dict[str, Any], name: str, fragments: tuple[str, ...]) -> None:
    line = one_error_line(runs[name])
    for fragment in fragments:
        assert fragment in line, (fragment, line)


def test_budget_below_the_site_as_given_is_no_answer_with_the_cheapest_alternative(
    runs: dict[str, Any],
) -> None:
    # Valid input that no plan meets: exit 3 (EXIT_NO_ANSWER), not 2 (bad input), with one line.
    result = runs["budget_below_current"]
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("peersim: no answer: ")]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert "--budget 40000" in line
    assert "no plan within the budget of GBP 40,000" in line
    assert "the site as given costs GBP" in line, line
    assert "the cheapest that does is team preparation sessions 0 -> 3" in line, line
    # The analysis itself was still reported on stdout, with the answer in full.
    assert "Prediction for the site as given" in result.stdout
    assert "Infeasible as given" in result.stdout


def test_the_levers_issue_12_declared_can_be_opened(runs: dict[str, Any]) -> None:
    # other_duties_share and funding_end_week are declared levers: a plan over them runs to a
    # report, naming both (before their labels existed this ended in a KeyError traceback).
    result = runs["new_levers"]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    text = json.dumps(document)
    assert "other_duties_share" in text
    assert "funding_end_week" in text


def test_json_is_one_document(runs: dict[str, Any]) -> None:
    result = runs["out_force"]
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["search"]["status"] == "feasible", document["search"]["answer"]
    assert document["budget"] == 90000
    assert document["replicates"] == 12
    assert document["seed"] == 5
    assert document["prediction"]["metrics"]["engagement_rate"]["n"] == 12
    assert [step["lever"] for step in document["ranking"]["steps"]]
    assert document["costs"]["currency"] == "GBP"


def test_out_writes_a_self_contained_report_and_refuses_to_overwrite(runs: dict[str, Any]) -> None:
    refused, forced = runs["out_refused"], runs["out_force"]
    line = one_error_line(refused)
    assert "already holds plan.md" in line
    assert "--force" in line
    assert forced.returncode == 0, forced.stderr
    report = Path(runs["cwd"]) / "taken"
    for name in ("plan.md", "plan.json", "plans.csv", "ranking.csv", "prediction.csv", "outcomes.parquet"):
        assert (report / name).is_file(), name
    for name in ("frontier_engagement.png", "frontier_readmissions.png"):
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    markdown = (report / "plan.md").read_text(encoding="utf-8")
    assert "## Answer" in markdown, "--force replaced the user's file"
    assert "](frontier_engagement.png)" in markdown
    assert "## Assumptions" in markdown
    assert "supervisor_hour = 34.31" in markdown, "the costs file used is quoted in the report"
    document = json.loads(forced.stdout)
    assert document["figures"] == ["frontier_engagement.png", "frontier_readmissions.png"]
    assert json.loads((report / "plan.json").read_text(encoding="utf-8")) == document


def test_mechanisms_come_from_the_shipped_posterior_unless_no_posterior(runs: dict[str, Any]) -> None:
    drawn, point = runs["out_force"], runs["no_posterior"]
    assert drawn.returncode == 0, drawn.stderr
    assert point.returncode == 0, point.stderr
    with_posterior, without = json.loads(drawn.stdout)["posterior"], json.loads(point.stdout)["posterior"]
    assert with_posterior["source"] == "<embedded default_posterior.parquet>"
    assert with_posterior["embedded_default"] is True
    assert with_posterior["particles"] > 1
    assert with_posterior["effective_sample_size"] > 1
    assert without["source"] is None
    assert without["note"].startswith("no posterior: mechanism strengths at the scenario's point values")
    # The same plan on the same seeds gives other outcomes when the mechanism strengths are drawn.
    means = [json.loads(r.stdout)["prediction"]["metrics"]["engagement_rate"]["mean"] for r in (drawn, point)]
    assert means[0] != means[1], means
    # The terminal summary says where the mechanism strengths came from.
    summary = runs["budget_below_current"].stdout
    assert "no posterior (--no-posterior): mechanism strengths at the scenario's point values" in summary
    markdown = (Path(runs["cwd"]) / "taken" / "plan.md").read_text(encoding="utf-8")
    assert "`<embedded default_posterior.parquet>`" in markdown
