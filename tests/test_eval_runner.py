"""evaluate_model on a tiny random Qwen2 and hand-written verl val rows (no verl run)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rm_core.embedded_models import build_tiny_qwen2
from rm_core.evaluation.pairwise import PairwiseReport
from rm_core.evaluation.runner import EvaluationError, JudgeEvaluation, evaluate_model
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.judge import generation
from rm_core.judge.templates import MultiAttributeTemplate, PairwiseTemplate, PointwiseTemplate

HELPFULNESS = [0, 1, 2, 3, 4, 3]
TEMPLATE = PointwiseTemplate(dimension="helpfulness", max_score=4, answer_prefix="<score>")
FAST = EvaluationSettings(backend="transformers", limit=6, max_new_tokens=8, n_resamples=50)


def verl_row(index: int, helpfulness: int, dimension: str = "helpfulness") -> dict[str, Any]:
    """A verl val row shaped like `rm_core.data.verl_rows` writes them."""
    prompt = TEMPLATE.render(f"How do I sort list {index}?", f"Use sorted(list_{index}).")
    return {
        "data_source": "helpsteer2",
        "prompt": [{"role": "user", "content": prompt}],
        "ability": "judge-pointwise",
        "reward_model": {
            "style": "rule",
            "ground_truth": {"helpfulness": helpfulness, "correctness": (helpfulness + 1) % 5},
        },
        "extra_info": {"unique_id": f"row-{index}", "split": "val", "index": index,
                       "dimension": dimension},
    }


def write_val(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2(tmp_path_factory.mktemp("eval-model") / "tiny-qwen2")


@pytest.fixture(scope="module")
def val_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [verl_row(i, label) for i, label in enumerate(HELPFULNESS)]
    return write_val(tmp_path_factory.mktemp("eval-data") / "val.parquet", rows)


def test_random_model_is_unparsable_result_not_crash(tiny_model: Path, val_parquet: Path) -> None:
    result = evaluate_model(tiny_model, val_parquet, TEMPLATE, FAST)

    assert isinstance(result, JudgeEvaluation)
    assert result.n == 6 and result.report.n == 6
    assert result.model == str(tiny_model)
    assert result.unique_ids == [f"row-{i}" for i in range(6)]
    assert result.true == HELPFULNESS
    assert result.predictions == [-1] * 6
    assert len(result.completions) == 5
    assert result.report.metrics["parse_failure_rate"].value == 1.0
    assert result.report.metrics["accuracy"].value == 0.0
    assert math.isnan(result.report.metrics["mae_parsed"].value)
    assert result.seconds > 0


def test_greedy_evaluation_is_deterministic(tiny_model: Path, val_parquet: Path) -> None:
    first = evaluate_model(tiny_model, val_parquet, TEMPLATE, FAST)
    second = evaluate_model(tiny_model, val_parquet, TEMPLATE, FAST)

    assert first.predictions == second.predictions
    assert first.completions == second.completions
    assert first.report == second.report


def test_seeded_sampling_is_reproducible(tiny_model: Path, val_parquet: Path) -> None:
    settings = FAST.model_copy(update={"limit": 3, "temperature": 1.0, "seed": 7})
    first = evaluate_model(tiny_model, val_parquet, TEMPLATE, settings)
    second = evaluate_model(tiny_model, val_parquet, TEMPLATE, settings)

    assert first.completions == second.completions


def test_parsing_and_metrics_wiring_with_fixed_completions(
    tiny_model: Path, val_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # true:  0    1    2         3    4    3
    # pred:  0    2    unparsed  3    4    unparsed (7 is out of range)
    fixed = ["0</score>", "2</score>", "no idea", "3</score>", " 4 </score>", "7</score>"]
    seen: list[str] = []

    def fake_generate(model: Any, tokenizer: Any, prompts: list[str], *args: Any,
                      **kwargs: Any) -> list[list[str]]:
        seen.extend(prompts)
        return [[text] for text in fixed[: len(prompts)]]

    monkeypatch.setattr(generation, "generate", fake_generate)
    result = evaluate_model(tiny_model, val_parquet, TEMPLATE, FAST)

    assert result.predictions == [0, 2, -1, 3, 4, -1]
    metrics = result.report.metrics
    assert metrics["accuracy"].value == pytest.approx(3 / 6)
    assert metrics["within1_accuracy"].value == pytest.approx(4 / 6)
    assert metrics["parse_failure_rate"].value == pytest.approx(2 / 6)
    assert metrics["mae_parsed"].value == pytest.approx(1 / 4)
    assert result.report.n_parsed == 4
    assert result.completions == fixed[:5]
    # prompts are rendered with the chat template and end in the answer prefix
    assert len(seen) == 6
    assert all(p.startswith("<|im_start|>user\n") and p.endswith("assistant\n<score>")
               for p in seen)


def test_limit_takes_the_first_rows(
    tiny_model: Path, val_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generation, "generate",
                        lambda model, tok, prompts, *a, **k: [["1</score>"] for _ in prompts])
    result = evaluate_model(tiny_model, val_parquet, TEMPLATE, FAST.model_copy(update={"limit": 2}))

    assert result.unique_ids == ["row-0", "row-1"]
    assert result.report.metrics["accuracy"].value == pytest.approx(1 / 2)


def test_tokenizer_without_chat_template_names_the_folder(
    tiny_model: Path, val_parquet: Path, tmp_path: Path
) -> None:
    plain = shutil.copytree(tiny_model, tmp_path / "no-template")
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    config_path = plain / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))

    with pytest.raises(EvaluationError, match="no chat template") as error:
        evaluate_model(plain, val_parquet, TEMPLATE, FAST)
    assert str(plain) in str(error.value)


def test_folder_without_tokenizer_files_names_the_folder(
    tiny_model: Path, val_parquet: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "weights-only"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_model / name, bare / name)

    with pytest.raises(EvaluationError, match="no tokenizer files") as error:
        evaluate_model(bare, val_parquet, TEMPLATE, FAST)
    assert str(bare) in str(error.value)


def test_missing_model_folder(val_parquet: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(EvaluationError, match="does not exist") as error:
        evaluate_model(missing, val_parquet, TEMPLATE, FAST)
    assert str(missing) in str(error.value)


def test_empty_val_parquet_names_the_file(tiny_model: Path, tmp_path: Path) -> None:
    schema = pa.Table.from_pylist([verl_row(0, 1)]).schema
    empty = tmp_path / "empty.parquet"
    pq.write_table(schema.empty_table(), empty)

    with pytest.raises(EvaluationError, match="no rows") as error:
        evaluate_model(tiny_model, empty, TEMPLATE, FAST)
    assert str(empty) in str(error.value)


def test_rows_for_another_dimension_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    other = write_val(tmp_path / "other.parquet", [verl_row(0, 1, dimension="correctness")])

    with pytest.raises(EvaluationError, match="'correctness'") as error:
        evaluate_model(tiny_model, other, TEMPLATE, FAST)
    assert str(other) in str(error.value)


def test_corrupt_weights_name_the_folder(tiny_model: Path, val_parquet: Path,
                                         tmp_path: Path) -> None:
    corrupt = shutil.copytree(tiny_model, tmp_path / "corrupt")
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])

    with pytest.raises(EvaluationError, match="could not load model folder") as error:
        evaluate_model(corrupt, val_parquet, TEMPLATE, FAST)
    assert str(corrupt) in str(error.value)


def test_sampled_judgements_are_majority_voted(
    tiny_model: Path, val_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    votes = [["1</score>", "1</score>", "3</score>"],   # 1 wins
             ["2</score>", "x", "x"],                    # the only parsed sample
             ["x", "x", "x"],                            # nothing parsed
             ["4</score>", "0</score>", "9</score>"]]    # tie 4/0 -> the lower, 9 is invalid
    calls: list[dict[str, Any]] = []

    def fake_generate(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int,
                      **kwargs: Any) -> list[list[str]]:
        calls.append(kwargs)
        return votes[: len(prompts)]

    monkeypatch.setattr(generation, "generate", fake_generate)
    settings = FAST.model_copy(update={"limit": 4, "samples": 3, "temperature": 0.7})
    result = evaluate_model(tiny_model, val_parquet, TEMPLATE, settings)

    assert result.predictions == [1, 2, -1, 0]
    assert calls[0]["samples"] == 3 and calls[0]["temperature"] == 0.7
    assert result.completions == ["1</score>", "2</score>", "x", "4</score>"]


def test_pickled_weights_are_refused_not_unpickled(tiny_model: Path, val_parquet: Path,
                                                   tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    pickled = shutil.copytree(tiny_model, tmp_path / "pickled")
    weights = pickled / "model.safetensors"
    torch.save(load_file(weights), pickled / "pytorch_model.bin")
    weights.unlink()

    with pytest.raises(EvaluationError, match="could not load model folder") as error:
        evaluate_model(pickled, val_parquet, TEMPLATE, FAST)
    assert str(pickled) in str(error.value)


def pair_row(pair: str, order: str, truth: str) -> dict[str, Any]:
    """A verl pairwise val row as written before prompt/response ids were recorded."""
    return {"data_source": "hs2", "prompt": [{"role": "user", "content": f"Compare {pair}"}],
            "ability": "judge-pairwise",
            "reward_model": {"style": "rule",
                             "ground_truth": {"preference": truth, "strength": 1}},
            "extra_info": {"unique_id": f"hs2-{pair}-{order}", "split": "val", "index": 0,
                           "dimension": "preference"}}


def test_pairwise_judge_gets_accuracy_and_position_consistency(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [pair_row("p1", "ab", "A"), pair_row("p1", "ba", "B"),
            pair_row("p2", "ab", "B"), pair_row("p2", "ba", "A")]
    val = write_val(tmp_path / "pairs.parquet", rows)
    # p1: consistent and right; p2: "A" whatever the order (position bias), right once
    answers = ["A</preference>", "B</preference>", "A</preference>", "A</preference>"]
    monkeypatch.setattr(generation, "generate",
                        lambda model, tok, prompts, *a, **k: [[t] for t in answers])
    template = PairwiseTemplate(answer_prefix="<preference>")

    result = evaluate_model(tiny_model, val, template, FAST)

    assert result.true == [0, 1, 1, 0] and result.predictions == [0, 1, 0, 0]
    assert isinstance(result.report, PairwiseReport)
    assert result.report.preference.accuracy.value == 0.75
    assert result.report.preference.first_position_rate == 0.75
    assert result.report.consistency.flips == 1 and result.report.consistency.flip_rate == 0.5
    cached = JudgeEvaluation.model_validate_json(result.model_dump_json())  # as stage reads it
    assert isinstance(cached.report, PairwiseReport)
    assert cached.model_dump_json() == result.model_dump_json()


def test_multi_attribute_judge_is_scored_per_dimension(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = MultiAttributeTemplate(("helpfulness", "correctness"))
    rows = [verl_row(i, label) for i, label in enumerate([1, 3])]
    for row in rows:
        row["extra_info"]["dimension"] = "helpfulness+correctness"
    val = write_val(tmp_path / "multi.parquet", rows)
    # truths: (1, 2) and (3, 4); answers: right/wrong, missing/right
    answers = ["<helpfulness>1</helpfulness><correctness>0</correctness>",
               "<correctness>4</correctness>"]
    monkeypatch.setattr(generation, "generate",
                        lambda model, tok, prompts, *a, **k: [[t] for t in answers])

    result = evaluate_model(tiny_model, val, template, FAST)

    assert result.unique_ids == ["row-0|helpfulness", "row-0|correctness",
                                 "row-1|helpfulness", "row-1|correctness"]
    assert result.true == [1, 2, 3, 4] and result.predictions == [1, 0, -1, 4]
    assert result.per_dimension["helpfulness"].metrics["accuracy"].value == 0.5
    assert result.per_dimension["helpfulness"].metrics["parse_failure_rate"].value == 0.5
    assert result.per_dimension["correctness"].metrics["accuracy"].value == 0.5
    assert result.report.metrics["accuracy"].value == 0.5


def test_rows_of_another_judge_kind_are_refused(tiny_model: Path, val_parquet: Path) -> None:
    with pytest.raises(EvaluationError, match=r"asks for 'helpfulness'.*'preference'"):
        evaluate_model(tiny_model, val_parquet, PairwiseTemplate(), FAST)
