"""The `imap` OTP source against a real Dovecot, with the sandbox mailing its codes into it.

One Dovecot (`tests/support/dovecot.py`) and one sandbox delivering into Dovecot's Maildir serve the
whole module. Every test notes the folder afresh (`prepare`), so the messages earlier tests
left behind are exactly the "old mail" the source must ignore.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from imap_tools import AND, MailBoxUnencrypted

from partner_api import (
    ConfigurationError,
    ImapOtpSource,
    OtpChallenge,
    OtpError,
    PartnerClient,
)
from partner_sync.core.otp import imap_source_from_settings
from partner_sync.core.run import run_sync
from partner_sync.core.settings import Settings, SettingsError
from sandbox import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    SANDBOX_MAIL_FROM,
    SandboxHandle,
)
from tests.support.dovecot import DovecotServer, running_dovecot
from tests.support.ports import free_port
from tests.support.settings import demo_settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def client(mail_sandbox: SandboxHandle) -> Iterator[PartnerClient]:
    """A demo-key client to the mailing sandbox."""
    with PartnerClient(mail_sandbox.base_url, DEMO_API_KEY, DEMO_API_SECRET) as partner:
        yield partner


def make_source(dovecot: DovecotServer, **overrides: Any) -> ImapOtpSource:
    """A source reading Dovecot's INBOX in clear text on loopback (what most tests need)."""
    kwargs: dict[str, Any] = {
        "port": dovecot.port,
        "user": dovecot.user,
        "password": dovecot.password,
        "sender": SANDBOX_MAIL_FROM,
        "security": "none",
        "poll_interval": 0.1,
    }
    kwargs.update(overrides)
    return ImapOtpSource(dovecot.host, **kwargs)


def challenge(seconds: float = 10.0, attempt: int = 1) -> OtpChallenge:
    """A challenge whose login session ends in `seconds` (no send behind it)."""
    return OtpChallenge(
        session_id="test-session",
        method="EMAIL",
        destination=None,
        deadline=time.monotonic() + seconds,
        attempt=attempt,
    )


def append(
    dovecot: DovecotServer,
    *,
    sender: str = f"Partner Security <{SANDBOX_MAIL_FROM}>",
    subject: str = "Your Partner sign-in code",
    text: str | None = None,
    html: str | None = None,
    cte: str | None = None,
    arrived: datetime | None = None,
) -> None:
    """Put a message into the INBOX through IMAP APPEND (`arrived` sets its INTERNALDATE)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = DEMO_EMAIL
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    if text is not None:
        message.set_content(text, cte=cte)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html", cte=cte)
        else:
            message.add_alternative(html, subtype="html", cte=cte)
    with MailBoxUnencrypted(dovecot.host, dovecot.port).login_utf8(
        dovecot.user, dovecot.password
    ) as box:
        box.append(message.as_bytes(), "INBOX", dt=arrived)


def flags_of_message_with(dovecot: DovecotServer, code: str, folder: str = "INBOX") -> set[str]:
    """The flags of the sender's message in `folder` whose text carries `code`."""
    with MailBoxUnencrypted(dovecot.host, dovecot.port).login_utf8(
        dovecot.user, dovecot.password, initial_folder=folder
    ) as box:
        for message in box.fetch(AND(from_=SANDBOX_MAIL_FROM), mark_seen=False):
            if code in message.text:
                return set(message.flags)
    raise AssertionError(f"no message with that code in {folder}")


def outbox_code(sandbox: SandboxHandle, session_id: str) -> str:
    """The last code the sandbox sent for `session_id`."""
    response = httpx.get(f"{sandbox.base_url}/_sandbox/outbox", params={"sessionId": session_id})
    return str(response.json()["messages"][-1]["otp"])


class Recording:
    """Wraps a source and records each code it hands out, with the login session it was for."""

    def __init__(self, inner: ImapOtpSource) -> None:
        self.inner = inner
        self.name = inner.name
        self.asks_again = inner.asks_again
        self.codes: list[tuple[str, str]] = []

    def prepare(self, method: str) -> None:
        self.inner.prepare(method)

    def get_code(self, challenge: OtpChallenge) -> str:
        code = self.inner.get_code(challenge)
        self.codes.append((challenge.session_id, code))
        return code

    def confirm(self) -> None:
        self.inner.confirm()


def test_login_reads_the_code_from_the_mailbox_and_marks_it_seen(
    dovecot: DovecotServer,
    mail_sandbox: SandboxHandle,
    client: PartnerClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = Recording(make_source(dovecot))
    with caplog.at_level(logging.DEBUG, logger="partner_api"):
        session = client.login(DEMO_EMAIL, DEMO_PASSWORD, source)

    assert session.scopes
    [(session_id, code)] = source.codes
    assert code == outbox_code(mail_sandbox, session_id)
    assert "\\Seen" in flags_of_message_with(dovecot, code)
    # The sandbox logs the codes it sends (it is the partner); the client side must not.
    client_log = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("sandbox")
    )
    assert "waiting up to" in client_log
    assert code not in client_log
    assert dovecot.password not in client_log


def test_an_old_code_already_in_the_mailbox_is_ignored(
    dovecot: DovecotServer, mail_sandbox: SandboxHandle, client: PartnerClient
) -> None:
    first = Recording(make_source(dovecot))
    client.login(DEMO_EMAIL, DEMO_PASSWORD, first)
    # An unread code from the right sender, there before the next send: a trap.
    append(dovecot, text="Your Partner sign-in code is 111111.")

    second = Recording(make_source(dovecot))
    client.login(DEMO_EMAIL, DEMO_PASSWORD, second)

    [(session_id, code)] = second.codes  # one try: the old codes were never offered
    assert code == outbox_code(mail_sandbox, session_id)
    assert code not in {first.codes[0][1], "111111"}


def test_mail_from_another_sender_is_ignored(dovecot: DovecotServer) -> None:
    source = make_source(dovecot)
    source.prepare("EMAIL")
    append(dovecot, text="Your Partner sign-in code is 333333.")
    # Newer, so looked at first; SEARCH FROM matches substrings, the source must not.
    append(dovecot, sender="attacker@evil.example", text="Your code is 222222.")
    append(dovecot, sender=f"{SANDBOX_MAIL_FROM}.evil.example", text="Your code is 444444.")

    assert source.get_code(challenge()) == "333333"


def test_no_email_before_the_deadline_is_one_clear_line(dovecot: DovecotServer) -> None:
    source = make_source(dovecot)
    source.prepare("EMAIL")

    with pytest.raises(OtpError) as caught:
        source.get_code(challenge(seconds=1.0))

    message = str(caught.value)
    assert message.startswith(f"no email from {SANDBOX_MAIL_FROM} arrived in INBOX within ")
    assert "check PARTNER_IMAP_SENDER" in message
    assert "\n" not in message


def test_partner_imap_wait_ends_the_wait_long_before_the_login_expires(
    dovecot: DovecotServer,
) -> None:
    settings = Settings(
        otp_source="imap",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_user=dovecot.user,
        imap_password=dovecot.password,
        imap_sender=SANDBOX_MAIL_FROM,
        imap_security="none",
        imap_wait=1.5,
    )
    source = imap_source_from_settings(settings)
    source.prepare("EMAIL")
    started = time.monotonic()

    with pytest.raises(OtpError) as caught:
        source.get_code(challenge(seconds=300.0))  # the partner's whole login session

    assert time.monotonic() - started < 10
    assert re.search(r"within \d+ s \(PARTNER_IMAP_WAIT is 1\.5 s\)", str(caught.value))


def test_the_default_imap_wait_is_two_minutes() -> None:
    assert Settings().imap_wait == 120


def test_an_email_without_a_code_is_reported_without_leaking_digits(
    dovecot: DovecotServer,
) -> None:
    source = make_source(dovecot)
    source.prepare("EMAIL")
    append(dovecot, subject="Sign-in attempt 98765", text="Someone signed in. No code here.")

    with pytest.raises(OtpError) as caught:
        source.get_code(challenge())

    message = str(caught.value)
    assert message == (
        f"the email from {SANDBOX_MAIL_FROM} (subject 'Sign-in attempt #####') has no code "
        "matching PARTNER_IMAP_CODE_PATTERN"
    )


def test_the_code_is_read_from_a_quoted_printable_html_only_body(dovecot: DovecotServer) -> None:
    source = make_source(dovecot)
    source.prepare("EMAIL")
    html = (
        "<html><head><style>.brand { color: #135790 }</style></head><body>"
        "<table><tr><td>Your code:</td><td><b>48</b><b>2913</b></td></tr></table>"
        "<p>Valid for 5&nbsp;minutes &mdash; do not share it.</p></body></html>"
    )
    append(dovecot, html=html, cte="quoted-printable")

    # The style's `#135790` comes first in the source but is no text; the split code is joined.
    assert source.get_code(challenge()) == "482913"


def test_the_code_in_the_subject_wins(dovecot: DovecotServer) -> None:
    source = make_source(dovecot, code_pattern=r"code[: ]+(\d{6})")
    source.prepare("EMAIL")
    append(dovecot, subject="Sign-in code: 765432", text="Reference 123456.")

    assert source.get_code(challenge()) == "765432"


def test_after_a_wrong_code_the_next_message_is_tried(dovecot: DovecotServer) -> None:
    source = make_source(dovecot)
    source.prepare("EMAIL")
    append(dovecot, text="Your code is 515151.")
    append(dovecot, text="Your code is 626262.")  # a parallel login's mail, say

    assert source.get_code(challenge()) == "626262"
    assert source.get_code(challenge(attempt=2)) == "515151"
    with pytest.raises(OtpError, match="besides the one whose code was rejected"):
        source.get_code(challenge(seconds=0.0, attempt=3))


def test_polling_when_idle_is_not_used(dovecot: DovecotServer) -> None:
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        # Instead of sleeping, the mail arrives during the first nap.
        naps.append(seconds)
        if len(naps) == 1:
            append(dovecot, text="Your code is 737373.")

    source = make_source(dovecot, use_idle=False, poll_interval=2.5, sleep=sleep)
    source.prepare("EMAIL")

    assert source.get_code(challenge()) == "737373"
    assert naps == [2.5]


def test_after_a_uidvalidity_change_only_mail_that_arrived_later_counts(
    dovecot: DovecotServer,
) -> None:
    append(dovecot, text="Your code is 858585.", arrived=datetime.now(UTC) - timedelta(hours=1))
    source = make_source(dovecot)
    source.prepare("EMAIL")
    # Without its uid list and indexes Dovecot renumbers the folder under a new UIDVALIDITY.
    for path in [dovecot.maildir / "dovecot-uidlist", *dovecot.maildir.glob("dovecot.index*")]:
        path.unlink(missing_ok=True)
    # INTERNALDATE has whole seconds: date the new mail safely after `prepare`.
    append(dovecot, text="Your code is 969696.", arrived=datetime.now(UTC) + timedelta(seconds=2))

    assert source.get_code(challenge()) == "969696"


def test_a_used_message_can_be_moved_to_a_folder(
    dovecot: DovecotServer, mail_sandbox: SandboxHandle, client: PartnerClient
) -> None:
    with MailBoxUnencrypted(dovecot.host, dovecot.port).login_utf8(
        dovecot.user, dovecot.password
    ) as box:
        if not box.folder.exists("Used-codes"):
            box.folder.create("Used-codes")
    source = Recording(make_source(dovecot, move_to="Used-codes"))

    client.login(DEMO_EMAIL, DEMO_PASSWORD, source)

    [(session_id, code)] = source.codes
    assert code == outbox_code(mail_sandbox, session_id)
    # Moved instead of marked: the message keeps its unread state in the other folder.
    assert "\\Seen" not in flags_of_message_with(dovecot, code, folder="Used-codes")
    with pytest.raises(AssertionError, match="no message with that code"):
        flags_of_message_with(dovecot, code)


def test_a_missing_move_to_folder_fails_before_the_send(dovecot: DovecotServer) -> None:
    source = make_source(dovecot, move_to="No-such-folder")

    with pytest.raises(OtpError, match="PARTNER_IMAP_MOVE_TO folder 'No-such-folder'"):
        source.prepare("EMAIL")


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_with_a_self_signed_certificate_the_source_trusts(
    dovecot: DovecotServer, client: PartnerClient, security: str
) -> None:
    port = dovecot.port if security == "starttls" else dovecot.ssl_port
    source = Recording(make_source(dovecot, security=security, port=port, ca_file=dovecot.ca_file))

    client.login(DEMO_EMAIL, DEMO_PASSWORD, source)

    [(_, code)] = source.codes
    assert "\\Seen" in flags_of_message_with(dovecot, code)


def test_an_untrusted_certificate_is_one_clear_line(dovecot: DovecotServer) -> None:
    source = make_source(dovecot, security="starttls")

    with pytest.raises(OtpError, match=r"not trusted .*set PARTNER_IMAP_CA_FILE"):
        source.prepare("EMAIL")


def test_a_wrong_mailbox_password_is_one_line_without_the_password(
    dovecot: DovecotServer,
) -> None:
    wrong = "not-the-mailbox-password-42"
    source = make_source(dovecot, password=wrong)

    with pytest.raises(OtpError) as caught:
        source.prepare("EMAIL")

    message = str(caught.value)
    assert message.startswith(
        f"IMAP login to {dovecot.host}:{dovecot.port} as {dovecot.user} failed: "
    )
    assert message.endswith("; check PARTNER_IMAP_USER/PARTNER_IMAP_PASSWORD")
    assert "uthentication failed" in message  # the server's reason
    assert wrong not in message
    assert "\n" not in message
    assert caught.value.__cause__ is None
    assert wrong not in repr(source)


def test_an_unreachable_server_is_one_clear_line(dovecot: DovecotServer) -> None:
    source = make_source(dovecot, port=free_port())

    with pytest.raises(OtpError, match=r"^cannot connect to IMAP 127\.0\.0\.1:\d+ \(none\): "):
        source.prepare("EMAIL")


def test_a_missing_folder_names_the_setting(dovecot: DovecotServer) -> None:
    source = make_source(dovecot, folder="No-such-folder")

    with pytest.raises(OtpError, match=r"'No-such-folder' cannot be opened.*PARTNER_IMAP_FOLDER"):
        source.prepare("EMAIL")


def test_clear_text_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="allowed only for a loopback host"):
        ImapOtpSource(
            "mail.example.com",
            user="otp@example.com",
            password="secret",
            sender=SANDBOX_MAIL_FROM,
            security="none",
        )


def test_a_totp_login_is_refused_by_the_mail_source(dovecot: DovecotServer) -> None:
    with pytest.raises(ConfigurationError, match="PARTNER_MFA_METHOD=EMAIL"):
        make_source(dovecot).prepare("TOTP")


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No `PARTNER_*` variable nor `.env` of the developer's leaks into `Settings`."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("PARTNER_")]:
        monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"imap_sender": ""}, "PARTNER_IMAP_SENDER"),
        ({"imap_host": ""}, "PARTNER_IMAP_HOST"),
        ({"imap_password": ""}, "PARTNER_IMAP_PASSWORD"),
        ({"imap_code_pattern": "(unclosed"}, "PARTNER_IMAP_CODE_PATTERN"),
        ({"imap_sender": "not an address"}, "PARTNER_IMAP_SENDER"),
        ({"imap_host": "mail.example.com", "imap_security": "none"}, "PARTNER_IMAP_SECURITY"),
    ],
)
def test_settings_name_the_missing_or_invalid_variable(
    overrides: dict[str, str], variable: str
) -> None:
    values = {
        "otp_source": "imap",
        "imap_host": "127.0.0.1",
        "imap_user": "otp@example.com",
        "imap_password": "secret",
        "imap_sender": SANDBOX_MAIL_FROM,
    }
    settings = Settings(**(values | overrides))  # type: ignore[arg-type]

    with pytest.raises(SettingsError, match=variable):
        imap_source_from_settings(settings)


@pytest.mark.usefixtures("clean_env")
def test_a_whole_sync_logs_in_through_the_mailbox_with_no_human(
    dovecot: DovecotServer, mail_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    settings = demo_settings(
        mail_sandbox.base_url,
        f"sqlite:///{tmp_path / 'partner_sync.db'}",
        otp_source="imap",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_user=dovecot.user,
        imap_password=dovecot.password,
        imap_sender=SANDBOX_MAIL_FROM,
        imap_security="none",
    )

    outcomes = run_sync(settings).outcomes

    assert [o.dataset for o in outcomes] == ["countries", "currencies", "languages", "cities"]
    assert all(o.error is None and o.status != "failed" for o in outcomes), outcomes
    assert next(o for o in outcomes if o.dataset == "cities").as_row()["inserted"] == 100


#: Spaces, both quotes, a backslash and non-ASCII letters: LOGIN cannot send it as ASCII.
ODD_PASSWORD = "ä ö \"quoted\" 'single' back\\slash Zürich-東京"


def test_a_password_with_spaces_quotes_and_non_ascii_letters_logs_in(
    mail_sandbox: SandboxHandle, client: PartnerClient
) -> None:
    with running_dovecot(password=ODD_PASSWORD) as odd:
        source = make_source(odd, password=ODD_PASSWORD)
        source.prepare("EMAIL")  # logs in and notes the folder
        append(odd, text="Your Partner sign-in code is 246810.")

        assert source.get_code(challenge()) == "246810"


def test_a_wrong_non_ascii_password_fails_without_any_part_of_it() -> None:
    with running_dovecot(password=ODD_PASSWORD) as odd:
        wrong = "wrong-ä-" + ODD_PASSWORD
        with pytest.raises(OtpError) as caught:
            make_source(odd, password=wrong).prepare("EMAIL")

    message = str(caught.value)
    assert message.endswith("; check PARTNER_IMAP_USER/PARTNER_IMAP_PASSWORD")
    assert "uthentication failed" in message
    for fragment in ("ä", "ö", "東", "quoted", "back", "wrong-"):
        assert fragment not in message
    assert caught.value.__cause__ is None


def test_a_server_side_auth_failure_is_not_blamed_on_the_credentials() -> None:
    with running_dovecot(broken_auth=True) as broken, pytest.raises(OtpError) as caught:
        make_source(broken).prepare("EMAIL")

    message = str(caught.value)
    assert "[UNAVAILABLE]" in message
    assert "problem on its side, not the credentials" in message
    assert "PARTNER_IMAP_PASSWORD" not in message
    assert broken.password not in message
