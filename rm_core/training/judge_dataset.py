"""verl dataset class for judge prompts: thinking mode and an answer prefix.

verl 0.5.0's RLHFDataset renders prompts with the tokenizer's chat template and no
options. A judge needs two: `enable_thinking` for reasoning models (the RM-Gallery
rule) and an answer prefix pre-filled into the assistant turn (e.g. `<score>`), which
the reward parses together with the completion. verl loads this file by path
(`data.custom_cls.path`), so it imports nothing from the project.
"""

from __future__ import annotations

from typing import Any

from verl.utils.dataset.rl_dataset import RLHFDataset


class JudgeTokenizer:
    """A tokenizer whose generation-prompt rendering adds thinking mode and the prefix."""

    def __init__(self, tokenizer: Any, answer_prefix: str, enable_thinking: bool) -> None:
        self._tokenizer = tokenizer
        self._answer_prefix = answer_prefix
        self._enable_thinking = enable_thinking

    def apply_chat_template(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        tokenize = kwargs.pop("tokenize", True)
        text = self._tokenizer.apply_chat_template(
            messages, *args, tokenize=False, enable_thinking=self._enable_thinking, **kwargs
        )
        if kwargs.get("add_generation_prompt"):
            text += self._answer_prefix
        if tokenize:
            return self._tokenizer.encode(text, add_special_tokens=False)
        return text

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._tokenizer(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._tokenizer, name)


class JudgeRLDataset(RLHFDataset):
    """RLHFDataset reading `answer_prefix` and `enable_thinking` from the data config."""

    def __init__(self, data_files: Any, tokenizer: Any, config: Any, processor: Any = None):
        tokenizer = JudgeTokenizer(
            tokenizer,
            answer_prefix=str(config.get("answer_prefix", "") or ""),
            enable_thinking=bool(config.get("enable_thinking", False)),
        )
        super().__init__(data_files, tokenizer, config, processor)
