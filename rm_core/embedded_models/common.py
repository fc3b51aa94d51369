"""What both embedded models share: ChatML tokens and template, the tokenizer wrapper, and
the format version their folders record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

IM_START, IM_END, ENDOFTEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
# Bump when the folders written here change, so cached folders are rebuilt.
FORMAT_VERSION = 2


def chatml_template(default_system: str | None = None) -> str:
    """A ChatML chat template whose trailing assistant message is an answer prefix.

    Rendered with `add_generation_prompt=True`, a conversation that ends with an
    assistant message leaves that message open (`<|im_start|>assistant\\n<score>`), so
    the model continues it. verl renders every prompt with `add_generation_prompt=True`
    and offers no other way to pre-fill the answer. Any other conversation renders
    as plain ChatML. `default_system` is inserted when the first message is not a
    system message (SmolLM2 was trained with one).
    """
    if default_system is not None and ("'" in default_system or "\\" in default_system):
        raise ValueError("default_system must not contain quotes or backslashes")
    system = (
        "{%- if loop.first and message['role'] != 'system' %}"
        f"{{{{ '{IM_START}system\n{default_system}{IM_END}\n' }}}}"
        "{%- endif %}"
        if default_system is not None
        else ""
    )
    return (
        "{%- for message in messages %}"
        + system
        + "{%- if loop.last and add_generation_prompt and message['role'] == 'assistant' %}"
        f"{{{{ '{IM_START}assistant\n' + message['content'] }}}}"
        "{%- else %}"
        f"{{{{ '{IM_START}' + message['role'] + '\n' + message['content'] + '{IM_END}\n' }}}}"
        "{%- endif %}"
        "{%- endfor %}"
        "{%- if add_generation_prompt and (messages | length == 0"
        " or messages[-1]['role'] != 'assistant') %}"
        f"{{{{ '{IM_START}assistant\n' }}}}"
        "{%- endif %}"
    )


CHATML_TEMPLATE = chatml_template()


def wrap_tokenizer(backend: Any, *, eos: str, pad: str, unk: str | None, bos: str | None,
                   chat_template: str, model_max_length: int) -> PreTrainedTokenizerFast:
    """A transformers tokenizer around a `tokenizers` one, never touching spaces on decode.

    Without `model_input_names` it would also return `token_type_ids`, which
    `generate()` of a causal LM rejects.
    """
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_input_names=["input_ids", "attention_mask"],
        eos_token=eos,
        pad_token=pad,
        unk_token=unk,
        bos_token=bos,
        chat_template=chat_template,
        model_max_length=int(model_max_length),
        clean_up_tokenization_spaces=False,
    )


def folder_version() -> dict[str, Any]:
    """The format and transformers version a folder is built with; a change rebuilds it."""
    import transformers

    return {"format": FORMAT_VERSION, "transformers": transformers.__version__}
