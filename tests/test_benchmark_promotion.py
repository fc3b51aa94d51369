"""Public benchmarks in the training flows' evaluation: the settings, what they change in the
keys, the paired comparison on a benchmark's items, the gate deciding on it, the champion
keeping its scores and the report's section - on constructed judgements."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from test_gate import BASE, N, judged

from rm_core.benchmarks import report as bench_report
from rm_core.benchmarks.items import BENCHMARKS, RM_BENCH, BenchmarkInfo, BenchmarkItem
from rm_core.benchmarks.scoring import PairedDelta, paired_overall, score
from rm_core.benchmarks.stage import bench_key
from rm_core.benchmarks.units import score_key
from rm_core.config import DataConfig
from rm_core.evaluation import promotion, report
from rm_core.evaluation.promotion import BenchmarkOutcome, evaluation_version
from rm_core.evaluation.registry import load_champion
from rm_core.evaluation.settings import BENCHMARK_NAMES, EvaluationSettings, GateSettings
from rm_core.evaluation.stage import evaluation_key
from rm_core.judge.templates import PointwiseTemplate

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
ADDED = {"benchmarks": {"rm-bench": str(FIXTURES / "rm-bench"), "judgebench": None},
         "benchmark_limit": 3, "promotion_benchmark": "rm-bench"}


def test_benchmark_settings_name_known_benchmarks_and_promote_on_a_listed_one() -> None:
    assert BENCHMARK_NAMES == BENCHMARKS
    settings = EvaluationSettings(**ADDED)
    assert settings.benchmarks["judgebench"] is None and settings.benchmark_limit == 3
    with pytest.raises(ValidationError, match=r"unknown benchmark.*'rewardbench'.*known: "
                                              r"rewardbench2, rm-bench, judgebench"):
        EvaluationSettings(benchmarks={"rewardbench": None})
    with pytest.raises(ValidationError, match="promotion_benchmark 'judgebench' is not among"):
        EvaluationSettings(benchmarks={"rm-bench": None}, promotion_benchmark="judgebench")
    with pytest.raises(ValidationError, match="greater than 0"):
        EvaluationSettings(benchmark_limit=0)


def test_adding_benchmarks_re_decides_without_re_judging_the_val_split(tmp_path: Path) -> None:
    """The val judgements and the benchmark judgements keep their keys; the evaluation
    version (what a trained run was decided with) changes, so the run is decided again."""
    plain, added = EvaluationSettings(), EvaluationSettings(**ADDED)
    model, val, items = tmp_path / "model", tmp_path / "val.parquet", tmp_path / "items.json"
    model.mkdir()
    (model / "config.json").write_text("{}")
    val.write_bytes(b"rows")
    items.write_text('{"name": "rm-bench", "items": []}')
    template = PointwiseTemplate(answer_prefix="<score>")
    assert (evaluation_key(model, val, template, plain, 16)
            == evaluation_key(model, val, template, added, 16))
    data = DataConfig()
    stricter = added.model_copy(update={"gate": GateSettings(beat_text_baseline=True)})
    assert bench_key(model, items, data, added, 16) == bench_key(model, items, data, stricter, 16)
    assert bench_key(model, items, data, added, 16) == bench_key(model, items, data, plain, 16)
    assert evaluation_version(added) != evaluation_version(plain)
    assert evaluation_version(added.model_copy(update={"benchmark_limit": 5})
                              ) != evaluation_version(added)


def rm_bench_items(n: int) -> list[BenchmarkItem]:
    return [BenchmarkItem(id=str(i), group="chat", prompt="q", n_correct=3,
                          responses=["good", "good, detailed", "**good**", "bad", "bad, detailed",
                                     "**bad**"]) for i in range(n)]


def rates(items: list[BenchmarkItem], right: set[int]) -> dict[str, int]:
    """A pointwise judge that scores the correct responses higher on the items in `right`
    and every response 2 elsewhere."""
    return {score_key(n, k): (4 if k < 3 else 1) if n in right else 2
            for n, item in enumerate(items) for k in range(len(item.responses))}


def test_the_paired_comparison_resamples_the_same_items_for_both_judges() -> None:
    items = rm_bench_items(40)
    better, worse = rates(items, set(range(30))), rates(items, set(range(10)))
    paired = paired_overall(RM_BENCH, "pointwise", items, better, worse, n_resamples=300)
    assert paired.challenger == pytest.approx(0.75) and paired.incumbent == pytest.approx(0.25)
    assert paired.delta == pytest.approx(0.5) and paired.n_items == 40
    assert 0 < paired.ci_low < 0.5 < paired.ci_high
    assert paired.challenger == score(RM_BENCH, "pointwise", items, better).metrics[
        "overall"].value
    same = paired_overall(RM_BENCH, "pointwise", items, better, better, n_resamples=300)
    assert (same.delta, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)


GOOD_JUDGE = judged("step 1", "checkpoint", [2, 2, 1, 3, 2, 0, 4, 2, 3, 1] * (N // 10))
OPEN_GATE = GateSettings(beat_constants=False, positive_spearman=False)


def decide(tmp_path: Path, paired: PairedDelta | None, gate: GateSettings = OPEN_GATE):
    settings = EvaluationSettings(n_resamples=200, gate=gate, **ADDED)
    scores = {"rm-bench": {"overall": 0.5, "hard": 0.25, "items": "abc"}}
    return promotion.compare_and_promote(
        tmp_path / "registry", GOOD_JUDGE.model_copy(update={"model_dir": _model(tmp_path)}),
        None, None, "mean_reward", "fp", "run-1", {}, BASE, settings, None,
        BenchmarkOutcome(scores=scores, paired=paired),
    )  # fmt: skip


def _model(tmp_path: Path) -> Path:
    folder = tmp_path / "challenger"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text("{}")
    return folder


def test_a_promotion_benchmark_decides_the_incumbent_bar_and_the_champion_keeps_its_scores(
    tmp_path: Path
) -> None:
    """The val judge beats the base model by far, but on the benchmark it does not: the
    incumbent bar reads the benchmark; the other bars stay on the val metric."""
    flat = PairedDelta(benchmark="rm-bench", challenger=0.5, incumbent=0.5, delta=0.0,
                       ci_low=-0.1, ci_high=0.1, n_items=12)
    refused = decide(tmp_path, flat, GateSettings())
    bars = {bar.name: bar for bar in refused.bars}
    assert not refused.promote and not bars["incumbent"].passed
    assert bars["incumbent"].metric == "benchmark:rm-bench" and refused.incumbent == "base model"
    assert "on 12 shared items" in bars["incumbent"].detail
    assert bars["constants"].metric == "mean_reward" and bars["constants"].passed
    assert load_champion(tmp_path / "registry") is None

    ahead = flat.model_copy(update={"challenger": 0.8, "delta": 0.3, "ci_low": 0.1})
    promoted = decide(tmp_path, ahead)
    assert promoted.promote and promoted.challenger_value == 0.8
    champion = load_champion(tmp_path / "registry")
    assert champion is not None and champion.benchmarks["rm-bench"]["hard"] == 0.25


def test_without_a_benchmarked_incumbent_there_is_nothing_to_beat(tmp_path: Path) -> None:
    decision = decide(tmp_path, None)
    assert decision.promote and decision.metric == "benchmark:rm-bench"
    assert decision.bars[0].passed and "nothing to beat" in decision.bars[0].detail


def test_the_report_has_a_benchmark_section_with_each_models_figures(tmp_path: Path) -> None:
    items = rm_bench_items(6)
    scored = [bench_report.ModelScore(label=label, model_dir=Path(label),
                                      score=score(RM_BENCH, "pointwise", items, judgements, 100))
              for label, judgements in (("step 1", rates(items, {0, 1, 2, 3})),
                                        ("champion", rates(items, {0})))]
    info = BenchmarkInfo(name=RM_BENCH, origin="rm-bench/chat_filtered.json", items=6,
                         total_rows=7, quarantined=1)
    summary = report.write("tiny", "mean_reward", [BASE, GOOD_JUDGE], GOOD_JUDGE, None, [],
                           tmp_path / "out", benchmarks=[bench_report.result_of(info, scored)])
    text = summary.report_path.read_text()
    section = text[text.index("## Public benchmarks"):text.index("## Files")]
    assert "### rm-bench" in section
    assert "6 items judged from rm-bench/chat_filtered.json" in section
    assert "| step 1 | 0.667 [" in section and "| champion | 0.167 [" in section
    assert "parse_failure_rate" in section and "hard" in section
    assert summary.benchmarks[0].models[1].label == "champion"
