"""`python -m rm_core.evaluation.safe_merge merge ...`: verl's model merger, no unpickling.

verl 0.5.0's FSDP merger reads each shard with `torch.load(..., weights_only=False)`,
which would run any code a tampered checkpoint file carries. The shards hold only
tensors and DTensors, so this entry point forces `weights_only=True` (importing
`torch.distributed.tensor` registers DTensor with the restricted unpickler) and then
runs the merger with the same arguments.

A LoRA run's merger output is the base weights plus a `lora_adapter/` whose config says
`lora_alpha: 0`, so loading it judges the base model. `merge_lora` folds the adapter into
the weights with the run's own alpha (from the `lora_adapter/` verl saves beside the
actor's shards) and removes it, so the folder is the trained model.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed.tensor  # registers DTensor with the weights_only unpickler


def weights_only(load: Callable[..., Any]) -> Callable[..., Any]:
    """`torch.load` that refuses everything but tensors, whatever the caller asked for."""

    @functools.wraps(load)
    def restricted(*args: Any, **kwargs: Any) -> Any:
        return load(*args, **{**kwargs, "weights_only": True})

    return restricted


def run_alpha(actor_dir: Path) -> float:
    """The LoRA alpha the run trained with, from verl's own adapter config of the step."""
    config = actor_dir / "lora_adapter" / "adapter_config.json"
    try:
        alpha = float(json.loads(config.read_text())["lora_alpha"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{actor_dir} is a LoRA checkpoint but {config} does not give its "
                         f"lora_alpha ({exc}): the adapter cannot be merged") from None
    if alpha <= 0:
        raise SystemExit(f"{config}: lora_alpha {alpha} must be positive")
    return alpha


def merge_lora(target: Path, alpha: float) -> None:
    """Fold `target/lora_adapter` into `target`'s weights with `alpha`; drop the adapter."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = target / "lora_adapter"
    config_file = adapter / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "lora_alpha": alpha}, indent=2))
    base = AutoModelForCausalLM.from_pretrained(target, torch_dtype="auto")
    merged = PeftModel.from_pretrained(base, adapter).merge_and_unload()
    shutil.rmtree(adapter)
    merged.save_pretrained(target)


def main() -> None:
    from verl.model_merger.__main__ import main as merge

    torch.load = weights_only(torch.load)
    merge()
    parser = argparse.ArgumentParser()
    parser.add_argument("--local_dir", type=Path)
    parser.add_argument("--target_dir", type=Path)
    args, _ = parser.parse_known_args()
    if args.target_dir is not None and (args.target_dir / "lora_adapter").is_dir():
        merge_lora(args.target_dir, run_alpha(args.local_dir))


if __name__ == "__main__":
    main()
