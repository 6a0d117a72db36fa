"""Unit tests of the named, seeded random streams."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pytest

import peersim
from conftest import tiny_data, tiny_site
from peersim.core.scenario import Scenario
from peersim.core.scenario_files import scenario_from_dict
from peersim.core.streams import (
    MESA_STREAM_CODE,
    STREAM_CODES,
    as_seed_sequence,
    child_sequence,
    replicate_seed,
    replicate_seeds,
    site_stream,
)
from peersim.model.setup import build_patients, build_posts
from peersim.model.state import PatientTable

BAD_SEEDS: list[Any] = [-1, -(2**70), 1.5, 3.0, True, False, "3", None, [1, 2]]


@pytest.mark.parametrize("seed", BAD_SEEDS, ids=repr)
def test_bad_seeds_raise_type_error(seed: Any) -> None:
    with pytest.raises(TypeError, match="non-negative int or a SeedSequence"):
        as_seed_sequence(seed)
    with pytest.raises(TypeError):
        replicate_seed(seed, 0)
    with pytest.raises(TypeError):
        replicate_seeds(seed, 2)


@pytest.mark.parametrize("seed", [-1, 2.5, True])
def test_run_rejects_bad_seeds(tiny_scenario: Scenario, seed: Any) -> None:
    with pytest.raises(TypeError):
        peersim.run(tiny_scenario, seed)


def test_good_seeds() -> None:
    assert as_seed_sequence(5).entropy == 5
    assert as_seed_sequence(np.int64(5)).entropy == 5
    assert as_seed_sequence(0).entropy == 0
    sequence = np.random.SeedSequence(9, spawn_key=(2,))
    assert as_seed_sequence(sequence) is sequence


def test_stream_codes_are_unique_and_apart_from_mesa() -> None:
    codes = list(STREAM_CODES.values())
    assert len(set(codes)) == len(codes)
    assert MESA_STREAM_CODE not in codes


def test_named_streams_differ() -> None:
    root = as_seed_sequence(42)
    draws = {name: site_stream(root, 0, name).random(8) for name in STREAM_CODES}
    names = list(draws)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not np.array_equal(draws[a], draws[b]), (a, b)


def test_site_streams_differ_by_site_and_repeat_by_seed() -> None:
    root = as_seed_sequence(42)
    assert not np.array_equal(site_stream(root, 0, "flow").random(8), site_stream(root, 1, "flow").random(8))
    np.testing.assert_array_equal(
        site_stream(root, 1, "flow").random(8), site_stream(as_seed_sequence(42), 1, "flow").random(8)
    )
    other = as_seed_sequence(43)
    assert not np.array_equal(site_stream(root, 0, "flow").random(8), site_stream(other, 0, "flow").random(8))


def test_child_sequence_extends_the_spawn_key() -> None:
    root = replicate_seed(5, 3)
    child = child_sequence(root, 1, 2)
    assert child.entropy == 5
    assert child.spawn_key == (3, 1, 2)


def test_replicate_streams_differ_from_the_base_seed() -> None:
    base = site_stream(as_seed_sequence(5), 0, "flow").random(8)
    first = site_stream(replicate_seed(5, 0), 0, "flow").random(8)
    second = site_stream(replicate_seed(5, 1), 0, "flow").random(8)
    assert not np.array_equal(base, first)
    assert not np.array_equal(first, second)


def _scenario(n_sites: int, mode: str = "trial") -> Scenario:
    sites = [tiny_site(f"site{i}", eligible_admissions_per_week=1.0 + i) for i in range(n_sites)]
    return scenario_from_dict(tiny_data(mode=mode, sites=sites))


def _site_rows(table: PatientTable, site: int) -> dict[str, np.ndarray]:
    rows = table.site == site
    return {f.name: getattr(table, f.name)[rows] for f in fields(table) if f.init}


@pytest.mark.parametrize("mode", ["trial", "service"])
def test_adding_a_site_at_the_end_leaves_earlier_sites_draws_unchanged(mode: str) -> None:
    root = as_seed_sequence(2024)
    one = build_patients(_scenario(1, mode), root)
    three = build_patients(_scenario(3, mode), root)
    before, after = _site_rows(one, 0), _site_rows(three, 0)
    assert len(before["site"]) > 0
    assert set(before) == set(after)
    for column in before:
        np.testing.assert_array_equal(before[column], after[column], err_msg=column)
    assert len(three) > len(one)


def test_adding_a_site_leaves_earlier_sites_staff_draws_unchanged() -> None:
    root = as_seed_sequence(2024)
    one, supervisor_one = build_posts(_scenario(1), root, weeks=30)
    two, supervisor_two = build_posts(_scenario(2), root, weeks=30)
    rows = two.site == 0
    np.testing.assert_array_equal(one.u_absence, two.u_absence[rows])
    np.testing.assert_array_equal(one.u_leave, two.u_leave[rows])
    np.testing.assert_array_equal(one.trait_draws, two.trait_draws[rows])
    np.testing.assert_array_equal(supervisor_one[0], supervisor_two[0])


def test_changing_another_sites_lever_leaves_a_sites_draws_unchanged() -> None:
    root = as_seed_sequence(7)
    base = tiny_data(sites=[tiny_site("a"), tiny_site("b")])
    changed = tiny_data(
        sites=[tiny_site("a"), tiny_site("b", n_peer_workers=4, eligible_admissions_per_week=3.0)]
    )
    first = _site_rows(build_patients(scenario_from_dict(base), root), 0)
    second = _site_rows(build_patients(scenario_from_dict(changed), root), 0)
    for column in first:
        np.testing.assert_array_equal(first[column], second[column], err_msg=column)
