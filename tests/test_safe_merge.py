"""Checkpoint merging never unpickles arbitrary objects from a shard file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from rm_core.embedded_models import build_tiny_qwen2
from rm_core.evaluation.checkpoints import CheckpointError, merge


class Payload:
    """What a tampered shard could carry: unpickling it would create `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_a_shard_carrying_code_is_refused_and_the_code_never_runs(tmp_path: Path) -> None:
    actor = tmp_path / "global_step_1" / "actor"
    model = build_tiny_qwen2(tmp_path / "tiny")
    shutil.copytree(model, actor / "huggingface", ignore=shutil.ignore_patterns("*.safetensors"))
    (actor / "fsdp_config.json").write_text(json.dumps({"world_size": 1}))
    marker = tmp_path / "code-ran"
    torch.save({"weight": Payload(marker)}, actor / "model_world_size_1_rank_0.pt")

    with pytest.raises(CheckpointError, match="Weights only load failed"):
        merge(actor.parent, tmp_path / "merged")
    assert not marker.exists()
    assert not (tmp_path / "merged").exists()
