"""Tell a person when a deployment's run needs a code, fails or crashes: a Prefect Automation.

One automation per deployment, named `partner-sync notify: <flow>/<deployment>`: an event
trigger on that deployment's flow runs entering *Paused*, *Failed*, *TimedOut* or *Crashed*
(`prefect.flow-run.<state name>`, the flow run as the event's resource and the deployment
as a related resource), whose action sends a message through a notification block the user
names by its slug (`PARTNER_NOTIFY_BLOCK`, e.g. `slack-webhook/ops`, `custom-webhook/ops`,
`email/ops`): whatever notification block Prefect ships. The Prefect server renders the
message (Jinja, `MESSAGE_SUBJECT` and `message_body`) when the event arrives, so it works
for `serve` and for work pools alike, and needs nothing from the run's process.

What a paused run's message knows: Prefect's Paused state carries no message, so before it
pauses the flow puts where the code went (masked) and when the login expires on the run as
labels (`flows.otp_prefect.pause_labels`); the template reads them from
`flow_run.labels`. Nothing secret reaches a message: no code, token, password or API
secret is ever a label, and a failed run's state message is the run's one-line error,
which never holds one.

The automation is created without `owner_resource`: Prefect deletes the automations a
deployment owns every time the deployment is applied (`serve`, `prefect deploy`), so an
owned one would vanish at the next start. `remove_notifications` (`partner-sync notify
remove`) deletes it by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.automations import AutomationCore, EventTrigger, SendNotification
from prefect.events.schemas.automations import Posture
from prefect.exceptions import ObjectNotFound
from prefect.settings import get_current_settings

from flows.otp_prefect import LABEL_ATTEMPT, LABEL_EXPIRES_AT, LABEL_SENT_TO, LABEL_TIME_LEFT

#: The flow whose deployments are meant when a bare deployment name is given.
FLOW_NAME = "sync-reference-data"
#: The served deployment's name (`deployments.serve.DEPLOYMENT_NAME`).
DEFAULT_DEPLOYMENT = f"{FLOW_NAME}/daily"

#: The flow-run states a person hears about, by Prefect's state *name* (the event's suffix).
#: `TimedOut` is a Failed state under its own name.
NOTIFY_STATES = ("Paused", "Failed", "TimedOut", "Crashed")

#: A block document's slug: `<block type slug>/<block document name>`.
_BLOCK_SLUG = re.compile(r"^([a-z0-9][a-z0-9-]*)/([^/]+)$")

MESSAGE_SUBJECT = (
    "partner-sync: run {{ flow_run.name }} "
    "{% if flow_run.state.name == 'Paused' %}needs a one-time code"
    "{% else %}is {{ flow_run.state.name }}{% endif %}"
)


class NotifySetupError(Exception):
    """The block or the deployment named for notifications does not exist or is malformed."""


@dataclass(frozen=True)
class NotifySetup:
    """What `setup_notifications` did."""

    automation_id: UUID
    name: str
    deployment: str
    block: str
    #: True when an automation of that name existed and was updated.
    updated: bool


def deployment_full_name(name: str) -> str:
    """`daily` -> `sync-reference-data/daily`; a `flow/deployment` name is kept."""
    return name if "/" in name else f"{FLOW_NAME}/{name}"


def automation_name(deployment: str) -> str:
    """The automation's stable name for `deployment` (create-or-update finds it by this)."""
    return f"partner-sync notify: {deployment_full_name(deployment)}"


def _literal(text: str) -> str:
    # Names go into the template as text, never as Jinja.
    return "{% raw %}" + text.replace("{% endraw %}", "") + "{% endraw %}"


def message_body(deployment: str, ui_url: str | None) -> str:
    """The Jinja body of the message for `deployment` (rendered by the Prefect server).

    The link is Prefect's `ui_url` filter (the server's `PREFECT_UI_URL`), falling back to
    the UI address the setup side knew (`ui_url`), as a server may not know its own.
    """
    base = f"{ui_url.rstrip('/')}/runs/flow-run/" if ui_url else ""
    fallback = f"'{base}' ~ flow_run.id" if base else "'(set PREFECT_UI_URL for a link)'"
    label = "flow_run.labels['{}']".format
    paused = "{%- if flow_run.state.name == 'Paused' %}"
    return "\n".join(
        [
            f"{paused}partner-sync is waiting for a one-time code to log in to the partner."
            "{%- else %}partner-sync: a run ended {{ flow_run.state.name }}.{%- endif %}",
            "",
            f"Deployment: {_literal(deployment_full_name(deployment))}",
            "Run: {{ flow_run.name }} ({{ flow_run.id }})",
            "State: {{ flow_run.state.name }} at "
            "{{ flow_run.state.timestamp.strftime('%Y-%m-%d %H:%M:%S') }} UTC",
            paused,
            f"The code: {{{{ {label(LABEL_SENT_TO)} or 'sent by the partner' }}}}",
            f"Answer within {{{{ {label(LABEL_TIME_LEFT)} or 'a few minutes' }}}}"
            f" (until {{{{ {label(LABEL_EXPIRES_AT)} or 'the login expires' }}}});"
            " after that the login expires and the run fails.",
            f"{{%- if {label(LABEL_ATTEMPT)} and {label(LABEL_ATTEMPT)} != '1' %}}",
            f"The previous code was wrong: this is attempt {{{{ {label(LABEL_ATTEMPT)} }}}}.",
            "{%- endif %}",
            "Answer: type the code into the run's form in the Prefect UI, or run "
            "`partner-sync otp CODE` where the deployment's settings are.",
            "{%- elif flow_run.state.message %}",
            "Reason: {{ flow_run.state.message|truncate(600) }}",
            "{%- endif %}",
            f"Open the run: {{{{ flow_run|ui_url or ({fallback}) }}}}",
        ]
    )


def _split_slug(block: str) -> tuple[str, str]:
    match = _BLOCK_SLUG.match(block.strip())
    if not match:
        raise NotifySetupError(
            f"PARTNER_NOTIFY_BLOCK {block!r} is not a block slug: give `<block type>/<name>`, "
            "e.g. `slack-webhook/ops` or `custom-webhook/ops`"
        )
    return match.group(1), match.group(2)


def _notification_block_id(client: Any, block: str) -> UUID:
    block_type, name = _split_slug(block)
    try:
        document = client.read_block_document_by_name(
            name=name, block_type_slug=block_type, include_secrets=False
        )
    except ObjectNotFound:
        raise NotifySetupError(
            f"no notification block {block!r} on the Prefect server: create it in the UI "
            "(Blocks) or in Python (`SlackWebhook(url=...).save('ops')`), see README"
        ) from None
    capabilities = set(getattr(document.block_schema, "capabilities", None) or [])
    if "notify" not in capabilities:
        raise NotifySetupError(f"the block {block!r} cannot send notifications")
    return UUID(str(document.id))


def _deployment_id(client: Any, deployment: str) -> UUID:
    full = deployment_full_name(deployment)
    try:
        return UUID(str(client.read_deployment_by_name(full).id))
    except ObjectNotFound:
        raise NotifySetupError(
            f"no deployment {full!r} on the Prefect server: run `partner-sync serve` or "
            "`prefect deploy` first"
        ) from None


def build_automation(
    deployment: str, deployment_id: UUID, block_document_id: UUID, ui_url: str | None
) -> AutomationCore:
    """The automation for `deployment`: its runs' Paused/Failed/Crashed events -> the block."""
    return AutomationCore(
        name=automation_name(deployment),
        description=(
            "partner-sync: tell a person when a run of this deployment needs a one-time "
            "code, fails or crashes (`partner-sync notify setup` keeps it up to date)."
        ),
        enabled=True,
        trigger=EventTrigger(
            expect={f"prefect.flow-run.{state}" for state in NOTIFY_STATES},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={
                "prefect.resource.id": f"prefect.deployment.{deployment_id}",
                "prefect.resource.role": "deployment",
            },
            # One firing per event of each run: a second pause (a wrong code) is told too.
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            SendNotification(
                block_document_id=block_document_id,
                subject=MESSAGE_SUBJECT,
                body=message_body(deployment, ui_url),
            )
        ],
    )


def _existing(client: Any, name: str) -> list[Any]:
    # `read_automations_by_name` may match more than one (created twice by hand).
    return [a for a in client.read_automations_by_name(name) if a.name == name]


def setup_notifications(deployment: str, block: str) -> NotifySetup:
    """Create, or update in place, the automation that notifies through `block`.

    `deployment` is `flow/deployment` or a bare deployment name of this flow; `block` is a
    notification block's slug. Raises `NotifySetupError` naming what is missing.
    """
    _split_slug(block)  # a malformed slug is refused before any request
    name = automation_name(deployment)
    ui_url = get_current_settings().ui_url
    with get_client(sync_client=True) as client:
        block_id = _notification_block_id(client, block)
        deployment_id = _deployment_id(client, deployment)
        automation = build_automation(deployment, deployment_id, block_id, ui_url)
        existing = _existing(client, name)
        if existing:
            first, *duplicates = existing
            client.update_automation(first.id, automation)
            for duplicate in duplicates:
                client.delete_automation(duplicate.id)
            automation_id, updated = UUID(str(first.id)), True
        else:
            automation_id, updated = UUID(str(client.create_automation(automation))), False
    return NotifySetup(automation_id, name, deployment_full_name(deployment), block, updated)


def remove_notifications(deployment: str) -> int:
    """Delete the automation of `deployment`; return how many were deleted (0 if none)."""
    with get_client(sync_client=True) as client:
        existing = _existing(client, automation_name(deployment))
        for automation in existing:
            client.delete_automation(automation.id)
    return len(existing)
