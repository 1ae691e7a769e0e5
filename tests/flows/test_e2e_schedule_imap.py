"""On a schedule, with EMAIL MFA read from a real mailbox: a run that no human touches.

`prefect server start`, `partner-sync serve` with a cron of every minute, the sandbox
mailing each code into a Maildir that a real Dovecot serves, `PARTNER_OTP_SOURCE=imap` and
no kept session (so the scheduled run must log in through the mailbox). The test waits for
the scheduler's own run to complete; it never triggers one.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from sandbox import SANDBOX_MAIL_FROM, SandboxHandle
from tests.conftest import MAIL_SANDBOX_CITIES
from tests.flows.e2e import CLI, PROJECT, background, prefect_server, wait_until
from tests.support.dovecot import DovecotServer
from tests.support.settings import demo_env

DEPLOYMENT = "sync-reference-data/daily"


def test_a_scheduled_run_logs_in_through_the_mailbox_and_completes_with_no_human(
    dovecot: DovecotServer, mail_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    # The scheduler looks for due schedules every 5 s instead of every 60 (test speed only).
    with prefect_server(tmp_path, PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5") as server:
        database_url = f"sqlite:///{tmp_path / 'partner_sync.db'}"
        partner = demo_env(
            mail_sandbox.base_url,
            database_url,
            mfa_method="EMAIL",
            otp_source="imap",
            imap_host=dovecot.host,
            imap_port=dovecot.port,
            imap_user=dovecot.user,
            imap_password=dovecot.password,
            imap_security="none",
            imap_sender=SANDBOX_MAIL_FROM,
            session_store="none",
            sync_cron="* * * * *",
        )
        env = server.env(
            **partner,
            XDG_STATE_HOME=str(tmp_path / "state"),
            PREFECT_RUNNER_POLL_FREQUENCY="1",
        )
        with background([*CLI, "serve"], env, tmp_path / "serve.log", PROJECT) as process:

            def completed_scheduled_run() -> dict[str, object] | None:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                runs = server.api(
                    "POST",
                    "/flow_runs/filter",
                    json={"flow_runs": {"state": {"type": {"any_": ["COMPLETED", "FAILED"]}}}},
                )
                return runs[0] if runs else None

            # The next minute boundary, plus the run itself.
            run = wait_until(completed_scheduled_run, 150, "the scheduled flow run", interval=1)
        assert run["state_type"] == "COMPLETED", (tmp_path / "serve.log").read_text()[-3000:]
        assert "auto-scheduled" in run["tags"]  # the scheduler's run, not one started by hand
    stats = mail_sandbox.state.stats.as_json()
    assert stats["logins"] >= 1
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM cities")).scalar_one() == MAIL_SANDBOX_CITIES
        )
    engine.dispose()
