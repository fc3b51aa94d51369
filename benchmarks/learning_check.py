"""Evidence that the GRPO wiring moves the policy: a short CPU run on a learnable toy reward.

Run on demand, it is not a test:

    python benchmarks/learning_check.py [--steps 24] [--lr 5e-3] [--rollout-n 8]
                                        [--window 5] [--seed 0] [--work-dir DIR]

It trains the tiny random Qwen2 (`rm_core.embedded_models.build_tiny_qwen2`) with verl GRPO on
the embedded sample through rm_core exactly as the training test does (data stage ->
`run.run_paths` -> `run.train` on a private `LocalRayCluster`), but scores completions
with `benchmarks/learning_reward.py` (shorter completions score higher) instead of the
judge reward. It prints verl's mean reward of every step (`critic/score/mean`), the mean
of the first and of the last `--window` steps and PASS when the last is higher (exit
code 1 on FAIL).

Seeds: the model weights (`--seed`) and verl's data order (`data.seed`) are fixed; the
sampling in the rollout uses each fresh worker's default torch seed.

The reward file is given to verl by absolute path: `rm_core.cluster.stage_jobs.CODE_EXCLUDES`
keeps `benchmarks/` out of the job's uploaded working_dir, so a path relative to it
would not resolve. An absolute path works here because the local head's workers share
this file system; on a remote cluster the file would have to ship with the code.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.headline import headline  # noqa: E402
from rm_core.cluster.local_head import LocalRayCluster  # noqa: E402
from rm_core.config import DataConfig, TemplateConfig  # noqa: E402
from rm_core.data import stage as data_stage  # noqa: E402
from rm_core.data.sources import fetch  # noqa: E402
from rm_core.data.stage import VerlResult  # noqa: E402
from rm_core.embedded_models import build_tiny_qwen2  # noqa: E402
from rm_core.training import run  # noqa: E402
from rm_core.training.monitor import TrainingMonitor, iter_metrics  # noqa: E402
from rm_core.training.spec import TrainSpec  # noqa: E402

REWARD_FILE = Path(__file__).resolve().parent / "learning_reward.py"
REWARD_KEY = "critic/score/mean"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--rollout-n", type=int, default=8)
    parser.add_argument("--window", type=int, default=5, help="steps averaged at each end")
    parser.add_argument("--seed", type=int, default=0, help="model weights and data order")
    parser.add_argument("--work-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "rm-bench-learning")
    return parser.parse_args()


def prepare(work_dir: Path, seed: int) -> tuple[DataConfig, VerlResult, Path]:
    """verl rows of the embedded sample and the tiny random Qwen2 (both cached)."""
    data = DataConfig(template=TemplateConfig(answer_prefix="<score>"))
    ingested = data_stage.ingest(fetch(data.source, work_dir), data, work_dir)
    verl = data_stage.to_verl(data_stage.split(ingested, data, work_dir), data, work_dir)
    return data, verl, build_tiny_qwen2(work_dir / f"tiny-qwen2-{seed}", seed=seed)


def learning_spec(args: argparse.Namespace) -> TrainSpec:
    """A short, high-lr GRPO run scored by the toy reward, no validation or checkpoints."""
    grpo = {
        "rollout_n": args.rollout_n,
        "train_batch_size": 4,
        "ppo_mini_batch_size": 4,
        "micro_batch_size_per_gpu": 16,
        "max_prompt_length": 2048,
        "max_response_length": 16,
        "lr": args.lr,
        "total_training_steps": args.steps,
    }
    return TrainSpec(
        grpo=grpo, save_freq=-1, test_freq=-1, val_before_train=False,
        resume_mode="disable", wandb={"enabled": False},
        extra_overrides=(f"custom_reward_function.path={REWARD_FILE}",
                         f"+data.seed={args.seed}"),
    )


def print_step(lines: list[str]) -> None:
    """Echo each step's mean reward and duration as the job log reports them."""
    for metrics in iter_metrics(lines):
        if REWARD_KEY in metrics:
            print(f"step {int(metrics['step']):3d}  mean reward {metrics[REWARD_KEY]:.4f}  "
                  f"({metrics.get('timing_s/step', float('nan')):.1f} s)", flush=True)


def train(args: argparse.Namespace) -> list[float]:
    """Run the job on a private Ray head; the mean reward of each step, in step order."""
    data, verl, model = prepare(args.work_dir, args.seed)
    spec = learning_spec(args)
    out = args.work_dir / "run"
    shutil.rmtree(out, ignore_errors=True)  # a finished run would be returned as is
    paths = run.run_paths(spec, verl, model, out, data)
    monitor = TrainingMonitor(total_steps=run.expected_steps(spec, verl.train_rows))
    with LocalRayCluster(num_cpus=2) as cluster:
        result = run.train(spec, paths, out, cluster.client(),
                           time.strftime("learning-check-%Y%m%d-%H%M%S"), monitor, print_step)
    rows = sorted(result.metrics, key=lambda row: row["step"] or 0)
    return [float(row["reward mean"]) for row in rows if row["reward mean"] is not None]


def verdict(rewards: list[float], window: int) -> bool:
    """Print first-k vs last-k means; True when the last steps score higher."""
    if len(rewards) < 2 * window:
        raise SystemExit(f"only {len(rewards)} steps logged; need at least {2 * window}")
    first, last = statistics.mean(rewards[:window]), statistics.mean(rewards[-window:])
    passed = last > first
    print(f"\nmean reward, first {window} steps: {first:.4f}")
    print(f"mean reward, last {window} steps:  {last:.4f}  ({last - first:+.4f})")
    print("PASS: GRPO moved the policy towards the reward" if passed
          else "FAIL: the reward did not rise")
    headline("learning_check", f"mean reward, last {window} steps", f"{last:.3f}",
             f"{first:.3f} (first {window} steps)", "> first", "PASS" if passed else "FAIL")
    return passed


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    rewards = train(args)
    print(f"\n{len(rewards)} steps in {time.perf_counter() - started:.0f} s (incl. start-up)")
    sys.exit(0 if verdict(rewards, args.window) else 1)


if __name__ == "__main__":
    main()
