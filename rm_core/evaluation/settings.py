"""How checkpoints are judged and compared: the `evaluation` section of an experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# rm_core.benchmarks.items.BENCHMARKS (not imported: the benchmarks package imports this one)
BENCHMARK_NAMES = ("rewardbench2", "rm-bench", "judgebench")
BackendName = Literal["auto", "transformers", "vllm"]
MetricName = Literal[
    "mean_reward", "accuracy", "within1_accuracy", "pearson_parsed", "spearman_parsed",
    "mae_parsed", "rmse_parsed", "parse_failure_rate",
]


class GateSettings(BaseModel):
    """The bars a challenger must clear to be promoted; every one is measured and reported
    either way, these say which ones decide. A judge that a constant answer or a
    bag-of-words model matches has learned nothing worth a champion's place."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    beat_incumbent: bool = Field(
        True, description="beat the champion (before the first promotion: the base model) by "
        "a paired-bootstrap CI above 0 on the promotion metric"
    )
    beat_constants: bool = Field(
        True, description='beat the best constant answer ("always k" for every label k) the '
        "same way"
    )
    positive_spearman: bool = Field(
        True, description="score judges: Spearman correlation with the labels, CI low above 0"
    )
    above_chance: bool = Field(
        True, description="pairwise judges: accuracy CI low above 0.5"
    )
    beat_text_baseline: bool = Field(
        False, description="beat the TF-IDF text baseline fitted on the train split the "
        "same way"
    )


class EvaluationSettings(BaseModel):
    """Generation and comparison settings; defaults judge greedily on the whole val split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: BackendName = Field(
        "auto", description="auto: vLLM when it is installed and a GPU is present, else "
        "transformers on CPU"
    )
    batch_size: int = Field(16, gt=0, description="prompts per transformers generate call")
    temperature: float = Field(0.0, ge=0, description="0 = greedy")
    samples: int = Field(1, gt=0, description="judgements per prompt; > 1: majority vote")
    max_new_tokens: int | None = Field(
        None, gt=0, description="default: the training spec's max_response_length"
    )
    limit: int | None = Field(None, gt=0, description="judge only the first N val rows")
    thinking: bool | None = Field(
        None, description="chat template with enable_thinking (reasoning models); default: "
        "the training spec's `thinking`"
    )
    metric: MetricName | None = Field(
        None, description="picks the best checkpoint and decides promotion; default: "
        "mean_reward for score judges, accuracy for pairwise judges"
    )
    n_resamples: int = Field(1000, gt=0, description="bootstrap resamples for every CI")
    seed: int = 0
    include_base: bool = Field(True, description="also judge the base model, as step 0")
    registry_dir: Path | None = Field(
        None, description="champion registry; default <artifacts_dir>/registry/<name>"
    )
    gate: GateSettings = Field(GateSettings(), description="the promotion bars")
    collapse_share: float = Field(
        0.8, gt=0, le=1, description="flag a judge whose most common answer takes at least "
        "this share of the rows (a collapse sign, not a bar)"
    )
    tensor_parallel_size: int = Field(1, gt=0, description="vLLM backend only")
    gpu_memory_utilization: float = Field(0.6, gt=0, le=1, description="vLLM backend only")
    benchmarks: dict[str, str | None] = Field(
        default_factory=dict, description="public benchmarks the best candidate and the "
        "champion (before the first promotion: the base model) are judged on after the val "
        f"split: name ({', '.join(BENCHMARK_NAMES)}) -> a local file or folder in its schema, "
        "or null for the Hugging Face hub"
    )
    benchmark_limit: int | None = Field(
        None, gt=0, description="judge N items per benchmark, drawn with `seed`; default all"
    )
    promotion_benchmark: str | None = Field(
        None, description="decide the gate's 'beats the incumbent' bar on this benchmark's "
        "overall score (paired bootstrap over its items) instead of the val metric; one of "
        "`benchmarks`"
    )

    @field_validator("benchmarks")
    @classmethod
    def _known_benchmarks(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        unknown = sorted(set(value) - set(BENCHMARK_NAMES))
        if unknown:
            raise ValueError(f"unknown benchmark(s) {unknown}; known: "
                             f"{', '.join(BENCHMARK_NAMES)}")
        return value

    @model_validator(mode="after")
    def _promotion_benchmark_is_run(self) -> EvaluationSettings:
        if self.promotion_benchmark is not None and self.promotion_benchmark not in self.benchmarks:
            raise ValueError(f"promotion_benchmark {self.promotion_benchmark!r} is not among "
                             f"evaluation.benchmarks {sorted(self.benchmarks)}: list it there")
        return self


# Settings that only decide, flag or add the benchmark step: changing them re-decides
# (`promotion.evaluation_version` holds them), it does not re-judge the val split.
DECISION_ONLY = frozenset({"registry_dir", "metric", "gate", "collapse_share", "benchmarks",
                           "benchmark_limit", "promotion_benchmark"})

# What a pairwise judge can be ranked and promoted by (both in `PairwiseReport.headline`).
PAIRWISE_METRICS = ("accuracy", "parse_failure_rate")


def resolved_metric(settings: EvaluationSettings, pairwise: bool) -> str:
    """The metric to rank and promote by; score metrics mean nothing for preferences."""
    if settings.metric is None:
        return "accuracy" if pairwise else "mean_reward"
    if pairwise and settings.metric not in PAIRWISE_METRICS:
        raise ValueError(f"evaluation.metric {settings.metric!r} does not apply to a pairwise "
                         f"judge; use one of {PAIRWISE_METRICS}")
    return settings.metric
