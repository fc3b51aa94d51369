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
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from rm_core.judge.generation import ParseRate
from rm_core.training import ray_train
from rm_core.training.sft_examples import examples
from rm_core.training.sft_spec import SftSpec

RUN_NAME = "sft"
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


def train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: load, build the examples, train (resuming if Ray Train has a
    checkpoint), and on rank 0 save the final model with its metrics."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
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
    args = SFTConfig(completion_only_loss=True, packing=False,
                     **ray_train.trainer_args(spec, config["work_dir"], config["gpus"]))
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer,
                         callbacks=[ray_train.progress_callback("sft")])
    output = ray_train.train(trainer)
    if not ray_train.is_rank_zero():
        return
    final = ray_train.final_dir(config["work_dir"])
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
    ray_train.fit(train_loop, {"model": model, "train_path": train_path, "data": data,
                               "sft": sft, "thinking": thinking},
                  RUN_NAME, cpus, gpus, work_dir)
    return ray_train.publish(work_dir, out, METRICS_FILE)
