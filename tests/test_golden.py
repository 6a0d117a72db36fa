"""Golden summary: the default scenario's headline means, within stated tolerances.

Tolerances allow for floating-point differences between platforms and library
versions, not for changed behaviour. After an intended change, refresh with
``python tests/golden/refresh_golden.py`` and say why in the commit.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).with_name("golden")))
from refresh_golden import GOLDEN, golden_summary

COUNT_METRICS = {"participants", "vacancy_weeks", "supervision_sessions"}
ABSOLUTE = 0.005
"""Tolerance for shares, fidelity, strain and acceptance (0-1 scales) and risk differences."""
RELATIVE = 0.01
"""Tolerance for counts and odds ratios."""


@pytest.fixture(scope="module")
def current() -> dict[str, dict[str, float]]:
    return golden_summary()


def test_golden_summary_matches(current: dict[str, dict[str, float]]) -> None:
    expected = json.loads(GOLDEN.read_text())["means"]
    assert set(current) == set(expected)
    problems = []
    for site, metrics in expected.items():
        assert set(current[site]) == set(metrics), site
        for metric, value in metrics.items():
            got = current[site][metric]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                ok = got is None or math.isnan(got)
            elif metric in COUNT_METRICS or metric.endswith("odds_ratio"):
                ok = math.isclose(got, value, rel_tol=RELATIVE)
            else:
                ok = math.isclose(got, value, abs_tol=ABSOLUTE)
            if not ok:
                problems.append(f"{site}.{metric}: golden {value}, now {got}")
    assert not problems, (
        "golden summary drifted (refresh with tests/golden/refresh_golden.py if intended):\n"
        + "\n".join(problems)
    )
