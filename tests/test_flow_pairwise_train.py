"""pairwise-train under a real Prefect harness: a real tiny pairwise GRPO job on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tiny_training import TINY_GRPO

from flows.pairwise_train import main, pairwise_train
from flows.pointwise_train import main as pointwise_main
from rm_core.evaluation.pairwise import PairwiseReport
from rm_core.evaluation.report import table_rows

pytestmark = pytest.mark.usefixtures("prefect_harness")


def write_config(path: Path) -> Path:
    config = {
        "name": "tiny-pairs",
        "data": {"source": {"kind": "sample", "name": "helpsteer2_preference"},
                 "converter": "helpsteer2_pairwise",
                 "template": {"answer_prefix": "<preference>"}},
        "training": {"model_path": "tiny-qwen2", "grpo": TINY_GRPO, "save_freq": 2,
                     "test_freq": -1, "val_before_train": False, "wandb": {"enabled": False},
                     # A warm start on the preference answers before GRPO.
                     "sft": {"enabled": True, "epochs": 1, "lr": 3e-3, "save_steps": 100,
                             "bf16": False}},
        "evaluation": {"limit": 8, "n_resamples": 100},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_pairwise_train_trains_and_evaluates_in_both_orders(tmp_path: Path) -> None:
    config = write_config(tmp_path / "pairs.yaml")
    result = pairwise_train(str(config), artifacts_dir=str(tmp_path / "art"))

    assert result.train is not None and result.train.last_step == 2
    # GRPO started from the SFT model, which is judged beside the base model and the steps.
    assert result.train.sft_model is not None
    assert (result.train.sft_model / "model.safetensors").is_file()
    evaluation = result.evaluation
    assert [m.label for m in evaluation.models] == ["base", "sft", "step 2"]
    assert evaluation.model("sft").model_dir == result.train.sft_model
    assert evaluation.metric == "accuracy"
    judged = evaluation.model("step 2").evaluation
    assert isinstance(judged.report, PairwiseReport)
    assert judged.report.consistency.pairs_in_both_orders == 4  # 8 rows = 4 pairs x 2 orders
    assert evaluation.decision is not None and evaluation.decision.incumbent == "base model"
    # a tiny random judge is no better than a coin: the chance bar names it
    assert not evaluation.decision.promote
    assert "chance" in {bar.name for bar in evaluation.decision.bars if not bar.passed}
    assert "| picks A |" in evaluation.report_path.read_text()
    table = table_rows(evaluation.models)
    assert {"accuracy", "order_flip_rate", "first_position_rate"} <= set(table[2])
    assert not {"mae_parsed", "pearson_parsed", "mean_reward"} & set(table[2])


def test_each_flow_refuses_the_other_kind_of_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = write_config(tmp_path / "pairs.yaml")
    assert pointwise_main([str(pairs), "--artifacts-dir", str(tmp_path / "art")]) == 1
    assert "describes a pairwise judge: run pairwise-train" in capsys.readouterr().err
    assert main(["configs/pointwise_helpsteer2_sample.yaml", "--artifacts-dir",
                 str(tmp_path / "art")]) == 1
    assert "describes a pointwise judge" in capsys.readouterr().err
