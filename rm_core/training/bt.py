"""A Bradley-Terry reward model as it trains on the cluster: TRL's RewardTrainer under
Ray Train.

`run` is what the stage job calls. The base model gets a one-label scalar head
(`AutoModelForSequenceClassification`) and learns -log sigmoid(r_chosen - r_rejected -
margin) on the split's distinct preference pairs (`bt_pairs`). Ray Train launches,
checkpoints and resumes it exactly as it does the SFT warm start (`ray_train`). Each step
line carries the loss and, over that step's pairs, the accuracy (r_chosen > r_rejected),
the mean margin and the mean chosen and rejected rewards. When training is done the
model scores every answer of its train pairs once more: their reward mean and std are
stored with it (`reward_stats.json`), so its raw scores can be normalised wherever it is
used.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rm_core.training import ray_train
from rm_core.training.bt_pairs import BtDataError, reward_rows, rewards
from rm_core.training.bt_spec import BtSpec

RUN_NAME = "bt"
METRICS_FILE = "bt_metrics.json"
REWARD_STATS_FILE = "reward_stats.json"
# Step-line figures beyond the loss, averaged over the pairs of the logged step.
STEP_FIGURES = ("accuracy", "margin", "chosen_reward", "rejected_reward")


def _trainer_class() -> type:
    """TRL's RewardTrainer, also averaging the pair figures of each step into its log."""
    from trl import RewardTrainer

    class BtTrainer(RewardTrainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.pair_figures: dict[str, list[float]] = defaultdict(list)
            self.steps_here = 0  # steps this process ran (not those it resumed past)

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            loss, outputs = super().compute_loss(model, inputs, return_outputs=True)
            if model.training:
                chosen = outputs["rewards_chosen"].detach().float()
                rejected = outputs["rewards_rejected"].detach().float()
                margin = chosen - rejected
                for name, value in zip(STEP_FIGURES, ((margin > 0).float(), margin, chosen,
                                                      rejected), strict=True):
                    self.pair_figures[name].append(float(value.mean()))
            return (loss, outputs) if return_outputs else loss

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            if "loss" in logs and self.pair_figures:
                logs = {**logs, **{name: statistics.fmean(values)
                                   for name, values in self.pair_figures.items()}}
                self.pair_figures.clear()
                self.steps_here += 1
            super().log(logs, start_time)

    return BtTrainer


def load_scorer(model_dir: str, seed: int) -> tuple[Any, Any]:
    """(scalar-head model, tokenizer) of a folder; a folder without a trained head gets a
    fresh one drawn from `seed`, the same head for the same seed."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=1, torch_dtype=torch.float32, use_safetensors=True)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _reward_stats(model: Any, tokenizer: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std of the trained model's rewards of its train pairs' distinct answers."""
    texts = {tokenizer.apply_chat_template(row[side], tokenize=False): None
             for row in rows for side in ("chosen", "rejected")}
    scores = rewards(model, tokenizer, list(texts))
    return {"mean": statistics.fmean(scores), "std": statistics.pstdev(scores),
            "n": len(scores)}


def train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: build the pairs, train (resuming if Ray Train has a
    checkpoint), and on rank 0 save the model with its reward stats and metrics."""
    import torch
    from datasets import Dataset
    from trl import RewardConfig

    torch.set_num_threads(config["threads"])
    spec = BtSpec.model_validate(config["bt"])
    model, tokenizer = load_scorer(config["model"], spec.seed)
    rows, counts = reward_rows(Path(config["train_path"]), spec, tokenizer)
    if not rows:
        raise BtDataError(f"{config['train_path']} has no pair to train on: {counts}")
    args = RewardConfig(remove_unused_columns=False, center_rewards_coefficient=None,
                        **ray_train.trainer_args(spec, config["work_dir"], config["gpus"]))
    trainer = _trainer_class()(model=model, args=args, train_dataset=Dataset.from_list(rows),
                               processing_class=tokenizer,
                               callbacks=[ray_train.progress_callback("bt")])
    started = time.perf_counter()
    output = ray_train.train(trainer)
    seconds = time.perf_counter() - started
    if not ray_train.is_rank_zero():
        return
    final = ray_train.final_dir(config["work_dir"])
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    stats = _reward_stats(trainer.model, tokenizer, rows)
    (final / REWARD_STATS_FILE).write_text(json.dumps(stats, indent=2), "utf-8")
    logs = [log for log in trainer.state.log_history if "loss" in log]
    metrics = {
        **counts.model_dump(), "pairs_trained": counts.trained,
        "steps": trainer.state.global_step, "epochs": spec.epochs,
        "train_loss": output.training_loss,
        "first_loss": logs[0]["loss"] if logs else None,
        "last_loss": logs[-1]["loss"] if logs else None,
        "last_accuracy": logs[-1].get("accuracy") if logs else None,
        "seconds_per_step": seconds / max(trainer.steps_here, 1),
        "reward_mean": stats["mean"], "reward_std": stats["std"],
        "train_runtime_s": output.metrics.get("train_runtime"),
    }
    (final / METRICS_FILE).write_text(json.dumps(metrics, indent=2), "utf-8")


def run(model: str, train_path: str, bt: dict[str, Any], cpus: float, gpus: float,
        work_dir: str, out: str) -> dict[str, Any]:
    """Train under Ray Train (resuming from its last checkpoint), then move the model into
    `out` atomically; the result is the training metrics."""
    ray_train.fit(train_loop, {"model": model, "train_path": train_path, "bt": bt},
                  RUN_NAME, cpus, gpus, work_dir)
    return ray_train.publish(work_dir, out, METRICS_FILE)
