"""The `imap` OTP source: reads the EMAIL one-time code from a real mailbox over IMAP.

Before `mfa/send`, `prepare` notes the folder's `UIDVALIDITY` and `UIDNEXT`; `get_code` then
waits (IMAP IDLE where the server offers it, else polling) for a message that arrived after
that point, from the configured sender only, and reads the code from its subject, text body
or HTML body; `confirm` marks the message `\\Seen` (or moves it) once the server accepted the
code. Every step opens its own connection and closes it before returning, whatever happens,
so no IMAP session outlives a call.

The connection, login and raw IMAP commands are in `_imap_mailbox`; reading a message (its
sender, its code, what of it may be quoted) is in `_imap_text`.
"""

from __future__ import annotations

import imaplib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from imap_tools import AND, BaseMailBox, MailMessageFlags
from imap_tools.errors import ImapToolsError
from imap_tools.query import U

from .._errors import ConfigurationError, OtpError
from ._base import BaseOtpSource, OtpChallenge
from ._imap_mailbox import (
    CONNECTION_ERRORS,
    IMAP_TIMEOUT,
    ImapSecurity,
    Mailbox,
    day_before,
    idle,
    internal_dates,
    offers_idle,
    search_uids,
    untagged,
)
from ._imap_text import code_in, parse_sender, safe_subject, sender_of

logger = logging.getLogger("partner_api.otp.imap")

#: The first standalone 6-digit number (the same default as `PARTNER_IMAP_CODE_PATTERN`).
DEFAULT_CODE_PATTERN = r"(?<!\d)(\d{6})(?!\d)"
#: Seconds between searches when the server has no IDLE.
DEFAULT_POLL_INTERVAL = 5.0
#: Longest single IDLE before searching again anyway: a safety net for a missed notification
#: and a keep-alive for NAT boxes (RFC 2177 asks for less than 29 minutes).
IDLE_ROUND = 25.0
#: At most this many of the newest candidate messages are fetched per search.
MAX_CANDIDATES = 10
#: Reconnects tolerated while waiting (a dropped connection mid-IDLE is not the end).
MAX_RECONNECTS = 3
#: Longest wait for the email by default (`PARTNER_IMAP_WAIT`): well inside the partner's
#: five-minute login session, so a misconfigured mailbox fails in two minutes, not five.
DEFAULT_MAX_WAIT = 120.0


@dataclass(frozen=True)
class _Mark:
    """The folder as it was before the send: only what comes after counts."""

    uidvalidity: int | None
    uidnext: int | None
    at: float


class ImapOtpSource(BaseOtpSource):
    """Reads the EMAIL code from a mailbox over IMAP (`PARTNER_OTP_SOURCE=imap`).

    `sender` is the only address whose messages count; `code_pattern` is a regex whose first
    group (or whole match) is the code. `security` is `ssl` (port 993), `starttls` or `none`
    (port 143; `none` only to a loopback host). `move_to` names a folder the used message is
    moved to; without it the message is marked `\\Seen`. `ca_file` is a CA bundle to trust for
    the server's certificate. `max_wait` bounds how long `get_code` waits for the email (the
    login session's end bounds it too). `clock` (wall time, compared with `INTERNALDATE`) and `sleep`
    (between polls) are injectable for tests. The password never appears in a log, an error
    or `repr`.
    """

    name = "imap"
    #: After a wrong code another message may hold the right one (a parallel login's mail).
    asks_again = True

    def __init__(
        self,
        host: str,
        *,
        user: str,
        password: str,
        sender: str,
        port: int | None = None,
        folder: str = "INBOX",
        code_pattern: str = DEFAULT_CODE_PATTERN,
        security: ImapSecurity = "ssl",
        move_to: str | None = None,
        ca_file: str | Path | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_wait: float = DEFAULT_MAX_WAIT,
        use_idle: bool = True,
        timeout: float = IMAP_TIMEOUT,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._mailbox = Mailbox(
            host,
            user=user,
            password=password,
            port=port,
            folder=folder,
            security=security,
            ca_file=ca_file,
            timeout=timeout,
        )
        if poll_interval <= 0:
            raise ConfigurationError("the IMAP poll interval and timeout must be positive")
        if max_wait <= 0:
            raise ConfigurationError("PARTNER_IMAP_WAIT must be a positive number of seconds")
        self._max_wait = max_wait
        self._move_to = move_to or None
        self._poll_interval = poll_interval
        self._use_idle = use_idle
        self._clock = clock
        self._sleep = sleep
        self._sender = parse_sender(sender)
        try:
            self._pattern = re.compile(code_pattern)
        except re.error as exc:
            raise ConfigurationError(
                f"PARTNER_IMAP_CODE_PATTERN is not a valid regular expression: {exc}"
            ) from None
        self._mark: _Mark | None = None
        #: (UIDVALIDITY, UID) of every message whose code was handed out in this login.
        self._tried: set[tuple[int, int]] = set()
        self._used: tuple[int, int] | None = None

    def __repr__(self) -> str:
        box = self._mailbox
        return (
            f"ImapOtpSource(host={box.host!r}, port={box.port}, user={box.user!r}, "
            f"folder={box.folder!r}, sender={self._sender!r}, security={box.security!r})"
        )

    # -- the OtpSource protocol ---------------------------------------------------------

    def prepare(self, method: str) -> None:
        """Log in and note the folder's `UIDVALIDITY` and `UIDNEXT` before the code is sent."""
        if method.upper() != "EMAIL":
            raise ConfigurationError(
                f"PARTNER_OTP_SOURCE=imap reads codes sent by email, not {method}: "
                "set PARTNER_MFA_METHOD=EMAIL or choose another PARTNER_OTP_SOURCE"
            )
        self._mark, self._used = None, None
        self._tried.clear()
        mailbox = self._mailbox
        with mailbox.session(select=False) as box:
            if self._move_to and not box.folder.exists(self._move_to):
                raise OtpError(
                    f"PARTNER_IMAP_MOVE_TO folder {self._move_to!r} does not exist in the "
                    f"mailbox of {mailbox.user}; create it or unset PARTNER_IMAP_MOVE_TO"
                )
            status = mailbox.status(box)
        self._mark = _Mark(status.get("UIDVALIDITY"), status.get("UIDNEXT"), self._clock())
        logger.info(
            "IMAP: noted %s of %s on %s (next UID %s); only email from %s after this counts",
            mailbox.folder,
            mailbox.user,
            mailbox.where,
            self._mark.uidnext,
            self._sender,
        )

    def get_code(self, challenge: OtpChallenge) -> str:
        """Wait for the new message from the sender and return the code it carries."""
        mark = self._mark
        if mark is None:
            raise OtpError("the imap OTP source was asked for a code before prepare()")
        started = time.monotonic()
        # Waiting ends at PARTNER_IMAP_WAIT or when the login expires, whichever comes first.
        challenge = replace(challenge, deadline=min(challenge.deadline, started + self._max_wait))
        logger.info(
            "IMAP: waiting up to %d s for an email from %s in %s%s",
            int(challenge.seconds_left()),
            self._sender,
            self._mailbox.folder,
            f" other than the {len(self._tried)} already tried" if self._tried else "",
        )
        reconnects = 0
        while True:
            try:
                found = self._wait_for_code(challenge, mark, started)
                break
            except _Dropped as exc:
                reconnects += 1
                if reconnects > MAX_RECONNECTS or challenge.seconds_left() <= 0:
                    raise OtpError(
                        f"the IMAP connection to {self._mailbox.where} kept failing while "
                        f"waiting for the email: {exc}"
                    ) from exc.__cause__
                logger.warning("IMAP: connection lost while waiting (%s); reconnecting", exc)
                self._sleep(min(1.0, challenge.seconds_left()))
        key, code = found
        self._tried.add(key)
        self._used = key
        logger.info(
            "IMAP: the email from %s arrived (UID %d); code read after %.1f s",
            self._sender,
            key[1],
            time.monotonic() - started,
        )
        return code

    def confirm(self) -> None:
        """Mark the used message `\\Seen` (or move it); a failure here only warns."""
        used, self._used = self._used, None
        if used is None:
            return
        uidvalidity, uid = used
        action = f"move to {self._move_to!r}" if self._move_to else "mark \\Seen"
        mailbox = self._mailbox
        try:
            with mailbox.session(select=True) as box:
                if mailbox.selected_uidvalidity(box) != uidvalidity:
                    logger.warning(
                        "IMAP: %s changed UIDVALIDITY; cannot %s", mailbox.folder, action
                    )
                    return
                if self._move_to:
                    box.move(str(uid), self._move_to)
                else:
                    box.flag(str(uid), MailMessageFlags.SEEN, True)
        except (OtpError, *CONNECTION_ERRORS) as exc:
            # The login already succeeded; a message left unread must not fail the sync.
            logger.warning("IMAP: could not %s the used email (UID %d): %s", action, uid, exc)
            return
        logger.info("IMAP: used email (UID %d): %s done", uid, action)

    # -- waiting and reading ---------------------------------------------------------------

    def _wait_for_code(
        self, challenge: OtpChallenge, mark: _Mark, started: float
    ) -> tuple[tuple[int, int], str]:
        """One connection's worth of waiting; connection failures become `_Dropped`."""
        mailbox = self._mailbox
        with mailbox.session(select=True) as box:
            try:
                uidvalidity = mailbox.selected_uidvalidity(box)
                use_idle = self._use_idle and offers_idle(box)
                while True:
                    untagged(box).pop("EXISTS", None)
                    found = self._search(box, mark, uidvalidity)
                    if found is not None:
                        return found
                    left = challenge.seconds_left()
                    if left <= 0:
                        raise OtpError(self._nothing_arrived(time.monotonic() - started))
                    if untagged(box).get("EXISTS"):
                        continue  # a message arrived during the search: look again first
                    if use_idle:
                        idle(box, min(left, IDLE_ROUND))
                    else:
                        self._sleep(min(left, self._poll_interval))
            except (OSError, imaplib.IMAP4.abort) as exc:
                raise _Dropped(mailbox.one_line(exc)) from exc
            except (imaplib.IMAP4.error, ImapToolsError) as exc:
                raise OtpError(
                    f"IMAP {mailbox.where} refused a command while looking for the "
                    f"email in {mailbox.folder}: {mailbox.one_line(exc)}"
                ) from exc

    def _search(
        self, box: BaseMailBox, mark: _Mark, uidvalidity: int | None
    ) -> tuple[tuple[int, int], str] | None:
        """The newest untried new message from the sender with a code, if any."""
        same_box = mark.uidvalidity is not None and uidvalidity == mark.uidvalidity
        if same_box and mark.uidnext is not None:
            uids = search_uids(box, AND(uid=U(str(mark.uidnext), "*"), from_=self._sender))
            # `N:*` always matches the last message, even below N: filter again here.
            uids = [u for u in uids if u >= mark.uidnext]
        else:
            # A new UIDVALIDITY renumbered the folder: only arrival time tells new from old.
            uids = search_uids(box, AND(from_=self._sender, date_gte=day_before(mark.at)))
            uids = [u for u, arrived in internal_dates(box, uids).items() if arrived >= mark.at]
        current = uidvalidity or 0
        candidates = sorted((u for u in uids if (current, u) not in self._tried), reverse=True)
        if not candidates:
            # Not an empty `uid_list`: imap_tools then falls back to searching ALL.
            return None
        codeless_subject: str | None = None
        for message in box.fetch(
            uid_list=[str(u) for u in candidates[:MAX_CANDIDATES]], mark_seen=False
        ):
            # SEARCH FROM is a substring match: insist on the exact address.
            if not message.uid or sender_of(message) != self._sender:
                continue
            code = code_in(self._pattern, message)
            if code is not None:
                return (current, int(message.uid)), code
            if codeless_subject is None:
                codeless_subject = message.subject
        if codeless_subject is not None:
            raise OtpError(
                f"the email from {self._sender} (subject '{safe_subject(codeless_subject)}') "
                "has no code matching PARTNER_IMAP_CODE_PATTERN"
            )
        return None

    def _nothing_arrived(self, waited: float) -> str:
        besides = " besides the one whose code was rejected" if self._tried else ""
        return (
            f"no email from {self._sender}{besides} arrived in {self._mailbox.folder} within "
            f"{waited:.0f} s (PARTNER_IMAP_WAIT is {self._max_wait:g} s); check "
            "PARTNER_IMAP_SENDER and that the partner's mail reaches this mailbox"
        )


class _Dropped(Exception):
    """The connection broke while waiting; `get_code` reconnects if time allows."""
