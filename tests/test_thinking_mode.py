"""Thinking mode renders judge prompts the same way in training and in evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from rm_core.config import ExperimentConfig
from rm_core.embedded_models import build_tiny_qwen2
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.judge.generation import render
from rm_core.training.judge_dataset import JudgeTokenizer
from rm_core.training.spec import TrainSpec

# Qwen3's rule: without thinking, the assistant turn opens with an empty think block.
QWEN3_LIKE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
MESSAGES = [{"role": "user", "content": "Rate this answer."}]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> object:
    folder = build_tiny_qwen2(tmp_path_factory.mktemp("thinking") / "tiny-qwen2")
    loaded = AutoTokenizer.from_pretrained(folder)
    loaded.chat_template = QWEN3_LIKE
    return loaded


@pytest.mark.parametrize("thinking", [True, False])
def test_evaluation_renders_what_training_renders(tokenizer: object, thinking: bool) -> None:
    trained = JudgeTokenizer(tokenizer, "<score>", thinking).apply_chat_template(
        MESSAGES, add_generation_prompt=True, tokenize=False)
    assert render(tokenizer, MESSAGES, "<score>", thinking) == trained
    assert trained.endswith("assistant\n<score>" if thinking else "</think>\n\n<score>")


def _config(**changes: object) -> ExperimentConfig:
    return ExperimentConfig(name="t", **changes)


def test_evaluation_follows_the_training_spec_unless_set() -> None:
    assert _config(training=TrainSpec(thinking=True)).evaluation.thinking is True
    assert _config(training=TrainSpec()).evaluation.thinking is False
    assert _config().evaluation.thinking is False
    explicit = _config(training=TrainSpec(thinking=True),
                       evaluation=EvaluationSettings(thinking=False))
    assert explicit.evaluation.thinking is False


def test_a_reasoning_judge_config_loads_with_thinking_everywhere(tmp_path: Path) -> None:
    from rm_core.config import load_experiment

    path = tmp_path / "qwen3.yaml"
    path.write_text("name: qwen3\ntraining:\n  model_path: Qwen/Qwen3-0.6B\n  thinking: true\n")
    config = load_experiment(path)
    assert config.training is not None and config.training.thinking
    assert config.evaluation.thinking is True
