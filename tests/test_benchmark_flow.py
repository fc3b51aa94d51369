"""benchmark-judge under the Prefect harness: the tiny model judges the three fixture
benchmarks in a Ray job on the session's two-node cluster, scored on the flow's side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from prefect_events import artifacts_of
from ray_nodes import TwoNodes

from flows.benchmark_judge import benchmark_judge
from flows.evaluate_checkpoints import evaluate_checkpoints
from rm_core.cluster.stage_jobs import CODE_EXCLUDES
from rm_core.cluster.target import RayTarget
from rm_core.config import REPO_ROOT
from rm_core.embedded_models import build_tiny_qwen2
from rm_core.errors import ConfigError
from rm_core.evaluation.registry import load_champion, read_benchmark_scores

pytestmark = pytest.mark.usefixtures("prefect_harness")

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
SOURCES = {"rewardbench2": str(FIXTURES / "reward-bench-2.jsonl"),
           "rm-bench": str(FIXTURES / "rm-bench"),
           "judgebench": str(FIXTURES / "judgebench-gpt.jsonl")}


def write_config(path: Path, nodes: TwoNodes, **evaluation: object) -> Path:
    config = {
        "name": "tiny-bench",
        "data": {"template": {"answer_prefix": "<score>"}},
        "evaluation": {"n_resamples": 100, "max_new_tokens": 6, **evaluation},
        "training": {"model_path": "tiny-qwen2", "wandb": {"enabled": False}},
        "ray": {"address": nodes.head.dashboard_url,
                "model_jobs": {"num_cpus": 1, "resources": {"model_node": 1}}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_tiny_model_is_benchmarked_on_the_cluster_and_cached(
    two_nodes: TwoNodes, tmp_path: Path
) -> None:
    config, art = write_config(tmp_path / "bench.yaml", two_nodes), tmp_path / "art"
    cluster = RayTarget(address=two_nodes.head.dashboard_url,
                        token_path=str(two_nodes.head.token_path))
    state = benchmark_judge(str(config), list(SOURCES), SOURCES, artifacts_dir=str(art),
                            cluster=cluster, return_state=True)

    assert state.is_completed(), state.message
    results = {result.benchmark: result for result in state.result()}
    assert set(results) == set(SOURCES)
    assert [result.items for result in results.values()] == [10, 4, 5]
    for result in results.values():
        [base] = result.models
        assert base.label == "base" and "overall" in base.score.metrics
        assert 0.0 <= base.score.parse_failure_rate.value <= 1.0
    assert {"hard", "normal", "easy"} <= set(results["rm-bench"].models[0].score.metrics)

    jobs = [json.loads(p.read_text())["result"] for p in art.glob("jobs/bench/*/_SUCCESS.json")]
    assert len(jobs) == 1 and jobs[0]["ray_node_id"] == two_nodes.node_id
    stored = [json.loads(p.read_text())["result"] for p in art.glob("bench/*/_SUCCESS.json")]
    assert sorted(r["benchmark"] for r in stored) == sorted(SOURCES)

    artifacts = artifacts_of(state.state_details.flow_run_id)
    assert {"benchmark-rewardbench2", "benchmark-rm-bench", "benchmark-judgebench",
            "benchmark-report"} <= set(artifacts)
    table = json.loads(artifacts["benchmark-rm-bench"])
    assert table[0]["model"] == "base" and "[" in table[0]["hard"]
    report = next(art.glob("reports/*/benchmarks.md")).read_text()
    assert "## Public benchmarks" in report and "### judgebench" in report
    recorded = read_benchmark_scores(art / "registry" / "tiny-bench")
    assert sorted(r["benchmark"] for r in recorded) == sorted(SOURCES)

    again = benchmark_judge(str(config), ["judgebench"], {"judgebench": SOURCES["judgebench"]},
                            artifacts_dir=str(art), cluster=cluster)
    assert again[0].models[0].score == results["judgebench"].models[0].score
    assert len(list(art.glob("jobs/bench/*"))) == 1  # judged from the stored answers


def test_the_evaluation_benchmarks_the_best_candidate_and_the_incumbent_and_can_decide_on_it(
    two_nodes: TwoNodes, tmp_path: Path
) -> None:
    """evaluate-checkpoints (the training flows' evaluation) with `evaluation.benchmarks`:
    the challenger and the base model (no champion yet) on the fixtures, in the report;
    the promotion bar read on JudgeBench; a promoted champion keeps its scores."""
    challenger = build_tiny_qwen2(tmp_path / "challenger")  # the base model's twin
    art, registry = tmp_path / "art", tmp_path / "art" / "registry" / "tiny-bench"
    cluster = RayTarget(address=two_nodes.head.dashboard_url,
                        token_path=str(two_nodes.head.token_path))
    fast = {"limit": 4, "benchmarks": SOURCES, "benchmark_limit": 3,
            "promotion_benchmark": "judgebench"}

    def evaluate(**gate: bool):
        config = write_config(tmp_path / "eval.yaml", two_nodes, **fast, gate={
            "beat_constants": False, "positive_spearman": False, **gate})
        return evaluate_checkpoints(str(config), model_dir=str(challenger), promote=True,
                                    artifacts_dir=str(art), cluster=cluster,
                                    return_state=True)

    state = evaluate()
    assert state.is_completed(), state.message
    summary = state.result()
    assert sorted(r.benchmark for r in summary.benchmarks) == sorted(SOURCES)
    assert all([m.label for m in r.models] == ["challenger", "base"] and r.items == 3
               for r in summary.benchmarks)
    decision = summary.decision
    assert decision is not None and not decision.promote
    bar = decision.bars[0]
    assert bar.metric == "benchmark:judgebench" and bar.delta == 0.0 and not bar.passed
    assert "on 3 shared items" in bar.detail and decision.incumbent == "base model"
    report = summary.report_path.read_text()
    section = report[report.index("## Public benchmarks"):]
    assert "### rm-bench" in section and "| challenger |" in section and "| base |" in section
    assert "parse_failure_rate" in section
    artifacts = artifacts_of(state.state_details.flow_run_id)
    assert {"benchmark-judgebench", "benchmark-report", "evaluation-report"} <= set(artifacts)
    assert "## Public benchmarks" in artifacts["evaluation-report"]
    assert load_champion(registry) is None

    promoted = evaluate(beat_incumbent=False).result()
    assert promoted.decision is not None and promoted.decision.promote
    champion = load_champion(registry)
    assert champion is not None and set(champion.benchmarks) == set(SOURCES)
    judgebench = next(r for r in promoted.benchmarks if r.benchmark == "judgebench")
    assert (champion.benchmarks["judgebench"]["overall"]
            == judgebench.models[0].score.metrics["overall"].value)
    assert len(list(art.glob("jobs/bench/*"))) == 1  # the second run read stored answers
    assert len(read_benchmark_scores(registry)) == 2 * 2 * len(SOURCES)


def test_jobs_ship_every_rm_core_package_but_not_the_top_level_data() -> None:
    from ray._private.runtime_env.packaging import _get_excludes

    excluded = _get_excludes(REPO_ROOT, CODE_EXCLUDES)
    assert not any(excluded(REPO_ROOT / "rm_core" / name) for name in ("benchmarks", "data"))
    assert all(excluded(REPO_ROOT / name) for name in ("benchmarks", "data", "tests"))


def test_a_source_for_a_benchmark_not_run_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bench.yaml"
    config.write_text(yaml.safe_dump({"name": "x", "artifacts_dir": str(tmp_path / "art")}))
    state = benchmark_judge(str(config), ["judgebench"], {"rm-bench": SOURCES["rm-bench"]},
                            return_state=True)
    assert state.is_failed()
    with pytest.raises(ConfigError, match="sources given for benchmarks not run"):
        state.result()
