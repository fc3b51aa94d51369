"""Cheaper GRPO steps on CPU: compute only the positions and groups the update needs.

verl 0.5.0 on CPU runs without `use_remove_padding`, so every forward pass of a step
(generation, old log-prob, ref, update) covers every position of the batch's tensors:
each prompt left-padded to `data.max_prompt_length` and each response right-padded to
`rollout.response_length`. Three patches, each switched on by a key of verl's config
that the cpu profile sets (`rm_core.training.spec`), cut that work:

* `rollout.trim_padding`: the rollout drops the prompt columns no row of the batch uses
  before generating, and the response columns no row uses after (per-batch padding).
* `rollout.stop_strings`: generation ends at the answer's closing tag (HF `generate`
  stop strings) and every token after the tag is masked, as if an eos had ended it.
* `algorithm.drop_uniform_groups`: prompt groups whose sampled rewards are all equal
  (zero GRPO advantage) are left out of the actor update; each step logs
  `dynamic_sampling/kept_groups` and `dynamic_sampling/total_groups`, and a step where
  every group is uniform skips the update and says so.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

KEPT_ROWS = "rm_pipeline_kept_rows"
GROUP_COUNTS = "rm_pipeline_group_counts"
SKIPPED = "rm_pipeline: every prompt group of step {step} has equal rewards; update skipped"


def apply() -> None:
    """Install the three patches (each one checks its config key at run time)."""
    _rollout_trims_and_stops()
    _drop_uniform_groups()


# --------------------------------------------------------------------------- rollout


def trim_left_padding(tensors: dict[str, Any]) -> dict[str, Any]:
    """Prompt tensors without the leading columns that are padding in every row."""
    used = tensors["attention_mask"].any(dim=0).nonzero()
    first = int(used[0]) if len(used) else 0
    return {key: value[:, first:] for key, value in tensors.items()}


def answer_end(ids: Sequence[int], decode: Any, stop_strings: Sequence[str]) -> int | None:
    """Number of leading tokens of `ids` whose text first contains a stop string, or None.

    A longer prefix never loses a stop string it contains, so a binary search needs
    log2(len) decodes."""
    def stops(length: int) -> bool:
        text = decode(list(ids[:length]))
        return any(stop in text for stop in stop_strings)

    if not ids or not stops(len(ids)):
        return None
    low, high = 1, len(ids)
    while low < high:
        middle = (low + high) // 2
        if stops(middle):
            high = middle
        else:
            low = middle + 1
    return low


def end_at_tags(tensors: dict[str, Any], prompt_length: int, decode: Any,
                stop_strings: Sequence[str], pad_token_id: int) -> dict[str, Any]:
    """Mask (and pad) every response token after the first stop string of its row."""
    responses = tensors["responses"].clone()
    mask = tensors["attention_mask"].clone()
    ids = tensors["input_ids"].clone()
    for row in range(responses.size(0)):
        valid = int(mask[row, prompt_length:].sum())
        end = answer_end(responses[row, :valid].tolist(), decode, stop_strings)
        if end is not None and end < responses.size(1):
            responses[row, end:] = pad_token_id
            ids[row, prompt_length + end:] = pad_token_id
            mask[row, prompt_length + end:] = 0
    return {**tensors, "responses": responses, "attention_mask": mask, "input_ids": ids}


def trim_right_padding(tensors: dict[str, Any], prompt_length: int) -> dict[str, Any]:
    """Sequence tensors cut after the last response position any row still uses."""
    width = max(int(tensors["attention_mask"][:, prompt_length:].sum(-1).max()), 1)
    cut = {key: value[:, :prompt_length + width]
           for key, value in tensors.items() if key in ("input_ids", "attention_mask",
                                                        "position_ids")}
    return {**tensors, **cut, "responses": tensors["responses"][:, :width]}


def _rollout_trims_and_stops() -> None:
    from tensordict import TensorDict
    from transformers import AutoTokenizer
    from verl import DataProto
    from verl.workers.rollout import hf_rollout

    rollout = hf_rollout.HFRollout
    generate_sequences, generate_minibatch = rollout.generate_sequences, rollout._generate_minibatch

    def tokenizer_of(self: Any) -> Any:
        if getattr(self, "_rm_tokenizer", None) is None:
            self._rm_tokenizer = AutoTokenizer.from_pretrained(self.module.config._name_or_path)
        return self._rm_tokenizer

    @functools.wraps(generate_minibatch)
    def _generate_minibatch(self: Any, prompts: Any) -> Any:
        stop_strings = list(self.config.get("stop_strings") or [])
        if not stop_strings:
            return generate_minibatch(self, prompts)
        generate = self.module.generate

        def generate_until_stop(*args: Any, **kwargs: Any) -> Any:
            return generate(*args, stop_strings=stop_strings, tokenizer=tokenizer_of(self),
                            **kwargs)

        self.module.generate = generate_until_stop
        try:
            return generate_minibatch(self, prompts)
        finally:  # the positions patch may already have removed it
            vars(self.module).pop("generate", None)

    @functools.wraps(generate_sequences)
    def _generate_sequences(self: Any, prompts: Any) -> Any:
        trim = bool(self.config.get("trim_padding", False))
        stop_strings = list(self.config.get("stop_strings") or [])
        if trim:
            keys = ("input_ids", "attention_mask", "position_ids")
            tensors = trim_left_padding({key: prompts.batch[key] for key in keys})
            prompts = DataProto(batch=TensorDict(tensors, batch_size=prompts.batch.batch_size),
                                non_tensor_batch=prompts.non_tensor_batch,
                                meta_info=prompts.meta_info)
        output = generate_sequences(self, prompts)
        if not (trim or stop_strings):
            return output
        prompt_length = output.batch["prompts"].size(1)
        tensors = dict(output.batch.items())
        if stop_strings:
            tokenizer = tokenizer_of(self)
            tensors = end_at_tags(tensors, prompt_length, tokenizer.decode, stop_strings,
                                  prompts.meta_info["pad_token_id"])
        if trim:
            tensors = trim_right_padding(tensors, prompt_length)
        return DataProto(batch=TensorDict(tensors, batch_size=output.batch.batch_size),
                         non_tensor_batch=output.non_tensor_batch, meta_info=output.meta_info)

    rollout._generate_minibatch = _generate_minibatch
    rollout.generate_sequences = _generate_sequences


# --------------------------------------------------------------------------- groups


def kept_rows(uids: Sequence[str], rewards: Sequence[float]) -> tuple[list[int], int, int]:
    """Rows of the prompt groups whose rewards differ, kept groups and all groups."""
    groups: dict[str, list[int]] = {}
    for row, uid in enumerate(uids):
        groups.setdefault(str(uid), []).append(row)
    kept = [rows for rows in groups.values()
            if not np.allclose([rewards[row] for row in rows], rewards[rows[0]])]
    return sorted(row for rows in kept for row in rows), len(kept), len(groups)


def _drop_uniform_groups() -> None:
    from verl import DataProto
    from verl.trainer.ppo import ray_trainer

    compute_advantage, init_workers = (ray_trainer.compute_advantage,
                                       ray_trainer.RayPPOTrainer.init_workers)
    compute_data_metrics = ray_trainer.compute_data_metrics

    @functools.wraps(compute_advantage)
    def with_kept_rows(data: Any, *args: Any, config: Any = None, **kwargs: Any) -> Any:
        data = compute_advantage(data, *args, config=config, **kwargs)
        if config is not None and config.get("drop_uniform_groups", False):
            rewards = data.batch["token_level_rewards"].sum(-1).tolist()
            rows, kept, total = kept_rows(data.non_tensor_batch["uid"], rewards)
            data.meta_info[KEPT_ROWS] = rows
            data.meta_info[GROUP_COUNTS] = (kept, total)
        return data

    @functools.wraps(init_workers)
    def init_workers_then_filter(self: Any) -> None:
        init_workers(self)
        workers = self.actor_rollout_wg
        update_actor = workers.update_actor

        def update_kept_groups(batch: Any) -> Any:
            rows = batch.meta_info.pop(KEPT_ROWS, None)
            if rows is None:
                return update_actor(batch)
            if not rows:
                print(SKIPPED.format(step=self.global_steps), flush=True)
                return DataProto(meta_info={"metrics": {}})
            return update_actor(batch if len(rows) == len(batch) else batch.select_idxs(rows))

        workers.update_actor = update_kept_groups

    @functools.wraps(compute_data_metrics)
    def with_group_counts(batch: Any, use_critic: bool = True) -> dict[str, Any]:
        metrics = compute_data_metrics(batch=batch, use_critic=use_critic)
        if GROUP_COUNTS in batch.meta_info:
            kept, total = batch.meta_info[GROUP_COUNTS]
            metrics |= {"dynamic_sampling/kept_groups": kept,
                        "dynamic_sampling/total_groups": total}
        return metrics

    ray_trainer.compute_advantage = with_kept_rows
    ray_trainer.RayPPOTrainer.init_workers = init_workers_then_filter
    ray_trainer.compute_data_metrics = with_group_counts
