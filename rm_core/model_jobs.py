"""Every stage that loads a model, as a Ray job: what the orchestrator submits and the
function the cluster runs for it.

The orchestrator builds a `StageJob` (`*_job` functions below) and follows it; the
cluster calls the matching `run_*` function through `rm_core.cluster.stage_main`, where
the model lives. Arguments and results are JSON; model libraries are imported on the
cluster only, inside the `run_*` functions, so the orchestrator never loads a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rm_core.cluster.resources import JobResources
from rm_core.cluster.stage_jobs import StageJob
from rm_core.config import DataConfig
from rm_core.embedded_models import model_folder
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.training.bt_spec import BtSpec
from rm_core.training.spec import TrainSpec

MODULE = __name__
# Enough sampled judgements to see whether GRPO will get any signal, in about a minute
# for SmolLM2 on two cores: the answer sits within the first tokens.
SIGNAL_PROMPTS = 8
SIGNAL_MAX_NEW_TOKENS = 24


# --- prepare-model ---------------------------------------------------------------------


def prepare_model_job(name: str, root: Path, resources: JobResources) -> StageJob | None:
    """The job that builds embedded model `name` under `root`; None for a folder or hub
    id, which the cluster loads as given."""
    folder = model_folder(name, root)
    if folder is None:
        return None
    return StageJob(stage="prepare-model", function=f"{MODULE}:run_prepare_model",
                    args={"name": name, "root": str(root)},
                    work_dir=Path(root) / "jobs" / "prepare-model" / name, resources=resources)


def run_prepare_model(name: str, root: str) -> dict[str, Any]:
    from rm_core.embedded_models import prepare

    return {"folder": str(prepare(name, Path(root)))}


# --- check-learning-signal -------------------------------------------------------------


def learning_signal_job(model: str, val_path: Path, data: DataConfig, spec: TrainSpec,
                        work_dir: Path, resources: JobResources) -> StageJob:
    """The job that samples the base model's judgements of a few val prompts."""
    return StageJob(
        stage="learning-signal", function=f"{MODULE}:run_learning_signal",
        args={"model": model, "val_path": str(val_path), "data": data.model_dump(mode="json"),
              "samples": spec.grpo.rollout_n, "temperature": spec.grpo.temperature,
              "max_new_tokens": min(spec.grpo.max_response_length, SIGNAL_MAX_NEW_TOKENS),
              "thinking": spec.thinking},
        work_dir=work_dir, resources=resources,
    )


def run_learning_signal(model: str, val_path: str, data: dict[str, Any], samples: int,
                        temperature: float, max_new_tokens: int, thinking: bool
                        ) -> dict[str, Any]:
    from rm_core.data.verl_stage import template_for
    from rm_core.judge.generation import parse_rate

    template = template_for(DataConfig.model_validate(data))
    rate = parse_rate(model, Path(val_path), template, limit=SIGNAL_PROMPTS, samples=samples,
                      max_new_tokens=max_new_tokens, temperature=temperature,
                      thinking=thinking)
    return rate.model_dump(mode="json")


# --- sft-warm-start --------------------------------------------------------------------


def sft_job(model: str, train_path: Path, val_path: Path, data: DataConfig, spec: TrainSpec,
            out: Path, work_dir: Path, resources: JobResources) -> StageJob:
    """The SFT warm start of `model` into `out`. Its driver asks only for the custom
    resources (which node): the Ray Train worker it starts claims the CPUs or GPUs."""
    return StageJob(
        stage="sft", function=f"{MODULE}:run_sft",
        args={"model": model, "train_path": str(train_path), "val_path": str(val_path),
              "data": data.model_dump(mode="json"), "sft": spec.sft.model_dump(mode="json"),
              "thinking": spec.thinking, "cpus": resources.num_cpus,
              "gpus": resources.num_gpus, "out": str(out), "work_dir": str(work_dir),
              "signal": {"samples": spec.grpo.rollout_n, "temperature": spec.grpo.temperature,
                         "max_new_tokens": min(spec.grpo.max_response_length,
                                               SIGNAL_MAX_NEW_TOKENS)}},
        work_dir=work_dir,
        resources=JobResources(num_cpus=0, resources=resources.resources),
    )


def run_sft(model: str, train_path: str, val_path: str, data: dict[str, Any],
            sft: dict[str, Any], thinking: bool, cpus: float, gpus: float, out: str,
            work_dir: str, signal: dict[str, Any]) -> dict[str, Any]:
    """Fine-tune (resuming from the last checkpoint), then measure the SFT model's
    learning signal exactly as check-learning-signal measures the base model's."""
    import torch

    from rm_core.artifacts import is_complete, read_result
    from rm_core.training import sft as sft_stage

    metrics = (read_result(Path(out)) if is_complete(Path(out)) else
               sft_stage.run(model, train_path, data, sft, thinking, cpus, gpus, work_dir, out))
    torch.set_num_threads(max(1, int(cpus)))
    rate = run_learning_signal(out, val_path, data, thinking=thinking, **signal)
    return {**metrics, "signal": rate}


# --- merge-checkpoints -----------------------------------------------------------------


def merge_job(step_dirs: list[Path], root: Path, work_dir: Path,
              resources: JobResources) -> StageJob:
    """One job that merges every given `global_step_N` into its `merge/<key>` folder."""
    return StageJob(stage="merge", function=f"{MODULE}:run_merge",
                    args={"step_dirs": [str(step) for step in step_dirs], "root": str(root)},
                    work_dir=work_dir, resources=resources)


def run_merge(step_dirs: list[str], root: str) -> dict[str, Any]:
    from rm_core.evaluation.stage import merged_model

    return {"merged": {step: str(merged_model(Path(step), Path(root))) for step in step_dirs}}


# --- judge-models ----------------------------------------------------------------------


def judge_job(models: list[tuple[Path, Path]], val_path: Path, data: DataConfig,
              settings: EvaluationSettings, max_new_tokens: int, work_dir: Path,
              resources: JobResources) -> StageJob:
    """One job that judges the val rows with every (model folder, eval output dir) pair."""
    return StageJob(
        stage="judge", function=f"{MODULE}:run_judge",
        args={"models": [[str(model), str(out)] for model, out in models],
              "val_path": str(val_path), "data": data.model_dump(mode="json"),
              "settings": settings.model_dump(mode="json"), "max_new_tokens": max_new_tokens},
        work_dir=work_dir, resources=resources,
    )


def run_judge(models: list[list[str]], val_path: str, data: dict[str, Any],
              settings: dict[str, Any], max_new_tokens: int) -> dict[str, Any]:
    from rm_core.data.verl_stage import template_for
    from rm_core.evaluation.stage import judge_into

    template = template_for(DataConfig.model_validate(data))
    judged_settings = EvaluationSettings.model_validate(settings)
    for model, out in models:
        print(f"judging {val_path} with {model}", flush=True)
        judge_into(Path(model), Path(val_path), template, judged_settings, max_new_tokens,
                   Path(out))
    return {"judged": [out for _, out in models]}


# --- bt (Bradley-Terry reward model) ---------------------------------------------------


def bt_train_job(model: str, train_path: Path, data: DataConfig, spec: BtSpec, out: Path,
                 work_dir: Path, resources: JobResources) -> StageJob:
    """The Bradley-Terry training of `model` on the train split's pairs into `out`. As for
    SFT, its driver asks only for the custom resources: the Ray Train worker claims the
    CPUs or GPUs."""
    return StageJob(
        stage="bt", function=f"{MODULE}:run_bt_train",
        args={"model": model, "train_path": str(train_path),
              "data": data.model_dump(mode="json"), "bt": spec.model_dump(mode="json"),
              "cpus": resources.num_cpus, "gpus": resources.num_gpus, "out": str(out),
              "work_dir": str(work_dir)},
        work_dir=work_dir,
        resources=JobResources(num_cpus=0, resources=resources.resources),
    )


def run_bt_train(model: str, train_path: str, data: dict[str, Any], bt: dict[str, Any],
                 cpus: float, gpus: float, out: str, work_dir: str) -> dict[str, Any]:
    """Train (resuming from the last checkpoint) unless `out` is already complete; the
    result is the training metrics (pairs, ties_skipped, too_long, steps, train_loss,
    reward_mean, reward_std, ...)."""
    from rm_core.artifacts import is_complete, read_result
    from rm_core.training import bt as bt_stage

    if is_complete(Path(out)):
        return read_result(Path(out))
    return bt_stage.run(model, train_path, bt, cpus, gpus, work_dir, out)


def bt_judge_job(models: list[tuple[Path, Path]], val_path: Path, samples_path: Path,
                 data: DataConfig, settings: EvaluationSettings, work_dir: Path,
                 resources: JobResources, seed: int = 0) -> StageJob:
    """One job that scores the verl val rows with every (BT model folder, eval output dir)
    pair; a folder without a trained scalar head gets a fresh head drawn from `seed`."""
    return StageJob(
        stage="judge", function=f"{MODULE}:run_bt_judge",
        args={"models": [[str(model), str(out)] for model, out in models],
              "val_path": str(val_path), "samples_path": str(samples_path),
              "data": data.model_dump(mode="json"),
              "settings": settings.model_dump(mode="json"), "seed": seed,
              "cpus": resources.num_cpus},
        work_dir=work_dir, resources=resources,
    )


def run_bt_judge(models: list[list[str]], val_path: str, samples_path: str,
                 data: dict[str, Any], settings: dict[str, Any], seed: int,
                 cpus: float) -> dict[str, Any]:
    import torch

    from rm_core.evaluation.bt_scoring import score_into

    torch.set_num_threads(max(1, int(cpus)))
    scored_settings = EvaluationSettings.model_validate(settings)
    for model, out in models:
        print(f"scoring {val_path} with Bradley-Terry model {model}", flush=True)
        score_into(Path(model), Path(val_path), Path(samples_path), scored_settings, Path(out),
                   seed)
    return {"judged": [out for _, out in models]}
