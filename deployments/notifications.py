"""Failure notifications for the training flows, as Prefect automations on a server.

    python -m deployments.notifications --api-url URL (--webhook URL | --block TYPE/NAME)
                                        [--overdue-hours H]

Two automations send through one notification block (a custom webhook by default, or any
notification block already saved on the server, e.g. `slack-webhook/ops`):
* "training run failed": a training flow's run failed (its on_failure hook emits
  `rm-pipeline.training.failed` naming the failed task), crashed, or went Late (scheduled
  but never started: no worker);
* "nightly run overdue": a nightly run started but reached no final state within H hours.
`stack up --notify-url URL` calls this for the local stack. Running it again updates the
automations in place: one of each, whatever the number of calls.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from uuid import UUID

from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, temporary_settings

from tasks.failures import TRAINING_FAILED_EVENT

TRAINING_FLOWS = ["pointwise-train", "pairwise-train", "bt-train"]
WEBHOOK_BLOCK = "rm-pipeline-failures"
FAILED_AUTOMATION = "rm-pipeline: training run failed"
OVERDUE_AUTOMATION = "rm-pipeline: nightly run overdue"
DEFAULT_OVERDUE_HOURS = 6.0
_FINAL_STATES = {f"prefect.flow-run.{name}" for name in
                 ("Completed", "Failed", "Crashed", "Cancelled")}

SUBJECT = "rm-pipeline: {{ flow.name }} run {{ flow_run.name }} {{ flow_run.state.name }}"
FAILED_BODY = """\
Flow run {{ flow_run.name }} of {{ flow.name }} ended {{ flow_run.state.name }}.
Failed task: {{ event.payload.failed_task or "none (the flow itself)" }}
Error: {{ event.payload.error or flow_run.state.message }}
{{ flow_run|ui_url }}"""
OVERDUE_BODY = """\
Nightly run {{ flow_run.name }} of {{ flow.name }} has run for more than {overdue} h and is
still {{ flow_run.state.name }}.
{{ flow_run|ui_url }}"""


class NotificationError(RuntimeError):
    """The notification target cannot be set up as asked."""


def webhook_block(url: str) -> UUID:
    """Save (or update) the default block: a JSON POST of {subject, body} to `url`."""
    block = CustomWebhookNotificationBlock(
        name="rm-pipeline", url=url, json_data={"subject": "{{subject}}", "body": "{{body}}"})
    return block.save(WEBHOOK_BLOCK, overwrite=True)


def named_block(client: SyncPrefectClient, slug_and_name: str) -> UUID:
    """A notification block the user saved, as `<block type slug>/<block name>`."""
    slug, sep, name = slug_and_name.partition("/")
    if not sep or not slug or not name:
        raise NotificationError(f"--block wants TYPE/NAME (e.g. slack-webhook/ops), "
                                f"got {slug_and_name!r}")
    try:
        return client.read_block_document_by_name(name, slug).id
    except ObjectNotFound:
        raise NotificationError(f"no {slug} block named {name!r} on the server: save it "
                                "first (Prefect UI > Blocks, or Block.save)") from None


def automations(block_id: UUID, overdue_hours: float) -> list[AutomationCore]:
    """The failure and the overdue automations, sending through `block_id`."""
    of_training = {"prefect.resource.role": "flow", "prefect.resource.name": TRAINING_FLOWS}
    failed = AutomationCore(
        name=FAILED_AUTOMATION,
        description="A training run failed (names the failed task), crashed or went Late.",
        trigger=EventTrigger(
            expect={TRAINING_FAILED_EVENT, "prefect.flow-run.Crashed", "prefect.flow-run.Late"},
            match={"prefect.resource.id": "prefect.flow-run.*"}, match_related=of_training,
            posture=Posture.Reactive, threshold=1, within=timedelta(0)),
        actions=[SendNotification(block_document_id=block_id, subject=SUBJECT,
                                  body=FAILED_BODY)],
    )
    overdue = AutomationCore(
        name=OVERDUE_AUTOMATION,
        description=f"A nightly training run not finished {overdue_hours:g} h after it started.",
        trigger=EventTrigger(
            after={"prefect.flow-run.Running"}, expect=_FINAL_STATES,
            for_each={"prefect.resource.id"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=[of_training, {"prefect.resource.role": "deployment",
                                         "prefect.resource.name": "nightly"}],
            posture=Posture.Proactive, threshold=1,
            within=timedelta(hours=overdue_hours)),
        actions=[SendNotification(block_document_id=block_id, subject=SUBJECT,
                                  body=OVERDUE_BODY.replace("{overdue}", f"{overdue_hours:g}"))],
    )
    return [failed, overdue]


def ensure_notifications(api_url: str, webhook: str | None = None, block: str | None = None,
                         overdue_hours: float = DEFAULT_OVERDUE_HOURS) -> list[UUID]:
    """Create or update the automations on the server at `api_url`; their ids."""
    if (webhook is None) == (block is None):
        raise NotificationError("give exactly one of a webhook URL or a saved block")
    if overdue_hours * 3600 < 10:
        raise NotificationError(f"overdue hours must be at least 10 s, got {overdue_hours} h")
    ids = []
    # Block.save talks to the configured API: point the configuration at this server.
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        block_id = webhook_block(webhook) if webhook else named_block(client, block)
        for automation in automations(block_id, overdue_hours):
            found = client.read_automations_by_name(automation.name)
            if found:
                client.update_automation(found[0].id, automation)
                for extra in found[1:]:
                    client.delete_automation(extra.id)
                ids.append(found[0].id)
            else:
                ids.append(client.create_automation(automation))
    return ids


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m deployments.notifications",
                                  description=__doc__.splitlines()[0])
    cli.add_argument("--api-url", required=True, help="the Prefect server's API URL")
    target = cli.add_mutually_exclusive_group(required=True)
    target.add_argument("--webhook", help="URL that receives a JSON {subject, body} POST")
    target.add_argument("--block", help="a saved notification block, TYPE/NAME")
    cli.add_argument("--overdue-hours", type=float, default=DEFAULT_OVERDUE_HOURS)
    args = cli.parse_args(argv)
    try:
        ensure_notifications(args.api_url, args.webhook, args.block, args.overdue_hours)
    except (NotificationError, OSError) as exc:
        print(f"[notifications] error: {exc}", file=sys.stderr)
        return 1
    print(f"[notifications] automations {FAILED_AUTOMATION!r} and {OVERDUE_AUTOMATION!r} "
          f"are set on {args.api_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
