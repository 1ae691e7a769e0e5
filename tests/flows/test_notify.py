"""Notifications for real: a `prefect server start`, the project's own automation, a webhook block
pointing at a local HTTP receiver, and served deployments whose runs pause for a code and fail.

The Prefect server renders and sends the messages from its own services (events, triggers,
actions), so nothing here fakes a part of Prefect. How long after the pause the message
arrived is logged (`pause->message`) and kept in the test's `user_properties`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox import DEMO_API_SECRET, DEMO_PASSWORD, SandboxHandle
from tests.flows.e2e import CLI, PROJECT, PrefectServer, background, prefect_server, run, wait_until
from tests.flows.test_e2e_serve import newest_code, partner_env
from tests.support.prefect_http import prefect_http
from tests.support.webhook import Received, WebhookReceiver, webhook_receiver

logger = logging.getLogger(__name__)

BLOCK = "custom-webhook/ops"
DAILY = "sync-reference-data/daily"
BAD_KEY = "sync-reference-data/bad-key"
#: Seconds a message may take after the event (the server's services poll every few seconds).
MESSAGE_TIMEOUT = 60


@dataclass
class Notified:
    """A Prefect server, a receiver behind a saved webhook block, and the users' environment."""

    server: PrefectServer
    receiver: WebhookReceiver
    sandbox: SandboxHandle
    env: dict[str, str]
    tmp: Path


def save_webhook_block(server: PrefectServer, url: str) -> None:
    """`CustomWebhookNotificationBlock(...).save("ops")`, as a user would, against `server`."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        CustomWebhookNotificationBlock(
            name="partner-sync ops",
            url=url,
            json_data={"subject": "{{subject}}", "body": "{{body}}"},
        ).save("ops", overwrite=True)


@pytest.fixture(scope="module")
def notified(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Notified]:
    """A Prefect server on SQLite with the block `custom-webhook/ops` posting to a receiver."""
    tmp = tmp_path_factory.mktemp("notify")
    with webhook_receiver() as receiver, prefect_server(tmp) as server:
        save_webhook_block(server, receiver.url)
        env = server.env(**partner_env(sandbox, tmp), PREFECT_RUNNER_POLL_FREQUENCY="1")
        yield Notified(server, receiver, sandbox, env, tmp)


def automations_named(server: PrefectServer, name: str) -> list[dict[str, Any]]:
    found = server.api("POST", "/automations/filter", json={})
    return [a for a in found if a["name"] == name]


@contextmanager
def served(notified: Notified, name: str, **extra: str) -> Iterator[str]:
    """`partner-sync serve --name NAME` in the background; yields the deployment's id."""
    env = {**notified.env, **extra}
    log = notified.tmp / f"serve-{name}.log"
    with background([*CLI, "serve", "--name", name], env, log, PROJECT) as process:

        def registered() -> str | None:
            assert process.poll() is None, log.read_text()[-3000:]
            with prefect_http(notified.server.api_url) as http:
                response = http.get(f"/deployments/name/sync-reference-data/{name}")
            return str(response.json()["id"]) if response.status_code == 200 else None

        yield str(wait_until(registered, 90, f"the served deployment {name!r}"))


def start_run(server: PrefectServer, deployment_id: str) -> dict[str, Any]:
    return dict(server.api("POST", f"/deployments/{deployment_id}/create_flow_run", json={}))


def cancel_unless_final(server: PrefectServer, flow_run_id: str) -> None:
    """Cancel a run a failed test left paused (it would hold the run lock)."""
    if server.state_of(flow_run_id) not in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
        server.api(
            "POST",
            f"/flow_runs/{flow_run_id}/set_state",
            json={"state": {"type": "CANCELLED"}, "force": True},
        )


def message_for(
    receiver: WebhookReceiver, run_name: str, state_words: str, timeout: float
) -> Received:
    """The first message about `run_name` whose subject contains `state_words`."""

    def found() -> Received | None:
        for item in receiver.received():
            subject = str(item.body.get("subject", ""))
            if run_name in subject and state_words in subject:
                return item
        return None

    return wait_until(found, timeout, f"a message about {run_name} ({state_words})", 0.05)


def state_time(flow_run: dict[str, Any]) -> float:
    return datetime.fromisoformat(flow_run["state"]["timestamp"]).timestamp()


def secrets_known(notified: Notified) -> list[str]:
    """Every secret that must stay out of messages: credentials, codes, session tokens."""
    values = [DEMO_API_SECRET, DEMO_PASSWORD]
    outbox = httpx.get(f"{notified.sandbox.base_url}/_sandbox/outbox", timeout=10).json()
    values += [str(m["otp"]) for m in outbox["messages"]]
    documents = notified.server.api(
        "POST", "/block_documents/filter", json={"include_secrets": True}
    )
    for document in documents:
        if str(document.get("name", "")).startswith("partner-sync-session"):
            value = document["data"]["value"]
            session = json.loads(value) if isinstance(value, str) else value
            values.append(str(session["token"]))
    return values


def test_a_paused_run_is_told_while_it_waits_with_where_the_code_went_and_a_link(
    notified: Notified, request: pytest.FixtureRequest
) -> None:
    server, receiver = notified.server, notified.receiver
    with served(notified, "daily", PARTNER_NOTIFY_BLOCK=BLOCK) as deployment_id:
        # `serve` sets the automation up (the project's own code) right after it registers
        # the deployment, before it serves it.
        name = f"partner-sync notify: {DAILY}"
        assert len(wait_until(lambda: automations_named(server, name), 60, name)) == 1
        flow_run = start_run(server, deployment_id)
        request.addfinalizer(lambda: cancel_unless_final(server, flow_run["id"]))
        server.wait_for_state(flow_run["id"], {"PAUSED"}, 90)
        paused = server.flow_run(flow_run["id"])
        message = message_for(receiver, paused["name"], "needs a one-time code", MESSAGE_TIMEOUT)
        # Told while it waits: the run is still paused when the message is in.
        assert server.state_of(flow_run["id"]) == "PAUSED"
        delay = message.at - state_time(paused)
        request.node.user_properties.append(("pause_to_message_seconds", round(delay, 2)))
        logger.warning("pause->message: %.2f s", delay)
        body = str(message.body["body"])
        logger.info("the paused run's message:\n%s", body)
        assert f"Deployment: {DAILY}" in body
        assert f"Run: {paused['name']} ({flow_run['id']})" in body
        assert "State: Paused at " in body
        assert "The code: sent by email to p***@example.com" in body
        assert re.search(r"Answer within [0-4] min \d\d s \(until \d{4}-\d\d-\d\d", body), body
        assert f"{server.ui_url}/runs/flow-run/{flow_run['id']}" in body
        answered = run([*CLI, "otp", newest_code(notified.sandbox)], notified.env, PROJECT)
        assert answered.returncode == 0, answered.stdout + answered.stderr
        final = server.wait_for_state(flow_run["id"], {"COMPLETED", "FAILED", "CRASHED"}, 90)
        assert final == "COMPLETED"
    for item in receiver.received():
        for secret in secrets_known(notified):
            assert secret not in item.raw, "a secret reached a notification"


def test_a_failed_run_is_told_with_its_reason_and_only_by_its_own_deployment(
    notified: Notified,
) -> None:
    server, receiver = notified.server, notified.receiver
    # Its own run lock: a run of `daily` left paused by a failed test must not cancel this one.
    extra = {"PARTNER_API_KEY": "not-a-key", "PARTNER_RUN_LOCK": "partner-sync-bad-key"}
    with served(notified, "bad-key", **extra) as deployment_id:
        # An existing deployment: `notify setup` creates, and run again updates in place.
        for verb in ("created", "updated"):
            done = run(
                [*CLI, "notify", "setup", "--deployment", "bad-key", "--block", BLOCK],
                notified.env,
                PROJECT,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert verb in done.stdout
        assert len(automations_named(server, f"partner-sync notify: {BAD_KEY}")) == 1
        # Another deployment of the same flow, also with notifications: it must stay quiet.
        flow = server.api("POST", "/flows/", json={"name": "sync-reference-data"})
        server.api("POST", "/deployments/", json={"name": "decoy", "flow_id": flow["id"]})
        decoy = [*CLI, "notify", "setup", "--deployment", "decoy", "--block", BLOCK]
        assert run(decoy, notified.env, PROJECT).returncode == 0
        flow_run = start_run(server, deployment_id)
        assert server.wait_for_state(flow_run["id"], {"COMPLETED", "FAILED", "CRASHED"}, 90) == (
            "FAILED"
        )
        failed = server.flow_run(flow_run["id"])
        message = message_for(receiver, failed["name"], "is Failed", MESSAGE_TIMEOUT)
        logger.warning("failed->message: %.2f s", message.at - state_time(failed))
        body = str(message.body["body"])
        logger.info("the failed run's message:\n%s", body)
        assert f"Deployment: {BAD_KEY}" in body
        assert "State: Failed at " in body
        assert "Reason: " in body and "API key" in body, body
        assert f"/runs/flow-run/{flow_run['id']}" in body
        # The decoy's automation matches its own deployment only: one message for this run.
        time.sleep(3)
        about_run = [m for m in receiver.received() if failed["name"] in m.raw]
        assert len(about_run) == 1, [m.body for m in about_run]
    for item in receiver.received():
        for secret in [*secrets_known(notified), "not-a-key"]:
            assert secret not in item.raw, "a secret reached a notification"
    removed = run([*CLI, "notify", "remove", "--deployment", "bad-key"], notified.env, PROJECT)
    assert removed.returncode == 0 and "deleted" in removed.stdout, removed.stderr
    assert automations_named(server, f"partner-sync notify: {BAD_KEY}") == []


def test_setup_names_a_missing_block_in_one_line(notified: Notified) -> None:
    done = run(
        [*CLI, "notify", "setup", "--deployment", "daily", "--block", "slack-webhook/nobody"],
        notified.env,
        PROJECT,
    )
    assert done.returncode == 2
    assert "no notification block 'slack-webhook/nobody'" in done.stderr
