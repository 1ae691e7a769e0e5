"""The mailbox end of the IMAP source: connect (TLS), log in, open the folder, and the few
IMAP commands `imap_tools` does not offer (`INTERNALDATE`, IDLE, untagged `EXISTS`).

Every error is one line naming the setting to check; the password never appears in one
(a server echoing it is scrubbed) and nothing of a failed login's exchange is chained.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError, MailboxLoginError, UnexpectedCommandStatusError
from pydantic import SecretStr

from .._errors import ConfigurationError, OtpError
from .._urls import is_loopback

ImapSecurity = Literal["ssl", "starttls", "none"]

#: Socket timeout for connecting and for each IMAP command (not for the IDLE wait itself).
IMAP_TIMEOUT = 30.0

SECURITIES: tuple[str, ...] = ("ssl", "starttls", "none")
#: What a broken or refusing connection raises, from the socket up to `imap_tools`.
CONNECTION_ERRORS = (OSError, imaplib.IMAP4.error, ImapToolsError)


class Mailbox:
    """One IMAP account's folder: where it is, how to reach it, and sessions on it.

    `security` is `ssl` (port 993), `starttls` or `none` (port 143; `none` only to a
    loopback host); `ca_file` is a CA bundle to trust for the server's certificate.
    """

    def __init__(
        self,
        host: str,
        *,
        user: str,
        password: str,
        port: int | None = None,
        folder: str = "INBOX",
        security: ImapSecurity = "ssl",
        ca_file: str | Path | None = None,
        timeout: float = IMAP_TIMEOUT,
    ) -> None:
        self.host = host.strip()
        self.user = user
        self.password = SecretStr(password)
        self.folder = folder or "INBOX"
        self.security = security
        self._timeout = timeout
        self._check_arguments()
        self.port = port or (993 if security == "ssl" else 143)
        if not 1 <= self.port <= 65535:
            raise ConfigurationError(f"PARTNER_IMAP_PORT {self.port} is not a TCP port")
        if security == "starttls" and self.port == 993:
            raise ConfigurationError(
                "PARTNER_IMAP_PORT 993 is IMAP over TLS: use PARTNER_IMAP_SECURITY=ssl there"
            )
        self._ssl_context = self._make_ssl_context(ca_file)

    @property
    def where(self) -> str:
        """`host:port`, for messages."""
        return f"{self.host}:{self.port}"

    @contextlib.contextmanager
    def session(self, *, select: bool) -> Iterator[BaseMailBox]:
        """A logged-in connection (with the folder selected), logged out whatever happens."""
        box = self._connect()
        try:
            self._login(box)
            if select:
                self._select(box)
            yield box
        finally:
            _close(box)

    def status(self, box: BaseMailBox) -> dict[str, int]:
        """The folder's `UIDVALIDITY` and `UIDNEXT`."""
        try:
            return dict(box.folder.status(self.folder, ["UIDVALIDITY", "UIDNEXT"]))
        except UnexpectedCommandStatusError as exc:
            raise OtpError(self._no_folder(self.server_words(exc))) from exc

    def selected_uidvalidity(self, box: BaseMailBox) -> int | None:
        """`UIDVALIDITY` from the SELECT answer (asking STATUS only if the server omitted it)."""
        value = untagged(box).get("UIDVALIDITY")
        if value and value[-1]:
            with contextlib.suppress(ValueError, TypeError):
                return int(value[-1])
        return self.status(box).get("UIDVALIDITY")

    def one_line(self, exc: BaseException) -> str:
        """`exc` as one scrubbed line."""
        return self.scrub(str(exc) or type(exc).__name__)

    def server_words(self, exc: UnexpectedCommandStatusError) -> str:
        """What the server said in a failed command's answer, as one scrubbed line."""
        result = getattr(exc, "command_result", None)
        data = result[1] if isinstance(result, tuple) and len(result) > 1 else None
        parts = data if isinstance(data, list) else [data]
        words = " ".join(
            p.decode(errors="replace") if isinstance(p, bytes) else str(p)
            for p in parts
            if p is not None
        )
        return self.scrub(words or type(exc).__name__)

    def scrub(self, text: str) -> str:
        """One line, at most 200 characters, and never the password (should a server echo it)."""
        secret = self.password.get_secret_value()
        if secret:
            text = text.replace(secret, "**********")
        text = " ".join(text.split()).rstrip(" .")  # the caller goes on with "; check ..."
        return text if len(text) <= 200 else text[:197] + "..."

    # -- connecting --------------------------------------------------------------------------

    def _connect(self) -> BaseMailBox:
        try:
            if self.security == "ssl":
                return MailBox(
                    self.host, self.port, timeout=self._timeout, ssl_context=self._ssl_context
                )
            if self.security == "starttls":
                return MailBoxStartTls(
                    self.host, self.port, timeout=self._timeout, ssl_context=self._ssl_context
                )
            return MailBoxUnencrypted(self.host, self.port, timeout=self._timeout)
        except ssl.SSLCertVerificationError as exc:
            raise OtpError(
                f"IMAP {self.where}: the server's TLS certificate is not trusted "
                f"({exc.verify_message}); set PARTNER_IMAP_CA_FILE to the CA that signed it"
            ) from exc
        except CONNECTION_ERRORS as exc:
            raise OtpError(
                f"cannot connect to IMAP {self.where} ({self.security}): "
                f"{self.one_line(exc)}; check PARTNER_IMAP_HOST, PARTNER_IMAP_PORT "
                "and PARTNER_IMAP_SECURITY"
            ) from exc

    def _login(self, box: BaseMailBox) -> None:
        """AUTHENTICATE PLAIN (UTF-8) where offered, else LOGIN, which takes ASCII only.

        Every failure is one line without any part of the password, and `from None`: nothing
        of the exchange (which carried the password) is chained.
        """
        user, password = self.user, self.password.get_secret_value()
        try:
            if "AUTH=PLAIN" in box.client.capabilities:
                box.login_utf8(user, password, initial_folder=None)
            elif (user + password).isascii():
                box.login(user, password, initial_folder=None)
            else:
                raise OtpError(
                    f"IMAP {self.where} offers no AUTHENTICATE PLAIN and its LOGIN takes ASCII "
                    "only, but PARTNER_IMAP_USER or PARTNER_IMAP_PASSWORD has other characters; "
                    "use an ASCII password or a server that offers AUTH=PLAIN"
                )
        except MailboxLoginError as exc:
            reason = self.server_words(exc)
        except UnicodeError:  # its message would quote a character of the secret
            reason = "a character of the user name or password could not be sent"
        except CONNECTION_ERRORS as exc:
            reason = self.one_line(exc)
        else:
            return
        raise OtpError(self._login_failed(reason)) from None

    def _login_failed(self, reason: str) -> str:
        what = f"IMAP login to {self.where} as {self.user} failed: {reason}"
        if "[UNAVAILABLE]" in reason.upper():
            # RFC 5530: the server could not check the credentials, not that they are wrong.
            return (
                f"{what}; the mail server could not check the login right now (a problem on "
                "its side, not the credentials): try again later or ask its administrator"
            )
        return f"{what}; check PARTNER_IMAP_USER/PARTNER_IMAP_PASSWORD"

    def _select(self, box: BaseMailBox) -> None:
        try:
            box.folder.set(self.folder)
        except UnexpectedCommandStatusError as exc:
            raise OtpError(self._no_folder(self.server_words(exc))) from exc

    def _no_folder(self, reason: str) -> str:
        return (
            f"IMAP folder {self.folder!r} cannot be opened for {self.user} on {self.host}: "
            f"{reason}; check PARTNER_IMAP_FOLDER"
        )

    # -- construction ------------------------------------------------------------------------

    def _check_arguments(self) -> None:
        for value, variable in (
            (self.host, "PARTNER_IMAP_HOST"),
            (self.user, "PARTNER_IMAP_USER"),
            (self.password.get_secret_value(), "PARTNER_IMAP_PASSWORD"),
        ):
            if not value:
                raise ConfigurationError(f"PARTNER_OTP_SOURCE=imap needs {variable}")
        if self.security not in SECURITIES:
            raise ConfigurationError(
                f"PARTNER_IMAP_SECURITY {self.security!r} is not one of {', '.join(SECURITIES)}"
            )
        if self.security == "none" and not is_loopback(self.host):
            raise ConfigurationError(
                f"PARTNER_IMAP_SECURITY=none would send the mailbox password in clear text to "
                f"{self.host!r}; it is allowed only for a loopback host: use ssl or starttls"
            )
        if self._timeout <= 0:
            raise ConfigurationError("the IMAP poll interval and timeout must be positive")

    def _make_ssl_context(self, ca_file: str | Path | None) -> ssl.SSLContext | None:
        if self.security == "none":
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


# -- IMAP commands imap_tools does not offer ---------------------------------------------------


def untagged(box: BaseMailBox) -> dict[str, list[Any]]:
    """`imaplib`'s untagged responses of the connection (e.g. `EXISTS` after a new message)."""
    responses: dict[str, list[Any]] = box.client.untagged_responses
    return responses


def offers_idle(box: BaseMailBox) -> bool:
    """Whether the server offers IDLE now (asked after login: capabilities may change)."""
    typ, data = box.client.capability()
    if typ == "OK" and data and data[-1]:
        return "IDLE" in bytes(data[-1]).decode(errors="replace").upper().split()
    return "IDLE" in box.client.capabilities


def idle(box: BaseMailBox, seconds: float) -> None:
    """IDLE until the server says something (a new message) or `seconds` pass."""
    manager: Any = box.idle  # imap_tools' IdleManager is untyped
    manager.start()
    try:
        manager.poll(timeout=seconds)
    finally:
        manager.stop()


def search_uids(box: BaseMailBox, criteria: Any) -> list[int]:
    """The UIDs matching `criteria`, as integers."""
    return [int(u) for u in box.uids(criteria)]


_FETCH_UID = re.compile(rb"UID (\d+)")


def internal_dates(box: BaseMailBox, uids: list[int]) -> dict[int, float]:
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


def day_before(at: float) -> date:
    """A SINCE date (whole days) that surely includes `at`, whatever the server's zone."""
    return (datetime.fromtimestamp(at, UTC) - timedelta(days=1)).date()


def _close(box: BaseMailBox) -> None:
    """LOGOUT; if the connection is broken (or mid-IDLE), just drop the socket."""
    try:
        box.logout()
    except Exception:  # closing must never hide the error that brought us here
        with contextlib.suppress(Exception):
            box.client.shutdown()
