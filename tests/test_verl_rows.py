"""verl parquet rows from data_stage.to_verl, rendered by a real chat template; templates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from rm_core.config import HELPSTEER2_ATTRIBUTES, DataConfig, SplitConfig
from rm_core.data import stage as data_stage
from rm_core.data.schema import read_samples
from rm_core.data.sources import fetch
from rm_core.data.stage import VerlResult
from rm_core.judge.templates import MultiAttributeTemplate, PairwiseTemplate, PointwiseTemplate

Row = dict[str, Any]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|im_start|>", "<|im_end|>"]


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    """A tiny byte-level BPE tokenizer trained here, with a ChatML chat template."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = [
        "Evaluate the helpfulness of this response on a scale of 0-4.",
        "Query: how do I sort a list in Python? Response: use sorted(items).",
        "Provide your evaluation in this format: <score>X</score>",
        "Compare two responses to the same query and decide which one is more helpful.",
    ]
    bpe.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        chat_template=CHATML,
        clean_up_tokenization_spaces=False,
    )


ToVerl = Callable[..., tuple[DataConfig, VerlResult]]


@pytest.fixture
def to_verl(
    tmp_path: Path, write_rows: Callable[..., Path], local_config: Callable[..., DataConfig]
) -> ToVerl:
    """`to_verl(name, rows, **data_changes)`: write `rows` to a local source and run the
    data stages on it (no row quarantined); the config and the verl result."""

    def run(name: str, rows: list[Row], **changes: Any) -> tuple[DataConfig, VerlResult]:
        config = local_config(write_rows(name, rows), split=SplitConfig(val_fraction=0.25, seed=3),
                              **changes)
        root = tmp_path / "artifacts"
        ingested = data_stage.ingest(fetch(config.source, tmp_path), config, root)
        assert ingested.quarantined_rows == 0
        split = data_stage.split(ingested, config, root)
        return config, data_stage.to_verl(split, config, root)

    return run


@pytest.fixture
def pointwise_verl(
    to_verl: ToVerl, make_pointwise_row: Callable[..., Row]
) -> tuple[list[Row], DataConfig, VerlResult]:
    rows = [make_pointwise_row(i) for i in range(12)]
    rows[5]["prompt"] = [
        {"role": "system", "content": "Be concise."},
        {"role": "user", "content": "Sort {a} list, ünïcödé"},
    ]
    # Small batches: indexes and rows must continue correctly across batch boundaries.
    config, result = to_verl("pw.jsonl", rows, batch_rows=4)
    return rows, config, result


def test_pointwise_verl_schema_and_values(
    pointwise_verl: tuple[list[Row], DataConfig, VerlResult],
) -> None:
    """Columns, nested types and every value of the pointwise verl rows."""
    rows, config, result = pointwise_verl
    assert result.train_rows + result.val_rows == len(rows)
    assert result.train_rows > 0 and result.val_rows > 0
    root = result.dir.parent.parent
    (ingest_dir,) = (root / "ingest").iterdir()
    samples = {s.unique_id: s for s in read_samples(ingest_dir / "samples.parquet")}
    assert len(samples) == len(rows)
    (split_dir,) = (root / "split").iterdir()
    members = {name: pq.read_table(split_dir / f"{name}.parquet").column("unique_id").to_pylist()
               for name in ("train", "val")}
    template = PointwiseTemplate(dimension=config.dimension, max_score=config.max_score)
    for name, path, count in (("train", result.train_path, result.train_rows),
                              ("val", result.val_path, result.val_rows)):
        table = pq.read_table(path)
        assert table.column_names == [
            "data_source", "prompt", "ability", "reward_model", "extra_info"
        ]
        assert table.schema.field("prompt").type == pa.list_(
            pa.struct([("role", pa.string()), ("content", pa.string())])
        )
        assert table.num_rows == count
        assert table.column("extra_info").combine_chunks().field("unique_id").to_pylist() == (
            members[name]
        )
        for index, row in enumerate(table.to_pylist()):
            sample = samples[row["extra_info"]["unique_id"]]
            assert row["data_source"] == "helpsteer2"
            assert row["ability"] == "judge-pointwise"
            assert row["reward_model"] == {
                "style": "rule", "ground_truth": sample.output[0].label
            }
            assert list(row["reward_model"]["ground_truth"]) == list(HELPSTEER2_ATTRIBUTES)
            assert row["extra_info"] == {
                "unique_id": sample.unique_id, "split": name, "index": index,
                "dimension": "helpfulness",
            }
            assert len(row["prompt"]) == 1 and row["prompt"][0]["role"] == "user"
            query = sample.input[0].content if len(sample.input) == 1 else (
                "\n\n".join(f"{m.role.capitalize()}: {m.content}" for m in sample.input)
            )
            assert row["prompt"][0]["content"] == template.render(
                query, sample.output[0].content
            )


def test_a_split_without_samples_gets_an_empty_verl_file(
    to_verl: ToVerl, make_pointwise_row: Callable[..., Row]
) -> None:
    """One prompt group: val is empty, and its verl file has the train file's schema."""
    rows = [make_pointwise_row(i, prompt="The only prompt") for i in range(3)]
    _, result = to_verl("one.jsonl", rows)
    assert (result.train_rows, result.val_rows) == (3, 0)
    train, val = pq.read_table(result.train_path), pq.read_table(result.val_path)
    assert val.num_rows == 0
    assert val.schema.equals(train.schema)


def test_verl_prompt_renders_through_a_real_chat_template(
    pointwise_verl: tuple[list[Row], DataConfig, VerlResult],
    tokenizer: PreTrainedTokenizerFast,
) -> None:
    """apply_chat_template renders the row's prompt with query and response, and the
    tokenised prompt decodes back to the same text."""
    rows, _, result = pointwise_verl
    table = pq.read_table(result.train_path).to_pylist() + pq.read_table(
        result.val_path).to_pylist()
    by_prompt_text = {r["prompt"]: r for r in rows if isinstance(r["prompt"], str)}
    checked = 0
    for row in table:
        text = tokenizer.apply_chat_template(row["prompt"], tokenize=False,
                                             add_generation_prompt=True)
        assert text.startswith("<|im_start|>user\nEvaluate the helpfulness")
        assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
        content = row["prompt"][0]["content"]
        source_rows = [r for q, r in by_prompt_text.items() if q in content]
        if source_rows:
            (source,) = source_rows
            assert source["prompt"] in text and source["response"] in text
            checked += 1
        else:
            assert "Sort {a} list, ünïcödé" in text and "System: Be concise." in text
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 2
        assert ids.count(tokenizer.eos_token_id) == 1
        assert tokenizer.decode(ids) == text
        assert tokenizer.decode(ids, skip_special_tokens=True) == text.replace(
            "<|im_start|>", "").replace("<|im_end|>", "")
        tokens = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True)
        assert tokens == ids
    assert checked == len(rows) - 1


def test_pairwise_verl_ground_truth(
    to_verl: ToVerl, make_preference_row: Callable[..., Row]
) -> None:
    """Pairwise rows: the winner position and strength as ground truth, both orders."""
    rows = [make_preference_row(i, strength) for i, strength in enumerate([-2, 3, 0, -1, 1, 0])]
    _, result = to_verl("pairs.jsonl", rows, converter="helpsteer2_pairwise")
    table = pq.read_table(result.train_path).to_pylist() + pq.read_table(
        result.val_path).to_pylist()
    assert len(table) == 2 * len(rows)
    template = PairwiseTemplate()
    seen = set()
    for row in table:
        source = next(r for r in rows if r["prompt"] in row["prompt"][0]["content"])
        order = row["extra_info"]["unique_id"][-2:]
        strength = source["preference_strength"]
        first_wins = strength < 0 if order == "ab" else strength > 0
        expected = "tie" if strength == 0 else "A" if first_wins else "B"
        assert row["reward_model"] == {
            "style": "rule", "ground_truth": {"preference": expected, "strength": abs(strength)}
        }
        assert row["ability"] == "judge-pairwise"
        assert row["extra_info"]["dimension"] == "preference"
        first, second = (source["response_1"], source["response_2"])[:: 1 if order == "ab" else -1]
        assert row["prompt"][0]["content"] == template.render(source["prompt"], first, second)
        seen.add((source["prompt"], order))
    assert len(seen) == 2 * len(rows)
    by_uid = {row["extra_info"]["unique_id"]: row["extra_info"] for row in table}
    for uid, info in by_uid.items():
        if uid.endswith("-ab"):
            other = by_uid[uid[:-3] + "-ba"]
            assert other["prompt_id"] == info["prompt_id"]
            assert (other["first_id"], other["second_id"]) == (info["second_id"],
                                                               info["first_id"])
    assert len({info["prompt_id"] for info in by_uid.values()}) == len(rows)


def test_multi_attribute_verl_rows_ask_for_every_dimension(
    to_verl: ToVerl, make_pointwise_row: Callable[..., Row]
) -> None:
    rows = [make_pointwise_row(i) for i in range(8)]
    config, result = to_verl("multi.jsonl", rows, dimensions=("helpfulness", "verbosity"))
    template = data_stage.template_for(config)
    assert template == MultiAttributeTemplate(("helpfulness", "verbosity"))
    for row in pq.read_table(result.train_path).to_pylist():
        assert row["extra_info"]["dimension"] == "helpfulness+verbosity"
        assert "<helpfulness>X</helpfulness>\n<verbosity>X</verbosity>" in (
            row["prompt"][0]["content"])
        assert set(HELPSTEER2_ATTRIBUTES) <= set(row["reward_model"]["ground_truth"])


# --- templates: render / render_batch agree, parsers are strict ---

ODD_QUERIES = ["Format {0} and {name} and {{x}} and %s", "}{", "unicode ✓ 你好\n\ttab", ""]


@pytest.mark.parametrize("dimension", ["helpfulness", "verbosity", "made_up"])
def test_pointwise_render_batch_equals_render(dimension: str) -> None:
    """The vectorised renderer gives the per-row renderer's text, braces included."""
    template = PointwiseTemplate(dimension=dimension, max_score=4)
    responses = [f"response {{{i}}} ✓" for i in range(len(ODD_QUERIES))]
    batch = template.render_batch(pa.array(ODD_QUERIES), pa.array(responses)).to_pylist()
    assert batch == [template.render(q, r) for q, r in zip(ODD_QUERIES, responses, strict=True)]
    assert "Format {0} and {name} and {{x}} and %s" in batch[0]
    assert f"Evaluate the {dimension} of this response on a scale of 0-4." in batch[0]


def test_pairwise_render_batch_equals_render() -> None:
    """Same for the pairwise template, with A and B in their places."""
    template = PairwiseTemplate()
    first = [f"A{{{i}}}" for i in range(len(ODD_QUERIES))]
    second = [f"B{{{i}}}" for i in range(len(ODD_QUERIES))]
    batch = template.render_batch(pa.array(ODD_QUERIES), pa.array(first), pa.array(second))
    assert batch.to_pylist() == [
        template.render(q, a, b) for q, a, b in zip(ODD_QUERIES, first, second, strict=True)
    ]
    text = batch.to_pylist()[0]
    assert text.index("Response A: A{0}") < text.index("Response B: B{0}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<score>3</score>", 3),
        ("<score>0</score>", 0),
        ("<score>4</score>", 4),
        ("Reasoning... <score> 2 </score>", 2),
        ("<SCORE>1</SCORE>", 1),
        ("<score>1</score> on reflection <score>3</score>", 3),
        ("<score>3</score> then <score>9</score>", None),
        ("<score>4.0</score>", None),
        ("<score>-1</score>", None),
        ("<score>7</score>", None),
        ("<score>three</score>", None),
        ("<score></score>", None),
        ("3", None),
        ("score: 3", None),
        ("<score>3", None),
        ("", None),
    ],
)
def test_pointwise_parse(text: str, expected: int | None) -> None:
    """Only an integer in 0..max_score in the last <score> tag counts."""
    assert PointwiseTemplate(max_score=4).parse(text) == expected


def test_pointwise_parse_follows_max_score() -> None:
    """The accepted range is the template's own."""
    assert PointwiseTemplate(max_score=10).parse("<score>7</score>") == 7
    assert PointwiseTemplate(max_score=10).parse("<score>11</score>") is None


def test_parse_is_fast_on_adversarial_output() -> None:
    """Megabytes of unclosed tags parse quickly (no catastrophic backtracking)."""
    import time

    text = "<score>" * 200_000 + "1" * 100_000
    start = time.perf_counter()
    assert PointwiseTemplate().parse(text) is None
    assert PairwiseTemplate().parse("<preference>" * 200_000) is None
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    ("text", "allow_tie", "expected"),
    [
        ("<preference>A</preference>", True, "A"),
        ("<preference>b</preference>", True, "B"),
        ("<preference> tie </preference>", True, "tie"),
        ("<preference>TIE</preference>", True, "tie"),
        ("<preference>tie</preference>", False, None),
        ("<preference>A</preference> no wait <preference>B</preference>", True, "B"),
        ("<preference>C</preference>", True, None),
        ("<preference>A or B</preference>", True, None),
        ("A", True, None),
        ("", True, None),
    ],
)
def test_pairwise_parse(text: str, allow_tie: bool, expected: str | None) -> None:
    """A, B or (when allowed) tie from the last <preference> tag."""
    assert PairwiseTemplate(allow_tie=allow_tie).parse(text) == expected


def test_chosen_rejected_pairs_become_both_orders_with_the_chosen_preferred(
    tmp_path: Path, write_rows: Callable[..., Path], local_config: Callable[..., DataConfig],
) -> None:
    rows = [{"prompt": f"Question {i}?", "chosen": f"good answer {i}", "rejected": f"bad {i}"}
            for i in range(6)]
    rows.append({"prompt": "Question x?", "chosen": "fine", "rejected": ""})
    config = local_config(write_rows("pairs.jsonl", rows), converter="chosen_rejected_pairwise",
                          split=SplitConfig(val_fraction=0.25, seed=3))
    root = tmp_path / "artifacts"
    ingested = data_stage.ingest(fetch(config.source, tmp_path), config, root)
    assert (ingested.sample_rows, ingested.quarantined_rows) == (12, 1)
    quarantined = pq.read_table(ingested.quarantine_path).to_pylist()
    assert quarantined[0]["source_row"] == 6 and quarantined[0]["reason"]

    result = data_stage.to_verl(data_stage.split(ingested, config, root), config, root)
    table = pq.read_table(result.train_path).to_pylist() + pq.read_table(
        result.val_path).to_pylist()
    assert len(table) == 12
    for row in table:
        order = row["extra_info"]["unique_id"][-2:]
        assert row["extra_info"]["unique_id"].startswith("pairs-")
        expected = "A" if order == "ab" else "B"
        assert row["reward_model"]["ground_truth"]["preference"] == expected
        good_first = row["prompt"][0]["content"].index("good answer") < row["prompt"][0][
            "content"].index("bad ")
        assert good_first == (order == "ab")
