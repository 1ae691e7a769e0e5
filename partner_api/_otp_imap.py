"""The `imap` OTP source: reads the EMAIL one-time code from a real mailbox over IMAP.

Before `mfa/send`, `prepare` notes the folder's `UIDVALIDITY` and `UIDNEXT`; `get_code` then
waits (IMAP IDLE where the server offers it, else polling) for a message that arrived after
that point, from the configured sender only, and reads the code from its subject, text body
or HTML body; `confirm` marks the message `\\Seen` (or moves it) once the server accepted the
code. Every step opens its own connection and closes it before returning, whatever happens,
so no IMAP session outlives a call.

Built on `imap_tools`; two things go to its `imaplib` client underneath: `INTERNALDATE`
(which `MailBox.fetch` does not ask for) and the untagged `EXISTS` bookkeeping that closes
the gap between a search and the next IDLE.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from imap_tools import (
    AND,
    BaseMailBox,
    MailBox,
    MailBoxStartTls,
    MailBoxUnencrypted,
    MailMessage,
    MailMessageFlags,
)
from imap_tools.errors import ImapToolsError, MailboxLoginError, UnexpectedCommandStatusError
from imap_tools.query import U
from pydantic import SecretStr

from ._client import is_loopback
from ._errors import ConfigurationError, OtpError
from ._otp import BaseOtpSource, OtpChallenge

logger = logging.getLogger("partner_api.otp.imap")

ImapSecurity = Literal["ssl", "starttls", "none"]

#: The first standalone 6-digit number (the same default as `PARTNER_IMAP_CODE_PATTERN`).
DEFAULT_CODE_PATTERN = r"(?<!\d)(\d{6})(?!\d)"
#: Socket timeout for connecting and for each IMAP command (not for the IDLE wait itself).
IMAP_TIMEOUT = 30.0
#: Seconds between searches when the server has no IDLE.
DEFAULT_POLL_INTERVAL = 5.0
#: Longest single IDLE before searching again anyway: a safety net for a missed notification
#: and a keep-alive for NAT boxes (RFC 2177 asks for less than 29 minutes).
IDLE_ROUND = 25.0
#: At most this many of the newest candidate messages are fetched per search.
MAX_CANDIDATES = 10
#: Reconnects tolerated while waiting (a dropped connection mid-IDLE is not the end).
MAX_RECONNECTS = 3

_SECURITIES: tuple[str, ...] = ("ssl", "starttls", "none")
_CONNECTION_ERRORS = (OSError, imaplib.IMAP4.error, ImapToolsError)


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
    the server's certificate. `clock` (wall time, compared with `INTERNALDATE`) and `sleep`
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
        use_idle: bool = True,
        timeout: float = IMAP_TIMEOUT,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._host = host.strip()
        self._user = user
        self._password = SecretStr(password)
        self._folder = folder or "INBOX"
        self._security = security
        self._move_to = move_to or None
        self._poll_interval = poll_interval
        self._use_idle = use_idle
        self._timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._check_arguments()
        self._port = port or (993 if security == "ssl" else 143)
        if not 1 <= self._port <= 65535:
            raise ConfigurationError(f"PARTNER_IMAP_PORT {self._port} is not a TCP port")
        if security == "starttls" and self._port == 993:
            raise ConfigurationError(
                "PARTNER_IMAP_PORT 993 is IMAP over TLS: use PARTNER_IMAP_SECURITY=ssl there"
            )
        self._sender = _parse_sender(sender)
        try:
            self._pattern = re.compile(code_pattern)
        except re.error as exc:
            raise ConfigurationError(
                f"PARTNER_IMAP_CODE_PATTERN is not a valid regular expression: {exc}"
            ) from None
        self._ssl_context = self._make_ssl_context(ca_file)
        self._mark: _Mark | None = None
        #: (UIDVALIDITY, UID) of every message whose code was handed out in this login.
        self._tried: set[tuple[int, int]] = set()
        self._used: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return (
            f"ImapOtpSource(host={self._host!r}, port={self._port}, user={self._user!r}, "
            f"folder={self._folder!r}, sender={self._sender!r}, security={self._security!r})"
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
        with self._session(select=False) as box:
            if self._move_to and not box.folder.exists(self._move_to):
                raise OtpError(
                    f"PARTNER_IMAP_MOVE_TO folder {self._move_to!r} does not exist in the "
                    f"mailbox of {self._user}; create it or unset PARTNER_IMAP_MOVE_TO"
                )
            status = self._status(box)
        self._mark = _Mark(status.get("UIDVALIDITY"), status.get("UIDNEXT"), self._clock())
        logger.info(
            "IMAP: noted %s of %s on %s:%d (next UID %s); only email from %s after this counts",
            self._folder,
            self._user,
            self._host,
            self._port,
            self._mark.uidnext,
            self._sender,
        )

    def get_code(self, challenge: OtpChallenge) -> str:
        """Wait for the new message from the sender and return the code it carries."""
        mark = self._mark
        if mark is None:
            raise OtpError("the imap OTP source was asked for a code before prepare()")
        started = time.monotonic()
        logger.info(
            "IMAP: waiting up to %d s for an email from %s in %s%s",
            int(challenge.seconds_left()),
            self._sender,
            self._folder,
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
                        f"the IMAP connection to {self._host}:{self._port} kept failing while "
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
        try:
            with self._session(select=True) as box:
                if self._selected_uidvalidity(box) != uidvalidity:
                    logger.warning("IMAP: %s changed UIDVALIDITY; cannot %s", self._folder, action)
                    return
                if self._move_to:
                    box.move(str(uid), self._move_to)
                else:
                    box.flag(str(uid), MailMessageFlags.SEEN, True)
        except (OtpError, *_CONNECTION_ERRORS) as exc:
            # The login already succeeded; a message left unread must not fail the sync.
            logger.warning("IMAP: could not %s the used email (UID %d): %s", action, uid, exc)
            return
        logger.info("IMAP: used email (UID %d): %s done", uid, action)

    # -- waiting and reading ---------------------------------------------------------------

    def _wait_for_code(
        self, challenge: OtpChallenge, mark: _Mark, started: float
    ) -> tuple[tuple[int, int], str]:
        """One connection's worth of waiting; connection failures become `_Dropped`."""
        with self._session(select=True) as box:
            try:
                uidvalidity = self._selected_uidvalidity(box)
                idle = self._use_idle and _offers_idle(box)
                while True:
                    _untagged(box).pop("EXISTS", None)
                    found = self._search(box, mark, uidvalidity)
                    if found is not None:
                        return found
                    left = challenge.seconds_left()
                    if left <= 0:
                        raise OtpError(self._nothing_arrived(time.monotonic() - started))
                    if _untagged(box).get("EXISTS"):
                        continue  # a message arrived during the search: look again first
                    if idle:
                        _idle(box, min(left, IDLE_ROUND))
                    else:
                        self._sleep(min(left, self._poll_interval))
            except (OSError, imaplib.IMAP4.abort) as exc:
                raise _Dropped(_one_line(exc, self._password)) from exc
            except (imaplib.IMAP4.error, ImapToolsError) as exc:
                raise OtpError(
                    f"IMAP {self._host}:{self._port} refused a command while looking for the "
                    f"email in {self._folder}: {_one_line(exc, self._password)}"
                ) from exc

    def _search(
        self, box: BaseMailBox, mark: _Mark, uidvalidity: int | None
    ) -> tuple[tuple[int, int], str] | None:
        """The newest untried new message from the sender with a code, if any."""
        same_box = mark.uidvalidity is not None and uidvalidity == mark.uidvalidity
        if same_box and mark.uidnext is not None:
            uids = _search_uids(box, AND(uid=U(str(mark.uidnext), "*"), from_=self._sender))
            # `N:*` always matches the last message, even below N: filter again here.
            uids = [u for u in uids if u >= mark.uidnext]
        else:
            # A new UIDVALIDITY renumbered the folder: only arrival time tells new from old.
            uids = _search_uids(box, AND(from_=self._sender, date_gte=_day_before(mark.at)))
            uids = [u for u, arrived in _internal_dates(box, uids).items() if arrived >= mark.at]
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
            if not message.uid or _sender_of(message) != self._sender:
                continue
            code = self._code_in(message)
            if code is not None:
                return (current, int(message.uid)), code
            if codeless_subject is None:
                codeless_subject = message.subject
        if codeless_subject is not None:
            raise OtpError(
                f"the email from {self._sender} (subject '{_safe_subject(codeless_subject)}') "
                "has no code matching PARTNER_IMAP_CODE_PATTERN"
            )
        return None

    def _code_in(self, message: MailMessage) -> str | None:
        """The code from the subject, else the text body, else the HTML body's text."""
        for text in (message.subject, message.text, _text_of_html(message.html)):
            match = self._pattern.search(text or "")
            if match:
                return (match.group(1) if self._pattern.groups else match.group(0)).strip()
        return None

    def _nothing_arrived(self, waited: float) -> str:
        besides = " besides the one whose code was rejected" if self._tried else ""
        return (
            f"no email from {self._sender}{besides} arrived in {self._folder} within "
            f"{waited:.0f} s; check PARTNER_IMAP_SENDER and that the partner's mail reaches "
            "this mailbox"
        )

    # -- connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self, *, select: bool) -> Iterator[BaseMailBox]:
        """A logged-in connection (with the folder selected), logged out whatever happens."""
        box = self._connect()
        try:
            self._login(box)
            if select:
                self._select(box)
            yield box
        finally:
            _close(box)

    def _connect(self) -> BaseMailBox:
        where = f"{self._host}:{self._port}"
        try:
            if self._security == "ssl":
                return MailBox(
                    self._host, self._port, timeout=self._timeout, ssl_context=self._ssl_context
                )
            if self._security == "starttls":
                return MailBoxStartTls(
                    self._host, self._port, timeout=self._timeout, ssl_context=self._ssl_context
                )
            return MailBoxUnencrypted(self._host, self._port, timeout=self._timeout)
        except ssl.SSLCertVerificationError as exc:
            raise OtpError(
                f"IMAP {where}: the server's TLS certificate is not trusted "
                f"({exc.verify_message}); set PARTNER_IMAP_CA_FILE to the CA that signed it"
            ) from exc
        except _CONNECTION_ERRORS as exc:
            raise OtpError(
                f"cannot connect to IMAP {where} ({self._security}): "
                f"{_one_line(exc, self._password)}; check PARTNER_IMAP_HOST, PARTNER_IMAP_PORT "
                "and PARTNER_IMAP_SECURITY"
            ) from exc

    def _login(self, box: BaseMailBox) -> None:
        try:
            box.login(self._user, self._password.get_secret_value(), initial_folder=None)
        except MailboxLoginError as exc:
            reason = _server_words(exc, self._password)
            # `from None`: nothing of the exchange (which carried the password) is chained.
            raise OtpError(
                f"IMAP login to {self._host}:{self._port} as {self._user} failed: {reason}; "
                "check PARTNER_IMAP_USER/PARTNER_IMAP_PASSWORD"
            ) from None
        except _CONNECTION_ERRORS as exc:
            raise OtpError(
                f"IMAP login to {self._host}:{self._port} as {self._user} failed: "
                f"{_one_line(exc, self._password)}; check PARTNER_IMAP_USER/PARTNER_IMAP_PASSWORD"
            ) from None

    def _select(self, box: BaseMailBox) -> None:
        try:
            box.folder.set(self._folder)
        except UnexpectedCommandStatusError as exc:
            raise OtpError(self._no_folder(_server_words(exc, self._password))) from exc

    def _status(self, box: BaseMailBox) -> dict[str, int]:
        try:
            return dict(box.folder.status(self._folder, ["UIDVALIDITY", "UIDNEXT"]))
        except UnexpectedCommandStatusError as exc:
            raise OtpError(self._no_folder(_server_words(exc, self._password))) from exc

    def _selected_uidvalidity(self, box: BaseMailBox) -> int | None:
        """`UIDVALIDITY` from the SELECT answer (asking STATUS only if the server omitted it)."""
        value = _untagged(box).get("UIDVALIDITY")
        if value and value[-1]:
            with contextlib.suppress(ValueError, TypeError):
                return int(value[-1])
        return self._status(box).get("UIDVALIDITY")

    def _no_folder(self, reason: str) -> str:
        return (
            f"IMAP folder {self._folder!r} cannot be opened for {self._user} on {self._host}: "
            f"{reason}; check PARTNER_IMAP_FOLDER"
        )

    # -- construction ------------------------------------------------------------------------

    def _check_arguments(self) -> None:
        for value, variable in (
            (self._host, "PARTNER_IMAP_HOST"),
            (self._user, "PARTNER_IMAP_USER"),
            (self._password.get_secret_value(), "PARTNER_IMAP_PASSWORD"),
        ):
            if not value:
                raise ConfigurationError(f"PARTNER_OTP_SOURCE=imap needs {variable}")
        if self._security not in _SECURITIES:
            raise ConfigurationError(
                f"PARTNER_IMAP_SECURITY {self._security!r} is not one of {', '.join(_SECURITIES)}"
            )
        if self._security == "none" and not is_loopback(self._host):
            raise ConfigurationError(
                f"PARTNER_IMAP_SECURITY=none would send the mailbox password in clear text to "
                f"{self._host!r}; it is allowed only for a loopback host: use ssl or starttls"
            )
        if self._poll_interval <= 0 or self._timeout <= 0:
            raise ConfigurationError("the IMAP poll interval and timeout must be positive")

    def _make_ssl_context(self, ca_file: str | Path | None) -> ssl.SSLContext | None:
        if self._security == "none":
            if ca_file:
                raise ConfigurationError(
                    "PARTNER_IMAP_CA_FILE is set but PARTNER_IMAP_SECURITY=none uses no TLS"
                )
            return None
        if not ca_file:
            return ssl.create_default_context()
        path = Path(ca_file)
        try:
            return ssl.create_default_context(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"PARTNER_IMAP_CA_FILE {str(path)!r} is not a readable PEM CA bundle: "
                f"{exc.strerror or exc}"
            ) from None


class _Dropped(Exception):
    """The connection broke while waiting; `get_code` reconnects if time allows."""


def _parse_sender(sender: str) -> str:
    """The bare, lower-cased address of `sender` ("Name <a@b>" or "a@b")."""
    address = parseaddr(sender or "")[1].strip().lower()
    if not sender or "@" not in address:
        raise ConfigurationError(
            "PARTNER_OTP_SOURCE=imap needs PARTNER_IMAP_SENDER, the address the partner's "
            f"code emails come from{f' (got {sender!r})' if sender else ''}"
        )
    return address


def _sender_of(message: MailMessage) -> str:
    return (message.from_values.email if message.from_values else "").lower()


def _untagged(box: BaseMailBox) -> dict[str, list[Any]]:
    responses: dict[str, list[Any]] = box.client.untagged_responses
    return responses


def _offers_idle(box: BaseMailBox) -> bool:
    """Whether the server offers IDLE now (asked after login: capabilities may change)."""
    typ, data = box.client.capability()
    if typ == "OK" and data and data[-1]:
        return "IDLE" in bytes(data[-1]).decode(errors="replace").upper().split()
    return "IDLE" in box.client.capabilities


def _idle(box: BaseMailBox, seconds: float) -> None:
    """IDLE until the server says something (a new message) or `seconds` pass."""
    idle: Any = box.idle  # imap_tools' IdleManager is untyped
    idle.start()
    try:
        idle.poll(timeout=seconds)
    finally:
        idle.stop()


def _search_uids(box: BaseMailBox, criteria: Any) -> list[int]:
    return [int(u) for u in box.uids(criteria)]


_FETCH_UID = re.compile(rb"UID (\d+)")


def _internal_dates(box: BaseMailBox, uids: list[int]) -> dict[int, float]:
    """UID -> INTERNALDATE (epoch seconds); `MailBox.fetch` does not ask for it."""
    if not uids:
        return {}
    typ, data = box.client.uid("FETCH", ",".join(map(str, uids)), "(UID INTERNALDATE)")
    dates: dict[int, float] = {}
    for item in data if typ == "OK" else []:
        raw = item[0] if isinstance(item, tuple) else item
        uid, parsed = _FETCH_UID.search(raw or b""), imaplib.Internaldate2tuple(raw or b"")
        if uid and parsed:
            dates[int(uid.group(1))] = time.mktime(parsed)
    return dates


def _day_before(at: float) -> date:
    """A SINCE date (whole days) that surely includes `at`, whatever the server's zone."""
    return (datetime.fromtimestamp(at, UTC) - timedelta(days=1)).date()


def _close(box: BaseMailBox) -> None:
    """LOGOUT; if the connection is broken (or mid-IDLE), just drop the socket."""
    try:
        box.logout()
    except Exception:  # closing must never hide the error that brought us here
        with contextlib.suppress(Exception):
            box.client.shutdown()


def _server_words(exc: UnexpectedCommandStatusError, password: SecretStr) -> str:
    """What the server said in a failed command's answer, as one line."""
    result = getattr(exc, "command_result", None)
    data = result[1] if isinstance(result, tuple) and len(result) > 1 else None
    parts = data if isinstance(data, list) else [data]
    words = " ".join(
        p.decode(errors="replace") if isinstance(p, bytes) else str(p)
        for p in parts
        if p is not None
    )
    return _scrub(words or type(exc).__name__, password)


def _one_line(exc: BaseException, password: SecretStr) -> str:
    return _scrub(str(exc) or type(exc).__name__, password)


def _scrub(text: str, password: SecretStr) -> str:
    """One line, at most 200 characters, and never the password (should a server echo it)."""
    secret = password.get_secret_value()
    if secret:
        text = text.replace(secret, "**********")
    text = " ".join(text.split()).rstrip(" .")  # the caller goes on with "; check ..."
    return text if len(text) <= 200 else text[:197] + "..."


def _safe_subject(subject: str) -> str:
    """The subject for an error message: one line, short, with long digit runs masked
    (a code that the pattern missed must not leak through the error)."""
    text = re.sub(r"\d{4,}", lambda m: "#" * len(m.group(0)), " ".join(subject.split()))
    return text if len(text) <= 80 else text[:77] + "..."


class _HtmlText(HTMLParser):
    """The visible text of an HTML body: tags dropped, entities decoded, blocks separated."""

    # fmt: off
    _BLOCKS = frozenset((
        "address", "article", "br", "dd", "div", "dt", "footer", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table", "tbody", "td",
        "tfoot", "th", "thead", "title", "tr", "ul",
    ))
    # fmt: on
    #: Not `head`: an unclosed `<head>` would hide the whole body.
    _HIDDEN = frozenset(("script", "style"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _text_of_html(html: str) -> str:
    """The visible text of `html` (tags joined inline, separated at block boundaries)."""
    if not html:
        return ""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())
