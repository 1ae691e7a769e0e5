"""Prefect operations under the session's temporary Prefect API: the OTP pause, the kept
session in a Secret block, credentials from Secret blocks, artifacts and masked logs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest

from partner_sync.core.settings import Settings
from sandbox import (
    AUTH_ONLY_API_KEY,
    AUTH_ONLY_API_SECRET,
    DEMO_API_SECRET,
    DEMO_PASSWORD,
    SandboxConfig,
    SandboxHandle,
    running_sandbox,
)
from tests.flows.prefect_reads import read_all_logs

pytestmark = pytest.mark.usefixtures("prefect_api")


def logins(sandbox: SandboxHandle) -> int:
    return int(httpx.get(f"{sandbox.base_url}/_sandbox/stats", timeout=10).json()["logins"])


def newest_code(sandbox: SandboxHandle) -> str:
    messages = httpx.get(f"{sandbox.base_url}/_sandbox/outbox", timeout=10).json()["messages"]
    return str(messages[-1]["otp"])


def wait_for_otp_pause(seen: set[UUID], timeout: float = 60) -> UUID:
    """The id of a run paused for a code that is not in `seen` (each pause has a new key)."""
    from prefect import get_client

    from flows.otp_prefect import _paused_otp_runs

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            for run in _paused_otp_runs(client, "sync-reference-data"):
                marker = UUID(int=hash((run.id, run.state.state_details.pause_key)) % 2**128)
                if marker not in seen:
                    seen.add(marker)
                    return run.id
            time.sleep(0.2)
    raise AssertionError("no run paused for a one-time code")


class Answerer(threading.Thread):
    """Answers the OTP pauses through `partner-sync otp`, as a person at a terminal would."""

    def __init__(self, sandbox: SandboxHandle, plan: list[str]) -> None:
        super().__init__(daemon=True)
        self.sandbox = sandbox
        self.plan = plan  # "wrong" or "right", one per pause
        self.exit_codes: list[int] = []
        self.codes: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        from partner_sync.cli import main

        seen: set[UUID] = set()
        try:
            for step in self.plan:
                wait_for_otp_pause(seen)
                right = newest_code(self.sandbox)
                code = right if step == "right" else f"{(int(right) + 1) % 1_000_000:06d}"
                self.codes.append(code)
                self.exit_codes.append(main(["otp", code, "--wait", "30"]))
        except BaseException as exc:  # surfaced by the test after join
            self.error = exc


def stored_logs(flow_run_id: UUID) -> str:
    """Every log line Prefect stored for the run, every page of them."""
    return "\n".join(log.message for log in read_all_logs(flow_run_id))


def artifacts(flow_run_id: UUID) -> dict[str, Any]:
    """The run's artifacts by key."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found}


@pytest.fixture
def prefect_store(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The kept session in a Prefect Secret block, emptied before and after the test."""
    from flows._session_prefect import run_session_store

    monkeypatch.setenv("PARTNER_SESSION_STORE", "prefect")
    store = run_session_store(Settings())
    store.clear()
    yield store
    store.clear()


def test_the_run_pauses_for_the_otp_and_partner_sync_otp_answers_wrong_then_right(
    sandbox: SandboxHandle,
    prefect_store: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.input import read_flow_run_input

    from flows.sync_reference_data import sync_reference_data

    monkeypatch.setenv("PARTNER_OTP_SOURCE", "prefect")
    answerer = Answerer(sandbox, ["wrong", "right"])
    answerer.start()
    before = logins(sandbox)
    state = sync_reference_data(datasets=["countries"], return_state=True)
    answerer.join(timeout=60)
    assert answerer.error is None, answerer.error
    assert state.is_completed(), state.message
    assert answerer.exit_codes == [1, 0]
    printed = capsys.readouterr().out
    assert "the partner rejected the code" in printed and "the partner accepted the code" in printed
    assert logins(sandbox) == before + 1
    kept = prefect_store.load()
    assert kept is not None

    run_id = state.state_details.flow_run_id
    logged = stored_logs(run_id)
    # The run's own log says why it paused again, not only the form.
    assert "the code was not accepted (4012); pausing again, 4 attempts left" in logged
    for secret in [*answerer.codes, kept.token.get_secret_value(), DEMO_API_SECRET, DEMO_PASSWORD]:
        assert secret not in logged
    # Prefect stores run input in plain text: the answers are gone once read.
    from prefect import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        assert not any(code in str(run.parameters) for code in answerer.codes)
        keys = {
            i.key
            for prefix in ("paused-otp-", "otp-")
            for i in client.filter_flow_run_input(
                flow_run_id=run_id, key_prefix=prefix, limit=50, exclude_keys=set()
            )
        }
    assert len([k for k in keys if k.endswith("-description")]) == 2  # two pauses
    assert not [k for k in keys if k.endswith("-response")]
    verdicts = [read_flow_run_input(k, flow_run_id=run_id) for k in keys if "verdict" in k]
    assert {"accepted": False} in verdicts and {"accepted": True} in verdicts
    assert all(code not in str(verdicts) for code in answerer.codes)


def test_a_second_run_uses_the_kept_session_from_the_secret_block(
    sandbox: SandboxHandle, prefect_store: Any
) -> None:
    from flows.sync_reference_data import sync_reference_data

    before = logins(sandbox)
    first = sync_reference_data(datasets=["languages"], return_state=True)
    assert first.is_completed(), first.message
    assert logins(sandbox) == before + 1
    second = sync_reference_data(datasets=["languages"], return_state=True)
    assert second.is_completed(), second.message
    assert logins(sandbox) == before + 1  # no login call at all
    report = artifacts(second.state_details.flow_run_id)["partner-sync-report"]
    assert "the kept session from Prefect Secret block" in str(report.data)


def test_an_expired_kept_token_pauses_for_a_new_code_inside_the_task(
    sandbox: SandboxHandle,
    prefect_store: Any,
    sandbox_control: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.sync_reference_data import sync_reference_data

    first = sync_reference_data(datasets=["currencies"], return_state=True)
    assert first.is_completed(), first.message
    old = prefect_store.load()
    sandbox_control("expire-sessions", {})
    monkeypatch.setenv("PARTNER_OTP_SOURCE", "prefect")
    answerer = Answerer(sandbox, ["right"])
    answerer.start()
    before = logins(sandbox)
    # The kept token is tried first; its 4010 comes inside the dataset's task, which
    # pauses the flow run for a new code.
    second = sync_reference_data(datasets=["currencies"], full_refresh=True, return_state=True)
    answerer.join(timeout=60)
    assert answerer.error is None and answerer.exit_codes == [0]
    assert second.is_completed(), second.message
    assert logins(sandbox) == before + 1
    new = prefect_store.load()
    assert new.token.get_secret_value() != old.token.get_secret_value()


def test_nobody_answering_ends_the_run_in_one_line_before_prefects_timeout(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.sync_reference_data import sync_reference_data

    with running_sandbox(SandboxConfig(cities=10, login_expires_in=3)) as short:
        monkeypatch.setenv("PARTNER_BASE_URL", short.base_url)
        monkeypatch.setenv("PARTNER_OTP_SOURCE", "prefect")
        state = sync_reference_data(datasets=["countries"], return_state=True)
    assert state.is_failed()
    assert "nobody supplied the one-time code within" in (state.message or "")
    report = artifacts(state.state_details.flow_run_id)["partner-sync-report"]
    assert "login failed" in str(report.data)


def test_the_form_states_when_the_login_expires_not_a_countdown() -> None:
    from datetime import UTC, datetime

    from flows.otp_prefect import describe_challenge
    from partner_api import OtpChallenge

    paused_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    challenge = OtpChallenge(
        session_id="s",
        method="EMAIL",
        destination="p***@example.com",
        deadline=time.monotonic() + 299.5,
        attempt=2,
        previous_error="the code was not accepted (4012)",
    )

    text = describe_challenge(challenge, now=paused_at)

    assert "before **03:09:04 UTC** (2030-01-02)" in text
    assert " min " not in text and "within" not in text  # nothing that goes stale
    assert "Attempt 2 of 5" in text


@pytest.mark.parametrize("stored_before", [("schema", "description"), ("schema",)])
def test_the_form_stored_again_after_a_lost_answer_is_kept_not_an_error(
    stored_before: tuple[str, ...],
) -> None:
    """A Prefect server that stored the form but died before answering gets the create again."""
    from prefect import flow, get_client
    from prefect.input import create_flow_run_input, read_flow_run_input
    from prefect.input.run_input import keyset_from_base_key

    from flows.otp_prefect import OtpInput

    @flow
    def noop() -> None: ...

    with get_client(sync_client=True) as client:
        flow_run_id = client.create_flow_run(noop).id
    form = OtpInput.with_initial_data(description="where the code went")
    keyset = keyset_from_base_key("paused-otp-lost-answer")
    schema = OtpInput.model_json_schema(by_alias=True)
    # What the server committed before it stopped: the schema, and perhaps the description.
    for part in stored_before:
        create_flow_run_input(
            keyset[part], schema if part == "schema" else "where the code went", flow_run_id
        )

    form.save(keyset, flow_run_id=flow_run_id)

    assert read_flow_run_input(keyset["schema"], flow_run_id) is not None
    assert read_flow_run_input(keyset["description"], flow_run_id) == "where the code went"


def test_otp_with_no_paused_run_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    from partner_sync.cli import main

    assert main(["otp", "123456", "--wait", "0"]) == 1
    assert "paused waiting for a one-time code" in capsys.readouterr().out


def test_credentials_come_from_secret_blocks_pushed_by_the_cli(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.sync_reference_data import sync_reference_data
    from partner_sync.cli import main

    monkeypatch.setenv("PARTNER_SECRET_BLOCK_PREFIX", "test-push")
    assert main(["secrets", "push"]) == 0
    out = capsys.readouterr().out
    assert "test-push-api-secret" in out and "test-push-password" in out
    assert DEMO_API_SECRET not in out and DEMO_PASSWORD not in out
    monkeypatch.setenv("PARTNER_API_SECRET", "")
    monkeypatch.setenv("PARTNER_PASSWORD", "")
    state = sync_reference_data(datasets=["currencies"], return_state=True)
    assert state.is_completed(), state.message


def test_every_run_leaves_a_table_and_a_report_with_the_403_diagnosis(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.sync_reference_data import SyncFailedError, sync_reference_data

    monkeypatch.setenv("PARTNER_API_KEY", AUTH_ONLY_API_KEY)
    monkeypatch.setenv("PARTNER_API_SECRET", AUTH_ONLY_API_SECRET)
    state = sync_reference_data(datasets=["countries", "cities"], return_state=True)
    assert state.is_failed()
    failure = state.result(raise_on_failure=False)
    assert isinstance(failure, SyncFailedError)
    found = artifacts(state.state_details.flow_run_id)
    table = found["partner-sync-datasets"]
    assert table.type == "table"
    assert [(r["dataset"], r["status"]) for r in _table_rows(table.data)] == [
        ("countries", "failed"),
        ("cities", "skipped"),
    ]
    report = str(found["partner-sync-report"].data)
    assert "countries failed" in report and "403 diagnosis" in report
    assert "partner:constants:read" in report


def _table_rows(data: Any) -> list[dict[str, Any]]:
    import json

    return json.loads(data) if isinstance(data, str) else data


def test_the_mask_filter_masks_run_logs_stored_by_prefect() -> None:
    from prefect import flow, get_run_logger

    from partner_sync.core.redact import install_mask_filter, remember_secret

    @flow
    def leaky() -> None:
        install_mask_filter()
        remember_secret("123456-token-value")
        get_run_logger().info("the code was %s", "123456-token-value")

    state = leaky(return_state=True)
    logged = stored_logs(state.state_details.flow_run_id)
    assert "the code was **********" in logged and "123456-token-value" not in logged


def test_the_log_search_reads_past_the_first_page() -> None:
    from prefect import flow, get_run_logger

    from tests.flows.prefect_reads import PAGE

    @flow
    def chatty() -> None:
        for line in range(PAGE + 20):
            get_run_logger().info("line %d", line)
        get_run_logger().info("the last line")

    state = chatty(return_state=True)
    logged = stored_logs(state.state_details.flow_run_id)
    assert f"line {PAGE + 10}" in logged and "the last line" in logged
