"""Entrypoint of a training job: `python -m rm_core.training.launcher [--cpu] OVERRIDE...`.

Composes verl's own `ppo_trainer` Hydra config with the overrides and checks the files
it names (so an unknown key or a missing file fails here, before any worker starts,
with exit code EX_CONFIG: the job is not worth retrying), applies the CPU patches in
this driver when asked, connects to the job's Ray cluster and runs verl's trainer.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def verl_config_dir() -> Path:
    """Directory of verl's Hydra configs in the installed package."""
    import verl.trainer

    return Path(verl.trainer.__file__).resolve().parent / "config"


def compose(overrides: list[str]) -> Any:
    """verl's `ppo_trainer` config with `overrides` applied (raises on unknown keys)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(verl_config_dir()), version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=overrides)


def validated_config(overrides: list[str]) -> Any:
    """Compose `overrides`, then check each overridden value has its default's type."""
    from omegaconf import OmegaConf

    from rm_core.errors import ConfigError

    base, config = compose([]), compose(overrides)
    problems = []
    for override in overrides:
        key = override.split("=", 1)[0]
        if key.startswith(("+", "~")):
            continue
        default = OmegaConf.select(base, key, throw_on_resolution_failure=False)
        value = OmegaConf.select(config, key, throw_on_resolution_failure=False)
        if default is not None and value is not None and not _same_kind(default, value):
            problems.append(
                f"{key}={value!r}: expected {type(default).__name__} like the default {default!r}"
            )
    if problems:
        raise ConfigError("verl overrides of the wrong type:\n  " + "\n  ".join(problems))
    return config


# Files verl opens, relative to the job's working_dir unless absolute.
FILE_KEYS = ("data.train_files", "data.val_files", "data.custom_cls.path",
             "custom_reward_function.path")


def check_files(config: Any) -> None:
    """Raise `ConfigError` naming each local file of `FILE_KEYS` (and an absolute model
    path) that does not exist; URLs and hub model names are left to verl."""
    from omegaconf import OmegaConf

    from rm_core.errors import ConfigError

    missing = []
    for key in FILE_KEYS:
        value = OmegaConf.select(config, key, throw_on_resolution_failure=False)
        values = [value] if value is None or isinstance(value, str) else list(value)
        missing += [f"{key}: {path}" for path in values
                    if path and "://" not in str(path) and not Path(str(path)).exists()]
    model = OmegaConf.select(config, "actor_rollout_ref.model.path")
    if model and Path(str(model)).is_absolute() and not Path(str(model)).exists():
        missing.append(f"actor_rollout_ref.model.path: {model}")
    if missing:
        raise ConfigError(f"files the job needs do not exist (working dir {Path.cwd()}):\n  "
                          + "\n  ".join(missing))


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int | float):
        return isinstance(value, int | float)
    if isinstance(default, str):
        return isinstance(value, str)
    return True


def main(argv: list[str] | None = None) -> None:
    """Run verl GRPO with the given overrides inside the current Ray job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="apply the CPU patches")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    if args.cpu:
        from rm_core.training import cpu_patches

        cpu_patches.apply()
    from hydra.errors import HydraException

    from rm_core.errors import ConfigError

    try:
        config = validated_config(args.overrides)
        check_files(config)
    except (ConfigError, HydraException) as exc:
        print(f"rm-pipeline launcher: invalid configuration: {exc}", file=sys.stderr,
              flush=True)
        raise SystemExit(os.EX_CONFIG) from None

    import ray
    from verl.trainer.constants_ppo import get_ppo_ray_runtime_env
    from verl.trainer.main_ppo import run_ppo

    ray.init(runtime_env=get_ppo_ray_runtime_env())
    print(f"rm-pipeline launcher: verl GRPO with {len(args.overrides)} overrides", flush=True)
    run_ppo(config)


if __name__ == "__main__":
    main(sys.argv[1:])
