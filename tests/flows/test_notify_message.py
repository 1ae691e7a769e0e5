"""The notification's message, rendered by the Prefect server's own template engine (no server).

The end-to-end test (`test_notify.py`) sends it for real; these cases cover what a single
run cannot show: a pause without labels, a deployment name that looks like Jinja, no UI
address, the labels a pause sets, and a malformed block slug.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from prefect.server.events.jinja_filters import all_filters
from prefect.server.schemas.responses import FlowRunResponse
from prefect.server.schemas.states import State, StateType
from prefect.server.utilities.user_templates import (
    register_user_template_filters,
    render_user_template_sync,
    validate_user_template,
)
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

from flows.notify import (
    MESSAGE_SUBJECT,
    NotifySetupError,
    automation_name,
    build_automation,
    message_body,
    setup_notifications,
)
from flows.otp_prefect import pause_labels
from partner_api import OtpChallenge

register_user_template_filters(all_filters)


def flow_run(state: str, labels: dict[str, Any] | None = None, message: str | None = None) -> Any:
    state_type = {"Paused": StateType.PAUSED, "Crashed": StateType.CRASHED}.get(
        state, StateType.FAILED
    )
    return FlowRunResponse(
        id=uuid.uuid4(),
        name="brave-otter",
        flow_id=uuid.uuid4(),
        labels=labels or {},
        state=State(type=state_type, name=state, message=message, timestamp=datetime.now(UTC)),
    )


def render(template: str, run: Any) -> str:
    """Render as the server would, knowing no UI address (a session's test API may set one)."""
    validate_user_template(template)
    with temporary_settings(restore_defaults={PREFECT_UI_URL, PREFECT_API_URL}):
        return render_user_template_sync(template, {"flow_run": run})


def test_a_paused_run_without_labels_still_says_what_to_do() -> None:
    run = flow_run("Paused")
    body = render(message_body("daily", "http://ui.example"), run)
    assert "The code: sent by the partner" in body
    assert "Answer within a few minutes (until the login expires)" in body
    assert "attempt" not in body
    assert f"Open the run: http://ui.example/runs/flow-run/{run.id}" in body
    assert render(MESSAGE_SUBJECT, run) == "partner-sync: run brave-otter needs a one-time code"


def test_a_second_pause_says_the_previous_code_was_wrong() -> None:
    challenge = OtpChallenge("s1", "EMAIL", "pat@example.com", time.monotonic() + 200, attempt=2)
    body = render(message_body("daily", None), flow_run("Paused", pause_labels(challenge)))
    assert "The code: sent by email to p***@example.com" in body  # masked here if not by them
    assert "The previous code was wrong: this is attempt 2." in body
    assert "(set PREFECT_UI_URL for a link)" in body


def test_a_crashed_run_gives_its_reason_and_a_name_is_never_jinja() -> None:
    run = flow_run("Crashed", message="Execution was cancelled by the runtime environment.")
    body = render(message_body("odd{{ name }}", "http://ui.example/"), run)
    assert "partner-sync: a run ended Crashed." in body
    assert "Deployment: sync-reference-data/odd{{ name }}" in body
    assert "Reason: Execution was cancelled by the runtime environment." in body
    assert render(MESSAGE_SUBJECT, run) == "partner-sync: run brave-otter is Crashed"


def test_pause_labels_hold_where_and_until_and_nothing_else() -> None:
    now = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    challenge = OtpChallenge("s1", "TOTP", "authenticator app", time.monotonic() + 299.5)
    labels = pause_labels(challenge, now=now)
    assert labels == {
        "partner-sync.otp-sent-to": "from the authenticator app",
        "partner-sync.otp-expires-at": "2026-01-01 03:04:59 UTC",
        "partner-sync.otp-time-left": "4 min 59 s",
        "partner-sync.otp-attempt": "1",
    }


def test_the_trigger_watches_this_deployments_runs_for_the_four_states() -> None:
    deployment_id, block_id = uuid.uuid4(), uuid.uuid4()
    automation = build_automation("daily", deployment_id, block_id, None)
    assert automation.name == automation_name("sync-reference-data/daily")
    trigger: Any = automation.trigger
    assert trigger.expect == {
        "prefect.flow-run.Paused",
        "prefect.flow-run.Failed",
        "prefect.flow-run.TimedOut",
        "prefect.flow-run.Crashed",
    }
    related = trigger.match_related
    assert related.model_dump()["prefect.resource.id"] == f"prefect.deployment.{deployment_id}"
    assert automation.owner_resource is None  # an owned one is deleted at each `serve`
    assert automation.actions[0].block_document_id == block_id


@pytest.mark.parametrize("slug", ["ops", "slack-webhook/", "Slack/ops", "a/b/c"])
def test_a_malformed_block_slug_is_refused_before_any_request(slug: str) -> None:
    with pytest.raises(NotifySetupError, match="not a block slug"):
        setup_notifications("daily", slug)
