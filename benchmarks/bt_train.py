"""A Bradley-Terry reward model from SmolLM2-135M on the embedded preference sample: time per
step, peak RSS, and val pairwise accuracy against the same model with a fresh head and
against the generative pairwise judge's base model on the same rows.

Run on demand, it is not a test (a few minutes of SmolLM2 training, < 5 GB):

    flock /work/wt/smollm2-light.lock python benchmarks/bt_train.py [--max-pairs N]
        [--epochs E] [--limit ROWS] [--model smollm2|tiny] [--artifacts-dir DIR]

The data stage (no Prefect) builds the split of configs/pairwise_helpsteer2_sample.yaml;
the first `--max-pairs` distinct train pairs (both orders, as the split holds them) are
what the product's BT stage job (`rm_core.model_jobs.bt_train_job`: TRL's RewardTrainer
under Ray Train, the cpu profile's defaults) trains on, on a private local Ray head with
the config's `ray.model_jobs` resources; the peak RSS of the head's process tree is
sampled every second. Then `bt_judge_job` scores the first `--limit` verl val rows with
the trained model and with the base model under a fresh seeded head, and `judge_job`
has the base model judge the same rows generatively, as the evaluation stage does.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from uuid import uuid4

import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import model_folder  # noqa: E402
from benchmarks.sft_warm_start import peak_rss  # noqa: E402
from rm_core.cluster.local_head import LocalRayCluster  # noqa: E402
from rm_core.cluster.stage_jobs import run_stage_job  # noqa: E402
from rm_core.config import load_experiment  # noqa: E402
from rm_core.evaluation.bt_scoring import BT_FILE  # noqa: E402
from rm_core.evaluation.stage import EvaluatedModel, read_evaluated  # noqa: E402
from rm_core.model_jobs import bt_judge_job, bt_train_job, judge_job  # noqa: E402
from rm_core.training.bt_pairs import split_samples  # noqa: E402
from rm_core.training.bt_spec import BtSpec  # noqa: E402

CONFIG = "configs/pairwise_helpsteer2_sample.yaml"
LABELS = {"tool": "rm-pipeline-bench"}


def first_pairs(train_path: Path, pairs: int, out: Path) -> Path:
    """The split's samples of its first `pairs` distinct pairs (ids `<pair>-ab|ba`)."""
    table = split_samples(train_path, ["unique_id", "input", "output", "source",
                                       "task_category", "metadata"])
    stems = [uid.rsplit("-", 1)[0] for uid in table.column("unique_id").to_pylist()]
    kept = set(list(dict.fromkeys(stems))[:pairs])
    pq.write_table(table.filter(pa.array([stem in kept for stem in stems])), out)
    return out


def row(label: str, evaluated: EvaluatedModel, bt: dict | None) -> str:
    pref = evaluated.evaluation.report.preference
    acc = pref.accuracy
    non_tie = (f"{bt['accuracy_non_tie']['value']:.3f} [{bt['accuracy_non_tie']['ci_low']:.2f}, "
               f"{bt['accuracy_non_tie']['ci_high']:.2f}]" if bt else
               f"{pref.accuracy_without_tie_labels:.3f}")
    return (f"| {label} | {acc.value:.3f} [{acc.ci_low:.2f}, {acc.ci_high:.2f}] | {non_tie} | "
            f"{evaluated.metric('order_flip_rate'):.2f} | {pref.predicted_tie_rate:.2f} | "
            f"{pref.parse_failure_rate:.2f} | {evaluated.evaluation.seconds:.0f} s |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-pairs", type=int, default=64, help="train pairs (0: all)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=48, help="verl val rows judged")
    parser.add_argument("--model", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--artifacts-dir", default=str(REPO_ROOT / "artifacts" / "bench-bt"))
    args = parser.parse_args(argv)
    root = Path(args.artifacts_dir).resolve()
    config = load_experiment(REPO_ROOT / CONFIG)
    from rm_core.data import stage as data_stage
    from rm_core.data.sources import fetch

    ingested = data_stage.ingest(fetch(config.data.source, root), config.data, root)
    split = data_stage.split(ingested, config.data, root)
    verl = data_stage.to_verl(split, config.data, root)
    model = model_folder(args.model, root / "models")
    train = split.train_path
    if args.max_pairs:
        train = first_pairs(train, args.max_pairs, root / f"train-{args.max_pairs}.parquet")
    spec = BtSpec(epochs=args.epochs)
    resources = config.ray.model_jobs
    settings = config.evaluation.model_copy(update={"limit": args.limit})
    run_id = f"{args.model}-{args.max_pairs}p-{args.epochs}e-{uuid4().hex[:6]}"
    out = root / "bt" / run_id
    with LocalRayCluster(num_cpus=int(resources.num_cpus)) as cluster:
        job = bt_train_job(str(model), train, config.data, spec, out, root / "jobs" / run_id,
                           resources)
        stop, peak = threading.Event(), [0.0, 0.0]
        watcher = threading.Thread(target=peak_rss, args=(cluster, stop, peak), daemon=True)
        watcher.start()
        started = time.monotonic()
        lines: list[str] = []
        result = run_stage_job(cluster.client(), job, f"bench-bt-{uuid4().hex[:8]}",
                               lines.extend, LABELS).result
        seconds = time.monotonic() - started
        stop.set()
        watcher.join()
        print("\n".join(line for line in lines if line.startswith("step:")), flush=True)
        evals = {"bt": (out, root / "eval" / f"{run_id}-bt"),
                 "fresh": (model, root / "eval" / f"{run_id}-fresh")}
        scoring_started = time.monotonic()
        run_stage_job(cluster.client(), bt_judge_job(
            list(evals.values()), verl.val_path, split.val_path, config.data, settings,
            root / "jobs" / f"{run_id}-judge", resources), f"bench-bt-judge-{uuid4().hex[:8]}",
            lambda _: None, LABELS)
        scoring = time.monotonic() - scoring_started
        generative = root / "eval" / f"{run_id}-generative"
        max_new = config.evaluation.max_new_tokens or config.training.grpo.max_response_length
        run_stage_job(cluster.client(), judge_job(
            [(model, generative)], verl.val_path, config.data, settings, max_new,
            root / "jobs" / f"{run_id}-generative", resources),
            f"bench-bt-gen-{uuid4().hex[:8]}", lambda _: None, LABELS)
    print(f"\nBT training: {seconds:.0f} s wall for the job, {result['steps']} steps on "
          f"{result['pairs_trained']} pairs ({result['ties_skipped']} ties, "
          f"{result['too_long']} too long, left out), {result['seconds_per_step']:.1f} s a "
          f"step, loss {result['first_loss']:.3f} -> {result['last_loss']:.3f}, train reward "
          f"mean {result['reward_mean']:.3f} std {result['reward_std']:.3f}; peak RSS "
          f"{peak[0]:.1f} GB (one process), {peak[1]:.1f} GB (all of Ray); scoring both BT "
          f"models {scoring:.0f} s")
    print("\n| model | accuracy [95% CI] | accuracy on non-tie rows | order flips | predicted "
          "ties | parse failures | judging time |\n|---|---|---|---|---|---|---|")
    for label, (folder, evaluation) in [("BT, trained", evals["bt"]),
                                        ("BT, base + fresh head", evals["fresh"]),
                                        ("generative judge, base", (model, generative))]:
        bt_file = evaluation / BT_FILE
        bt = json.loads(bt_file.read_text("utf-8")) if bt_file.is_file() else None
        print(row(label, read_evaluated(label, "model", None, folder, evaluation), bt))
    trained = json.loads((evals["bt"][1] / BT_FILE).read_text("utf-8"))
    print("\nTrained BT margins (chosen - rejected) p5/p25/p50/p75/p95: "
          + " / ".join(f"{v:.3f}" for v in trained["margin_quantiles"].values())
          + f"; val reward mean {trained['reward_mean']:.3f} std {trained['reward_std']:.3f}; "
          f"{trained['tie_rows']} tie rows, mean |margin| {trained['tie_mean_abs_margin']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
