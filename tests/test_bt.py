"""Bradley-Terry reward models: a split's two answer orders become one training pair (ties
and too-long pairs left out and counted), and a real tiny job on Ray learns a trivially
separable pair set, resuming from its last checkpoint after its driver is killed, then
judges the verl val rows better than the base model with a fresh head."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from uuid import uuid4

import pyarrow.parquet as pq
import pytest
from test_sft import DEADLINE_S, _kill_driver_after_checkpoint

from rm_core.artifacts import is_complete, read_result
from rm_core.cluster.jobs import JobFailed
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.cluster.resources import JobResources
from rm_core.cluster.stage_jobs import run_stage_job
from rm_core.config import DataConfig, TemplateConfig
from rm_core.data.schema import Answer, ChatMessage, DataSample, samples_to_table, write_samples
from rm_core.data.verl_rows import verl_rows
from rm_core.embedded_models import build_tiny_qwen2
from rm_core.evaluation.bt_scoring import BT_FILE
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
TINY_BT = {"epochs": 4, "lr": 3e-3, "batch_size": 4, "warmup_steps": 0, "save_steps": 4,
           "bf16": False, "max_length": 256}
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


@pytest.fixture(scope="module")
def pair_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train and val DataSample splits, the verl pairwise val rows, and a tiny model."""
    root = tmp_path_factory.mktemp("bt")
    write_samples(_separable(48, seed=1), root / "train.parquet")
    val = _separable(12, seed=2)
    write_samples(val, root / "val.parquet")
    template = PairwiseTemplate(answer_prefix="<preference>")
    pq.write_table(verl_rows(samples_to_table(val), "val", template), root / "verl_val.parquet")
    return {"root": root, "train": root / "train.parquet", "val": root / "val.parquet",
            "verl_val": root / "verl_val.parquet", "model": build_tiny_qwen2(root / "tiny")}


def test_a_tiny_bt_job_resumes_after_its_driver_is_killed_and_beats_the_fresh_head(
    cluster: LocalRayCluster, pair_data: dict[str, Path]
) -> None:
    root, data = pair_data["root"], DataConfig(template=TemplateConfig(
        answer_prefix="<preference>"))
    out = root / "bt-model"
    job = bt_train_job(str(pair_data["model"]), pair_data["train"], data, BtSpec(**TINY_BT),
                       out, root / "jobs" / "bt", JobResources(num_cpus=1))
    client, killed = cluster.client(), []
    killer = threading.Thread(target=_kill_driver_after_checkpoint,
                              args=(cluster, job.work_dir / "ray_train", killed), daemon=True)
    killer.start()
    first: list[str] = []
    with pytest.raises(JobFailed):
        run_stage_job(client, job, f"bt-{uuid4().hex[:8]}", first.extend,
                      {"tool": "rm-pipeline-tests"}, timeout_s=DEADLINE_S)
    assert killed, "the driver was never killed"
    assert not is_complete(out)

    lines: list[str] = []
    done = run_stage_job(client, job, f"bt-{uuid4().hex[:8]}", lines.extend,
                         {"tool": "rm-pipeline-tests"}, timeout_s=DEADLINE_S).result
    log = "\n".join(lines)
    assert "resuming from" in log, log[-3000:]
    first_steps = [int(metrics["step"]) for metrics in iter_metrics(first)]
    resumed = list(iter_metrics(lines))
    assert int(resumed[0]["step"]) > first_steps[0], (first_steps, resumed[0])
    assert done["steps"] == int(resumed[-1]["step"]) == 4 * 48 // 4
    assert {"bt/loss", "bt/accuracy", "bt/margin", "bt/chosen_reward",
            "bt/rejected_reward"} <= set(resumed[-1]), resumed[-1]
    assert (done["pairs"], done["ties_skipped"], done["too_long"]) == (48, 0, 0)
    stats = json.loads((out / REWARD_STATS_FILE).read_text("utf-8"))
    assert stats["mean"] == pytest.approx(done["reward_mean"]) and stats["n"] == 96
    assert is_complete(out) and read_result(out)["steps"] == done["steps"]
    assert not (job.work_dir / "ray_train").exists()  # checkpoints cleaned once done

    judged = {"trained": (out, root / "eval-trained"),
              "base": (pair_data["model"], root / "eval-base")}
    settings = EvaluationSettings(n_resamples=200)
    run_stage_job(client, bt_judge_job(list(judged.values()), pair_data["verl_val"],
                                       pair_data["val"], data, settings, root / "jobs" / "judge",
                                       JobResources(num_cpus=1)),
                  f"bt-judge-{uuid4().hex[:8]}", lambda _: None,
                  {"tool": "rm-pipeline-tests"}, timeout_s=DEADLINE_S)
    trained, base = (read_evaluated(name, "model", None, model, folder)
                     for name, (model, folder) in judged.items())
    assert trained.evaluation.backend == "bradley-terry" and trained.evaluation.n == 24
    # A scalar reward never flips with the order the pair is shown in.
    assert trained.metric("order_flip_rate") == 0.0
    assert trained.metric("accuracy") > 0.5, trained.evaluation.report
    assert trained.metric("accuracy") > base.metric("accuracy")
    scores = json.loads((judged["trained"][1] / BT_FILE).read_text("utf-8"))
    assert scores["margin_quantiles"]["p50"] > 0 and not scores["fresh_head"]
    assert scores["train_reward_stats"]["n"] == 96
    assert json.loads((judged["base"][1] / BT_FILE).read_text("utf-8"))["fresh_head"]
