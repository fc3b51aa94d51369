"""A tiny random Qwen2: it cannot judge anything, but it loads, trains and generates in
milliseconds, which is what the tests of the training path need."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rm_core.artifacts import atomic_dir, finish, is_complete, read_result
from rm_core.config import REPO_ROOT
from rm_core.embedded_models.common import (
    CHATML_TEMPLATE,
    ENDOFTEXT,
    IM_END,
    IM_START,
    folder_version,
    wrap_tokenizer,
)
from rm_core.judge.templates import PairwiseTemplate, PointwiseTemplate

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SAMPLE_CORPUS = REPO_ROOT / "data/sample/helpsteer2_sample.jsonl"

TINY_QWEN2 = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 8192,
}
TINY_VOCAB_SIZE = 1024


def build_tiny_qwen2(out_dir: Path, seed: int = 0) -> Path:
    """A random 2-layer Qwen2 (hidden 64) with a locally trained byte-level BPE tokenizer.

    It is a normal `Qwen2ForCausalLM` folder (fp32 safetensors, ChatML template,
    eos = pad = `<|im_end|>`), so verl loads it like any actor model; it builds in
    about a second and is identical for the same seed and corpus, which keeps tests
    of the training path fast and reproducible. A complete folder built with the same
    seed and corpus is returned as is.
    """
    out_dir = Path(out_dir)
    corpus = list(_tiny_corpus())
    recipe = {
        "seed": seed,
        "corpus_sha256": hashlib.sha256("\n".join(corpus).encode("utf-8")).hexdigest(),
        "architecture": TINY_QWEN2,
        "vocab_size": TINY_VOCAB_SIZE,
    } | folder_version()
    if is_complete(out_dir) and read_result(out_dir).get("recipe") == recipe:
        return out_dir

    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = _train_tiny_tokenizer(corpus)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        **TINY_QWEN2,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        use_sliding_window=False,
        torch_dtype="float32",
        bos_token_id=tokenizer.convert_tokens_to_ids(ENDOFTEXT),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state alone
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
    )
    with atomic_dir(out_dir) as building:
        model.save_pretrained(building, safe_serialization=True)
        tokenizer.save_pretrained(building)
        finish(building, {"kind": "tiny-qwen2", "recipe": recipe,
                          "parameters": sum(p.numel() for p in model.parameters())})
    return out_dir


def _tiny_corpus() -> Iterator[str]:
    """The judge prompts' fixed text, chat snippets and the shipped HelpSteer2 sample."""
    for template in (PointwiseTemplate(), PairwiseTemplate()):
        yield from template.pieces()
    yield from (f"<score>{n}</score>" for n in range(10))
    yield from (f"<preference>{x}</preference>" for x in ("A", "B", "tie"))
    yield "system\nYou are a helpful assistant.\nuser\nHello!\nassistant\nHi, how can I help?"
    if SAMPLE_CORPUS.is_file():
        for line in SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            yield from _strings(record.values())


def _strings(values: Iterable[Any]) -> Iterator[str]:
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            yield from _strings(value.values())
        elif isinstance(value, list):
            yield from _strings(value)


def _train_tiny_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on `corpus`: every byte encodes, digits split one by one."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from tokenizers import processors as tk_processors

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = tk_processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE,
        special_tokens=[ENDOFTEXT, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus, trainer=trainer)
    return wrap_tokenizer(backend, eos=IM_END, pad=IM_END, unk=None, bos=None,
                          chat_template=CHATML_TEMPLATE,
                          model_max_length=TINY_QWEN2["max_position_embeddings"])
