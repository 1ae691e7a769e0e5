"""Mailbox faults (`PARTNER_OTP_SOURCE=imap` against a real Dovecot): the server down, the login
refused, the connection dropped while the source waits in IDLE for the code's email.

Each ends the login, and so the run, with one line naming IMAP and `host:port`, never the
mailbox password; the database keeps its last good sync; the drop ends the login within
seconds, long before the login's own expiry (the wait the partner configures, 300 s here).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from sandbox import SandboxConfig, running_sandbox
from tests.faults.support import CliResult, Scenario, assert_one_line, run_cli
from tests.support.dovecot import DovecotServer, running_dovecot

#: The mailbox password must not show, whole or in part.
IMAP_SECRETS = {"IMAP password": "mailbox-test-password", "wrong IMAP password": "not-the-pw-9x7"}
#: The sandbox's login expiry: the longest an IMAP wait may last.
LOGIN_EXPIRES = 300


def imap_env(monkeypatch: pytest.MonkeyPatch, server: DovecotServer, sender: str) -> None:
    """Codes from the mailbox of `server` (plain IMAP on loopback), from `sender` only."""
    values = {
        "PARTNER_OTP_SOURCE": "imap",
        "PARTNER_IMAP_HOST": server.host,
        "PARTNER_IMAP_PORT": str(server.port),
        "PARTNER_IMAP_USER": server.user,
        "PARTNER_IMAP_PASSWORD": server.password,
        "PARTNER_IMAP_SECURITY": "none",
        "PARTNER_IMAP_SENDER": sender,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def test_the_imap_server_down_is_one_line_naming_host_and_port(
    prepare: Callable[..., Scenario], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = prepare()
    with running_dovecot() as server:
        pass  # started and stopped: nothing listens on its port any more
    imap_env(monkeypatch, server, "security@partner.example")
    started = time.monotonic()
    result = run_cli()

    line = assert_one_line(
        result,
        rf"^4 skipped of 4 datasets: login: cannot connect to IMAP {server.host}:{server.port} "
        r"\(none\): .*Connection refused",
        secrets=IMAP_SECRETS,
    )
    assert "PARTNER_IMAP_HOST" in line
    assert time.monotonic() - started < 30
    scenario.assert_untouched()


def test_a_refused_imap_login_is_one_line_without_the_password(
    prepare: Callable[..., Scenario], dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = prepare()
    imap_env(monkeypatch, dovecot, "security@partner.example")
    monkeypatch.setenv("PARTNER_IMAP_PASSWORD", IMAP_SECRETS["wrong IMAP password"])
    result = run_cli()

    assert_one_line(
        result,
        rf"^4 skipped of 4 datasets: login: IMAP login to {dovecot.host}:{dovecot.port} as "
        r"\S+ failed: \[AUTHENTICATIONFAILED\] .*; check PARTNER_IMAP_USER/PARTNER_IMAP_PASSWORD",
        secrets=IMAP_SECRETS,
    )
    scenario.assert_untouched()


class _Waiting(logging.Handler):
    """Sets `event` when the IMAP source logs that it waits for the email."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("IMAP: waiting up to"):
            self.event.set()


@contextmanager
def watching_imap() -> Iterator[threading.Event]:
    """An event set once the IMAP source starts waiting for the code's email."""
    handler = _Waiting()
    log = logging.getLogger("partner_api.otp.imap")
    level = log.level
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        yield handler.event
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def test_the_connection_dropped_during_idle_ends_the_login_in_one_line_within_seconds(
    fault_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    results: list[CliResult] = []
    with contextlib.ExitStack() as mailbox:
        server = mailbox.enter_context(running_dovecot())
        config = SandboxConfig(cities=300, maildir=server.maildir)
        with running_sandbox(config) as handle:
            monkeypatch.setenv("PARTNER_BASE_URL", handle.base_url)
            scenario = Scenario.prepared(
                os.environ["DATABASE_URL"], handle.config, handle.state.set_data_version
            )
            # The partner's mail comes from another sender: the source waits in IDLE, as it
            # does for a mail that is late.
            imap_env(monkeypatch, server, "late-sender@partner.example")
            with watching_imap() as waiting:
                worker = threading.Thread(target=lambda: results.append(run_cli()), daemon=True)
                worker.start()
                assert waiting.wait(30), "the IMAP source never started waiting"
                time.sleep(0.5)  # inside IDLE by now
                dropped = time.monotonic()
                mailbox.close()  # Dovecot stops while the source waits
                worker.join(LOGIN_EXPIRES)
            assert not worker.is_alive(), "the login still waits after the mailbox went away"
            took = time.monotonic() - dropped
            line = assert_one_line(
                results[0], r"^4 skipped of 4 datasets: login: .*IMAP", secrets=IMAP_SECRETS
            )
            assert f"{server.host}:{server.port}" in line
            assert took < 30, f"the login ended {took:.0f} s after the drop"
            scenario.assert_untouched()
            scenario.engine.dispose()
