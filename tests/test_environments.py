"""The two environments: the orchestrator (+ `cpu` extra) on this machine, and the GPU
cluster's, pinned in requirements-gpu.lock.txt compiled from pyproject's `gpu` extra."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from rm_core.config import load_experiment

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-gpu.lock.txt"
MODEL_LIBRARIES = {"torch", "transformers", "verl", "vllm"}
# The pins a re-resolution must reproduce: the stack verl 0.5's GPU image is built from.
GPU_STACK = ("verl", "vllm", "torch", "transformers", "ray")
RAY_VERSION = "2.60.0"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _requirements(group: str | None) -> list[Requirement]:
    """The base dependencies (`group` None) or one optional-dependency group."""
    project = _project()
    lines = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return [Requirement(line) for line in lines]


def _pins(lock: Path) -> dict[str, str]:
    """name -> version of every `name==version` line of a pip-compiled lock file."""
    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{lock.name}: {line!r} is not pinned with =="
        pins[canonicalize_name(name)] = version.split(";", 1)[0].strip()
    return pins


def test_the_gpu_lock_satisfies_the_base_dependencies_and_the_gpu_extra() -> None:
    pins = _pins(LOCK)
    for requirement in _requirements(None) + _requirements("gpu"):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{LOCK.name} lacks {requirement}: run bash scripts/lock_gpu.sh"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name]}, pyproject wants {requirement}: "
            "run bash scripts/lock_gpu.sh")


def test_ray_is_pinned_once_in_pyproject_and_the_same_in_the_gpu_lock() -> None:
    project = _project()
    groups = [project["dependencies"], *project["optional-dependencies"].values()]
    rays = [Requirement(line) for group in groups for line in group
            if canonicalize_name(Requirement(line).name) == "ray"]
    assert [str(ray.specifier) for ray in rays] == [f"=={RAY_VERSION}"]
    assert rays[0].extras == {"default"}
    assert _pins(LOCK)["ray"] == RAY_VERSION


def test_the_orchestrator_needs_no_model_library() -> None:
    names = {canonicalize_name(requirement.name) for requirement in _requirements(None)}
    assert not names & MODEL_LIBRARIES


def _is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, not an IP literal
        return False


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.0.2", "::1", "localhost", "LOCALHOST."])
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert _is_loopback(host)


def test_the_gpu_config_points_at_a_cluster_not_at_this_machine() -> None:
    config = load_experiment(ROOT / "configs" / "pointwise_helpsteer2_gpu.yaml")
    host = urlsplit(config.ray.address or "").hostname
    assert host, f"ray.address {config.ray.address!r} names no host"
    assert not _is_loopback(host), f"ray.address {config.ray.address} is this machine"


def _uv(tmp_path: Path) -> Path:
    """uv from PATH, else pip-installed into a throwaway venv; skips when pip cannot reach
    the package index for it."""
    found = shutil.which("uv")
    if found:
        return Path(found)
    venv = tmp_path / "uv-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "uv"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"package index unreachable: pip install uv failed: {done.stderr[-500:]}")
    return venv / "bin" / "uv"


def _index_reachable(uv: Path, tmp_path: Path) -> tuple[bool, str]:
    """Try a one-package resolution against the index the lock script uses."""
    index = os.environ.get("PIP_INDEX_URL") or subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
        capture_output=True, text=True).stdout.strip()
    probe = tmp_path / "probe.in"
    probe.write_text("packaging\n", encoding="utf-8")
    command = [str(uv), "pip", "compile", str(probe), "--no-config", "--no-cache",
               "--python-version", "3.11", "--quiet"]
    done = subprocess.run(command + (["--default-index", index] if index else []),
                          capture_output=True, text=True)
    return done.returncode == 0, done.stderr[-500:]


def test_re_resolving_the_gpu_extra_gives_the_locked_stack(tmp_path: Path) -> None:
    uv = _uv(tmp_path)
    fresh = tmp_path / "gpu.lock.txt"
    env = {**os.environ, "PATH": f"{uv.parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "lock_gpu.sh"), str(fresh)],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        reachable, why = _index_reachable(uv, tmp_path)
        if not reachable:
            pytest.skip(f"package index unreachable: {why}")
    assert done.returncode == 0, f"scripts/lock_gpu.sh failed: {done.stderr[-2000:]}"
    locked, resolved = _pins(LOCK), _pins(fresh)
    assert {name: resolved[name] for name in GPU_STACK} == {name: locked[name]
                                                             for name in GPU_STACK}
