"""Does training make a judge worth promoting? Every checkpoint through the promotion gate.

Run on demand, it is not a test (SmolLM2 runs take ~13 GB: serialise them):

    flock /work/wt/smollm2.lock python benchmarks/judge_quality.py [--steps 40]
        [--save-every 5] [--model smollm2-135m | tiny-qwen2] [--lr 1e-6] [--limit N]
        [--work-dir DIR]

It runs the real `pointwise-train` flow on the embedded sample (Prefect's ephemeral
server unless `PREFECT_API_URL` is set, a private Ray head) as the main command does -
the config's SFT warm start, then `--steps` GRPO steps from the SFT model, a checkpoint
every `--save-every` steps - and judges the base model, the SFT model and every
checkpoint on the whole validation split (`--limit` judges fewer rows). The SFT stage is
cached under `--work-dir`: a second run with other GRPO settings starts from it. Then,
for every checkpoint, it prints mean reward, accuracy, within-1 and Spearman with their
95% CIs, the most common answer's share, and the gate's bars against the base model on
the same rows; below, the constant references and the TF-IDF text baseline. It exits 0
only if the best checkpoint (by mean reward) passes the gate, 1 otherwise. A fresh
registry per run: the base model is the incumbent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.headline import headline  # noqa: E402
from flows.pointwise_train import pointwise_train  # noqa: E402
from rm_core.evaluation import gate, stage  # noqa: E402
from rm_core.evaluation.gate import GatedDecision  # noqa: E402
from rm_core.evaluation.promotion import text_reference  # noqa: E402
from rm_core.evaluation.registry import Baseline, decide  # noqa: E402
from rm_core.evaluation.report import EvaluationSummary, cell  # noqa: E402
from rm_core.evaluation.settings import EvaluationSettings  # noqa: E402

CONFIG = REPO_ROOT / "configs" / "pointwise_helpsteer2_sample.yaml"
METRIC = "mean_reward"
FIGURES = {"mean_reward": "mean reward", "accuracy": "accuracy",
           "within1_accuracy": "within-1", "spearman_parsed": "Spearman"}
# The tiny random model needs the test suite's lengths (its tokenizer spells the prompt
# in more tokens) and fits a smaller batch.
TINY = {"training.grpo.max_prompt_length": 2048, "training.grpo.max_response_length": 16,
        "training.grpo.rollout_n": 2}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--save-every", type=int, default=5,
                        help="GRPO steps between judged checkpoints (the last is always saved)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--lr", type=float, default=None, help="default: the config's")
    parser.add_argument("--limit", type=int, default=None, help="judge only N val rows")
    parser.add_argument("--work-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "rm-bench-judge-quality")
    return parser.parse_args()


def overrides(args: argparse.Namespace, registry: Path) -> dict[str, object]:
    """A checkpoint every `--save-every` steps, judged on the whole val split, a registry
    of its own."""
    settings: dict[str, object] = {
        "training.save_freq": args.save_every, "training.wandb.enabled": False,
        "evaluation.limit": args.limit, "evaluation.registry_dir": str(registry),
    }
    if args.lr is not None:
        settings["training.grpo.lr"] = args.lr
    if args.model == "tiny-qwen2":
        settings.update(TINY)
    return settings


def gate_of(model: stage.EvaluatedModel, base: stage.EvaluatedModel | None,
            words: stage.EvaluatedModel | None, settings: EvaluationSettings) -> GatedDecision:
    """The gate's decision for `model` against the base model, recorded nowhere."""
    evaluation, report = model.evaluation, model.evaluation.report
    baseline = (Baseline(predictions=base.evaluation.predictions,
                         unique_ids=base.evaluation.unique_ids) if base else None)
    incumbent = decide(evaluation.predictions, evaluation.true, evaluation.unique_ids, None,
                       metric=METRIC, n_resamples=report.n_resamples, seed=report.seed,
                       max_score=report.max_score, k=report.k, baseline=baseline)
    scoring = gate.Scoring(max_score=report.max_score, k=report.k,
                           n_resamples=report.n_resamples, seed=report.seed)
    return gate.gated(incumbent, evaluation.predictions, evaluation.true, report, settings.gate,
                      scoring, settings.collapse_share,
                      text_reference(words, evaluation.unique_ids))


def table(summary: EvaluationSummary, settings: EvaluationSettings) -> GatedDecision | None:
    """Print one row per model and reference; return the best checkpoint's gate."""
    base = next((m for m in summary.models if m.kind == "base"), None)
    words = next((m for m in summary.references if m.evaluation.backend == "scikit-learn"),
                 None)
    print("| model | " + " | ".join(FIGURES.values()) + " | top answer | gate |")
    print("|---" * (len(FIGURES) + 3) + "|")
    best = stage.best_candidate(summary.models, METRIC)
    best_gate = None
    for model in [*summary.models, *summary.references]:
        metrics = model.evaluation.report.metrics
        signs = gate.collapse_signs(model.evaluation.predictions, settings.collapse_share)
        verdict = "-"
        if model.kind == "checkpoint":
            decision = gate_of(model, base, words, settings)
            failed = [b.name for b in decision.bars if b.required and not b.passed]
            verdict = "passes" if decision.promote else "fails " + ", ".join(failed)
            if best is not None and model.label == best.label:
                best_gate = decision
        print(f"| {model.label} | " + " | ".join(cell(metrics[name]) for name in FIGURES)
              + f" | {signs.top_answer or 'none'} {signs.top_share:.0%} | {verdict} |")
    if base is not None:
        constants = gate.constant_references(base.evaluation.true, False, 4)
        print("\nconstants on mean reward: " + ", ".join(
            f"{r.name} {gate.bound_metric(METRIC, 4, 2.0)(r.predictions, base.evaluation.true):.3f}"
            for r in constants))
    return best_gate


def main() -> int:
    args = parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    registry = args.work_dir / f"registry-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.perf_counter()
    result = pointwise_train(str(CONFIG), max_steps=args.steps, model_path=args.model,
                             artifacts_dir=str(args.work_dir / "artifacts"),
                             overrides=overrides(args, registry), force=True)
    seconds = time.perf_counter() - started
    summary = result.evaluation
    if summary is None:
        print("the flow judged nothing", file=sys.stderr)
        return 1
    settings = EvaluationSettings(limit=args.limit)
    print(f"# {args.model}, {args.steps} steps, {summary.models[0].evaluation.n} val rows, "
          f"{seconds / 60:.1f} min (training and judging)\n")
    best = table(summary, settings)
    print(f"\nreport: {summary.report_path}")
    if best is None:
        print("no checkpoint judged")
        return 1
    print(f"\nbest checkpoint {summary.best}: {best.reason}")
    headline("judge_quality", f"best checkpoint of {args.steps} steps passes the gate",
             "yes" if best.promote else "no", target="yes",
             verdict="PASS" if best.promote else "FAIL")
    return 0 if best.promote else 1


if __name__ == "__main__":
    sys.exit(main())
