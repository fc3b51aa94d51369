"""Real verl GRPO jobs on a real local Ray head, through the code path the flow uses."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from conftest import wait_for
from ray.job_submission import JobStatus
from ray.util.state.api import StateApiClient
from ray.util.state.common import ListApiOptions, StateResource
from tiny_training import TINY_GRPO, start, tiny_spec

from rm_core.cluster.job_log import follow
from rm_core.cluster.jobs import JobConfigError, auth_headers, submit_or_attach
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.config import DataConfig, TemplateConfig
from rm_core.data import stage as data_stage
from rm_core.data.sources import fetch
from rm_core.evaluation.checkpoints import checkpoint_steps, merge
from rm_core.training import run
from rm_core.training.job import REWARD_FILE, training_job
from rm_core.training.monitor import TrainingMonitor, parse_metrics

ROOT = Path(__file__).resolve().parents[1]


def test_grpo_job_succeeds_saves_checkpoints_that_merge_into_a_loadable_model(
    cluster: LocalRayCluster, workspace: dict
) -> None:
    spec = tiny_spec(wandb={"enabled": True})
    out, paths = start(spec, workspace, "ok")
    lines: list[str] = []
    monitor = TrainingMonitor(total_steps=run.expected_steps(spec, workspace["verl"].train_rows))
    result = run.train(spec, paths, out, cluster.client(), "test-ok", monitor, lines.extend)

    assert result.last_step == 2
    assert [row["step"] for row in result.metrics] == [1, 2]
    assert all(row["reward mean"] is not None for row in result.metrics)
    # the judge's own fields, added to verl's step metrics by the worker setup hook
    assert all(0 <= row["parse rate"] <= 1 and 0 <= row["acc"] <= row["parse rate"]
               for row in result.metrics)
    assert all(0 <= row["abs error"] <= 4 for row in result.metrics)
    # the cpu profile leaves uniform prompt groups out of the update and says how many it kept
    assert all(0 <= row["groups kept"] <= 4 for row in result.metrics)
    assert any("using customized reward function 'compute_score'" in line for line in lines)
    assert any("Using dataset class: JudgeRLDataset" in line for line in lines)
    # W&B (offline) is finished when training returns, not at exit after its service died
    assert list((out / "wandb").glob("offline-run-*/*.wandb")), "no offline W&B run"
    assert not [line for line in lines if "Traceback" in line]
    steps = checkpoint_steps(result.checkpoint_dir)
    assert sorted(steps) == [1, 2]

    merged = merge(steps[2], workspace["root"] / "merged")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(merged)
    tokenizer = AutoTokenizer.from_pretrained(merged)
    assert model.config.model_type == "qwen2"
    assert tokenizer.eos_token == "<|im_end|>"

    again = run.train(spec, paths, out, cluster.client(), "test-ok", monitor, lines.extend)
    assert again == result  # a finished stage is not trained twice


def test_a_lora_checkpoint_merges_into_a_model_that_judges_unlike_the_base(
    cluster: LocalRayCluster, workspace: dict
) -> None:
    # verl's merger writes the base weights plus an adapter with lora_alpha 0: loaded as
    # is, the checkpoint would be the base model. A high lr and an entropy bonus move
    # the adapter whatever the (untrained) tiny judge's rewards.
    grpo = {**TINY_GRPO, "total_training_steps": 1, "lora_rank": 4, "lora_alpha": 8,
            "lr": 0.05, "entropy_coeff": 0.1}
    spec = tiny_spec(grpo=grpo, cpu={"drop_uniform_groups": False})
    out, paths = start(spec, workspace, "lora")
    monitor = TrainingMonitor(total_steps=1)
    result = run.train(spec, paths, out, cluster.client(), "test-lora", monitor, print)
    actor = checkpoint_steps(result.checkpoint_dir)[1] / "actor"
    assert json.loads((actor / "lora_adapter" / "adapter_config.json").read_text()
                      )["lora_alpha"] == 8

    merged = merge(actor.parent, workspace["root"] / "lora-merged")
    assert not (merged / "lora_adapter").exists()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(merged)
    ids = tokenizer("Rate this answer from 0 to 4: <score>", return_tensors="pt")
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(workspace["model"])(**ids).logits
        tuned = AutoModelForCausalLM.from_pretrained(merged)(**ids).logits
    assert (tuned.float() - base.float()).abs().max() > 1e-2


def test_a_multi_attribute_job_rewards_every_dimension(
    cluster: LocalRayCluster, workspace: dict
) -> None:
    root = workspace["root"] / "multi"
    data = DataConfig(dimensions=("helpfulness", "correctness"),
                      dimension_weights={"helpfulness": 3, "correctness": 1},
                      template=TemplateConfig(answer_prefix="<helpfulness>"))
    verl = data_stage.to_verl(
        data_stage.split(data_stage.ingest(fetch(data.source, root), data, root), data, root),
        data, root)
    spec = tiny_spec()
    out = root / "run"
    paths = run.run_paths(spec, verl, workspace["model"], out, data)
    lines: list[str] = []
    result = run.train(spec, paths, out, cluster.client(), "test-multi",
                       TrainingMonitor(total_steps=2), lines.extend)

    assert result.last_step == 2
    steps = [m for m in map(parse_metrics, lines) if m is not None and "step" in m]
    # only the multi-attribute reward returns `parsed_fraction`: its kwargs reached verl
    assert [m["step"] for m in steps] == [1.0, 2.0]
    assert all(0 <= m["judge/parsed_fraction/mean"] <= 1 for m in steps)
    assert all(m["critic/score/max"] <= 1 for m in steps)


def test_a_job_that_fails_surfaces_its_own_error_lines(
    cluster: LocalRayCluster, workspace: dict
) -> None:
    spec = tiny_spec(extra_overrides=("trainer.no_such_setting=1",))
    out, paths = start(spec, workspace, "bad")
    monitor = TrainingMonitor(total_steps=2)
    with pytest.raises(JobConfigError, match="no_such_setting") as failure:
        run.train(spec, paths, out, cluster.client(), "test-bad", monitor, lambda lines: None)
    assert "FAILED" in str(failure.value)
    assert "invalid configuration" in str(failure.value)  # the launcher's own line
    assert not (out / "_SUCCESS.json").exists()


def live_actors(cluster: LocalRayCluster, job_id: str) -> list[str]:
    """Class names of the actors of Ray job `job_id` that are not dead yet."""
    api = StateApiClient(cluster.dashboard_url, headers=auth_headers(cluster.auth_env()))
    actors = api.list(StateResource.ACTORS, ListApiOptions(filters=[("job_id", "=", job_id)]),
                      raise_on_missing_output=False)
    return [actor.class_name for actor in actors if actor.state != "DEAD"]


def test_stopping_a_running_job(cluster: LocalRayCluster, workspace: dict) -> None:
    spec = tiny_spec(grpo={**TINY_GRPO, "total_training_steps": 50})
    _, paths = start(spec, workspace, "stopped")
    job = training_job(spec, paths, "test-stop")
    client = cluster.client()
    submit_or_attach(client, job.submission_id, job.entrypoint, job.runtime_env, job.metadata)
    training: list[str] = []  # the job's actors while it trains

    def stop_at_first_step(lines: list[str]) -> None:
        if not training and any("step:1 -" in line for line in lines):
            job_id = client.get_job_info(job.submission_id).job_id
            training.extend(live_actors(cluster, job_id))
            client.stop_job(job.submission_id)

    assert follow(client, job.submission_id, stop_at_first_step) == JobStatus.STOPPED
    assert "TaskRunner" in training
    job_id = client.get_job_info(job.submission_id).job_id
    # Once its actors are gone nothing of the job can train on; one that ignored the
    # stop would keep them until its 50 steps are done.
    assert wait_for(lambda: not live_actors(cluster, job_id), 300), (
        f"actors of the stopped job still alive: {live_actors(cluster, job_id)}")
    stopped_at = run.latest_checkpoint_step(paths.checkpoint_dir)
    assert stopped_at is None or stopped_at < 50


def test_reward_file_loads_the_way_verl_loads_it_inside_a_ray_worker(
    cluster: LocalRayCluster,
) -> None:
    script = (
        "import json, ray\n"
        "ray.init()\n"
        "def score():\n"
        "    from verl.trainer.ppo.reward import get_custom_reward_fn\n"
        "    fn = get_custom_reward_fn({'custom_reward_function': {\n"
        f"        'path': '{REWARD_FILE}', 'name': 'compute_score',\n"
        "        'reward_kwargs': {'answer_prefix': '<score>', 'k': 2.0}}})\n"
        "    return fn('helpsteer2', '2</score>', {'helpfulness': 3})\n"
        "print('REWARD', json.dumps(ray.get(ray.remote(score).remote())))\n"
    )
    client = cluster.client()
    job_id = "reward-load-test"
    submit_or_attach(client, job_id, shlex.join(["python", "-c", script]),
                     {"working_dir": str(ROOT), "excludes": [".venv", "artifacts", ".git"]})
    lines: list[str] = []
    assert follow(client, job_id, lines.extend) == JobStatus.SUCCEEDED
    reward = json.loads(next(line for line in lines if line.startswith("REWARD")).split(" ", 1)[1])
    assert reward["score"] == pytest.approx(0.6065306597)
    assert reward["parsed"] == 1.0


def test_jobs_of_a_cancelled_run_are_stopped(cluster: LocalRayCluster) -> None:
    client = cluster.client()
    sleeper = shlex.join(["python", "-c", "import time; time.sleep(600)"])
    submit_or_attach(client, "cancel-mine", sleeper, metadata={"run_id": "run-a"})
    submit_or_attach(client, "cancel-other", sleeper, metadata={"run_id": "run-b"})
    assert run.stop_run_jobs(client, "run-a") == ["cancel-mine"]
    assert follow(client, "cancel-mine", lambda lines: None) == JobStatus.STOPPED
    assert client.get_job_status("cancel-other") in (JobStatus.PENDING, JobStatus.RUNNING)
    client.stop_job("cancel-other")
