"""Bradley-Terry reward models: a split's two answer orders become one training pair (ties
and too-long pairs left out and counted), and a real tiny job on Ray learns a trivially
separable pair set, resuming from its last checkpoint after its driver is killed, then
judges the verl val rows above chance, as the base model with a fresh head is judged."""

from __future__ import annotations

import json
import random
from pathlib import Path
from uuid import uuid4

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from killed_jobs import DEADLINE_S, METADATA, killed_then_resumed

from rm_core.artifacts import atomic_dir, finish, is_complete, read_result
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.cluster.resources import JobResources
from rm_core.cluster.stage_jobs import run_stage_job
from rm_core.config import DataConfig, TemplateConfig
from rm_core.data.schema import Answer, ChatMessage, DataSample, samples_to_table, write_samples
from rm_core.data.verl_rows import verl_rows
from rm_core.embedded_models import build_tiny_qwen2
from rm_core.evaluation.bt_scoring import BT_FILE, score_into
from rm_core.evaluation.runner import EvaluationError
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.evaluation.stage import read_evaluated
from rm_core.judge.templates import PairwiseTemplate
from rm_core.model_jobs import bt_judge_job, bt_train_job
from rm_core.training.bt import REWARD_STATS_FILE
from rm_core.training.bt_pairs import BtDataError, reward_rows
from rm_core.training.bt_spec import BtSpec
from rm_core.training.monitor import iter_metrics

# Big steps and frequent checkpoints: the tiny model separates the pairs within a few
# dozen steps, and a kill lands between two checkpoints.
TINY_BT = {"epochs": 3, "lr": 3e-3, "batch_size": 4, "warmup_steps": 0, "save_steps": 4,
           "bf16": False, "max_length": 256}
TRAIN_PAIRS, VAL_PAIRS = 32, 8
WORDS = ("the", "answer", "is", "to", "use", "a", "list", "and", "sort", "it", "with",
         "python", "then", "print", "result")


def _sample(uid: str, prompt: str, first: str, second: str, first_pref: str,
            strength: int) -> DataSample:
    second_pref = {"chosen": "rejected", "rejected": "chosen", "tie": "tie"}[first_pref]
    return DataSample(
        unique_id=uid, input=[ChatMessage(role="user", content=prompt)],
        output=[Answer(content=first, label={"preference": first_pref, "strength": strength}),
                Answer(content=second, label={"preference": second_pref,
                                              "strength": strength})],
        source="test", task_category="pairwise")


def _both_orders(index: int, chosen: str, rejected: str, strength: int = 2,
                 tie: bool = False) -> list[DataSample]:
    prompt = f"Question {index}: how do I sort a list?"
    first = "tie" if tie else "chosen"
    back = "tie" if tie else "rejected"
    return [_sample(f"pair{index}-ab", prompt, chosen, rejected, first, strength),
            _sample(f"pair{index}-ba", prompt, rejected, chosen, back, strength)]


def _separable(count: int, seed: int) -> list[DataSample]:
    """Pairs of a well-formed answer (chosen) and gibberish (rejected), both orders."""
    rng = random.Random(seed)
    samples = []
    for index in range(seed * 1000, seed * 1000 + count):
        words = " ".join(rng.choice(WORDS) for _ in range(8))
        noise = "".join(rng.choice("qxzjvkw#%&") for _ in range(24))
        samples += _both_orders(index, f"Sure: {words}.", noise)
    return samples


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(build_tiny_qwen2(
        tmp_path_factory.mktemp("bt-tokenizer") / "tiny-qwen2"))


def test_both_orders_make_one_pair_ties_and_too_long_pairs_are_counted(
    tmp_path: Path, tokenizer
) -> None:
    samples = (_both_orders(1, "good", "bad", strength=3) + _both_orders(2, "same", "same2",
                                                                        tie=True)
               + _both_orders(3, "long " * 300, "short"))
    path = tmp_path / "train.parquet"
    write_samples(samples, path)
    rows, counts = reward_rows(path, BtSpec(max_length=128, margin=True, margin_scale=0.5),
                               tokenizer)
    assert (counts.samples, counts.pairs, counts.ties_skipped, counts.too_long,
            counts.trained) == (6, 3, 1, 1, 1)
    [row] = rows
    assert row["chosen"][-1] == {"role": "assistant", "content": "good"}
    assert row["rejected"][-1] == {"role": "assistant", "content": "bad"}
    assert row["chosen"][0] == {"role": "user", "content": "Question 1: how do I sort a list?"}
    assert row["margin"] == 1.5
    rows, _ = reward_rows(path, BtSpec(max_length=128), tokenizer)
    assert "margin" not in rows[0]


def test_a_pointwise_split_is_refused_naming_the_file_and_row(tmp_path: Path,
                                                              tokenizer) -> None:
    path = tmp_path / "pointwise.parquet"
    write_samples([DataSample(unique_id="p1", input=[ChatMessage(role="user", content="q")],
                              output=[Answer(content="a", label={"helpfulness": 3})],
                              source="test", task_category="pointwise")], path)
    with pytest.raises(BtDataError, match=r"pointwise.parquet row 0 \(p1\) is not a pairwise"):
        reward_rows(path, BtSpec(), tokenizer)


def test_the_split_stage_member_list_reads_the_samples_its_manifest_names(
    tmp_path: Path, tokenizer
) -> None:
    write_samples(_separable(3, seed=1), tmp_path / "samples.parquet")
    with atomic_dir(tmp_path / "split") as building:
        pq.write_table(pa.table({"sample_index": [4, 5], "unique_id": ["x", "y"]}),
                       building / "train.parquet")
        finish(building, {"samples": str(tmp_path / "samples.parquet")})
    rows, counts = reward_rows(tmp_path / "split" / "train.parquet", BtSpec(), tokenizer)
    assert (counts.samples, counts.trained) == (2, 1)
    assert rows[0]["chosen"][0]["content"] == "Question 1002: how do I sort a list?"


@pytest.fixture(scope="module")
def pair_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train and val DataSample splits, the verl pairwise val rows, and a tiny model."""
    root = tmp_path_factory.mktemp("bt")
    write_samples(_separable(TRAIN_PAIRS, seed=1), root / "train.parquet")
    val = _separable(VAL_PAIRS, seed=2)
    write_samples(val, root / "val.parquet")
    template = PairwiseTemplate(answer_prefix="<preference>")
    pq.write_table(verl_rows(samples_to_table(val), "val", template), root / "verl_val.parquet")
    return {"root": root, "train": root / "train.parquet", "val": root / "val.parquet",
            "verl_val": root / "verl_val.parquet", "model": build_tiny_qwen2(root / "tiny")}


def test_a_tiny_bt_job_resumes_after_its_driver_is_killed_and_judges_above_chance(
    cluster: LocalRayCluster, pair_data: dict[str, Path]
) -> None:
    root, data = pair_data["root"], DataConfig(template=TemplateConfig(
        answer_prefix="<preference>"))
    out = root / "bt-model"
    job = bt_train_job(str(pair_data["model"]), pair_data["train"], data, BtSpec(**TINY_BT),
                       out, root / "jobs" / "bt", JobResources(num_cpus=1))
    done, lines, _, _ = killed_then_resumed(cluster, job, out)
    last = list(iter_metrics(lines))[-1]
    assert done["steps"] == TINY_BT["epochs"] * TRAIN_PAIRS // TINY_BT["batch_size"]
    assert {"bt/loss", "bt/accuracy", "bt/margin", "bt/chosen_reward",
            "bt/rejected_reward"} <= set(last), last
    assert (done["pairs"], done["ties_skipped"], done["too_long"]) == (TRAIN_PAIRS, 0, 0)
    stats = json.loads((out / REWARD_STATS_FILE).read_text("utf-8"))
    assert stats["mean"] == pytest.approx(done["reward_mean"]) and stats["n"] == 2 * TRAIN_PAIRS
    assert is_complete(out) and read_result(out)["steps"] == done["steps"]
    assert not (job.work_dir / "ray_train").exists()  # checkpoints cleaned once done

    judged = {"trained": (out, root / "eval-trained"),
              "base": (pair_data["model"], root / "eval-base")}
    settings = EvaluationSettings(n_resamples=200)
    judge = bt_judge_job(list(judged.values()), pair_data["verl_val"], pair_data["val"], data,
                         settings, root / "jobs" / "judge", JobResources(num_cpus=1))
    run_stage_job(cluster.client(), judge, f"bt-judge-{uuid4().hex[:8]}", lambda _: None,
                  METADATA, timeout_s=DEADLINE_S)
    trained, base = (read_evaluated(name, "model", None, model, folder)
                     for name, (model, folder) in judged.items())
    assert trained.evaluation.backend == "bradley-terry" and trained.evaluation.n == 2 * VAL_PAIRS
    # A scalar reward never flips with the order the pair is shown in.
    assert trained.metric("order_flip_rate") == 0.0
    assert trained.metric("accuracy") > 0.5, trained.evaluation.report
    assert base.evaluation.n == trained.evaluation.n  # the "before training" reference
    scores = json.loads((judged["trained"][1] / BT_FILE).read_text("utf-8"))
    assert scores["margin_quantiles"]["p50"] > 0 and not scores["fresh_head"]
    assert scores["train_reward_stats"]["n"] == 2 * TRAIN_PAIRS
    assert json.loads((judged["base"][1] / BT_FILE).read_text("utf-8"))["fresh_head"]


def test_val_rows_of_another_split_are_refused_naming_both_files(
    pair_data: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(EvaluationError, match=r"verl_val.parquet have no sample in .*train"):
        score_into(pair_data["model"], pair_data["verl_val"], pair_data["train"],
                   EvaluationSettings(), tmp_path / "out")
    assert not (tmp_path / "out").exists()
