"""SFT warm start of the embedded default: wall time, peak RSS and val figures of base vs SFT.

Run on demand, it is not a test (one SmolLM2 SFT epoch takes ~10 min and ~9 GB here):

    flock /work/wt/smollm2.lock python benchmarks/sft_warm_start.py [--epochs 1,2]
        [--model smollm2|tiny] [--limit N] [--artifacts-dir DIR]

For each epoch count, the product's SFT stage job (`rm_core.model_jobs.sft_job`: TRL's
SFTTrainer under Ray Train) runs on a private local Ray head with the config's
`ray.model_jobs` resources; the wall time and the peak RSS of the head's process tree
(the Ray Train worker dominates) are sampled every second. Then the base model and each
SFT model judge the val rows exactly as the evaluation stage does (greedy, the
template's parser), and a markdown table prints mean reward, exact and within-1
accuracy, Spearman with its 95% bootstrap CI, the parse-failure rate and the most common
prediction's share, beside the "always k" constants on the same rows.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from uuid import uuid4

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import model_folder  # noqa: E402
from rm_core.cluster.local_head import LocalRayCluster  # noqa: E402
from rm_core.cluster.stage_jobs import run_stage_job  # noqa: E402
from rm_core.config import load_experiment  # noqa: E402
from rm_core.evaluation.stage import evaluate_cached  # noqa: E402
from rm_core.judge.rewards import pointwise_reward  # noqa: E402
from rm_core.model_jobs import sft_job  # noqa: E402
from rm_core.training import run  # noqa: E402

CONFIG = "configs/pointwise_helpsteer2_sample.yaml"


def peak_rss(cluster: LocalRayCluster, stop: threading.Event, peak: list[float]) -> None:
    """Largest single-process and whole-tree RSS (GB) of the head's processes until `stop`."""
    while not stop.is_set():
        sizes = []
        for process in cluster.processes():
            try:
                sizes.append(process.memory_info().rss / 1e9)
            except psutil.Error:  # a process that just ended
                continue
        if sizes:
            peak[0], peak[1] = max(peak[0], max(sizes)), max(peak[1], sum(sizes))
        stop.wait(1.0)


def constants(truth: list[int], max_score: int) -> str:
    """Mean reward and accuracy of answering k to every row."""
    cells = []
    for k in range(max_score + 1):
        reward = sum(pointwise_reward(k, t) for t in truth) / len(truth)
        cells.append(f"| always {k} | {reward:.3f} | {truth.count(k) / len(truth):.3f} "
                     f"| | | | |")
    return "\n".join(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", default="1,2")
    parser.add_argument("--model", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--limit", type=int, default=None, help="val rows (default: all)")
    parser.add_argument("--artifacts-dir", default=str(REPO_ROOT / "artifacts" / "bench-sft"))
    args = parser.parse_args(argv)
    root = Path(args.artifacts_dir).resolve()
    config = load_experiment(REPO_ROOT / CONFIG)
    from rm_core.data import stage as data_stage
    from rm_core.data.sources import fetch

    ingested = data_stage.ingest(fetch(config.data.source, root), config.data, root)
    verl = data_stage.to_verl(data_stage.split(ingested, config.data, root), config.data, root)
    model = model_folder(args.model, root / "models")
    template = data_stage.template_for(config.data)
    settings = config.evaluation.model_copy(update={"limit": args.limit})
    resources = config.ray.model_jobs
    lines = []
    judged = [("base", model, None, None)]
    with LocalRayCluster(num_cpus=int(resources.num_cpus)) as cluster:
        for epochs in [int(e) for e in args.epochs.split(",")]:
            spec = config.training.model_copy(update={"sft": config.training.sft.model_copy(
                update={"enabled": True, "epochs": epochs})})
            out = run.sft_dir(verl, spec, model, root)
            job = sft_job(str(model), verl.train_path, verl.val_path, config.data, spec, out,
                          root / "jobs" / "sft" / out.name, resources)
            stop, peak = threading.Event(), [0.0, 0.0]
            watcher = threading.Thread(target=peak_rss, args=(cluster, stop, peak), daemon=True)
            watcher.start()
            started = time.monotonic()
            result = run_stage_job(cluster.client(), job, f"bench-sft-{uuid4().hex[:8]}",
                                   lambda batch: None, {"tool": "rm-pipeline-bench"}).result
            seconds = time.monotonic() - started
            stop.set()
            watcher.join()
            signal = result["signal"]
            lines.append(
                f"SFT {epochs} epoch(s): {seconds:.0f} s wall ({result['train_runtime_s']:.0f} s "
                f"in trainer.train), {result['steps']} steps on {result['examples']} examples, "
                f"loss {result['first_loss']:.3f} -> {result['last_loss']:.3f}, answer NLL "
                f"{result['answer_nll_before']:.3f} -> {result['answer_nll_after']:.3f}, peak "
                f"RSS {peak[0]:.1f} GB (one process), {peak[1]:.1f} GB (all of Ray); sampled "
                f"parse rate {signal['parsed']}/{signal['samples']}, groups with signal "
                f"{signal['groups_with_signal']}/{signal['prompts']}")
            print(lines[-1], flush=True)
            judged.append((f"sft {epochs} epoch(s)", out, seconds, peak[0]))
    max_new = config.evaluation.max_new_tokens or config.training.grpo.max_response_length
    print("\n| model | mean reward | accuracy | within 1 | Spearman [95% CI] | parse failures "
          "| top answer share |\n|---|---|---|---|---|---|---|")
    truth: list[int] = []
    for label, folder, _, _ in judged:
        evaluated = evaluate_cached(label, "model", None, Path(folder), verl.val_path, template,
                                    settings, max_new, root)
        m = evaluated.evaluation.report.metrics
        predictions = evaluated.evaluation.predictions
        truth = list(evaluated.evaluation.true)
        top = Counter(predictions).most_common(1)[0]
        print(f"| {label} | {m['mean_reward'].value:.3f} | {m['accuracy'].value:.3f} | "
              f"{m['within1_accuracy'].value:.3f} | {m['spearman_parsed'].value:.2f} "
              f"[{m['spearman_parsed'].ci_low:.2f}, {m['spearman_parsed'].ci_high:.2f}] | "
              f"{m['parse_failure_rate'].value:.2f} | {top[1] / len(predictions):.2f} "
              f"({top[0]}) |", flush=True)
    print(constants(truth, config.data.max_score))
    print(f"\n{len(truth)} val rows; " + "; ".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
