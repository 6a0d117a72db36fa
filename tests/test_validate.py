"""``peersim validate`` for every kind of input, and the wording of input errors at their source."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pydantic import Field, ValidationError

from conftest import TINY_TOML, run_peersim
from peersim.calibration.inputs import load_targets, parse_targets
from peersim.cli.validate import KindName
from peersim.core.overrides import load_source
from peersim.core.parameters import SITE_PARAMS
from peersim.core.scenario_files import default_scenario, load_scenario, parse_scenario
from peersim.errors import PeersimInputError
from peersim.io.files import parse_toml, read_text_file
from peersim.io.inputs import StrictModel, humanise, shown_value
from peersim.planning.inputs import load_costs, parse_costs
from peersim.sensitivity.inputs import load_factors, parse_factors
from peersim.trials.inputs import default_registry_path
from peersim.uncertainty import default_posterior, load_posterior
from peersim.validation import KINDS, FileCheck, check_file, check_files, detect_kind

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
COSTS = SCENARIOS / "costs_default.toml"
FACTORS = SCENARIOS / "factors_default.toml"
TARGETS = ROOT / "calibration" / "targets.toml"
POSTERIOR = ROOT / "src" / "peersim" / "data" / "default_posterior.parquet"
SITE = SCENARIOS / "new_site_example.toml"
"""A one-site scenario in service mode: what ``peersim plan`` plans for."""

BOM = "\ufeff"


def message_of(load: Callable[[], object]) -> str:
    with pytest.raises(PeersimInputError) as caught:
        load()
    return str(caught.value)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def posterior_with_nan(path: Path) -> Path:
    frame = default_posterior().to_frame()
    frame.loc[3, "rel_supervision"] = np.nan
    frame.to_parquet(path, index=False)
    return path


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    """One invalid file of each kind."""
    return {
        "scenario": write(tmp_path / "s.toml", TINY_TOML.replace("caseload_cap = 3", "caseload_cap = 999")),
        "costs": write(
            tmp_path / "c.toml", COSTS.read_text(encoding="utf-8").replace("readmission = 16_000", "")
        ),
        "factors": write(
            tmp_path / "f.toml", '[[factors]]\nname = "supervisor_hours_per_week"\nsites = ["nowhere"]\n'
        ),
        "targets": write(
            tmp_path / "t.toml",
            TARGETS.read_text(encoding="utf-8").replace('name = "enrich_default"', 'name = ""'),
        ),
        "posterior": posterior_with_nan(tmp_path / "p.parquet"),
    }


# -- kinds ---------------------------------------------------------------------------------------


def test_every_shipped_input_is_recognised_and_valid() -> None:
    files = [*sorted(SCENARIOS.glob("*.toml")), TARGETS, POSTERIOR]
    checks = check_files(files)
    assert [check.path for check in checks] == files
    assert all(check.ok for check in checks), [check.error for check in checks if not check.ok]
    kinds = {check.path.name: check.kind for check in checks}
    assert kinds["costs_default.toml"] == "costs"
    assert kinds["factors_default.toml"] == "factors"
    assert kinds["discover_factors_default.toml"] == "factors"
    assert kinds["targets.toml"] == "targets"
    assert kinds["default_posterior.parquet"] == "posterior"
    others = {
        name: kind
        for name, kind in kinds.items()
        if name
        not in {
            "costs_default.toml",
            "factors_default.toml",
            "discover_factors_default.toml",
            "targets.toml",
            "default_posterior.parquet",
        }
    }
    assert set(others.values()) == {"scenario"}, others
    for check in checks:
        assert check.summary.startswith(f"valid {check.kind}"), check.summary


def test_a_trials_registry_entry_is_recognised_and_checked_with_its_scenario(tmp_path: Path) -> None:
    shipped = default_registry_path() / "core" / "observed.toml"
    (check,) = check_files([shipped])
    assert check.ok, check.error
    assert check.kind == "trial"
    assert "checked with" in check.summary
    # Alone (no scenario beside it), the file is checked on its own.
    alone = tmp_path / "observed.toml"
    alone.write_text(shipped.read_text())
    (check,) = check_files([alone])
    assert check.ok
    assert "checked with" not in check.summary
    # Beside a scenario that sets the control arm, calling it a prediction is refused.
    folder = tmp_path / "core"
    folder.mkdir()
    (folder / "scenario.toml").write_text((shipped.parent / "scenario.toml").read_text())
    (folder / "observed.toml").write_text(shipped.read_text().replace('role = "input"', 'role = "predicted"'))
    (check,) = check_files([folder / "observed.toml"])
    assert not check.ok
    assert "outcomes[1].role" in check.error
    assert "observed.toml" in check.error


def test_the_kind_comes_from_the_content_not_the_name(tmp_path: Path) -> None:
    shutil.copy(COSTS, tmp_path / "costs.txt")
    shutil.copy(POSTERIOR, tmp_path / "posterior.bin")
    shutil.copy(FACTORS, tmp_path / "scenario.toml")
    assert detect_kind(tmp_path / "costs.txt") == "costs"
    assert detect_kind(tmp_path / "posterior.bin") == "posterior"  # Parquet's magic bytes
    assert detect_kind(tmp_path / "scenario.toml") == "factors"


def test_a_stray_key_does_not_hide_the_kind(tmp_path: Path) -> None:
    # [[sites]] decides; the scenario loader then names the stray key.
    path = write(tmp_path / "s.toml", 'price_year = "2024"\n' + TINY_TOML)
    (check,) = check_files([path])
    assert check.kind == "scenario"
    assert check.problem.startswith("price_year: unknown key 'price_year'"), check.error


def test_a_file_of_no_kind_or_of_several_kinds_is_refused(tmp_path: Path) -> None:
    none = write(tmp_path / "none.toml", 'name = "x"\n')
    both = write(tmp_path / "both.toml", TINY_TOML + '\n[[factors]]\nname = "caseload_cap"\n')
    first, second = check_files([none, both])
    assert first.kind is None
    assert first.error.startswith(f"{none}: cannot tell which kind of input file this is")
    for marker in ("[[sites]]", "[unit_costs]", "[[factors]]", "[[targets]]"):
        assert marker in first.error, first.error
    assert second.kind is None
    assert "several kinds" in second.error, second.error
    assert "[[factors]]" in second.error, second.error
    assert "give `kind`" in second.error


def test_a_forced_kind_checks_the_file_as_that_kind(tmp_path: Path) -> None:
    (check,) = check_files([SCENARIOS / "enrich_trial.toml"], kind="costs")
    assert check.kind == "costs"
    assert "unit_costs: required key is missing" in check.error, check.error
    with pytest.raises(PeersimInputError, match="`kind` plans: not a kind of input file"):
        check_files([COSTS], kind="plans")  # type: ignore[arg-type]


def test_the_command_line_offers_every_kind() -> None:
    assert [kind.value for kind in KindName] == list(KINDS)


# -- every file reported, with the command's own message -------------------------------------------


def test_every_file_is_reported_with_the_loaders_own_message(bad_files: dict[str, Path]) -> None:
    scenario = default_scenario()
    expected = {
        "scenario": message_of(lambda: load_scenario(bad_files["scenario"])),
        "costs": message_of(lambda: load_costs(bad_files["costs"])),
        "factors": message_of(lambda: load_factors(bad_files["factors"], scenario)),
        "targets": message_of(lambda: load_targets(bad_files["targets"])),
        "posterior": message_of(lambda: load_posterior(bad_files["posterior"])),
    }
    paths = list(bad_files.values())
    checks = check_files([paths[0], COSTS, *paths[1:]])
    assert len(checks) == 6  # one bad file does not stop the others
    assert checks[1].ok
    assert checks[1].kind == "costs"
    bad = [checks[0], *checks[2:]]
    for kind, check in zip(bad_files, bad, strict=True):
        assert check.kind == kind
        assert not check.ok
        assert check.error == expected[kind]
        assert check.error.startswith(f"{check.path}: ")
        assert f"{check.path}: {check.problem}" == check.error


def test_a_missing_file_is_reported_and_the_rest_checked(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    checks = check_files([missing, COSTS])
    assert checks[0].error == f"{missing}: no such file"
    assert checks[1].ok


def test_targets_are_bound_to_the_default_scenario_unless_one_is_given(tmp_path: Path) -> None:
    # A target at a named site: valid against a scenario that has the site, not against the default.
    text = (
        'name = "one"\n[[targets]]\nname = "eng"\nmetric = "engagement_rate"\nsites = ["low"]\n'
        'value = 0.4\nlow = 0.3\nhigh = 0.5\nsource = "notes"\nconfidence = "A"\n'
    )
    path = write(tmp_path / "targets.toml", text)
    (default,) = check_files([path])
    assert not default.ok
    assert "'low'" in default.error, default.error
    assert "enrich_trial" in default.error, default.error
    (given,) = check_files([path], scenario=SCENARIOS / "archetype_low.toml")
    assert given.ok, given.error
    assert "checked against scenario 'archetype_low'" in given.summary


def test_factors_are_checked_against_the_scenario_given(tmp_path: Path) -> None:
    path = write(tmp_path / "f.toml", '[[factors]]\nname = "caseload_cap"\nsites = ["low"]\n')
    (default,) = check_files([path])
    assert "'low' not in scenario 'enrich_trial'" in default.error, default.error
    (given,) = check_files([path], scenario=SCENARIOS / "archetype_low.toml")
    assert given.ok, given.error


def test_costs_levers_are_checked_against_a_planning_site(tmp_path: Path) -> None:
    (alone,) = check_files([COSTS])
    assert alone.ok
    assert "not checked against a site" in alone.summary, alone.summary
    (planned,) = check_files([COSTS], scenario=SITE)
    assert planned.ok, planned.error
    assert "plan(s) for site 'rural_nfp'" in planned.summary, planned.summary
    # A lever value the declared bounds refuse is caught only against a site, as `peersim plan` does.
    bad = write(
        tmp_path / "c.toml",
        COSTS.read_text(encoding="utf-8").replace("{ values = [8, 12] }", "{ values = [8, 99] }"),
    )
    (unchecked,) = check_files([bad])
    (checked,) = check_files([bad], scenario=SITE)
    assert unchecked.ok
    assert not checked.ok
    assert checked.problem.startswith("levers.caseload_cap.values[1]: 99"), checked.error
    assert "is out of range; allowed 1 to 50 participants" in checked.problem


def test_a_bad_scenario_option_is_one_input_error(tmp_path: Path) -> None:
    with pytest.raises(PeersimInputError, match="no such file"):
        check_files([COSTS], scenario=tmp_path / "missing.toml")


def test_check_file_alone(tmp_path: Path) -> None:
    check = check_file(COSTS)
    assert isinstance(check, FileCheck)
    assert check.ok
    assert check.kind == "costs"


# -- the command -------------------------------------------------------------------------------------


def test_validate_reports_every_file_and_exits_2_if_any_failed(
    tmp_path: Path, bad_files: dict[str, Path]
) -> None:
    for name in ("costs_default.toml", "factors_default.toml"):
        shutil.copy(SCENARIOS / name, tmp_path / name)
    shutil.copy(TARGETS, tmp_path / "targets.toml")
    shutil.copy(POSTERIOR, tmp_path / "posterior.parquet")
    write(tmp_path / "tiny.toml", TINY_TOML)
    good = ["tiny.toml", "costs_default.toml", "factors_default.toml", "targets.toml", "posterior.parquet"]
    bad = [path.name for path in bad_files.values()]
    with ThreadPoolExecutor(max_workers=2) as pool:  # each process pays about 1.5 s of imports
        running = pool.submit(run_peersim, ["validate", *good, *bad, "missing.toml"], tmp_path)
        all_good = pool.submit(run_peersim, ["validate", *good, "--scenario", "tiny.toml"], tmp_path)
        result, ok = running.result(), all_good.result()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    # Every file is reported: a valid one on stdout, a bad one on stderr as the command reading it says.
    lines = result.stdout.splitlines()
    kinds = ["scenario", "costs file", "factors file", "targets file", "posterior"]
    assert len(lines) == len(good), result.stdout
    for line, name, kind in zip(lines, good, kinds, strict=True):
        assert line.startswith(f"{name}: valid {kind}"), line
    errors = [line for line in result.stderr.splitlines() if not line.startswith("  - ")]
    assert len(errors) == len(bad) + 1, result.stderr
    for line, name in zip(errors, [*bad, "missing.toml"], strict=True):
        assert line.startswith(f"peersim: error: {name}: "), line
    assert errors[-1] == "peersim: error: missing.toml: no such file"

    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert len(ok.stdout.strip().splitlines()) == len(good)


# -- wording at the source --------------------------------------------------------------------------


def test_a_range_is_not_given_twice() -> None:
    # "allowed 0 to 1 0-1": the unit "0-1" only restated the range.
    message = message_of(
        lambda: load_source(SCENARIOS / "archetype_low.toml", ["low.ward_acceptance_baseline=2"])
    )
    assert message.endswith("2 is out of range; allowed 0 to 1"), message
    assert SITE_PARAMS["ward_acceptance_baseline"].range_text == "0 to 1"
    assert SITE_PARAMS["supervisor_hours_per_week"].range_text == "0 to 40 hours/week"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("nan", "is not a number (nan)"),
        ("inf", "must be finite, got inf"),
        ("-inf", "must be finite, got -inf"),
    ],
)
def test_a_non_finite_override_says_so(value: str, said: str) -> None:
    # Was "nan is out of range; allowed 0 to 40 hours/week".
    message = message_of(
        lambda: load_source(SCENARIOS / "archetype_low.toml", [f"low.supervisor_hours_per_week={value}"])
    )
    assert message.endswith(f'sites[0].supervisor_hours_per_week (site "low"): {said}'), message


def test_a_nan_cost_is_not_called_negative() -> None:
    text = COSTS.read_text(encoding="utf-8").replace("supervisor_hour = 34.31", "supervisor_hour = nan")
    message = message_of(lambda: parse_costs(text, source="costs.toml"))
    assert message == "costs.toml: unit_costs.supervisor_hour: is not a number (nan)"
    text = COSTS.read_text(encoding="utf-8").replace("readmission = 16_000", "readmission = inf")
    message = message_of(lambda: parse_costs(text, source="costs.toml"))
    assert message == "costs.toml: unit_costs.readmission: must be finite, got inf"


def test_a_nan_factor_bound_is_not_called_out_of_range() -> None:
    text = '[[factors]]\nname = "supervisor_hours_per_week"\nlow = nan\nhigh = 12\n'
    message = message_of(lambda: parse_factors(text, default_scenario(), source="f.toml"))
    assert message == "f.toml: factors[0].low: is not a number (nan)"


def test_a_nan_target_interval_says_so() -> None:
    text = TARGETS.read_text(encoding="utf-8")
    assert "low = 0.43" in text
    path_text = text.replace("low = 0.43", "low = nan", 1)
    message = message_of(lambda: parse_targets(path_text, source="t.toml"))
    assert message == "t.toml: targets[0].low: is not a number (nan)", message


def test_an_empty_list_of_options_says_what_it_must_list() -> None:
    # Was "Tuple should have at least 1 item after validation, not 0, got []".
    text = COSTS.read_text(encoding="utf-8").replace("{ add = [-1, 0, 1] }", "{ add = [] }")
    message = message_of(lambda: parse_costs(text, source="costs.toml"))
    assert message == "costs.toml: levers.n_peer_workers.add: must list at least one value, got []"


def test_numbers_from_numpy_are_shown_plainly() -> None:
    assert shown_value(np.float64("nan")) == "nan"
    assert shown_value(np.float64(1.5)) == "1.5"
    assert shown_value(np.int64(3)) == "3"
    assert shown_value([np.float64(2.0), "x", True]) == "[2.0, 'x', True]"
    assert shown_value({"a b": dt.date(2024, 5, 1), "c": (1, 2)}) == '{"a b" = 2024-05-01, c = [1, 2]}'
    assert shown_value("x" * 100) == "'" + "x" * 56 + "..."

    class Rate(StrictModel):
        rate: float = Field(ge=0, le=1)

    with pytest.raises(ValidationError) as caught:
        Rate.model_validate({"rate": "high"})
    error = humanise(caught.value, "r.toml", Rate, "rates")
    assert str(error) == "r.toml: rate: must be a number, got 'high'"
    with pytest.raises(ValidationError) as caught:
        Rate.model_validate({"rate": np.float64(2.5)}, strict=False)
    error = humanise(caught.value, "r.toml", Rate, "rates")
    assert str(error) == "r.toml: rate: must be less than or equal to 1, got 2.5"


def test_a_posterior_value_is_shown_as_a_plain_number(tmp_path: Path) -> None:
    # Was "(first: np.float64(nan))".
    path = posterior_with_nan(tmp_path / "p.parquet")
    message = message_of(lambda: load_posterior(path))
    assert "np.float64" not in message
    assert message.endswith("(first: nan)"), message


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    # Windows editors save "UTF-8 with BOM"; it was reported as "Invalid statement" at line 1, column 1.
    path = tmp_path / "bom.toml"
    path.write_bytes(BOM.encode("utf-8") + TINY_TOML.encode("utf-8"))
    assert load_scenario(path).name == "tiny"
    assert not read_text_file(path).startswith(BOM)
    assert parse_toml(BOM + "a = 1\n", "x.toml") == {"a": 1}
    costs = tmp_path / "costs.toml"
    costs.write_bytes(BOM.encode("utf-8") + COSTS.read_bytes())
    assert load_costs(costs).currency == "GBP"
    assert check_files([path, costs])[1].ok


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    message = message_of(lambda: load_scenario(path))
    assert message == f"{path}: cannot be read as UTF-8 text (byte 0xe9 is not UTF-8); save it as UTF-8"


def test_a_short_name_says_it_must_not_be_empty() -> None:
    message = message_of(lambda: parse_scenario(TINY_TOML.replace('name = "tiny"', 'name = ""'), "s.toml"))
    assert message == "s.toml: name: must not be empty", message


def test_a_union_says_what_the_value_may_be_without_pydantics_member_tags() -> None:
    # Was two lines per value: "values[0].float: Input should be a valid number, got True"
    # and "values[0].str: Input should be a valid string, got True".
    text = COSTS.read_text(encoding="utf-8").replace("{ values = [8, 12] }", "{ values = [true, nan] }")
    message = message_of(lambda: parse_costs(text, source="costs.toml"))
    assert message.splitlines() == [
        "costs.toml: invalid costs file",
        "  - levers.caseload_cap.values[0]: must be a number or a string, got True",
        "  - levers.caseload_cap.values[1]: is not a number (nan)",
    ]


def test_a_key_with_odd_characters_is_quoted_as_toml_quotes_it() -> None:
    # A key holding a line break split the message over two lines.
    message = message_of(
        lambda: parse_scenario(TINY_TOML.replace("[horizon]", '"a\\nb" = 1\n[horizon]'), "s.toml")
    )
    assert message.startswith('s.toml: "a\\nb": unknown key'), message
    assert len(message.splitlines()) == 1, message
