"""`python -m rm_core.evaluation.safe_merge merge ...`: verl's model merger, no unpickling.

verl 0.5.0's FSDP merger reads each shard with `torch.load(..., weights_only=False)`,
which would run any code a tampered checkpoint file carries. The shards hold only
tensors and DTensors, so this entry point forces `weights_only=True` (importing
`torch.distributed.tensor` registers DTensor with the restricted unpickler) and then
runs the merger with the same arguments.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed.tensor  # registers DTensor with the weights_only unpickler


def weights_only(load: Callable[..., Any]) -> Callable[..., Any]:
    """`torch.load` that refuses everything but tensors, whatever the caller asked for."""

    @functools.wraps(load)
    def restricted(*args: Any, **kwargs: Any) -> Any:
        return load(*args, **{**kwargs, "weights_only": True})

    return restricted


def main() -> None:
    from verl.model_merger.__main__ import main as merge

    torch.load = weights_only(torch.load)
    merge()


if __name__ == "__main__":
    main()
