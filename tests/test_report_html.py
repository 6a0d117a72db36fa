"""``report.html`` of ``peersim plan --out`` and ``peersim compare --out``: one self-contained page.

The commands run through the real console entry, in subprocesses started together
by one module fixture (three at a time, each a few seconds on the tiny scenarios),
and the tests read the pages they wrote: images only as data URIs, nothing fetched
from elsewhere, the answer before the evidence before the method, and the numbers
those of ``plan.json`` / ``compare.json``. The layout itself was checked by eye in
headless Chromium (printed to PDF, pages rendered; a phone-width screenshot).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from html import escape, unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conftest import TINY_TOML, run_peersim
from peersim.io.html import PNG_URI_PREFIX, data_uri, external_references, page_defaults, render_html
from peersim.io.templates import environment, money
from test_planning_fixtures import SMALL_LEVERS, TINY_SITE, tiny_costs

Result = subprocess.CompletedProcess[str]

PLAN = ["site.toml", "--costs", "costs.toml", "--budget", "90000", "--target", "engagement_rate>=0.45"]
"""A plan whose answer changes two levers (seen: supervision 1.5 -> 4 and team preparation 0 -> 3)."""
NO_PLAN = ["site.toml", "--costs", "costs.toml", "--budget", "90000", "--target", "engagement_rate>=0.6"]
"""A target no plan of the tiny grid meets (exit 3, the reports still written)."""
FAST = ["--replicates", "12", "--jobs", "1", "--seed", "5"]
COMPARE = ["compare", "tiny.toml", "--set", "south.supervisor_hours_per_week=6", "-n", "4", "-j", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cwd = tmp_path_factory.mktemp("report_html")
    for name, text in {
        "site.toml": TINY_SITE,
        "costs.toml": tiny_costs(SMALL_LEVERS),
        "tiny.toml": TINY_TOML,
    }.items():
        (cwd / name).write_text(text, encoding="utf-8")
    for taken in ("plan_taken", "compare_taken"):
        (cwd / taken).mkdir()
        (cwd / taken / "report.html").write_text("<p>a user's own page</p>\n", encoding="utf-8")

    def peersim(*args: str) -> Callable[[], Result]:
        return lambda: run_peersim(list(args), cwd)

    jobs = {
        "plan": peersim("plan", *PLAN, *FAST, "--out", "plan", "--json"),  # with the shipped posterior
        "compare": peersim(*COMPARE, "--out", "cmp"),  # with the shipped posterior
        "plan_none": peersim("plan", *NO_PLAN, *FAST, "--out", "plan_none"),
        "compare_point": peersim(*COMPARE, "--no-posterior", "--out", "cmp_point"),
        "plan_taken": peersim("plan", *PLAN, *FAST, "--out", "plan_taken"),
        "compare_taken": peersim(*COMPARE, "--out", "compare_taken"),
        "plan_again": peersim("plan", *PLAN, *FAST, "--no-posterior", "--out", "plan_taken", "--force"),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        results: dict[str, Any] = {name: future.result() for name, future in futures.items()}
    results["cwd"] = cwd
    return results


class Page(HTMLParser):
    """What the tests read of a page: every tag's attributes, and where each section starts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.table_parents: list[str] = []
        self._open: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "table":
            self.table_parents.append(self._open[-1][1].get("class", "") if self._open else "")
        self.tags.append((tag, attributes))
        if tag not in ("img", "meta", "br", "hr", "input", "link"):
            self._open.append((tag, attributes))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def section(self, name: str) -> str:
        """The text of ``<section id=name>`` as a reader sees it: tags dropped, entities unescaped."""
        start = self.text.index(f'<section id="{name}">')
        return unescape(re.sub(r"<[^>]+>", "", self.text[start : self.text.index("</section>", start)]))


def signed(value: float) -> str:
    """A difference as the compare report shows it: 3 decimals with its sign, ``+0.000`` for zero."""
    return "+0.000" if round(value, 3) == 0 else f"{value:+.3f}"


def page(runs: dict[str, Any], name: str, folder: str) -> tuple[Page, Path]:
    result = runs[name]
    assert result.returncode == 0, result.stderr
    path = Path(runs["cwd"]) / folder / "report.html"
    assert path.is_file(), f"{name}: no report.html"
    return Page(path.read_text(encoding="utf-8")), path


def assert_self_contained(html: Page) -> None:
    """Images inlined as PNG data URIs, nothing fetched, no script, no web font; readable on a phone."""
    images = [attrs["src"] for tag, attrs in html.tags if tag == "img"]
    assert images, "no figure"
    for src in images:
        assert src.startswith(PNG_URI_PREFIX), src[:40]
        assert base64.b64decode(src[len(PNG_URI_PREFIX) :])[:8] == b"\x89PNG\r\n\x1a\n"
    for tag, attrs in html.tags:
        for name in ("src", "href"):
            assert not attrs.get(name, "").lower().startswith(("http://", "https://", "//")), (tag, attrs)
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
    assert external_references(html.text) == []
    lowered = html.text.lower()
    assert "@font-face" not in lowered
    assert "@import" not in lowered
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html.text
    assert "@media print" in html.text
    assert "max-width: 60rem" in html.text
    assert html.table_parents, "no table"
    assert all(parent == "table-wrap" for parent in html.table_parents), html.table_parents
    # The answer leads, then the evidence, then the method and its limits.
    order = [html.text.index(f'<section id="{name}">') for name in ("answer", "evidence", "method")]
    assert order == sorted(order), order


def test_plan_report_is_self_contained_and_leads_with_the_answer_of_plan_json(runs: dict[str, Any]) -> None:
    html, path = page(runs, "plan", "plan")
    assert_self_contained(html)
    assert len([tag for tag, _ in html.tags if tag == "img"]) == 2, "both frontier figures"
    # Seen: 179 KB (two frontier figures of about 55 KB each as PNG; base64 adds a third).
    size = path.stat().st_size
    assert 80_000 < size < 600_000, size
    document = json.loads(runs["plan"].stdout)
    assert json.loads((path.parent / "plan.json").read_text(encoding="utf-8")) == document
    assert document["search"]["status"] == "feasible", document["search"]["answer"]
    recommended = document["search"]["plans"]["recommended"]
    answer = html.section("answer")
    # The recommended plan: its levers, its yearly cost and its chance of meeting the target.
    assert "Recommended plan" in answer
    assert recommended["changes"], "the recommended plan changes a lever"
    for change in recommended["changes"].values():
        to = change["to"]
        assert f"&rarr; <b>{to if isinstance(to, str) else f'{to:g}'}</b>" in html.text, change
    assert money(recommended["cost"]["total"], "GBP") in answer
    assert f"{recommended['share_meeting_targets']:.0%}" in answer
    assert f"met in {round(recommended['share_meeting_targets'] * 12)} of 12 simulated runs" in answer
    assert "engagement_rate ≥ 0.45" in answer
    assert "Budget: GBP 90,000 a year" in answer
    # Both reports come from one context: every answer sentence is in the page and in plan.md.
    markdown = (path.parent / "plan.md").read_text(encoding="utf-8")
    for line in document["search"]["answer"]:
        assert line in answer, line
        assert f"- {line}" in markdown, line
    evidence = html.section("evidence")
    for heading in (
        "Prediction for the site as given",
        "Which lever buys the most",
        "Outcomes by diagnostic group",
    ):
        assert heading in evidence, heading
    # The method says which posterior the numbers rest on, with its particles and effective sample size.
    method = html.section("method")
    posterior = document["posterior"]
    assert posterior["source"] == "<embedded default_posterior.parquet>"
    assert f"Posterior used: {posterior['source']}, {posterior['particles']} particles" in method
    assert f"Effective sample size {posterior['effective_sample_size']:.0f}" in method
    assert "peersim plan site.toml --costs costs.toml" in method, "the command line"
    assert "supervisor_hour = 34.31" in method, "the costs file, quoted"


def test_plan_report_without_an_answer_says_so_first(runs: dict[str, Any]) -> None:
    result = runs["plan_none"]
    assert result.returncode == 3, (result.returncode, result.stderr)  # no answer, outputs written
    path = Path(runs["cwd"]) / "plan_none" / "report.html"
    html = Page(path.read_text(encoding="utf-8"))
    assert_self_contained(html)
    answer = html.section("answer")
    assert '<div class="answer-box no-answer">' in html.text
    assert "No plan in the lever grid meets the targets; the one most likely to is shown." in answer
    assert "No plan in the lever grid meets engagement_rate>=0.6 with probability >= 0.8." in answer


def test_compare_report_leads_with_each_what_ifs_paired_differences(runs: dict[str, Any]) -> None:
    html, path = page(runs, "compare", "cmp")
    assert_self_contained(html)
    # Seen: 196 KB for one what-if (the forest plot, 114 KB as PNG; base64 adds a third).
    size = path.stat().st_size
    assert 40_000 < size < 600_000, size
    document = json.loads((path.parent / "compare.json").read_text(encoding="utf-8"))
    (comparison,) = document["comparisons"]
    answer = html.section("answer")
    assert f"What-if {comparison['label']}" in answer
    assert "south.supervisor_hours_per_week=6" in answer
    # The headline: the mean change, its 95% predictive interval and P(benefit), as compare.json has them.
    for metric in ("engagement_rate", "fidelity_index", "ward_acceptance"):
        entry = comparison["overall"][metric]
        row = (
            f"<b>{signed(entry['difference'])}</b></td>"
            f'<td class="num" data-label="95% range for one service">'
            f"{signed(entry['predictive_lo'])} to {signed(entry['predictive_hi'])}</td>"
            f'<td class="num" data-label="P(benefit)">{entry["p_benefit"]:.2f}</td>'
        )
        assert row in html.text, (metric, entry)
    # More supervision at the one-worker site raises fidelity in every pair of this tiny trial (seen:
    # +0.013, P(benefit) 1.00 of 4 pairs; at north, with 2 hours a worker already, it changes nothing),
    # so the answer names it among the measures the what-if improves.
    fidelity = comparison["overall"]["fidelity_index"]
    assert fidelity["p_benefit"] == 1.0, fidelity
    better = answer.split("Better than the base in at least 80% of the pairs: ")[1].split("\n")[0]
    assert f"Delivered fidelity (0-1) {signed(fidelity['difference'])}" in better, better
    method = html.section("method")
    posterior = document["posterior"]
    assert f"Posterior used: {posterior['source']}, {posterior['particles']} particles" in method
    assert f"Effective sample size {posterior['effective_sample_size']:.0f}" in method
    assert (
        "peersim compare tiny.toml --set south.supervisor_hours_per_week=6 -n 4 --seed 0 --out cmp" in method
    )
    assert "wrote run stores base, tiny+set and compare.csv, compare.json, forest.png, report.html" in (
        runs["compare"].stdout
    )


def test_compare_report_without_a_posterior_says_the_ranges_carry_chance_only(runs: dict[str, Any]) -> None:
    html, _ = page(runs, "compare_point", "cmp_point")
    assert_self_contained(html)
    method = html.section("method")
    assert "No posterior: every run uses the scenarios' point values" in method
    assert "Posterior used" not in method
    assert "--no-posterior" in method


def test_report_html_is_never_overwritten_without_force(runs: dict[str, Any]) -> None:
    cwd = Path(runs["cwd"])
    for name in ("plan_taken", "compare_taken"):
        result = runs[name]
        assert result.returncode == 2, (name, result.returncode, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "already holds report.html" in lines[0], lines[0]
        assert "--force" in lines[0], lines[0]
    # The compare refusal kept the user's page; --force replaces the plan one.
    assert (cwd / "compare_taken" / "report.html").read_text(encoding="utf-8") == "<p>a user's own page</p>\n"
    assert runs["plan_again"].returncode == 0, runs["plan_again"].stderr
    replaced = (cwd / "plan_taken" / "report.html").read_text(encoding="utf-8")
    assert replaced.startswith("<!DOCTYPE html>")
    assert "No posterior: the mechanism strengths are the scenario's point values" in unescape(replaced)


def test_base_template_lays_out_any_report_in_its_blocks() -> None:
    # What the explorer's report builds on: a child of base.html.j2 that fills the three blocks.
    child = environment().from_string(
        '{% extends "base.html.j2" %}{% block title %}T{% endblock %}'
        "{% block answer %}<p>A</p>{% endblock %}"
        "{% block evidence %}<p>E</p>{% endblock %}{% block method %}<p>M</p>{% endblock %}"
    )
    text = child.render(page_defaults())
    assert "<title>T</title>" in text
    assert f"peersim {page_defaults()['version']}" in text
    assert page_defaults()["generated"] in text
    sections = [
        text.index(f'<section id="{name}">\n<p>{name[0].upper()}</p>')
        for name in ("answer", "evidence", "method")
    ]
    assert sections == sorted(sections), sections
    assert "<footer" in text
    assert external_references(text) == []


def test_data_uri_inlines_figures_and_png_files_only(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1))
    figure.add_subplot().plot([0, 1], [1, 0])
    uri = data_uri(figure)
    assert uri.startswith(PNG_URI_PREFIX)
    png = base64.b64decode(uri[len(PNG_URI_PREFIX) :])
    (tmp_path / "figure.png").write_bytes(png)
    assert data_uri(tmp_path / "figure.png") == uri == data_uri(png)
    (tmp_path / "notes.txt").write_text("not an image", encoding="utf-8")
    with pytest.raises(ValueError, match=r"notes\.txt: not a PNG image"):
        data_uri(tmp_path / "notes.txt")


@pytest.mark.parametrize(
    ("snippet", "found"),
    [
        ('<img src="https://example.org/a.png">', ["https://example.org/a.png"]),
        ("<script src=//cdn.example.org/x.js></script>", ["//cdn.example.org/x.js"]),
        ("<style>body { background: url('http://x/y.png') }</style>", ["http://x/y.png"]),
        ('<style>@import "fonts.css";</style>', ["fonts.css"]),
        ('<a href="#method">method</a><img src="data:image/png;base64,AAAA">', []),
    ],
)
def test_external_references_finds_what_a_page_would_fetch(snippet: str, found: list[str]) -> None:
    assert external_references(snippet) == found


def test_render_html_escapes_the_context() -> None:
    # A site name is the user's text: it must not become markup in the page.
    text = render_html(
        "compare.html.j2",
        {
            "title": "<script>x</script>",
            "base": {"scenario": "<b>", "file": "f", "label": "base", "hash": "h", "overrides": []},
            "replicates": 2,
            "seed": 0,
            "comparisons": [],
            "clear_share": "80%",
            "predictive_text": "p",
            "interval_text": "i",
            "p_benefit_text": "b",
            "posterior": None,
            "no_posterior": "none",
            "metrics": [],
            "failures": [],
            "command": None,
            "forest": PNG_URI_PREFIX,
        },
    )
    assert "<script>" not in text
    assert escape("<script>x</script>") in text
