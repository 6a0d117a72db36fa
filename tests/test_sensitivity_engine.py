"""Known answers: the sampling and analysis engine on the Ishigami function, designs, seeds.

The Ishigami target goes through exactly the code path the model does (design,
points, executor, analysis); only the function evaluated at each point differs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peersim.errors import PeersimInputError
from peersim.executor import LocalExecutor
from peersim.sensitivity import DUMMY, check_n, make_design, run_sensitivity
from peersim.sensitivity.analysis import pawn_medians
from peersim.sensitivity.design import problem_for
from peersim.sensitivity.evaluate import Point
from peersim.sensitivity.figures import sensitivity_figure
from peersim.sensitivity.testfunctions import (
    IshigamiTarget,
    ishigami_indices,
    ishigami_space,
    ishigami_variance,
)

# Over seeds 0-9 at N = 1024 the largest error against the analytic S1/ST was 0.013
# (mean 0.004); the tolerance is a little over twice that.
ISHIGAMI_TOLERANCE = 0.03


def _key(result: object, n: int) -> pd.DataFrame:
    indices = result.analysis.indices  # type: ignore[attr-defined]
    return indices[indices["n"] == n].set_index(["factor", "index"])


@pytest.mark.parametrize("seed", [0, 7])
def test_sobol_reproduces_ishigami_indices(seed: int) -> None:
    result = run_sensitivity(ishigami_space(), IshigamiTarget(), "sobol", 1024, replicates=1, seed=seed)
    table = _key(result, 1024)
    for index, expected in ishigami_indices().items():
        for name, value in zip(("x1", "x2", "x3"), expected, strict=True):
            got = table.loc[(name, index), "value"]
            assert abs(got - value) <= ISHIGAMI_TOLERANCE, (name, index, got, value)
    # A deterministic function: the dummy changes nothing, so its indices are exactly 0,
    # and every real factor (x3 only through its interaction with x1) is above it.
    assert table.loc[(DUMMY, "ST"), "value"] == 0.0
    screening = result.analysis.screening.set_index("factor")
    assert screening.loc[["x1", "x2", "x3"], "influential"].all()
    assert not screening.loc[DUMMY, "influential"]
    assert not result.warnings


def test_noisy_ishigami_dummy_and_noise_floor_match_the_known_noise() -> None:
    # Noise sd 2, 2 replicates: the replicate mean has noise variance 2, so the share
    # of the variance across points that is noise is 2 / (V + 2) = 0.126.
    expected = 2.0 / (ishigami_variance() + 2.0)
    result = run_sensitivity(
        ishigami_space(),
        IshigamiTarget(noise_sd=2.0),
        "sobol",
        1024,
        replicates=2,
        seed=3,
        centre_replicates=400,
    )
    diag = result.analysis.diagnostics.iloc[0]
    # The centre estimate of the noise variance has a relative sd of 7% at 400 replicates
    # (seen: 0.123-0.145 over seeds 0-4); the dummy averages 1024 independent pairs (seen 0.119-0.131).
    assert diag["noise_share"] == pytest.approx(expected, rel=0.25)
    assert diag["dummy_value"] == pytest.approx(expected, abs=0.03)
    screening = result.analysis.screening.set_index("factor")
    assert screening.loc[["x1", "x2", "x3"], "influential"].all()
    assert screening.loc[["x1", "x2", "x3"], "value"].min() > 2 * diag["threshold"]


def test_morris_and_pawn_screen_ishigami_against_the_dummy() -> None:
    target = IshigamiTarget(noise_sd=1.0)
    morris = run_sensitivity(ishigami_space(), target, "morris", 60, 1, seed=1, centre_replicates=200)
    screening = morris.analysis.screening.set_index("factor")
    assert screening.loc[["x1", "x2", "x3"], "influential"].all(), screening
    assert not screening.loc[DUMMY, "influential"]
    # The dummy's mu* is that of the noise, which the noise floor predicts from the
    # centre runs (ratio seen 0.92-1.16 over seeds 0-5).
    diag = morris.analysis.diagnostics.iloc[0]
    assert diag["dummy_value"] == pytest.approx(diag["noise_floor"], rel=0.3)

    pawn = run_sensitivity(ishigami_space(), target, "pawn", 1500, 1, seed=1)
    table = pawn.analysis.screening.set_index("factor")
    # x2 shifts the output's distribution most, then x1 (seen 0.34-0.38 and 0.24-0.27 over
    # seeds 0-5, against a dummy threshold of 0.07-0.10). x3 acts only through its
    # interaction with x1 and its median KS sits at the threshold (0.08-0.10): PAWN's
    # median is known to be weak there, so it is not asserted.
    assert table.loc[["x1", "x2"], "influential"].all()
    assert not table.loc[DUMMY, "influential"]
    assert table.loc["x2", "value"] > table.loc["x1", "value"] > table.loc["x3", "value"]


def test_same_seed_same_indices_any_executor() -> None:
    target = IshigamiTarget(noise_sd=1.0)
    first = run_sensitivity(ishigami_space(), target, "sobol", 64, 2, seed=11)
    again = run_sensitivity(ishigami_space(), target, "sobol", 64, 2, seed=11)
    with LocalExecutor(2) as pool:
        pooled = run_sensitivity(ishigami_space(), target, "sobol", 64, 2, seed=11, executor=pool)
    other = run_sensitivity(ishigami_space(), target, "sobol", 64, 2, seed=12)
    pd.testing.assert_frame_equal(first.analysis.indices, again.analysis.indices)
    pd.testing.assert_frame_equal(first.analysis.indices, pooled.analysis.indices)
    pd.testing.assert_frame_equal(first.samples, pooled.samples)
    assert not np.allclose(first.analysis.indices["value"], other.analysis.indices["value"])


def test_sobol_design_reseeds_only_the_dummy_cross_samples() -> None:
    space = ishigami_space()
    for second_order in (False, True):
        design = make_design(space, "sobol", 8, seed=0, second_order=second_order)
        d = 4  # x1, x2, x3, dummy
        step = 2 * d + 2 if second_order else d + 2
        assert design.points == 8 * step
        blocks = design.X.reshape(8, step, d)
        streams = design.stream.reshape(8, step)
        for i in range(8):
            a, b = blocks[i, 0], blocks[i, -1]
            for row in range(step):
                swapped = np.flatnonzero(blocks[i, row] != a)
                only_dummy = list(swapped) == [d - 1]
                only_dummy_from_b = list(np.flatnonzero(blocks[i, row] != b)) == [d - 1]
                fresh = only_dummy or (second_order and only_dummy_from_b)
                assert streams[i, row] == (i + 1 if fresh else 0), (second_order, i, row)
        # The first half of the blocks is the design the N/2 re-analysis uses.
        assert design.head(4) == slice(0, 4 * step)


def test_morris_design_reseeds_from_the_dummy_step_on() -> None:
    design = make_design(ishigami_space(), "morris", 6, seed=2)
    trajectories = design.X.reshape(6, 5, 4)
    streams = design.stream.reshape(6, 5)
    for t in range(6):
        moved = trajectories[t, :, -1] != trajectories[t, 0, -1]
        assert moved.sum() >= 1
        assert list(streams[t]) == [t + 1 if m else 0 for m in moved]


def test_n_is_checked_per_method() -> None:
    assert check_n("sobol", 500) == (
        512,
        "Sobol' sampling needs N to be a power of 2: using N = 512 (asked for 500)",
    )
    assert check_n("sobol", 512) == (512, None)
    assert check_n("morris", 7) == (7, None)
    assert check_n("sobol", 5)[0] == 8  # rounded up first, then checked
    for method, n in (("sobol", 4), ("morris", 3), ("pawn", 39)):
        with pytest.raises(PeersimInputError, match=f"`n` {n} is too small for {method}"):
            check_n(method, n)  # type: ignore[arg-type]


def test_small_n_warns_that_indices_have_not_settled() -> None:
    result = run_sensitivity(ishigami_space(), IshigamiTarget(), "sobol", 8, 1, seed=0)
    text = " ".join(result.warnings)
    assert "increase `n`" in text
    assert "wide ST intervals" in text or "has not settled" in text or "negative beyond" in text


def test_pawn_medians_match_salib() -> None:
    from SALib.analyze import pawn
    from SALib.sample import latin

    problem = problem_for(ishigami_space())
    X = latin.sample(problem, 300, seed=5)
    y = np.round(np.sin(X[:, 0]) + 3 * X[:, 1] ** 2, 1)  # with ties
    np.testing.assert_allclose(
        pawn_medians(X, y, 10), pawn.analyze(problem, X, y, S=10)["median"], atol=1e-12
    )


def test_figures_are_returned_for_every_method() -> None:
    for method, n in (("sobol", 16), ("morris", 4), ("pawn", 40)):
        result = run_sensitivity(ishigami_space(), IshigamiTarget(noise_sd=0.5), method, n, 1, seed=0)  # type: ignore[arg-type]
        figure = sensitivity_figure(method, result.analysis.indices, result.analysis.screening, "t")
        assert figure.axes
        assert figure.axes[0].get_title() == "ishigami"


def _pure_noise(task: Point) -> np.ndarray:
    """An output that no factor changes: only the random numbers move it."""
    rng = np.random.default_rng(task.replicate_seed(0))
    return np.full((task.replicates, 1), rng.standard_normal())


class _NoiseTarget:
    outputs = ("noise",)
    evaluate = staticmethod(_pure_noise)

    def task(self, point: Point) -> Point:
        return point

    def stamp(self) -> dict[str, str]:
        return {"scenario": "noise"}


def test_output_no_factor_changes_is_reported_not_analysed() -> None:
    result = run_sensitivity(ishigami_space(), _NoiseTarget(), "sobol", 16, 1, seed=0)
    assert result.analysis.indices.empty
    assert any(
        "noise: the same value at every sample point on common random numbers" in w for w in result.warnings
    )


def test_second_order_sobol_finds_the_x1_x3_interaction() -> None:
    # Analytic S2(x1, x3) = V13 / V = 0.244, others 0. Seen over seeds 0-5 at N = 1024:
    # 0.226-0.251 for x1:x3 and at most 0.011 in size for the others.
    result = run_sensitivity(ishigami_space(), IshigamiTarget(), "sobol", 1024, 1, seed=0, second_order=True)
    s2 = _key(result, 1024).xs("S2", level="index")["value"]
    assert s2["x1:x3"] == pytest.approx(ishigami_indices()["ST"][2], abs=0.04)
    assert abs(s2["x1:x2"]) < 0.04
    assert abs(s2["x2:x3"]) < 0.04
