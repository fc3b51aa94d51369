"""evaluate-checkpoints under a real Prefect harness: a real tiny model on the sample's val rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from prefect_events import artifacts_of

from flows.evaluate_checkpoints import evaluate_checkpoints, main
from rm_core.embedded_models import build_tiny_qwen2
from rm_core.evaluation.registry import load_champion, read_decisions

pytestmark = pytest.mark.usefixtures("prefect_harness")

FAST_EVALUATION = {"limit": 8, "n_resamples": 100, "max_new_tokens": 8}


# Only the champion comparison decides: a tiny random judge beats no constant answer.
CHAMPION_ONLY = {"beat_constants": False, "positive_spearman": False}


def write_config(path: Path, wandb: bool = False, include_base: bool = True,
                 gate: dict[str, bool] | None = None) -> Path:
    config = {
        "name": "tiny-eval",
        "data": {"template": {"answer_prefix": "<score>"}},
        "evaluation": {**FAST_EVALUATION, "include_base": include_base, "gate": gate or {}},
        "training": {"model_path": "tiny-qwen2", "wandb": {"enabled": wandb}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2(tmp_path_factory.mktemp("eval-flow") / "challenger")


def test_a_model_folder_is_judged_against_the_base_model_with_artifacts(
    tmp_path: Path, model: Path
) -> None:
    config = write_config(tmp_path / "eval.yaml", wandb=True)
    state = evaluate_checkpoints(str(config), model_dir=str(model),
                                 artifacts_dir=str(tmp_path / "art"), return_state=True)

    assert state.is_completed()
    summary = state.result()
    assert [m.label for m in summary.models] == ["base", "challenger"]
    assert summary.best == "challenger" and summary.decision is None
    assert all(m.evaluation.n == 8 for m in summary.models)
    report = summary.report_path.read_text()
    assert "| base |" in report and "| challenger |" in report and "(reference)" in report
    assert "| TF-IDF + ridge (reference) |" in report and "## Collapse signs" in report
    assert all(path.is_file() and path.stat().st_size > 1000 for path in summary.plots.values())
    artifacts = artifacts_of(state.state_details.flow_run_id)
    assert {"evaluation-report", "evaluation-metrics"} <= set(artifacts)
    table = json.loads(artifacts["evaluation-metrics"])
    names = [row["model"] for row in table]
    assert names[:2] == ["base", "challenger"] and names[2].startswith("always ")
    assert names[3:] == ["TF-IDF + ridge (reference)"]
    assert all("top share" in row for row in table)
    assert list((summary.report_path.parent / "wandb").rglob("*.wandb")), "no offline W&B run"


def test_promotion_the_base_model_then_the_champion_is_the_bar(
    tmp_path: Path, model: Path
) -> None:
    art = str(tmp_path / "art")
    registry = tmp_path / "art" / "registry" / "tiny-eval"
    # the challenger is the base model's twin: no better than the base, not promoted
    config = write_config(tmp_path / "eval.yaml")
    no_better = evaluate_checkpoints(str(config), model_dir=str(model), promote=True,
                                     artifacts_dir=art)
    assert no_better.decision is not None and not no_better.decision.promote
    assert no_better.decision.incumbent == "base model" and no_better.decision.delta == 0.0
    failed = {bar.name for bar in no_better.decision.bars if not bar.passed}
    assert {"incumbent", "constants", "spearman"} <= failed
    report = no_better.report_path.read_text()
    assert "not promoted, no champion yet" in report and "| **failed** |" in report
    assert load_champion(registry) is None

    config = write_config(tmp_path / "eval.yaml", include_base=False, gate=CHAMPION_ONLY)
    first = evaluate_checkpoints(str(config), model_dir=str(model), promote=True,
                                 artifacts_dir=art)
    assert first.decision is not None and first.decision.promote
    assert load_champion(registry) is not None

    second = evaluate_checkpoints(str(config), model_dir=str(model), promote=True,
                                  artifacts_dir=art)
    assert [m.label for m in second.models][-1] == "champion"
    assert second.decision is not None and not second.decision.promote
    assert second.decision.delta == 0.0
    assert [d["promote"] for d in read_decisions(registry)] == [False, True, False]


def test_nothing_to_evaluate_and_empty_run_dirs_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "eval.yaml")
    art = ["--artifacts-dir", str(tmp_path / "art")]
    assert main([str(config), *art]) == 1
    assert "nothing to evaluate" in capsys.readouterr().err

    empty = tmp_path / "run"
    (empty / "checkpoints").mkdir(parents=True)
    assert main([str(config), "--run-dir", str(empty), *art]) == 1
    assert f"no global_step_N checkpoints in {empty / 'checkpoints'}" in capsys.readouterr().err
