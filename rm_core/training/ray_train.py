"""What every Hugging Face trainer stage shares on the cluster: Ray Train's `TorchTrainer`
around a TRL trainer, resumed from Ray Train's last checkpoint, with step lines in the log
and the final model published atomically.

A stage (SFT, Bradley-Terry) gives its per-worker loop to `fit`: one worker with the
job's CPUs and gloo here, one worker per GPU with NCCL on a GPU cluster. Inside the loop
`train` resumes from `ray.train.get_checkpoint()` when a previous driver was killed (the
same `RunConfig(name, storage_path)` finds it); rank 0 then saves the model into
`<work_dir>/final` with its metrics, and `publish` moves it into the stage's
content-addressed folder and drops the checkpoints.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rm_core.artifacts import atomic_dir, finish

FINAL = "final"
HF_DIR = "hf"
RAY_TRAIN_DIR = "ray_train"
RESUMING = "resuming from"


def progress_callback(prefix: str) -> Any:
    """Prints `step:N - <prefix>/loss:x - ...` after each logged step: the Prefect side
    reads these lines from the job log, as it reads verl's GRPO steps."""
    from transformers import TrainerCallback

    class ProgressLines(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kwargs: Any) -> None:
            if not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            parts = [f"{prefix}/{name}:{value}" for name, value in logs.items()
                     if isinstance(value, int | float)]
            print(f"step:{state.global_step} - " + " - ".join(parts), flush=True)

    return ProgressLines()


def trainer_args(spec: Any, work_dir: str, gpus: float) -> dict[str, Any]:
    """The `TrainingArguments` every stage sets alike, from its spec (`SftSpec`, `BtSpec`:
    epochs, lr, batch size, linear warm-up then decay, clipping, weight decay, bf16, max
    length, seed): a step line per step, one kept checkpoint every `save_steps`, no
    reporting integrations, gloo on CPU."""
    return {"num_train_epochs": spec.epochs, "learning_rate": spec.lr,
            "per_device_train_batch_size": spec.batch_size,
            "warmup_steps": spec.warmup_steps, "lr_scheduler_type": "linear",
            "max_grad_norm": spec.max_grad_norm, "weight_decay": spec.weight_decay,
            "bf16": spec.bf16, "max_length": spec.max_length, "seed": spec.seed,
            "output_dir": str(Path(work_dir) / HF_DIR), "use_cpu": not gpus,
            "logging_steps": 1, "save_strategy": "steps", "save_steps": spec.save_steps,
            "save_total_limit": 1, "report_to": [], "disable_tqdm": True,
            "dataloader_num_workers": 0, "ddp_backend": None if gpus else "gloo"}


def train(trainer: Any) -> Any:
    """Run a Hugging Face trainer under Ray Train, from its last checkpoint if it has one;
    returns the trainer's `TrainOutput`."""
    import ray.train
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer
    from transformers import PrinterCallback

    trainer.add_callback(RayTrainReportCallback())
    trainer = prepare_trainer(trainer)
    trainer.remove_callback(PrinterCallback)  # its dicts repeat our step lines
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return trainer.train()
    with checkpoint.as_directory() as folder:
        print(f"{RESUMING} {folder}", flush=True)
        return trainer.train(resume_from_checkpoint=os.path.join(
            folder, RayTrainReportCallback.CHECKPOINT_NAME))


def is_rank_zero() -> bool:
    import ray.train

    return ray.train.get_context().get_world_rank() == 0


def final_dir(work_dir: str) -> Path:
    """Where rank 0 saves the finished model (emptied first)."""
    final = Path(work_dir) / FINAL
    shutil.rmtree(final, ignore_errors=True)
    return final


def fit(loop: Callable[[dict[str, Any]], None], config: dict[str, Any], run_name: str,
        cpus: float, gpus: float, work_dir: str) -> None:
    """Run `loop(config)` on Ray Train workers; `config` gains `gpus`, `work_dir` and
    `threads` (the torch threads of one worker)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    # Ray Train's print patch would send every step line to the log twice.
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    workers = max(1, int(gpus))
    per_worker = ({"CPU": max(1.0, cpus / workers), "GPU": 1.0} if gpus
                  else {"CPU": max(1.0, cpus)})
    TorchTrainer(
        loop,
        train_loop_config={**config, "gpus": gpus, "work_dir": work_dir,
                           "threads": max(1, math.floor(per_worker["CPU"]))},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=bool(gpus),
                                     resources_per_worker=per_worker),
        torch_config=TorchConfig(backend="nccl" if gpus else "gloo"),
        run_config=RunConfig(name=run_name, storage_path=str(Path(work_dir) / RAY_TRAIN_DIR),
                             checkpoint_config=CheckpointConfig(num_to_keep=1),
                             failure_config=FailureConfig(max_failures=0)),
    ).fit()


def publish(work_dir: str, out: str, metrics_file: str) -> dict[str, Any]:
    """Move the final model into `out` atomically with its metrics (read from
    `metrics_file` in it) in the manifest, then drop the checkpoints; returns the metrics."""
    work = Path(work_dir)
    final = work / FINAL
    metrics = json.loads((final / metrics_file).read_text("utf-8"))
    with atomic_dir(Path(out)) as building:
        for item in final.iterdir():
            if item.name != metrics_file:
                shutil.move(str(item), building / item.name)
        finish(building, metrics)
    for scratch in (final, work / HF_DIR, work / RAY_TRAIN_DIR):  # checkpoints: GBs
        shutil.rmtree(scratch, ignore_errors=True)
    return metrics
