"""Backend choice: transformers on this CPU machine, vLLM only with the package and a GPU.

vLLM cannot run without a CUDA GPU, so its backend is exercised against a stand-in
`vllm` module that records what our code asks of it.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from rm_core.embedded_models import build_tiny_qwen2
from rm_core.evaluation import backends
from rm_core.evaluation.backends import (
    BackendUnavailable,
    TransformersBackend,
    VllmBackend,
    open_backend,
    resolve_backend,
)
from rm_core.evaluation.settings import EvaluationSettings


class FakeTokenizer:
    chat_template = "{{ messages }}"

    def __call__(self, text: str, add_special_tokens: bool) -> dict[str, list[int]]:
        assert add_special_tokens is False
        return {"input_ids": [ord(c) for c in text]}


def fake_vllm(calls: dict[str, Any]) -> types.ModuleType:
    module = types.ModuleType("vllm")

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            calls["sampling"] = kwargs

    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            calls["engine"] = kwargs

        def get_tokenizer(self) -> FakeTokenizer:
            return FakeTokenizer()

        def generate(self, prompts: list[dict], params: Any, use_tqdm: bool) -> list[Any]:
            calls["prompts"] = prompts
            n = calls["sampling"]["n"]
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"{i}.{j}")
                                                   for j in range(n)])
                    for i in range(len(prompts))]

    module.LLM, module.SamplingParams = LLM, SamplingParams
    module.__spec__ = types.SimpleNamespace(name="vllm")
    return module


def test_auto_is_transformers_on_this_machine() -> None:
    assert not torch.cuda.is_available()
    assert resolve_backend("auto") == "transformers"


def test_explicit_vllm_without_a_gpu_says_what_is_missing() -> None:
    with pytest.raises(BackendUnavailable, match=r"gpu.*CUDA GPU"):
        resolve_backend("vllm")


def test_transformers_backend_generates_n_samples_per_prompt(tmp_path: Path) -> None:
    model = build_tiny_qwen2(tmp_path / "tiny")
    backend = open_backend(model, EvaluationSettings(backend="auto", batch_size=2))
    assert isinstance(backend, TransformersBackend)
    out = backend.generate(["a", "b", "c"], max_new_tokens=3, temperature=1.0, samples=2, seed=1)
    assert [len(row) for row in out] == [2, 2, 2]
    again = backend.generate(["a", "b", "c"], max_new_tokens=3, temperature=1.0, samples=2,
                             seed=1)
    assert out == again


def test_vllm_backend_on_a_gpu_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: dict[str, Any] = {}
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(calls))
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    settings = EvaluationSettings(tensor_parallel_size=2, gpu_memory_utilization=0.5)

    backend = open_backend(tmp_path, settings)
    out = backend.generate(["ab", "c"], max_new_tokens=7, temperature=0.0, samples=2, seed=3)

    assert isinstance(backend, VllmBackend)
    assert calls["engine"] == {"model": str(tmp_path), "tensor_parallel_size": 2,
                               "gpu_memory_utilization": 0.5}
    assert calls["sampling"] == {"n": 2, "temperature": 0.0, "max_tokens": 7, "seed": 3}
    assert calls["prompts"] == [{"prompt_token_ids": [97, 98]}, {"prompt_token_ids": [99]}]
    assert out == [["0.0", "0.1"], ["1.0", "1.1"]]
