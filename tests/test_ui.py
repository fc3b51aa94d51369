"""A real browser (Debian's chromium driven by Playwright) on the local stack's Prefect UI.

Every request that does not go to the loopback interface is aborted: the UI must render
from the stack alone (its page also tries an analytics host; that must not matter).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import stack_cli, wait_for
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    DeploymentFilter,
    DeploymentFilterId,
)
from test_flow_pointwise_train import write_config
from tiny_training import TINY_TRAINING

from deployments.state import StackSettings

CHROMIUM = Path("/usr/bin/chromium")
# Flags that work on these machines (no GPU, no network, root in a container).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TIMEOUT_MS = 60_000

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium (apt-get install chromium)")


def only_loopback(route: sync_api.Route) -> None:
    if urlparse(route.request.url).hostname in LOOPBACK:
        route.continue_()
    else:
        route.abort()


@pytest.fixture(scope="module")
def page(stack: StackSettings, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[sync_api.Page]:
    """A browser page whose non-loopback requests are aborted."""

    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            args=CHROMIUM_FLAGS, headless=True)
        try:
            context.route("**/*", only_loopback)
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            context.close()


def test_the_deployments_page_lists_the_pointwise_train_deployments(
    stack: StackSettings, page: sync_api.Page
) -> None:
    page.goto(f"{stack.ui_url}/deployments")
    rows = page.locator("tr", has_text="pointwise-train")
    rows.filter(has_text="nightly").first.wait_for()
    rows.filter(has_text="manual").first.wait_for()
    assert page.get_by_text("prepare-data").first.is_visible()


def test_a_scheduled_pointwise_train_run_opens_in_the_ui(stack: StackSettings,
                                                         page: sync_api.Page) -> None:
    with SyncPrefectClient(stack.api_url) as client:
        nightly = client.read_deployment_by_name("pointwise-train/nightly")
        # The scheduler creates the runs on its own loop, up to a minute after deploying.
        runs = wait_for(lambda: client.read_flow_runs(deployment_filter=DeploymentFilter(
            id=DeploymentFilterId(any_=[nightly.id])), limit=1), timeout_s=150)
    assert runs, "no scheduled run of pointwise-train/nightly"
    page.goto(stack.flow_run_url(runs[0].id))
    page.get_by_text(runs[0].name).first.wait_for()
    body = page.locator("body")
    for text in ("pointwise-train", "nightly", "Scheduled", "local-process"):
        sync_api.expect(body).to_contain_text(text, timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def completed_run(stack: StackSettings, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The id of a tiny pointwise-train/manual run that went through the stack's worker."""
    work = tmp_path_factory.mktemp("ui-run")
    config = write_config(work / "tiny.yaml", TINY_TRAINING)
    done = stack_cli("run", str(config), "--artifacts-dir", str(work / "art"),
                     "--state-dir", str(stack.state_dir), "--prefect-port",
                     str(stack.prefect_port), "--ray-port", str(stack.ray_port), timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    return done.stdout.split("[run] flow run: ")[1].split()[0].rsplit("/", 1)[1]


def test_the_completed_run_its_task_runs_and_its_evaluation_artifact_show(
    stack: StackSettings, page: sync_api.Page, completed_run: str
) -> None:
    """On the page the main command prints (the UI's v2 pages: the v1 task-run list of
    Prefect 3.8.8 stays empty)."""
    body = page.locator("body")
    page.goto(stack.flow_run_url(completed_run))
    sync_api.expect(body).to_contain_text("Completed", timeout=TIMEOUT_MS)
    page.get_by_text("Task Runs", exact=True).first.click()
    for task in ("prepare-model", "check-for-changes", "check-learning-signal", "train-judge"):
        sync_api.expect(body).to_contain_text(task, timeout=TIMEOUT_MS)
    with SyncPrefectClient(stack.api_url) as client:
        report = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["evaluation-report"])))
    assert report, "no evaluation-report artifact"
    page.goto(f"{stack.ui_url}/v2/artifacts/artifact/{report[0].id}")
    sync_api.expect(body).to_contain_text("Best candidate", timeout=TIMEOUT_MS)
    sync_api.expect(body).to_contain_text("mean reward", timeout=TIMEOUT_MS)
