"""Experiment configuration: one YAML file per experiment, parsed into typed models.

Relative paths in a config file are relative to that file, so a config means the same
thing whichever directory a flow or worker runs from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rm_core.cluster.resources import JobResources
from rm_core.errors import ConfigError
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.training.bt_spec import BtSpec
from rm_core.training.spec import TrainSpec

HELPSTEER2_ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FILES = {
    "helpsteer2": REPO_ROOT / "data" / "sample" / "helpsteer2_sample.jsonl",
    "helpsteer2_preference": REPO_ROOT / "data" / "sample" / "helpsteer2_preference_sample.jsonl",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(Strict):
    """Where rows come from: the embedded sample, a local file or a Hugging Face dataset."""

    kind: Literal["sample", "local", "huggingface"] = "sample"
    path: Path | None = None
    format: Literal["auto", "parquet", "json", "jsonl"] = "auto"
    name: str = "helpsteer2"
    split: str = "train"
    data_dir: str | None = None
    revision: str | None = None
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="canonical column -> column in the source, for sources named differently",
    )

    @model_validator(mode="after")
    def _check_kind(self) -> SourceConfig:
        if self.kind == "local" and self.path is None:
            raise ValueError("source.kind 'local' needs source.path")
        if self.kind == "sample" and self.name not in SAMPLE_FILES:
            raise ValueError(
                f"source.name {self.name!r} is not an embedded sample; "
                f"known: {sorted(SAMPLE_FILES)}"
            )
        return self

    def local_path(self) -> Path:
        """The file a sample or local source reads."""
        if self.kind == "sample":
            return SAMPLE_FILES[self.name]
        if self.path is None:
            raise ConfigError(f"source of kind {self.kind!r} has no local path")
        return self.path


class ValidationConfig(Strict):
    """Bounds of the validation suites and how many bad rows a run tolerates."""

    max_bad_fraction: float = Field(0.05, ge=0, le=1)
    min_chars: int = Field(1, ge=0)
    max_prompt_chars: int = Field(20_000, gt=0)
    max_response_chars: int = Field(20_000, gt=0)


class SplitConfig(Strict):
    """Train/val split: share of prompt groups in val, and the seed that fixes it."""

    val_fraction: float = Field(0.1, gt=0, lt=1)
    seed: int = 42


class TemplateConfig(Strict):
    """How the judge is prompted: text pre-filled into its answer turn (see README)."""

    answer_prefix: str = ""


class DataConfig(Strict):
    """The data stage: source, converter and its options, validation, split."""

    source: SourceConfig = SourceConfig()
    converter: str = "helpsteer2_pointwise"
    labels: tuple[str, ...] = HELPSTEER2_ATTRIBUTES
    dimension: str = "helpfulness"
    dimensions: tuple[str, ...] = Field(
        (), description="a multi-attribute judge scores all of these at once (empty: "
        "only `dimension`)"
    )
    dimension_weights: dict[str, float] = Field(
        default_factory=dict, description="reward weight per dimension (default: equal)"
    )
    max_score: int = Field(4, gt=0)
    ties: Literal["keep", "drop"] = "keep"
    validation: ValidationConfig = ValidationConfig()
    split: SplitConfig = SplitConfig()
    template: TemplateConfig = TemplateConfig()
    batch_rows: int = Field(100_000, gt=0)

    @model_validator(mode="after")
    def _dimension_is_a_label(self) -> DataConfig:
        if self.converter.endswith("pointwise") and self.dimension not in self.labels:
            raise ValueError(f"dimension {self.dimension!r} is not among labels {self.labels}")
        unknown = set(self.dimensions) - set(self.labels)
        if unknown:
            raise ValueError(f"dimensions {sorted(unknown)} are not among labels {self.labels}")
        unweighted = set(self.dimension_weights) - set(self.dimensions)
        if unweighted:
            raise ValueError(f"dimension_weights name {sorted(unweighted)}, which are not "
                             f"among dimensions {self.dimensions}")
        return self


# The default cluster (the local stack's Ray head) and the token file that goes with it.
RAY_ADDRESS_VAR = "RM_PIPELINE_RAY_ADDRESS"
RAY_TOKEN_PATH_VAR = "RM_PIPELINE_RAY_TOKEN_PATH"


class RayConfig(Strict):
    """Where training jobs run: an existing cluster's job API, or a local head started
    for the run (`address` unset). The token of an external cluster comes from the
    `RAY_AUTH_TOKEN` env var or the Prefect Secret block `ray-auth-token`. The default
    address comes from `RM_PIPELINE_RAY_ADDRESS`: the local stack gives its worker the
    stack's Ray head that way (its token file in `RM_PIPELINE_RAY_TOKEN_PATH`)."""

    address: str | None = Field(default_factory=lambda: os.environ.get(RAY_ADDRESS_VAR) or None)
    num_cpus: int = Field(2, gt=0)
    job_timeout_s: float | None = Field(None, gt=0)
    # Every stage that loads a model (preparing it, the learning-signal check, merging,
    # judging) is a Ray job that asks for these; the gpu profile asks for GPUs.
    model_jobs: JobResources = JobResources()


class ExperimentConfig(Strict):
    """One experiment: its name, where its artifacts go, and each stage's settings."""

    name: str
    artifacts_dir: Path = Path("../artifacts")
    data: DataConfig = DataConfig()
    training: TrainSpec | None = None
    # A Bradley-Terry reward model instead of a generative judge: run by bt-train.
    bradley_terry: BtSpec | None = None
    evaluation: EvaluationSettings = EvaluationSettings()
    # A factory: the default address is read from the environment when a config loads.
    ray: RayConfig = Field(default_factory=RayConfig)
    # A second run of this experiment while one trains: wait for it, or end as skipped.
    when_busy: Literal["wait", "skip"] = "wait"

    @model_validator(mode="after")
    def _judge_as_trained(self) -> ExperimentConfig:
        """Evaluation renders prompts in the thinking mode the judge was trained in."""
        if self.evaluation.thinking is None:
            thinking = self.training.thinking if self.training else False
            object.__setattr__(self, "evaluation",
                               self.evaluation.model_copy(update={"thinking": thinking}))
        return self


def load_experiment(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Parse an experiment YAML; `overrides` are dotted keys (`data.split.seed`) -> value,
    each checked to name a setting before it is applied."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment config not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    for dotted, value in (overrides or {}).items():
        check_key(dotted)
        _set_dotted(raw, dotted, value, path)
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path} is not a valid experiment config:\n{exc}") from exc
    return _resolve_paths(config, path.resolve().parent)


def check_key(dotted: str) -> None:
    """Raise ConfigError unless `dotted` names a setting of an experiment config: a typo in
    an override would otherwise surface as a validation error about the whole file."""
    section: type[BaseModel] = ExperimentConfig
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        field = section.model_fields.get(part)
        if field is None:
            where = ".".join(parts[:depth]) or "the experiment config"
            raise ConfigError(f"unknown config key {dotted!r}: {where} has no setting "
                              f"{part!r} (it has: {', '.join(section.model_fields)})")
        kinds = (field.annotation, *get_args(field.annotation))
        if any(get_origin(kind) is dict for kind in kinds):
            return  # a free-form mapping (source columns, weights, resources): any key
        inner = next((kind for kind in kinds
                      if isinstance(kind, type) and issubclass(kind, BaseModel)), None)
        if inner is None:
            if depth < len(parts) - 1:
                raise ConfigError(f"unknown config key {dotted!r}: "
                                  f"{'.'.join(parts[:depth + 1])} is a value, not a section")
            return
        section = inner


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any, path: Path) -> None:
    node = raw
    *parents, leaf = dotted.split(".")
    for depth, key in enumerate(parents):
        if node.get(key) is None:  # absent, or an empty section in the YAML
            node[key] = {}
        node = node[key]
        if not isinstance(node, dict):
            raise ConfigError(f"cannot apply override {dotted!r}: "
                              f"{'.'.join(parents[:depth + 1])} in {path} is not a section")
    node[leaf] = value


def _resolve_paths(config: ExperimentConfig, base: Path) -> ExperimentConfig:
    source = config.data.source
    if source.path is not None and not source.path.is_absolute():
        source = source.model_copy(update={"path": (base / source.path).resolve()})
    artifacts = config.artifacts_dir
    if not artifacts.is_absolute():
        artifacts = (base / artifacts).resolve()
    data = config.data.model_copy(update={"source": source})
    evaluation = config.evaluation
    if evaluation.registry_dir is not None and not evaluation.registry_dir.is_absolute():
        registry = (base / evaluation.registry_dir).resolve()
        evaluation = evaluation.model_copy(update={"registry_dir": registry})
    return config.model_copy(
        update={"data": data, "artifacts_dir": artifacts, "evaluation": evaluation}
    )


def registry_dir(config: ExperimentConfig) -> Path:
    """Where the experiment's champion lives (one registry per experiment name)."""
    return config.evaluation.registry_dir or config.artifacts_dir / "registry" / config.name
