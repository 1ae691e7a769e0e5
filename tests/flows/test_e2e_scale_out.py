"""README "Scaling out", followed literally: a Prefect server on a fresh PostgreSQL database, a
fresh application database, the credentials only in Secret blocks (odd ones: spaces, quotes,
backslashes, non-ASCII letters), a process work pool, `prefect deploy`, a worker, a run
answered with `partner-sync otp`, an overlapping run cancelled, then `partner-sync logout`
from a terminal that holds no credential.

Each step is the command the README gives, run as a subprocess with the environment the
README says that host has; only the partner (the sandbox on loopback) and the databases'
names are the test's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sandbox import DEMO_API_KEY, SandboxConfig, SandboxHandle, running_sandbox
from tests.flows.e2e import BIN, CLI, PROJECT, background, prefect_server, run, wait_until
from tests.support.odd_credentials import (
    ODD_API_SECRET,
    ODD_EMAIL,
    ODD_PASSWORD,
    assert_no_fragment,
)
from tests.support.postgres import throwaway_database

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]

PREFECT = str(BIN / "prefect")
DEPLOYMENT = "sync-reference-data/daily-pool"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture(scope="module")
def odd_partner() -> Iterator[SandboxHandle]:
    """The partner: an account whose API secret, password and email are odd."""
    config = SandboxConfig(
        cities=200, api_secret=ODD_API_SECRET, email=ODD_EMAIL, password=ODD_PASSWORD
    )
    with running_sandbox(config) as handle:
        yield handle


def newest_code(partner: SandboxHandle) -> str:
    messages = httpx.get(f"{partner.base_url}/_sandbox/outbox", timeout=10).json()["messages"]
    return str(messages[-1]["otp"])


def run_logs(api: Any, flow_run_id: str) -> list[dict[str, Any]]:
    body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200}
    return list(api("POST", "/logs/filter", json=body))


def ok(done: Any) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return str(done.stdout + done.stderr)


def test_the_scaling_out_walk_through_works_as_written(
    odd_partner: SandboxHandle, tmp_path: Path
) -> None:
    # 1. The Prefect server on PostgreSQL (`createdb prefect`).
    with (
        throwaway_database("prefect_e2e") as prefect_url,
        # 2. `createdb partner_sync`
        throwaway_database("partner_sync_e2e", driver="postgresql+psycopg") as database_url,
        prefect_server(tmp_path, prefect_url) as server,
    ):
        # 3. Everywhere else: PREFECT_API_URL (and a PREFECT_HOME of the test's own).
        terminal = server.env()

        # 4. Once: the pool, the credentials, the deployment.
        ok(
            run(
                [PREFECT, "work-pool", "create", "partner-sync", "--type", "process"],
                terminal,
                PROJECT,
            )
        )
        credentials = {
            "PARTNER_BASE_URL": odd_partner.base_url,
            "PARTNER_API_KEY": DEMO_API_KEY,
            "PARTNER_API_SECRET": ODD_API_SECRET,
            "PARTNER_EMAIL": ODD_EMAIL,
            "PARTNER_PASSWORD": ODD_PASSWORD,
        }
        pushed = ok(run([*CLI, "secrets", "push"], {**terminal, **credentials}, PROJECT))
        assert "partner-sync-api-secret" in pushed and "partner-sync-password" in pushed
        deploy = [
            PREFECT,
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            "deployments/prefect.yaml",
        ]
        ok(run(deploy, {**terminal, "PARTNER_SYNC_HOME": str(PROJECT)}, PROJECT))
        deployment = server.api("GET", f"/deployments/name/{DEPLOYMENT}")
        assert deployment["pull_steps"][0]["prefect.deployments.steps.set_working_directory"] == {
            "directory": str(PROJECT.resolve())
        }

        # 5. A worker host: no credential, only what the README lists.
        worker_env = server.env(
            PARTNER_BASE_URL=odd_partner.base_url,
            DATABASE_URL=database_url,
            PARTNER_OTP_SOURCE="prefect",
            PREFECT_WORKER_QUERY_SECONDS="1",  # poll for runs every second, not every 10
        )
        worker_log = tmp_path / "worker.log"
        worker = [PREFECT, "worker", "start", "--pool", "partner-sync", "--limit", "2"]
        with background(worker, worker_env, worker_log, PROJECT):
            # 6. A run: it logs in with the blocks' credentials and pauses for the code.
            started = ok(run([PREFECT, "deployment", "run", DEPLOYMENT], terminal, PROJECT))
            match = re.search(r"UUID:\s*([0-9a-f-]{36})", started)
            assert match, started
            first = match.group(1)
            server.wait_for_state(first, {"PAUSED"} | FINAL, 180)
            assert server.state_of(first) == "PAUSED", worker_log.read_text()[-3000:]

            # An overlapping run ends Cancelled (the run lock), quietly.
            second = server.api("POST", f"/deployments/{deployment['id']}/create_flow_run", json={})
            assert server.wait_for_state(second["id"], FINAL, 180) == "CANCELLED", (
                server.state_of(second["id"]),
                worker_log.read_text()[-3000:],
            )
            # The process sends its last log lines as it exits, after the state.
            cancelled_logs = wait_until(
                lambda: [
                    logs
                    for logs in [run_logs(server.api, second["id"])]
                    if any("Finished in state Cancelled" in log["message"] for log in logs)
                ],
                60,
                "the cancelled run's last log lines",
            )[0]
            said = "\n".join(log["message"] for log in cancelled_logs)
            assert "another partner-sync run holds the lock" in said
            assert "unexpected exception" not in said and "CancelledRun" not in said
            assert not [log for log in cancelled_logs if log["level"] >= 40], said

            # The code, from a terminal.
            answered = ok(run([*CLI, "otp", newest_code(odd_partner)], terminal, PROJECT))
            assert "the partner accepted the code" in answered
            final = server.wait_for_state(first, FINAL, 180)
            assert final == "COMPLETED", worker_log.read_text()[-3000:]
        stored = "\n".join(log["message"] for log in run_logs(server.api, first))
        assert (
            "credentials from Prefect Secret blocks: api_key, api_secret, email, password" in stored
        )

        engine = sa.create_engine(database_url)
        try:
            with engine.connect() as conn:
                for table in ("countries", "currencies", "languages", "cities"):
                    assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() > 0
        finally:
            engine.dispose()

        # `partner-sync logout` where only PREFECT_API_URL and PARTNER_BASE_URL are set.
        blocks_before = session_blocks(server.api)
        assert len(blocks_before) == 1
        logout_env = {**terminal, "PARTNER_BASE_URL": odd_partner.base_url}
        logged_out = ok(run([*CLI, "logout"], logout_env, PROJECT))
        assert "ended on the server" in logged_out and blocks_before[0] in logged_out
        assert session_blocks(server.api) == []
        assert "no session kept" in ok(run([*CLI, "logout"], logout_env, PROJECT))

        assert_no_fragment(worker_log.read_text() + stored + pushed + answered + logged_out)


def session_blocks(api: Any) -> list[str]:
    """Names of the Secret blocks that keep a session."""
    docs = api("POST", "/block_documents/filter", json={"limit": 200})
    return sorted(d["name"] for d in docs if str(d["name"]).startswith("partner-sync-session-"))
