"""The Prefect flow leaves no secret in anything Prefect keeps.

The flow runs under a real (temporary) Prefect API once per OTP source (`sandbox`, `totp`,
`command`), with DEBUG on every logger, injected faults (so retries happen and are
logged), no kept session (every run logs in) and a forced failure (a key without the
data scope, whose 403 diagnosis goes into the report artifact). Then every flow run, task
run, log line, artifact, block, variable and run input the Prefect API holds is read back
and searched for the API secret, the password, the TOTP secret, every OTP code the
sandbox sent or the authenticator could have produced, and every session token issued.
The database tables are searched too (the session cache is not in the database).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pyotp
import pytest
import sqlalchemy as sa

from sandbox import (
    AUTH_ONLY_API_KEY,
    AUTH_ONLY_API_SECRET,
    DEMO_API_SECRET,
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    SandboxHandle,
)
from tests.flows.prefect_reads import post_all
from tests.support.prefect_http import prefect_http


def prefect_api_dump() -> str:
    """Everything the Prefect API holds about runs (all pages), as one JSON text."""
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL

    # Run logs reach the API in batches from a background worker: under load the last batch
    # may still be queued when the runs end, and a log not yet sent cannot be searched.
    APILogWorker.drain_all(timeout=30)
    api = PREFECT_API_URL.value()
    parts: list[Any] = []
    with prefect_http(api) as http:
        for path in (
            "/flow_runs/filter",
            "/task_runs/filter",
            "/logs/filter",
            "/artifacts/filter",
            "/variables/filter",
            "/block_documents/filter",
            "/deployments/filter",
        ):
            # Every page: a secret on the 201st log line must be found too.
            parts.append(post_all(http, path))
        for run in parts[0]:
            for key in ("otp", "otp-0", "otp-1"):
                found = http.get(f"/flow_runs/{run['id']}/input/{key}")
                if found.status_code == 200:
                    parts.append(found.text)
    return json.dumps(parts)


def possible_totp_codes(since: float) -> set[str]:
    """Every code the demo authenticator produced since `since` (one step either side)."""
    totp = pyotp.TOTP(DEMO_TOTP_SECRET)
    return {totp.at(t) for t in range(int(since) - 30, int(time.time()) + 31, 30)}


def test_no_secret_in_anything_prefect_or_the_database_keeps(
    prefect_api: None,
    sandbox: SandboxHandle,
    env: dict[str, str],
    sandbox_control: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from flows.sync_reference_data import sync_reference_data

    started = time.time()
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PARTNER_SESSION_STORE", "none")
    monkeypatch.setenv("PARTNER_TOTP_SECRET", DEMO_TOTP_SECRET)
    # Random faults, plus a rate limit every login's burst of requests exceeds: at least one
    # 429 per run is certain, whatever the faults' random draws, so retries are logged.
    sandbox_control(
        "config",
        {
            "faultRate": 0.2,
            "faultKinds": ["503", "4031", "drop"],
            "rateLimit": 1,
            "retryAfter": 1,
        },
    )
    command = f"{sys.executable} -c \"import pyotp; print(pyotp.TOTP('{DEMO_TOTP_SECRET}').now())\""
    states = []
    for source, method in (("sandbox", "EMAIL"), ("totp", "TOTP"), ("command", "TOTP")):
        monkeypatch.setenv("PARTNER_OTP_SOURCE", source)
        monkeypatch.setenv("PARTNER_MFA_METHOD", method)
        monkeypatch.setenv("PARTNER_OTP_COMMAND", command)
        states.append(sync_reference_data(datasets=["currencies"], return_state=True))
    sandbox_control("config", {"faultRate": 0, "rateLimit": None})
    # The forced failure: a key without the data scope; the run fails with a diagnosis.
    monkeypatch.setenv("PARTNER_OTP_SOURCE", "sandbox")
    monkeypatch.setenv("PARTNER_MFA_METHOD", "EMAIL")
    monkeypatch.setenv("PARTNER_API_KEY", AUTH_ONLY_API_KEY)
    monkeypatch.setenv("PARTNER_API_SECRET", AUTH_ONLY_API_SECRET)
    failed = sync_reference_data(datasets=["countries"], return_state=True)
    assert failed.is_failed()
    assert [s.is_completed() for s in states] == [True, True, True], [s.message for s in states]

    codes = {m["otp"] for m in httpx.get(f"{sandbox.base_url}/_sandbox/outbox").json()["messages"]}
    codes |= possible_totp_codes(started)
    tokens = set(sandbox.state.tokens)
    secrets = {DEMO_API_SECRET, AUTH_ONLY_API_SECRET, DEMO_PASSWORD, DEMO_TOTP_SECRET, *tokens}
    assert len(tokens) >= 4 and codes

    results = json.dumps([s.result(raise_on_failure=False) for s in states], default=str)
    failure = str(failed.result(raise_on_failure=False))
    engine = sa.create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        tables = [
            json.dumps([list(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}"))], default=str)
            for t in sa.inspect(conn).get_table_names()
        ]
    engine.dispose()
    dump = prefect_api_dump()
    # The search covers real material: the runs' logs and artifacts are in the dump.
    assert "partner-sync-datasets" in dump and "logged in" in dump and "retrying" in dump
    # The in-process sandbox logs the codes it "mails": that is the partner's side, not ours.
    ours = "\n".join(
        caplog.handler.format(r)  # message and any traceback
        for r in caplog.records
        if not r.name.startswith("sandbox")
    )
    everything = "\n".join([dump, ours, results, failure, *tables])
    assert "4033" in everything and "partner:constants:read" in everything  # the diagnosis is there
    assert [s for s in secrets if s in everything] == []
    # Codes are six digits: look for them as whole numbers only (ids and hashes hold digits).
    leaked = [c for c in codes if re.search(rf"(?<![0-9A-Za-z]){c}(?![0-9A-Za-z])", everything)]
    assert leaked == []
