"""The promotion gate on constructed evaluations, collapse signs, and the text baseline on
the embedded sample's real train/val rows (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rm_core.config import DataConfig, SplitConfig, TemplateConfig, load_experiment
from rm_core.data import stage as data_stage
from rm_core.data.sources import fetch
from rm_core.evaluation import promotion, report, stage
from rm_core.evaluation.gate import GatedDecision, collapse_signs
from rm_core.evaluation.pairwise import pairwise_report
from rm_core.evaluation.pointwise import evaluate_pointwise
from rm_core.evaluation.registry import load_champion, read_decisions
from rm_core.evaluation.runner import JudgeEvaluation
from rm_core.evaluation.settings import EvaluationSettings, GateSettings
from rm_core.evaluation.text_baseline import evaluate_text_baseline
from rm_core.training.judge_metrics import answer_signs

REPO = Path(__file__).resolve().parents[1]
N = 80
# Labels centred on 2 like the sample's: hedging towards the middle pays the reward.
TRUE = [2, 2, 1, 3, 2, 0, 4, 2, 3, 1] * (N // 10)
SETTINGS = EvaluationSettings(n_resamples=200)


def judged(label: str, kind: str, predictions: list[int], model_dir: Path | None = None,
           true: list[int] = TRUE, ids: list[str] | None = None) -> stage.EvaluatedModel:
    evaluation = JudgeEvaluation(
        model=label, backend="transformers", n=len(true),
        unique_ids=ids or [f"row-{i}" for i in range(len(true))], true=true,
        predictions=predictions,
        completions=[], seconds=1.0, report=evaluate_pointwise(predictions, true, n_resamples=200),
    )  # fmt: skip
    return stage.EvaluatedModel(label=label, kind=kind, step=0 if kind == "base" else 1,
                                model_dir=model_dir or Path(label), evaluation=evaluation)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "challenger"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


def decide(tmp_path: Path, challenger: stage.EvaluatedModel, base: stage.EvaluatedModel | None,
           settings: EvaluationSettings = SETTINGS,
           text: stage.EvaluatedModel | None = None) -> GatedDecision:
    return promotion.compare_and_promote(
        tmp_path / "registry", challenger, load_champion(tmp_path / "registry"), None,
        "mean_reward", "fp", "run-1", {"train_key": "k", "evaluation_version": "v"}, base,
        settings, text,
    )  # fmt: skip


def bars(decision: GatedDecision) -> dict[str, bool]:
    return {bar.name: bar.passed for bar in decision.bars}


BASE = judged("base", "base", [0] * N)  # the untrained judge answers 0


def test_a_constant_judge_is_not_promoted_and_is_flagged_as_collapsed(
    tmp_path: Path, model_dir: Path
) -> None:
    always_two = judged("step 1", "checkpoint", [2] * N, model_dir)
    decision = decide(tmp_path, always_two, BASE)

    assert not decision.promote
    assert bars(decision) == {"incumbent": True, "constants": False, "spearman": False}
    constant = next(bar for bar in decision.bars if bar.name == "constants")
    assert constant.reference == "always 2" and constant.delta == 0.0
    assert decision.collapse is not None and decision.collapse.collapsed
    assert decision.collapse.top_share == 1.0 and decision.collapse.entropy_bits == 0.0
    assert decision.reason.startswith("not promoted. failed beats the best constant (always 2)")
    assert load_champion(tmp_path / "registry") is None


def test_a_collapsed_judge_is_flagged_in_the_report_at_the_configured_share(
    tmp_path: Path
) -> None:
    mostly_two = [2] * 68 + [3] * 12  # 85% the same answer
    model = judged("step 1", "checkpoint", mostly_two)
    summary = report.write("collapse", "mean_reward", [BASE, model], model, None, [], tmp_path)
    text = summary.report_path.read_text()
    assert "**Collapsed:** step 1 answers 2 for 85% of the rows" in text
    assert "**Collapsed:** base answers 0 for 100%" in text
    assert report.collapsed([model], 0.9) == []
    row = report.table_rows([model])[0]
    assert row["top answer"] == "2" and row["top share"] == 0.85 and row["collapsed"]
    signs = collapse_signs([2, 2, -1, 3], 0.8)
    assert (signs.top_share, signs.parse_rate, signs.collapsed) == (0.5, 0.75, False)
    assert signs.entropy_bits == pytest.approx(0.9183, abs=1e-4)


def test_better_than_the_base_model_but_not_than_always_2_is_not_promoted(
    tmp_path: Path, model_dir: Path
) -> None:
    # off by one on every row, away from the middle: beats "always 0", not "always 2"
    hedging = [t + 1 if t < 2 else t - 1 if t > 2 else 1 for t in TRUE]
    decision = decide(tmp_path, judged("step 1", "checkpoint", hedging, model_dir), BASE)

    assert not decision.promote and decision.incumbent == "base model"
    assert bars(decision)["incumbent"] and not bars(decision)["constants"]
    constant = next(bar for bar in decision.bars if bar.name == "constants")
    assert constant.reference == "always 2"
    assert constant.challenger_value < constant.reference_value
    assert decision.references["always 2"] == constant.reference_value
    assert "failed beats the best constant (always 2): mean_reward" in decision.reason
    assert "passed beats the base model" in decision.reason


def test_a_real_improvement_is_promoted_with_every_bar_recorded(
    tmp_path: Path, model_dir: Path
) -> None:
    rng = np.random.default_rng(0)
    close = [int(t) if rng.random() < 0.8 else max(0, t - 1) for t in TRUE]
    decision = decide(tmp_path, judged("step 1", "checkpoint", close, model_dir), BASE)

    assert decision.promote, decision.reason
    assert bars(decision) == {"incumbent": True, "constants": True, "spearman": True}
    assert load_champion(tmp_path / "registry") is not None
    [entry] = read_decisions(tmp_path / "registry")
    assert entry["promote"] and [bar["name"] for bar in entry["bars"]] == list(bars(decision))
    assert all(bar["detail"] and bar["passed"] for bar in entry["bars"])
    assert entry["references"]["always 2"] < entry["challenger_value"]
    assert entry["collapse"]["collapsed"] is False

    summary = report.write("good", "mean_reward", [BASE, judged("step 1", "checkpoint", close)],
                           None, decision, [], tmp_path / "report")
    text = summary.report_path.read_text()
    assert "| bar | required | result | numbers |" not in text  # no best: no decision shown
    saved = json.loads((tmp_path / "report" / report.SUMMARY_FILE).read_text())
    assert [bar["name"] for bar in saved["decision"]["bars"]] == list(bars(decision))


def test_every_bar_can_be_switched_off_and_is_still_reported(
    tmp_path: Path, model_dir: Path
) -> None:
    hedging = [t + 1 if t < 2 else t - 1 if t > 2 else 1 for t in TRUE]
    settings = SETTINGS.model_copy(update={"gate": GateSettings(beat_constants=False)})
    decision = decide(tmp_path, judged("step 1", "checkpoint", hedging, model_dir), BASE,
                      settings)
    assert decision.promote
    constant = next(bar for bar in decision.bars if bar.name == "constants")
    assert not constant.required and not constant.passed
    assert "not required beats the best constant (always 2)" in decision.reason


def test_the_report_shows_the_gate_references_and_the_decision(
    tmp_path: Path, model_dir: Path
) -> None:
    challenger = judged("step 1", "checkpoint", [2] * N, model_dir)
    decision = decide(tmp_path, challenger, BASE)
    summary = report.write("gate", "mean_reward", [BASE, challenger], challenger, decision, [],
                           tmp_path / "report")
    text = summary.report_path.read_text()
    assert "## The gate" in text
    assert ("**Promotion:** not promoted, no champion yet: failed beats the best constant "
            "(always 2); ranks like the labels (the gate's numbers below).") in text
    assert "| beats the best constant (always 2) | yes | **failed** | mean_reward" in text
    assert "| ranks like the labels | yes | **failed** | spearman_parsed n/a" in text
    assert "References on mean_reward: always 0 " in text and "no text baseline" in text
    assert "| always 2 (reference) |" in text


def pairwise(label: str, kind: str, verdicts: list[int],
             model_dir: Path | None = None) -> stage.EvaluatedModel:
    """40 pairs, each judged in both orders (truth A, then B); verdicts A=0, B=1."""
    rows = [{"extra_info": {"unique_id": f"p{i}-{order}", "prompt_id": f"q{i}",
                            "first_id": first, "second_id": second},
             "reward_model": {"ground_truth": {"preference": truth}}}
            for i in range(40)
            for order, truth, first, second in (("ab", "A", "x", "y"), ("ba", "B", "y", "x"))]
    true = [0, 1] * 40
    evaluation = JudgeEvaluation(
        model=label, backend="transformers", n=80, unique_ids=[f"u{i}" for i in range(80)],
        true=true, predictions=verdicts, completions=[], seconds=1.0,
        report=pairwise_report(rows, verdicts, SETTINGS),
    )  # fmt: skip
    return stage.EvaluatedModel(label=label, kind=kind, step=0 if kind == "base" else 1,
                                model_dir=model_dir or Path(label), evaluation=evaluation)


def test_pairwise_bars_chance_and_always_a_or_b_with_position_consistency(
    tmp_path: Path, model_dir: Path
) -> None:
    base = pairwise("base", "base", [0] * 80)  # always A: half right, flips on every pair
    good = pairwise("step 1", "checkpoint", [0, 1] * 36 + [0, 0] * 4, model_dir)
    decision = promotion.compare_and_promote(
        tmp_path / "registry", good, None, None, "accuracy", "fp", "run-1", {}, base, SETTINGS)
    assert decision.promote, decision.reason
    assert bars(decision) == {"incumbent": True, "constants": True, "chance": True}
    assert set(decision.references) == {"always A", "always B"}
    assert decision.order_flip_rate == pytest.approx(4 / 40)

    coin = pairwise("step 2", "checkpoint", [0, 1] * 4 + [0, 0] * 36, model_dir)
    decision = promotion.compare_and_promote(
        tmp_path / "other", coin, None, None, "accuracy", "fp", "run-2", {}, base, SETTINGS)
    # right where "always A" is, plus 4 rows: it dominates the constant row by row, so
    # only the chance bar sees that 55% on 80 orderings is a coin
    assert not decision.promote
    assert bars(decision) == {"incumbent": True, "constants": True, "chance": False}
    chance = next(bar for bar in decision.bars if bar.name == "chance")
    assert chance.challenger_value == pytest.approx(0.55)
    assert "lower bound not above 0.5" in chance.detail


# --------------------------------------------------------------- the text baseline


@pytest.fixture(scope="module")
def sample_rows(tmp_path_factory: pytest.TempPathFactory) -> data_stage.VerlResult:
    """verl rows of the embedded sample, split as the embedded default splits it."""
    root = tmp_path_factory.mktemp("sample")
    data = DataConfig(template=TemplateConfig(answer_prefix="<score>"),
                      split=SplitConfig(val_fraction=0.2, seed=42))
    ingested = data_stage.ingest(fetch(data.source, root), data, root)
    return data_stage.to_verl(data_stage.split(ingested, data, root), data, root)


def test_the_text_baseline_on_the_embedded_sample_is_fitted_plausible_and_deterministic(
    sample_rows: data_stage.VerlResult
) -> None:
    template = data_stage.template_for(DataConfig(template=TemplateConfig(answer_prefix="<score>")))
    first = evaluate_text_baseline(sample_rows.train_path, sample_rows.val_path, template,
                                   EvaluationSettings())
    assert first.n == 96 and first.backend == "scikit-learn"
    figures = first.report.headline()
    assert 0.62 < figures["mean_reward"] < 0.76  # measured 0.692
    assert 0.28 < figures["accuracy"] < 0.47  # 0.375
    assert 0.3 < figures["spearman_parsed"] < 0.6  # 0.47, of the raw ridge outputs
    assert first.report.metrics["spearman_parsed"].ci_low > 0
    again = evaluate_text_baseline(sample_rows.train_path, sample_rows.val_path, template,
                                   EvaluationSettings())
    assert again.predictions == first.predictions and again.report == first.report
    limited = evaluate_text_baseline(sample_rows.train_path, sample_rows.val_path, template,
                                     EvaluationSettings(limit=10))
    assert limited.unique_ids == first.unique_ids[:10]


def test_the_text_baseline_bar_is_off_by_default_and_decides_when_on(
    tmp_path: Path, model_dir: Path, sample_rows: data_stage.VerlResult
) -> None:
    template = data_stage.template_for(DataConfig(template=TemplateConfig(answer_prefix="<score>")))
    words = evaluate_text_baseline(sample_rows.train_path, sample_rows.val_path, template,
                                   SETTINGS)
    text = stage.EvaluatedModel(label="TF-IDF + ridge (reference)", kind="reference",
                                model_dir=Path("-"), evaluation=words)
    true, ids = words.true, words.unique_ids
    # the baseline's answers, one row in three corrected: better than the words alone
    better = [t if i % 3 == 0 else p
              for i, (p, t) in enumerate(zip(words.predictions, true, strict=True))]
    challenger = judged("step 1", "checkpoint", better, model_dir, true, ids)
    base = judged("base", "base", [0] * len(true), None, true, ids)
    off = decide(tmp_path / "off", challenger, base, SETTINGS, text)
    bar = next(b for b in off.bars if b.name == "text_baseline")
    assert not bar.required and bar.reference == "TF-IDF + ridge"
    assert off.references["TF-IDF + ridge"] == pytest.approx(words.report.headline()["mean_reward"])
    on = decide(tmp_path / "on", challenger, base,
                SETTINGS.model_copy(update={"gate": GateSettings(beat_text_baseline=True)}), text)
    assert next(b for b in on.bars if b.name == "text_baseline").required
    assert on.promote == (off.promote and bar.passed)
    missing = decide(tmp_path / "none", challenger, base,
                     SETTINGS.model_copy(update={"gate": GateSettings(beat_text_baseline=True)}))
    assert not missing.promote and "no train split" in missing.reason


def test_the_pairwise_text_baseline_fits_the_pair_difference(tmp_path: Path) -> None:
    data = load_experiment(REPO / "configs" / "pairwise_helpsteer2_sample.yaml").data
    ingested = data_stage.ingest(fetch(data.source, tmp_path), data, tmp_path)
    rows = data_stage.to_verl(data_stage.split(ingested, data, tmp_path), data, tmp_path)
    words = evaluate_text_baseline(rows.train_path, rows.val_path,
                                   data_stage.template_for(data), SETTINGS)
    assert words.model == "TF-IDF + logistic regression" and words.report.kind == "pairwise"
    assert words.n == rows.val_rows and set(words.predictions) <= {0, 1, 2}
    accuracy = words.report.preference.accuracy.value
    assert 0.3 < accuracy < 0.9, accuracy
    again = evaluate_text_baseline(rows.train_path, rows.val_path,
                                   data_stage.template_for(data), SETTINGS)
    assert again.predictions == words.predictions


def test_training_metrics_carry_the_answers_collapse_signs() -> None:
    assert answer_signs([2, 2, 2, -1]) == {"judge/pred/top_share": 0.75,
                                           "judge/pred/entropy": 0.0}
    assert answer_signs([-1, -1]) == {}
