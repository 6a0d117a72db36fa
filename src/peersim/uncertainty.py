"""Parameter uncertainty: weighted posterior particles, and drawing each replicate's mechanisms.

Below every experiment: ``peersim run``, ``compare``, ``plan`` and the
posterior predictive check all draw a replicate's mechanism strengths here, and
:class:`peersim.simulation.Runner` runs it.

A posterior file is Parquet, one row per particle: ``particle``, ``weight`` and
one column per calibrated mechanism parameter, stamped with ``scenario_hash``
(of the calibration scenario), ``seed`` and ``version``. Its schema metadata
(key ``peersim.posterior``) records the targets, the priors and the values of
the mechanism parameters that were held fixed during calibration.

Carrying parameter uncertainty into a prediction: replicate ``i`` of base seed
``s`` draws one particle, with probability equal to its weight, from a stream
keyed on the replicate seed (:func:`posterior_rng`), then runs with those
mechanism values (:meth:`Posterior.apply_to`). The draw uses its own stream, so
it leaves the model's streams untouched, and two scenarios compared on common
random numbers draw the same particle in the same replicate.

Mechanism values a scenario file sets explicitly in ``[mechanisms]`` win over
the posterior (a scenario that switches a mechanism off keeps it off); the
others come from the drawn particle, or from the calibration's fixed values.

A posterior calibrated to several studies shares the mechanism strengths but
holds each study's usual-care baseline in its own column,
``p_readmit_12m_usual_care@STUDY`` (:data:`PER_STUDY_PARAMS`), and records
the name of each study's scenario (metadata ``studies``). Applied to a
scenario of that name (a study's scenario, or a variant of it made by
``--set``, ``compare`` or ``plan``, which keep the name) the drawn particle's
baseline of that study is used; any other scenario keeps its own baseline
(its ``[mechanisms]`` value, or the declared default).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peersim.core.parameters import MECHANISM_PARAMS
from peersim.core.scenario import Mechanisms, Scenario
from peersim.core.streams import Seed, as_seed_sequence, child_sequence
from peersim.errors import PeersimInputError
from peersim.io.files import atomic_write, existing_file
from peersim.io.provenance import package_version

POSTERIOR_STREAM_CODE = 98
"""Spawn-key word of the posterior-draw stream under a replicate seed.

Model streams are keyed ``(site, code)`` (:mod:`peersim.core.streams`) and Mesa's
generator ``(99,)``; ``(98,)`` is distinct from both.
"""

FEW_EFFECTIVE_PARTICLES = 50
"""Effective sample size below which reports warn that a posterior's summaries are rough."""
DEFAULT_POSTERIOR_RESOURCE = "default_posterior.parquet"
"""Packaged posterior calibrated on the default targets (approximate published figures)."""
DEFAULT_POSTERIOR_SOURCE = f"<embedded {DEFAULT_POSTERIOR_RESOURCE}>"
"""How the packaged posterior names its source."""

METADATA_KEY = b"peersim.posterior"
FORMAT_VERSION = 1
STAMP_COLUMNS = ("particle", "weight", "scenario_hash", "seed", "version")
"""Columns of a posterior file that are not parameters."""


PER_STUDY_PARAMS = ("p_readmit_12m_usual_care",)
"""Mechanism parameters that belong to one study's population, not to the mechanisms.

The usual-care baseline is solved so that usual care reproduces it, whatever
the other strengths: in a calibration to several studies each study has its
own (column ``NAME@STUDY``, :func:`study_parameter`).
"""

STUDY_SEPARATOR = "@"
"""Between a per-study parameter's name and its study's: ``p_readmit_12m_usual_care@enrich``."""


def study_parameter(name: str, study: str) -> str:
    """Column of parameter ``name`` for ``study``: ``name@study``."""
    return f"{name}{STUDY_SEPARATOR}{study}"


def split_study_parameter(column: str) -> tuple[str, str | None]:
    """Return ``(parameter, study)`` of a column; ``study`` is ``None`` for a shared one."""
    name, separator, study = column.partition(STUDY_SEPARATOR)
    return (name, study) if separator else (column, None)


class PosteriorError(PeersimInputError):
    """A posterior file that cannot be used (missing, malformed, or not matching the model)."""


def posterior_rng(seed: Seed) -> np.random.Generator:
    """Return the generator of the posterior draw of the run seeded ``seed`` (a replicate seed)."""
    return np.random.default_rng(child_sequence(as_seed_sequence(seed), POSTERIOR_STREAM_CODE))


@dataclass(frozen=True)
class Posterior:
    """A weighted particle posterior of mechanism strengths.

    Attributes
    ----------
    particles
        One row per particle, one column per calibrated parameter.
    weights
        Normalised particle weights (sum 1).
    fixed
        Mechanism values held fixed during calibration (applied with the draw).
    source
        File name, or ``<embedded default_posterior.parquet>``.
    meta
        Free-form record of how the posterior was made (targets, priors, ...).
    studies
        Of a calibration to several studies: each study's scenario name, by study
        (its per-study columns ``NAME@STUDY`` apply to a scenario of that name).
        Empty for one study.
    """

    particles: pd.DataFrame
    weights: np.ndarray
    fixed: dict[str, float] = field(default_factory=dict)
    source: str = "<posterior>"
    meta: dict[str, Any] = field(default_factory=dict)
    studies: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_parameters(self.particles, self.fixed, self.source, self.studies)
        weights = np.asarray(self.weights, dtype=float)
        if weights.shape != (len(self.particles),) or len(weights) == 0:
            raise PosteriorError(f"{self.source}: needs at least one particle and one weight per particle")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise PosteriorError(f"{self.source}: column 'weight' must be finite, non-negative, not all zero")
        object.__setattr__(self, "weights", weights / weights.sum())
        object.__setattr__(self, "particles", self.particles.astype(float).reset_index(drop=True))

    @property
    def parameters(self) -> list[str]:
        """Calibrated parameter names."""
        return [str(c) for c in self.particles.columns]

    @property
    def n(self) -> int:
        """Number of particles."""
        return len(self.particles)

    @property
    def effective_sample_size(self) -> float:
        """Kish effective sample size of the weights."""
        return float(1.0 / np.sum(self.weights**2))

    @property
    def fingerprint(self) -> str:
        """What identifies this posterior in run store manifests: its calibration's digest, or its file."""
        return str(self.meta.get("fingerprint") or self.source)

    def draw(self, rng: np.random.Generator) -> dict[str, float]:
        """Draw one particle (probability = weight): calibrated and fixed mechanism values."""
        index = int(rng.choice(self.n, p=self.weights))
        row = self.particles.iloc[index]
        return {**self.fixed, **{name: float(row[name]) for name in self.parameters}}

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """``n`` weighted draws with replacement, as a table of calibrated parameters."""
        index = rng.choice(self.n, size=n, p=self.weights)
        return self.particles.iloc[index].reset_index(drop=True)

    def study_of(self, scenario: Scenario) -> str | None:
        """Return the study whose scenario has ``scenario``'s name (multi-study posterior), or ``None``."""
        for study, name in self.studies.items():
            if name == scenario.name:
                return study
        return None

    def mechanisms_for(self, scenario: Scenario, seed: Seed) -> dict[str, float]:
        """Mechanism values replicate seed ``seed`` runs ``scenario`` with.

        Values the scenario sets explicitly in ``[mechanisms]`` are kept; the
        others come from one weighted draw from :func:`posterior_rng` ``(seed)``.
        A per-study column (``NAME@STUDY``) applies only to the scenario of
        ``STUDY`` (:meth:`study_of`); another scenario keeps its own ``NAME``.
        """
        self.check_against(scenario)
        drawn = self.draw(posterior_rng(seed))
        explicit = scenario.mechanisms.model_fields_set
        values = scenario.mechanisms.model_dump()
        if not self.studies:
            values.update({k: v for k, v in drawn.items() if k not in explicit})
            return values
        study = self.study_of(scenario)
        for key, value in drawn.items():
            name, owner = split_study_parameter(key)
            if (owner is None or owner == study) and name not in explicit:
                values[name] = value
        return values

    def apply_to(self, scenario: Scenario, seed: Seed) -> Scenario:
        """Return ``scenario`` with the mechanisms of replicate seed ``seed`` (see :meth:`mechanisms_for`).

        Apply it to the scenario as loaded: the returned scenario marks every
        mechanism as set.
        """
        values = self.mechanisms_for(scenario, seed)
        return scenario.model_copy(update={"mechanisms": Mechanisms(**values)})

    @property
    def undrawn(self) -> list[str]:
        """Mechanism strengths the posterior neither draws nor fixes: they stay at each scenario's value.

        A per-study baseline (``NAME@STUDY`` columns) counts as drawn.
        """
        drawn = {split_study_parameter(name)[0] for name in self.parameters}
        return [name for name in MECHANISM_PARAMS if name not in drawn and name not in self.fixed]

    def pinned_by(self, scenario: Scenario) -> list[str]:
        """Posterior parameters that ``scenario`` sets explicitly (so they are not drawn)."""
        explicit = scenario.mechanisms.model_fields_set
        return [
            name for name in (*self.parameters, *self.fixed) if split_study_parameter(name)[0] in explicit
        ]

    def check_against(self, scenario: Scenario) -> None:
        """Check the posterior's parameters exist in ``scenario``'s mechanisms, within bounds.

        Raises
        ------
        PosteriorError
            Naming the posterior file, the column and the scenario.
        """
        fields = type(scenario.mechanisms).model_fields
        for name in (*self.parameters, *self.fixed):
            if split_study_parameter(name)[0] not in fields:
                raise PosteriorError(
                    f"{self.source}: column {name!r} is not a mechanism parameter of scenario "
                    f"{scenario.name!r}; its mechanisms are: {', '.join(fields)}"
                )

    def describe(self, scenario: Scenario | None = None) -> dict[str, Any]:
        """JSON-ready record of which posterior is used (for run and compare outputs)."""
        record: dict[str, Any] = {
            "source": self.source,
            "embedded_default": self.source == DEFAULT_POSTERIOR_SOURCE,
            "particles": self.n,
            "effective_sample_size": round(self.effective_sample_size, 1),
            "parameters": self.parameters,
            "undrawn": self.undrawn,
            "targets": self.meta.get("targets"),
            "fingerprint": self.meta.get("fingerprint"),
            "calibrated_with_version": self.meta.get("version"),
            "draw": "one weighted particle per replicate, from a stream keyed on the replicate seed",
        }
        if self.studies:
            record["studies"] = dict(self.studies)
        if scenario is not None:
            record["pinned_by_scenario"] = self.pinned_by(scenario)
            if self.studies:
                record["baseline_of_study"] = self.study_of(scenario)
        return record

    def to_frame(self, scenario_hash: str = "", seed: int = -1) -> pd.DataFrame:
        """Return the particles as a stamped table (the layout of a posterior file)."""
        frame = self.particles.copy()
        frame.insert(0, "weight", self.weights)
        frame.insert(0, "particle", np.arange(self.n))
        frame["scenario_hash"] = scenario_hash
        frame["seed"] = seed
        frame["version"] = package_version()
        return frame

    def save(self, path: str | Path, scenario_hash: str = "", seed: int = -1) -> Path:
        """Write the posterior as a posterior file (Parquet with its metadata), atomically.

        Parameters
        ----------
        path
            The file; replaced whole (:func:`peersim.io.files.atomic_write`).
        scenario_hash, seed
            Stamped on every row: the calibration scenario's hash and base seed.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        import pyarrow as pa  # heavy: pyarrow, which only saving and loading posteriors need
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.to_frame(scenario_hash, seed), preserve_index=False)
        meta = {"format": FORMAT_VERSION, "fixed": self.fixed, **self.meta}
        if self.studies:
            meta["studies"] = self.studies
        schema_meta = dict(table.schema.metadata or {})
        schema_meta[METADATA_KEY] = json.dumps(meta, sort_keys=True).encode()
        buffer = pa.BufferOutputStream()
        pq.write_table(table.replace_schema_metadata(schema_meta), buffer)
        return atomic_write(Path(path), buffer.getvalue().to_pybytes())


def _check_parameters(
    particles: pd.DataFrame, fixed: dict[str, float], source: str, studies: dict[str, str]
) -> None:
    names = [str(c) for c in particles.columns]
    if not names:
        raise PosteriorError(f"{source}: no parameter columns")
    valid = ", ".join(MECHANISM_PARAMS)
    for name in names:
        parameter, study = split_study_parameter(name)
        if study is not None and parameter in PER_STUDY_PARAMS and study not in studies:
            raise PosteriorError(
                f"{source}: column {name!r} is the baseline of study {study!r}, which metadata "
                f"'studies' does not list ({', '.join(studies) or 'none'})"
            )
        if parameter not in MECHANISM_PARAMS or (study is not None and parameter not in PER_STUDY_PARAMS):
            raise PosteriorError(
                f"{source}: column {name!r} is not a mechanism parameter of this peersim "
                f"({package_version()}); valid: {valid}"
                + (f", or {', '.join(f'{p}@STUDY' for p in PER_STUDY_PARAMS)}" if study is not None else "")
            )
        spec = MECHANISM_PARAMS[parameter]
        values = pd.to_numeric(particles[name], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values < spec.low) | (values > spec.high)
        if bad.any():
            first = float(values[bad][0])  # a plain number in the message: nan, not np.float64(nan)
            raise PosteriorError(
                f"{source}: column {name!r} has {int(bad.sum())} value(s) outside the declared "
                f"{spec.range_text} (first: {first!r})"
            )
    for name, value in fixed.items():
        if name not in MECHANISM_PARAMS:
            raise PosteriorError(
                f"{source}: metadata fixed.{name}: not a mechanism parameter; valid: {valid}"
            )
        if not (isinstance(value, (int, float)) and MECHANISM_PARAMS[name].contains(float(value))):
            raise PosteriorError(
                f"{source}: metadata fixed.{name} = {value!r} is outside {MECHANISM_PARAMS[name].range_text}"
            )


def load_posterior(path: str | Path) -> Posterior:
    """Read a posterior Parquet file.

    Raises
    ------
    PosteriorError
        If the file is missing or not Parquet, lacks ``weight``, has a column
        that is not a mechanism parameter, or has values outside declared bounds.
    """
    path = existing_file(path, PosteriorError)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PosteriorError(f"{path}: cannot be read ({error})") from None
    return _from_bytes(data, str(path))


def default_posterior() -> Posterior:
    """Return the packaged posterior, calibrated on the default targets (approximate figures)."""
    data = resources.files("peersim.data").joinpath(DEFAULT_POSTERIOR_RESOURCE).read_bytes()
    return _from_bytes(data, DEFAULT_POSTERIOR_SOURCE)


def _from_bytes(data: bytes, source: str) -> Posterior:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as error:
        raise PosteriorError(f"{source}: not a readable Parquet posterior ({error})") from None
    meta: dict[str, Any] = {}
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is not None:
        try:
            meta = json.loads(raw)
        except ValueError:
            raise PosteriorError(f"{source}: metadata {METADATA_KEY.decode()} is not JSON") from None
        if not isinstance(meta, dict):
            raise PosteriorError(f"{source}: metadata {METADATA_KEY.decode()} is not a JSON object")
    frame = table.to_pandas()
    if "weight" not in frame.columns:
        raise PosteriorError(f"{source}: column 'weight' is missing")
    parameters = frame[[c for c in frame.columns if c not in STAMP_COLUMNS]]
    fixed = meta.pop("fixed", {}) or {}
    studies = meta.pop("studies", {}) or {}
    meta.pop("format", None)
    if not isinstance(fixed, dict):
        raise PosteriorError(f"{source}: metadata 'fixed' is not a table of values")
    if not isinstance(studies, dict) or not all(isinstance(v, str) for v in studies.values()):
        raise PosteriorError(f"{source}: metadata 'studies' is not a table of scenario names")
    posterior = Posterior(
        parameters,
        frame["weight"].to_numpy(dtype=float),
        fixed={str(k): v for k, v in fixed.items()},
        source=source,
        meta=meta,
        studies={str(k): v for k, v in studies.items()},
    )
    if posterior.undrawn:
        warnings.warn(
            f"{source}: has no column or fixed value for {len(posterior.undrawn)} of "
            f"{len(MECHANISM_PARAMS)} mechanism strengths ({', '.join(posterior.undrawn)}); "
            "they stay at each scenario's point value",
            UserWarning,
            stacklevel=2,
        )
    return posterior


def resolve_posterior(path: str | Path | None, use_posterior: bool = True) -> Posterior | None:
    """Return the posterior a command should use: the file, the default, or ``None``.

    ``None`` with ``--no-posterior``; the shipped default without a file.

    This is the one call behind the ``posterior`` choice of ``peersim run``,
    ``compare`` and ``plan`` (``--posterior FILE`` / ``--no-posterior``).

    Raises
    ------
    PeersimInputError
        If both a file and ``use_posterior=False`` are given, or the file is bad.
    """
    if not use_posterior:
        if path is not None:
            raise PeersimInputError("`posterior` and `use_posterior=False` contradict each other; give one")
        return None
    return load_posterior(path) if path is not None else default_posterior()
