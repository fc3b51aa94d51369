"""The evaluation stage's own logic: cached judgements, the best candidate, the report files."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

from rm_core.embedded_models import build_tiny_qwen2
from rm_core.evaluation import promotion, report, stage, tracking
from rm_core.evaluation.pairwise import pairwise_report
from rm_core.evaluation.pointwise import evaluate_pointwise
from rm_core.evaluation.registry import load_champion
from rm_core.evaluation.runner import JudgeEvaluation
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.judge.templates import PointwiseTemplate

TRUE = [0, 1, 2, 3, 4, 2]
TEMPLATE = PointwiseTemplate(dimension="helpfulness", max_score=4, answer_prefix="<score>")


def judged(label: str, kind: str, step: int | None, predictions: list[int]) -> stage.EvaluatedModel:
    evaluation = JudgeEvaluation(
        model=label, backend="transformers", n=len(TRUE),
        unique_ids=[f"row-{i}" for i in range(len(TRUE))], true=TRUE, predictions=predictions,
        completions=["3</score>"], seconds=1.0,
        report=evaluate_pointwise(predictions, TRUE, n_resamples=50),
    )  # fmt: skip
    return stage.EvaluatedModel(label=label, kind=kind, step=step, model_dir=Path(label),
                                evaluation=evaluation)


def test_best_candidate_by_metric_earliest_step_on_a_tie_base_and_champion_excluded() -> None:
    models = [
        judged("base", "base", 0, TRUE),  # perfect, but the base is not a candidate
        judged("step 1", "checkpoint", 1, [0, 1, 2, 3, 4, -1]),
        judged("step 2", "checkpoint", 2, [1, 1, 2, 3, 4, -1]),
        judged("step 3", "checkpoint", 3, [0, 1, 2, 3, 4, -1]),
        judged("champion", "champion", None, TRUE),
    ]
    assert stage.best_candidate(models, "mean_reward").label == "step 1"
    assert stage.best_candidate(models, "mae_parsed").label == "step 1"  # lower is better
    assert stage.best_candidate(models[:1], "mean_reward") is None


def test_a_candidate_without_parsed_answers_never_wins_on_a_parsed_metric() -> None:
    models = [judged("step 1", "checkpoint", 1, [-1] * 6),
              judged("step 2", "checkpoint", 2, [4, 4, 4, 4, 4, 4])]
    assert math.isnan(models[0].metric("mae_parsed"))
    assert stage.best_candidate(models, "mae_parsed").label == "step 2"


def test_a_judgement_is_computed_once_per_model_rows_and_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = build_tiny_qwen2(tmp_path / "tiny")
    val = tmp_path / "val.parquet"
    val.write_bytes(b"rows")
    calls: list[Any] = []

    def fake_evaluate(*args: Any) -> JudgeEvaluation:
        calls.append(args)
        return judged("tiny", "model", None, TRUE).evaluation

    monkeypatch.setattr(stage, "evaluate_model", fake_evaluate)
    settings = EvaluationSettings(limit=6)
    first = stage.evaluate_cached("tiny", "model", None, model, val, TEMPLATE, settings, 8,
                                  tmp_path / "art")
    again = stage.evaluate_cached("tiny", "model", None, model, val, TEMPLATE, settings, 8,
                                  tmp_path / "art")
    assert len(calls) == 1 and first == again
    stage.evaluate_cached("tiny", "model", None, model, val, TEMPLATE,
                          settings.model_copy(update={"temperature": 0.5}), 8, tmp_path / "art")
    val.write_bytes(b"other rows")
    stage.evaluate_cached("tiny", "model", None, model, val, TEMPLATE, settings, 8,
                          tmp_path / "art")
    assert len(calls) == 3


def test_a_step_folder_without_actor_names_the_folder(tmp_path: Path) -> None:
    step = tmp_path / "global_step_3"
    step.mkdir()
    with pytest.raises(stage.CheckpointError, match=str(step)):
        stage.merged_model(step, tmp_path / "art")


def test_report_files_table_and_reference_row(tmp_path: Path) -> None:
    models = [judged("base", "base", 0, [-1] * 6),
              judged("step 2", "checkpoint", 2, [0, 1, 2, 3, 3, 2]),
              judged("champion", "champion", None, [0, 0, 2, 3, 4, 2])]
    metrics = [{"step": 1, "reward mean": 0.2}, {"step": 2, "reward mean": 0.4}]
    summary = report.write("demo", "mean_reward", models, models[1], None, metrics, tmp_path)

    assert set(summary.plots) == {"mean_reward per step", "confusion matrix of step 2",
                                  "training reward"}
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in summary.plots.values())
    text = summary.report_path.read_text()
    assert "| step 2 | 0.9" in text and "| always 2 (reference) |" in text
    assert "| 4 | 0 | 0 | 0 | 1 | 0 | 0 |" in text  # true 4 predicted 3
    rows = report.table_rows(models)
    assert rows[0]["mae_parsed"] is None and rows[1]["accuracy"] == pytest.approx(5 / 6, abs=1e-4)
    assert (tmp_path / report.SUMMARY_FILE).is_file()


def pairwise_judged(label: str, kind: str, step: int | None,
                    predictions: list[int]) -> stage.EvaluatedModel:
    """Three pairs judged in both orders (truth A then B), verdicts coded A=0, B=1, tie=2."""
    rows = [{"extra_info": {"unique_id": f"hs2-p{i}-{order}"},
             "reward_model": {"ground_truth": {"preference": truth}}}
            for i in range(3) for order, truth in (("ab", "A"), ("ba", "B"))]
    evaluation = JudgeEvaluation(
        model=label, backend="transformers", n=6, unique_ids=[f"p{i}" for i in range(6)],
        true=[0, 1] * 3, predictions=predictions, completions=["A</preference>"], seconds=1.0,
        report=pairwise_report(rows, predictions, EvaluationSettings(n_resamples=50)),
    )  # fmt: skip
    return stage.EvaluatedModel(label=label, kind=kind, step=step, model_dir=Path(label),
                                evaluation=evaluation)


# p0 flips with the order (A both times), p1 and p2 are consistent and right
FLIPPING = [0, 0, 0, 1, 0, 1]
SCORE_METRICS = ("mae", "rmse", "mean_reward", "mean reward", "pearson", "spearman", "within")
PAIRWISE_FIGURES = {"accuracy", "accuracy_without_tie_labels", "parse_failure_rate",
                    "predicted_tie_rate", "first_position_rate", "order_flip_rate",
                    "symmetry_conflict_rate", "transitivity_conflict_rate", "cycle_rate"}
COLLAPSE_SIGNS = {"top answer", "top share", "entropy bits", "parse rate", "collapsed"}


def test_pairwise_report_shows_position_bias_and_conflicts(tmp_path: Path) -> None:
    model = pairwise_judged("step 1", "checkpoint", 1, FLIPPING)

    text = report.markdown(report.write("pairs", "accuracy", [model], model, None, [], tmp_path))
    assert "| picks A |" in text
    assert "| step 1 | " in text and "0.333 of 3" in text  # one of three pairs flips
    assert "(reference)" not in text
    assert "| true \\ predicted | A | B | tie | unparsed |" in text
    assert "| B | 1 | 2 | 0 | 0 |" in text  # true B: one verdict A, two B


def test_a_pairwise_judge_publishes_preference_figures_and_no_score_metric(
    tmp_path: Path
) -> None:
    models = [pairwise_judged("base", "base", 0, [0] * 6),
              pairwise_judged("step 1", "checkpoint", 1, FLIPPING)]
    best = stage.best_candidate(models, "accuracy")
    summary = report.write("pairs", "accuracy", models, best, None, [], tmp_path)

    table = report.table_rows(models)
    assert set(table[1]) == {"model", "n", "parsed", "seconds", "accuracy ci", *PAIRWISE_FIGURES,
                             *COLLAPSE_SIGNS}
    assert table[1]["accuracy"] == pytest.approx(5 / 6, abs=1e-4)
    assert table[1]["first_position_rate"] == pytest.approx(4 / 6, abs=1e-4)
    assert table[1]["order_flip_rate"] == pytest.approx(1 / 3, abs=1e-4)
    steps = tracking.wandb_steps(summary)
    assert [step for step, _ in steps] == [0, 1]
    assert all(set(values) == {f"eval/{name}" for name in PAIRWISE_FIGURES}
               for _, values in steps)
    assert steps[1][1]["eval/accuracy"] == pytest.approx(5 / 6)
    saved = json.loads((tmp_path / report.SUMMARY_FILE).read_text())
    assert saved["models"][1]["evaluation"]["report"]["kind"] == "pairwise"
    log_line = report.describe(best)
    assert log_line.startswith("step 1: accuracy 0.833") and "order flips 33%" in log_line
    published = [json.dumps(table), json.dumps(steps), json.dumps(saved), log_line,
                 summary.report_path.read_text()]
    for text in published:
        assert not any(name in text.lower() for name in SCORE_METRICS), text


def test_a_pairwise_judge_is_promoted_by_preference_accuracy_over_the_base_model(
    tmp_path: Path
) -> None:
    base = pairwise_judged("base", "base", 0, [0] * 6)  # always A: half right
    model_dir = tmp_path / "step-1"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    step = pairwise_judged("step 1", "checkpoint", 1, [0, 1] * 3).model_copy(
        update={"model_dir": model_dir})
    registry = tmp_path / "registry"

    decision = promotion.compare_and_promote(registry, step, None, None, "accuracy", "fp",
                                             "run-1", {"train_key": "k"}, base)
    assert decision.incumbent == "base model" and decision.promote
    assert (decision.champion_value, decision.challenger_value) == (0.5, 1.0)
    champion = load_champion(registry)
    assert champion is not None and set(champion.metrics) == PAIRWISE_FIGURES


def test_a_judge_answering_one_score_reports_undefined_correlations_as_n_a(
    tmp_path: Path
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = judged("step 1", "checkpoint", 1, [2] * 6)
        summary = report.write("constant", "mean_reward", [model], model, None, [], tmp_path)
    row = report.table_rows([model])[0]
    assert row["spearman_parsed"] is None and row["spearman_parsed ci"] == "[None, None]"
    assert "| step 1 | " in summary.report_path.read_text()
    step_line = next(line for line in summary.report_path.read_text().splitlines()
                     if line.startswith("| step 1 |"))
    assert step_line.endswith("| n/a | n/a |")  # Pearson and Spearman


def test_multi_attribute_report_has_a_row_per_model_and_a_column_per_dimension(
    tmp_path: Path
) -> None:
    model = judged("step 1", "checkpoint", 1, TRUE)
    per_dimension = {d: evaluate_pointwise(TRUE, TRUE, n_resamples=20)
                     for d in ("helpfulness", "correctness")}
    evaluation = model.evaluation.model_copy(update={"per_dimension": per_dimension})
    model = model.model_copy(update={"evaluation": evaluation})

    text = report.markdown(report.write("multi", "mean_reward", [model], model, None, [],
                                        tmp_path))
    assert "| model | helpfulness | correctness |" in text
    assert text.count("reward 1.000") == 2


def test_steps_whose_model_verl_deleted_are_not_candidates(tmp_path: Path) -> None:
    checkpoints = tmp_path / "run" / "checkpoints"
    (checkpoints / "global_step_1").mkdir(parents=True)  # past max_checkpoints_to_keep
    (checkpoints / "global_step_1" / "data.pt").write_bytes(b"dataloader state")
    (checkpoints / "global_step_2" / "actor").mkdir(parents=True)
    assert list(stage.run_checkpoints(tmp_path / "run")) == [2]
