"""The explorer in a real browser: the sidebar, a run checked against the API, and bad values.

Debian's Chromium drives the page ``peersim explore`` serves (see conftest);
the numbers on the page are checked against :mod:`peersim.explore`'s pure
functions run in this process on the same inputs and seed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from peersim.core.overrides import load_source
from peersim.errors import PeersimInputError
from peersim.explore.inputs import form_defaults, lever_fields, load_explore_inputs, read_form, site_context
from peersim.explore.view import view_of
from peersim.explore.workflow import explore_run
from peersim.planning.levers import LEVER_LABELS

from .conftest import SITE, ExplorerPage

pytestmark = pytest.mark.ui

RUN_MS = 120_000
"""Longest wait for a run of a few replicates to finish on the page (ms)."""
UI_MS = 20_000
"""Longest wait for the page to show what a field's new value makes of it (ms)."""
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")


@pytest.fixture(scope="module")
def inputs():
    return load_explore_inputs(SITE)


def _numbers(text: str, currency: str) -> list[float]:
    """The numbers in a table cell (``-GBP 8,069`` reads -8069; ``-`` reads none)."""
    return [float(n.replace(",", "")) for n in NUMBER.findall(text.replace(f"{currency} ", ""))]


def _table(page) -> tuple[list[str], list[list[str]]]:
    table = page.locator(".peersim-differences table")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = [row.locator("td").all_inner_texts() for row in table.locator("tbody tr").all()]
    return headers, rows


def test_page_shows_the_sites_context_and_levers(explorer_page: ExplorerPage, inputs):
    page = explorer_page.page
    sidebar = page.locator(".v-navigation-drawer").inner_text()
    assert inputs.site_name in sidebar
    for label, value in site_context(inputs):
        assert label in sidebar, label
        assert value in sidebar, (label, value)
    defaults = form_defaults(inputs)
    for lever in lever_fields(inputs):
        widget = page.locator(f".peersim-lever-{lever.name}")
        assert widget.is_visible(), lever.name
        label = widget.locator("label").inner_text()
        assert label.startswith(LEVER_LABELS[lever.name]), (lever.name, label)
        if lever.choices:
            assert widget.inner_text().splitlines()[-1] == defaults[lever.name]
        else:
            assert widget.locator("input").input_value() == defaults[lever.name], lever.name
    for css_class, key in (
        ("peersim-replicates", "replicates"),
        ("peersim-target", "target"),
        ("peersim-seed", "seed"),
    ):
        assert page.locator(f".{css_class} input").input_value() == defaults[key], css_class
    assert page.get_by_role("button", name="Run").is_enabled()
    explorer_page.screenshot("explorer_loaded")
    assert explorer_page.console_errors == []


def test_run_matches_the_api_for_the_same_seed(explorer_page: ExplorerPage, inputs):
    from playwright.sync_api import expect

    page = explorer_page.page
    form = {"n_peer_workers": "5", "replicates": "4", "seed": "0"}
    explorer_page.enter("peersim-lever-n_peer_workers", form["n_peer_workers"])
    explorer_page.enter("peersim-replicates", form["replicates"])
    explorer_page.enter("peersim-seed", form["seed"])
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".peersim-status")).to_have_text(re.compile(r"^done:"), timeout=RUN_MS)
    expect(page.locator(".peersim-progress")).to_contain_text("4 of 4 replicates")
    headers, rows = _table(page)
    explorer_page.screenshot("explorer_run_done")

    view = view_of(explore_run(inputs, read_form(inputs, form)))
    currency = inputs.costs.currency
    columns = {name: headers.index(name) for name in ("plan", "draft", "difference")}
    intervals = {
        "interval of the mean": ("mean_lo", "mean_hi"),
        "predictive interval": ("predictive_lo", "predictive_hi"),
    }
    shown = {row[0].strip().splitlines()[-1].strip(): row for row in rows}
    assert list(shown) == list(view.differences["metric"])
    for expected in view.differences.itertuples(index=False):
        row = shown[expected.metric]
        # Numbers are shown with 3 decimals (money to the unit): within half the last digit.
        tolerance = 0.5 if currency in row[columns["plan"]] else 0.0005
        for name, index in columns.items():
            value = getattr(expected, name)
            cell = _numbers(row[index], currency)
            if math.isnan(value):
                assert cell == [], (expected.metric, name, row[index])
            else:
                assert cell == pytest.approx([value], abs=tolerance), (expected.metric, name, row[index])
        for header, (lo, hi) in intervals.items():
            bounds = [getattr(expected, lo), getattr(expected, hi)]
            cell = _numbers(row[headers.index(header)], currency)
            if any(math.isnan(b) for b in bounds):
                assert cell == [], (expected.metric, header)
            else:
                assert cell == pytest.approx(bounds, abs=tolerance), (expected.metric, header, row)
    chance = view.chance["draft"]
    shown_chance = page.locator(".peersim-target-chance").inner_text()
    assert float(re.search(r"P\(target met\) = ([\d.]+)", shown_chance).group(1)) == pytest.approx(
        chance.share, abs=0.005
    )
    assert explorer_page.console_errors == []


@pytest.mark.parametrize("bad", ["-1", "abc"])
def test_bad_lever_shows_the_set_message(explorer_page: ExplorerPage, inputs, bad):
    from playwright.sync_api import expect

    page = explorer_page.page
    change = f"{inputs.site_name}.n_peer_workers={bad}"
    with pytest.raises(PeersimInputError) as raised:
        load_source(Path(SITE), [change])  # what `peersim run SITE --set CHANGE` reports
    explorer_page.enter("peersim-lever-n_peer_workers", bad)
    errors = page.locator(".peersim-error")
    expect(errors).to_have_count(1, timeout=UI_MS)
    expect(errors).to_have_text(str(raised.value))
    expect(page.get_by_role("button", name="Run")).to_be_disabled()
    assert "Traceback" not in page.locator("body").inner_text()
    explorer_page.screenshot(f"explorer_bad_{'negative' if bad == '-1' else 'text'}")
    explorer_page.enter("peersim-lever-n_peer_workers", "5")
    expect(errors).to_have_count(0, timeout=UI_MS)
    expect(page.get_by_role("button", name="Run")).to_be_enabled()
    assert explorer_page.console_errors == []


def test_save_plan_and_report_download_what_the_api_makes(explorer_page: ExplorerPage, inputs):
    from playwright.sync_api import expect

    from peersim.core.scenario_files import parse_scenario
    from peersim.io.html import external_references

    page = explorer_page.page
    form = {"supervisor_hours_per_week": "7.5", "replicates": "4", "seed": "2"}
    explorer_page.enter("peersim-lever-supervisor_hours_per_week", form["supervisor_hours_per_week"])
    explorer_page.enter("peersim-replicates", form["replicates"])
    explorer_page.enter("peersim-seed", form["seed"])
    with page.expect_download(timeout=UI_MS) as saved:
        page.get_by_role("button", name="Save plan").click()
    text = Path(saved.value.path()).read_text(encoding="utf-8")
    assert saved.value.suggested_filename == f"{inputs.site_name}_draft.toml"
    assert parse_scenario(text).hash == read_form(inputs, form).scenario.hash
    assert "supervisor_hours_per_week 2.5 -> 7.5" in text

    page.get_by_role("button", name="Run").click()
    expect(page.locator(".peersim-status")).to_have_text(re.compile(r"^done:"), timeout=RUN_MS)
    with page.expect_download(timeout=RUN_MS) as report:
        page.get_by_role("button", name="Report").click()
    html = Path(report.value.path()).read_text(encoding="utf-8")
    assert external_references(html) == []
    assert "supervisor hours/week" in html
    assert "Method and limits" in html
    explorer_page.screenshot("explorer_downloads")
    assert explorer_page.console_errors == []


def test_where_it_fails_shows_the_boxes(explorer_page: ExplorerPage):
    from playwright.sync_api import expect

    page = explorer_page.page
    page.get_by_role("tab", name="Where it fails").click()
    page.locator(".peersim-discover").click()
    boxes = page.locator(".peersim-boxes")
    expect(boxes).to_be_visible(timeout=RUN_MS)
    # seen (example site, seed 0, 120 points x 2 runs): one box, "eligible admissions >= 1.28 a week, peer
    # worker posts <= 3 and the caseload cap <= 8", coverage 0.50, density 0.87
    expect(boxes).to_contain_text("engagement falls below 0.5 in")
    explorer_page.screenshot("explorer_where_it_fails")
    assert explorer_page.console_errors == []


def test_unknown_target_metric_is_named_in_the_page(explorer_page: ExplorerPage):
    from playwright.sync_api import expect

    from peersim.planning.inputs import parse_target

    page = explorer_page.page
    with pytest.raises(PeersimInputError) as raised:
        parse_target("engagement>=0.5")  # what `peersim plan --target engagement>=0.5` reports
    explorer_page.enter("peersim-target", "engagement>=0.5")
    errors = page.locator(".peersim-error")
    expect(errors).to_have_count(1, timeout=UI_MS)
    expect(errors).to_have_text(str(raised.value))
    expect(errors).to_contain_text("unknown metric 'engagement'")
    expect(page.get_by_role("button", name="Run")).to_be_disabled()
    assert "Traceback" not in page.locator("body").inner_text()
