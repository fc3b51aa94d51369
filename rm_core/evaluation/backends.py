"""Generation backends behind one interface: transformers on CPU, vLLM on a GPU.

Both take prompts already rendered with the model's chat template and the answer
prefix (`generation.render`), and tokenize them without adding special tokens, so a
judge sees exactly the text it was trained on whichever backend runs it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Protocol

from rm_core.errors import RmPipelineError
from rm_core.evaluation.settings import BackendName, EvaluationSettings
from rm_core.judge import generation


class BackendUnavailable(RmPipelineError):
    """The configured backend cannot run on this machine."""


class JudgeBackend(Protocol):
    """Anything that turns rendered prompts into `samples` completions each."""

    name: str
    tokenizer: Any

    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float,
                 samples: int, seed: int) -> list[list[str]]: ...


class TransformersBackend:
    """Batched, left-padded `model.generate` in fp32: the CPU default."""

    name = "transformers"

    def __init__(self, model_dir: Path, batch_size: int) -> None:
        self.model, self.tokenizer = generation.load(model_dir)
        self.batch_size = batch_size

    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float,
                 samples: int, seed: int) -> list[list[str]]:
        import torch

        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state alone
            torch.manual_seed(seed)
            return generation.generate(
                self.model, self.tokenizer, prompts, max_new_tokens,
                samples=samples, temperature=temperature, batch_size=self.batch_size,
            )  # fmt: skip


class VllmBackend:
    """vLLM's offline engine: continuous batching on GPUs (the gpu profile)."""

    name = "vllm"

    def __init__(self, model_dir: Path, tensor_parallel_size: int,
                 gpu_memory_utilization: float) -> None:
        from vllm import LLM

        self.llm = LLM(model=str(model_dir), tensor_parallel_size=tensor_parallel_size,
                       gpu_memory_utilization=gpu_memory_utilization)
        self.tokenizer = self.llm.get_tokenizer()

    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float,
                 samples: int, seed: int) -> list[list[str]]:
        from vllm import SamplingParams

        params = SamplingParams(n=samples, temperature=temperature, max_tokens=max_new_tokens,
                                seed=seed)
        token_prompts = [
            {"prompt_token_ids": self.tokenizer(p, add_special_tokens=False)["input_ids"]}
            for p in prompts
        ]
        outputs = self.llm.generate(token_prompts, params, use_tqdm=False)
        return [[choice.text for choice in output.outputs] for output in outputs]


def vllm_usable() -> bool:
    """vLLM installed (the `gpu` extra) and a CUDA device visible."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def resolve_backend(name: BackendName) -> str:
    """The concrete backend `name` means here; an explicit vllm that cannot run is an error."""
    if name == "auto":
        return "vllm" if vllm_usable() else "transformers"
    if name == "vllm" and not vllm_usable():
        raise BackendUnavailable(
            "evaluation.backend is 'vllm' but vLLM cannot run here: it needs the `gpu` extra "
            "(pip install '.[gpu]') and a CUDA GPU; use 'transformers' or 'auto' on CPU"
        )
    return name


def open_backend(model_dir: Path, settings: EvaluationSettings) -> JudgeBackend:
    """The backend the settings ask for, with the model loaded."""
    if resolve_backend(settings.backend) == "vllm":
        return VllmBackend(model_dir, settings.tensor_parallel_size,
                           settings.gpu_memory_utilization)
    return TransformersBackend(model_dir, settings.batch_size)
