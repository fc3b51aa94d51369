"""The job's `worker_process_setup_hook`: runs in every Ray worker before it works.

Adds the judge's own step metrics, finishes the W&B run when training returns, and on
the cpu profile (the job sets `RM_PIPELINE_CPU_PATCHES=1`) applies the CPU patches.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

CPU_PATCHES_VAR = "RM_PIPELINE_CPU_PATCHES"


def setup() -> None:
    """Prepare this worker process for verl."""
    from rm_core.training import judge_metrics

    if os.environ.get(CPU_PATCHES_VAR) == "1":
        from rm_core.training import cpu_patches

        cpu_patches.apply()
    judge_metrics.apply()
    finish_wandb_after_fit()


def finish_wandb_after_fit() -> None:
    """Close W&B as soon as verl's `fit()` returns (idempotent).

    verl leaves its W&B run to `Tracking.__del__`, which a reference cycle delays to
    interpreter exit, after W&B's service process is gone: every job then ended with a
    "Connection lost" traceback. Finishing the run and tearing the service down here,
    while it is alive, writes the offline run completely and exits quietly.
    """
    from verl.trainer.ppo import ray_trainer

    fit = ray_trainer.RayPPOTrainer.fit
    if getattr(fit, "finishes_wandb", False):
        return

    @functools.wraps(fit)
    def fit_then_finish_wandb(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fit(self, *args, **kwargs)
        finally:
            wandb = sys.modules.get("wandb")
            if wandb is not None and wandb.run is not None:
                wandb.finish()
                wandb.teardown()

    fit_then_finish_wandb.finishes_wandb = True  # type: ignore[attr-defined]
    ray_trainer.RayPPOTrainer.fit = fit_then_finish_wandb
