"""The SFT warm start as it runs on the cluster: TRL's SFTTrainer under Ray Train.

`run` is what the stage job calls. It starts a `TorchTrainer` (one worker with the job's
CPUs and gloo here; one worker per GPU and NCCL on a GPU cluster) whose loop trains with
TRL on prompt-completion examples (loss on the answer only), checkpoints every
`save_steps` into Ray Train's storage under the job's work directory, and saves the final
model. A job started again after its driver was killed builds the same trainer (same
`RunConfig(name, storage_path)`), so `ray.train.get_checkpoint()` hands the loop the last
checkpoint and training resumes there. The finished model becomes the content-addressed
`artifacts/sft/<key>/` folder, with the metrics in its manifest.

verl's own SFT trainer is not used: verl 0.5.0 hard-codes flash-attention 2 in it, which
cannot run on a CPU.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from rm_core.artifacts import atomic_dir, finish
from rm_core.judge.generation import ParseRate
from rm_core.training.sft_examples import examples
from rm_core.training.sft_spec import SftSpec

RUN_NAME = "sft"
FINAL = "final"
METRICS_FILE = "sft_metrics.json"
# Train examples whose answer likelihood is measured before and after training.
PROBE_EXAMPLES = 16


class SftResult(BaseModel):
    """A finished warm start: the model GRPO starts from, its metrics and learning signal."""

    key: str
    model_dir: Path
    metrics: dict[str, Any]
    signal: ParseRate
    progress: list[dict[str, float]] = []


def _answer_nll(model: Any, tokenizer: Any, rows: list[dict[str, str]]) -> float:
    """Mean negative log-likelihood per answer token of `rows`' completions (+ end of turn)."""
    import torch

    total, tokens = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for row in rows:
            prompt = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
            answer = tokenizer(row["completion"] + tokenizer.eos_token,
                               add_special_tokens=False)["input_ids"]
            ids = torch.tensor([prompt + answer])
            logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()
            target = ids[0, len(prompt):]
            total += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            tokens += len(answer)
    model.train()
    return total / max(tokens, 1)


def _progress_callback() -> Any:
    """Prints `step:N - sft/loss:x - ...` after each logged step: the Prefect side reads
    these lines from the job log, as it reads verl's GRPO steps."""
    from transformers import TrainerCallback

    class ProgressLines(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kwargs: Any) -> None:
            if not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            parts = [f"sft/{name}:{value}" for name, value in logs.items()
                     if isinstance(value, int | float)]
            print(f"step:{state.global_step} - " + " - ".join(parts), flush=True)

    return ProgressLines()


def train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: load, build the examples, train (resuming if Ray Train has a
    checkpoint), and on rank 0 save the final model with its metrics."""
    import ray.train
    import torch
    from datasets import Dataset
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from rm_core.config import DataConfig
    from rm_core.data.verl_stage import template_for

    torch.set_num_threads(config["threads"])
    spec = SftSpec.model_validate(config["sft"])
    tokenizer = AutoTokenizer.from_pretrained(config["model"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    template = template_for(DataConfig.model_validate(config["data"]))
    rows, too_long = examples(Path(config["train_path"]), template, tokenizer,
                              spec.max_length, config["thinking"])
    model = AutoModelForCausalLM.from_pretrained(config["model"], torch_dtype=torch.float32,
                                                 use_safetensors=True)
    probe = rows[:PROBE_EXAMPLES]
    before = _answer_nll(model, tokenizer, probe)
    work = Path(config["work_dir"])
    args = SFTConfig(
        output_dir=str(work / "hf"), num_train_epochs=spec.epochs, learning_rate=spec.lr,
        per_device_train_batch_size=spec.batch_size, warmup_steps=spec.warmup_steps,
        lr_scheduler_type="linear", max_grad_norm=spec.max_grad_norm,
        weight_decay=spec.weight_decay, bf16=spec.bf16, use_cpu=not config["gpus"],
        max_length=spec.max_length, completion_only_loss=True, packing=False,
        logging_steps=1, save_strategy="steps", save_steps=spec.save_steps,
        save_total_limit=1, report_to=[], disable_tqdm=True, seed=spec.seed,
        dataloader_num_workers=0, ddp_backend=None if config["gpus"] else "gloo",
    )
    trainer = prepare_trainer(SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer, callbacks=[_progress_callback(), RayTrainReportCallback()],
    ))
    trainer.remove_callback(PrinterCallback)  # its dicts repeat our step lines
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        output = trainer.train()
    else:
        with checkpoint.as_directory() as folder:
            print(f"resuming from {folder}", flush=True)
            output = trainer.train(resume_from_checkpoint=os.path.join(
                folder, RayTrainReportCallback.CHECKPOINT_NAME))
    if ray.train.get_context().get_world_rank() != 0:
        return
    final = work / FINAL
    shutil.rmtree(final, ignore_errors=True)
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    metrics = {
        "examples": len(rows), "too_long": too_long, "steps": trainer.state.global_step,
        "epochs": spec.epochs, "train_loss": output.training_loss,
        "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
        "answer_nll_before": before, "answer_nll_after": _answer_nll(model, tokenizer, probe),
        "train_runtime_s": output.metrics.get("train_runtime"),
    }
    (final / METRICS_FILE).write_text(json.dumps(metrics, indent=2), "utf-8")


def run(model: str, train_path: str, data: dict[str, Any], sft: dict[str, Any],
        thinking: bool, cpus: float, gpus: float, work_dir: str, out: str) -> dict[str, Any]:
    """Train under Ray Train (resuming from its last checkpoint), then move the final
    model into `out` atomically; the result is the training metrics."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    # Ray Train's print patch would send every step line to the log twice.
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    work = Path(work_dir)
    workers = max(1, int(gpus))
    per_worker = ({"CPU": max(1.0, cpus / workers), "GPU": 1.0} if gpus
                  else {"CPU": max(1.0, cpus)})
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={"model": model, "train_path": train_path, "data": data, "sft": sft,
                           "thinking": thinking, "gpus": gpus, "work_dir": work_dir,
                           "threads": max(1, math.floor(per_worker["CPU"]))},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=bool(gpus),
                                     resources_per_worker=per_worker),
        torch_config=TorchConfig(backend="nccl" if gpus else "gloo"),
        run_config=RunConfig(name=RUN_NAME, storage_path=str(work / "ray_train"),
                             checkpoint_config=CheckpointConfig(num_to_keep=1),
                             failure_config=FailureConfig(max_failures=0)),
    )
    trainer.fit()
    final = work / FINAL
    metrics = json.loads((final / METRICS_FILE).read_text("utf-8"))
    with atomic_dir(Path(out)) as building:
        for item in final.iterdir():
            if item.name != METRICS_FILE:
                shutil.move(str(item), building / item.name)
        finish(building, metrics)
    for scratch in (final, work / "hf", work / "ray_train"):  # checkpoints: GBs, done with
        shutil.rmtree(scratch, ignore_errors=True)
    return metrics
