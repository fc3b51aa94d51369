"""Make verl 0.5.0 run GRPO on CPU-only machines.

verl 0.5.0 assumes an accelerator in a handful of places (NCCL, `torch.<device>` helpers
that `torch.cpu` lacks, pinned-memory offload, GPU placement and counts), and its HF
rollout (used only here) has bugs of its own (n samples for prompts the trainer already
repeated n times, the prompt's position ids reused for generated tokens); each function
below fixes one of them. `apply()` runs in the job driver (launcher) and, through the
job's runtime_env `worker_process_setup_hook` (`worker_setup`), in every Ray worker.
Nothing else in the code base knows about these patches: the cpu profile only asks for
them. Three of them save work rather than fix verl, each switched on by a key of the
job's verl config that the cpu profile sets (`cpu_steps` below): the rollout drops the
padding no row needs, ends each answer at its closing tag, and the step skips the update
of prompt groups whose rewards are all equal.
"""

from __future__ import annotations

import copy
import functools
import os
from typing import Any

_APPLIED = False


def apply() -> None:
    """Apply every CPU patch once per process (idempotent, safe without verl imported)."""
    global _APPLIED
    if _APPLIED:
        return
    _set_threads()
    _gloo_backend()
    _torch_cpu_namespace()
    _unpinned_cpu_offload()
    _cpu_placement()
    _single_sample_hf_rollout()
    _hf_rollout_positions_from_mask()
    _hf_rollout_gathers_lora_root()
    from rm_core.training import cpu_steps

    cpu_steps.apply()
    _APPLIED = True


def _set_threads() -> None:
    """Ray gives actors that ask for no CPU one thread; use the threads the job was given
    (`cpu.threads`), never more than the cores this process may run on."""
    import torch

    threads = min(int(os.environ.get("OMP_NUM_THREADS", "0") or 0), len(os.sched_getaffinity(0)))
    if threads > 0:
        torch.set_num_threads(threads)


def _gloo_backend() -> None:
    """No NCCL without CUDA: use gloo, and accept verl's "cpu:gloo,cpu:gloo" spec."""
    import torch.distributed as dist
    from verl.utils import device
    from verl.workers import fsdp_workers

    device.get_nccl_backend = fsdp_workers.get_nccl_backend = lambda: "gloo"
    original = dist.init_process_group

    @functools.wraps(original)
    def init_process_group(*args: object, backend: str | None = None, **kwargs: object) -> object:
        if backend and set(backend.split(",")) == {"cpu:gloo"}:
            backend = "gloo"
        return original(*args, backend=backend, **kwargs)

    dist.init_process_group = init_process_group


def _torch_cpu_namespace() -> None:
    """verl calls `torch.<device>.*` helpers that `torch.cpu` lacks: add CPU equivalents."""
    import psutil
    import torch

    def memory_info() -> tuple[int, int]:
        memory = psutil.virtual_memory()
        return memory.available, memory.total

    equivalents = {
        "empty_cache": lambda: None,
        "ipc_collect": lambda: None,
        "get_rng_state": lambda device=None: torch.get_rng_state(),
        "set_rng_state": lambda state, device=None: torch.set_rng_state(state),
        "manual_seed": torch.manual_seed,
        "manual_seed_all": torch.manual_seed,
        "memory_allocated": lambda device=None: 0,
        "max_memory_allocated": lambda device=None: 0,
        "memory_reserved": lambda device=None: 0,
        "max_memory_reserved": lambda device=None: 0,
        "reset_peak_memory_stats": lambda device=None: None,
        "mem_get_info": lambda device=None: memory_info(),
        "get_device_name": lambda device=None: "cpu",
    }
    for name, function in equivalents.items():
        if not hasattr(torch.cpu, name):
            setattr(torch.cpu, name, function)


def _unpinned_cpu_offload() -> None:
    """FSDP2's CPU offload pins memory, which needs an accelerator: never pin."""
    from verl.utils import fsdp_utils
    from verl.workers import fsdp_workers

    policy = fsdp_utils.CPUOffloadPolicy
    if policy is None or getattr(policy, "_rm_pipeline_unpinned", False):
        return

    class UnpinnedCPUOffloadPolicy(policy):
        _rm_pipeline_unpinned = True

        def __init__(self, pin_memory: bool = False, **kwargs: object) -> None:
            super().__init__(pin_memory=False, **kwargs)

    fsdp_utils.CPUOffloadPolicy = fsdp_workers.CPUOffloadPolicy = UnpinnedCPUOffloadPolicy


def _cpu_placement() -> None:
    """Place workers on plain CPU bundles and skip verl's GPU/NPU count check."""
    from verl.single_controller.ray import base
    from verl.trainer.ppo import ray_trainer

    original = base.RayResourcePool.__init__

    @functools.wraps(original)
    def __init__(
        self: object,
        process_on_nodes: list[int] | None = None,
        use_gpu: bool = True,
        *args: object,
        **kwargs: object,
    ) -> None:
        original(self, process_on_nodes, False, *args, **kwargs)

    base.RayResourcePool.__init__ = __init__
    ray_trainer.ResourcePoolManager._check_resource_available = lambda self: None


def _single_sample_hf_rollout() -> None:
    """verl 0.5.0's HFRollout samples rollout.n sequences per prompt although the trainer
    already repeated each prompt n times: let it sample one."""
    from omegaconf import open_dict
    from verl.workers.rollout import hf_rollout

    original = hf_rollout.HFRollout.__init__

    @functools.wraps(original)
    def __init__(self: object, module: object, config: object) -> None:
        config = copy.deepcopy(config)
        with open_dict(config):
            config.n = 1
        original(self, module, config)

    hf_rollout.HFRollout.__init__ = __init__


def _hf_rollout_positions_from_mask() -> None:
    """verl 0.5.0's HFRollout hands the prompt's `position_ids` to `generate`; with
    transformers 4.5x every generated token then gets the last prompt position and the
    samples turn to noise (SmolLM2: 1 of 32 sampled judgements parsable instead of 13).
    Without them `generate` derives each step's positions from the attention mask."""
    from verl.workers.rollout import hf_rollout

    original = hf_rollout.HFRollout._generate_minibatch

    @functools.wraps(original)
    def _generate_minibatch(self: Any, prompts: Any) -> Any:
        generate = self.module.generate

        def generate_without_positions(*args: Any, position_ids: Any = None,
                                       **kwargs: Any) -> Any:
            return generate(*args, **kwargs)

        self.module.generate = generate_without_positions
        try:
            return original(self, prompts)
        finally:
            del self.module.generate

    hf_rollout.HFRollout._generate_minibatch = _generate_minibatch


def _hf_rollout_gathers_lora_root() -> None:
    """With LoRA the FSDP2 root module is peft's wrapper, whose `forward` HF `generate`
    never calls, so the root's own parameters (embedding, final norm, lm_head) stay
    sharded DTensors and generation fails ("mixed torch.Tensor and DTensor"): gather them
    for the whole generation. A first forward through the root comes before, else each
    layer would initialise itself as an FSDP root and the next real forward fails."""
    import torch
    from verl.workers.rollout import hf_rollout

    original = hf_rollout.HFRollout._generate_minibatch

    @functools.wraps(original)
    def _generate_minibatch(self: Any, prompts: Any) -> Any:
        module = self.module
        if not (hasattr(module, "peft_config") and hasattr(module, "unshard")):
            return original(self, prompts)
        if not getattr(self, "_rm_root_initialised", False):
            with torch.no_grad():
                module(input_ids=prompts.batch["input_ids"][:1, -1:])
            self._rm_root_initialised = True
        module.unshard()
        try:
            return original(self, prompts)
        finally:
            module.reshard()

    hf_rollout.HFRollout._generate_minibatch = _generate_minibatch
