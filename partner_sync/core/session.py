"""Where a session token is kept between runs, so a daily run asks for an OTP only when it lapsed.

Two stores share one small protocol:

- `FileSessionStore`: a JSON file readable only by the user (mode 0600), by default
  `$XDG_STATE_HOME/partner-sync/session-<account>.json` (`~/.local/state/...`). It needs no
  server and suits one host: the CLI, `--no-prefect`, `partner-sync serve`.
- `flows._session_prefect.PrefectSecretSessionStore`: an encrypted Prefect `Secret` block,
  so every worker of a scaled-out deployment shares one session. This core knows only the
  protocol; `flows._session_prefect.run_session_store` builds it.

Which of them a run, `login`, `logout` or `sync --no-prefect` uses is decided by one rule,
`session_store_kind`, from settings alone: under `auto`, the Secret block when
`PREFECT_API_URL` is set (in the environment or `.env`), else the file. So every command
run with the same environment looks in the same place.

The app's database is deliberately not a store: it holds data that many readers may
query, and a bearer token has no business next to it.

`<account>` is a hash of base URL, API key and email, so two accounts never share a
token.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from partner_api import SessionToken

from .settings import Settings, SettingsError

logger = logging.getLogger("partner_sync.session")


class SessionStore(Protocol):
    """Keeps one account's session token between runs."""

    #: Where the session is kept, for messages (never the token).
    where: str

    def load(self) -> SessionToken | None:
        """The kept session, or None (nothing kept, or unreadable)."""
        ...

    def save(self, session: SessionToken) -> None:
        """Keep `session`, replacing any other."""

    def clear(self) -> bool:
        """Forget the kept session; whether there was one."""
        ...


def account_key(settings: Settings) -> str:
    """A short stable hash of base URL, API key and email: one kept session per account."""
    material = "\n".join((settings.base_url.rstrip("/"), settings.api_key, settings.email.lower()))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def session_from_json(text: str | dict[str, Any]) -> SessionToken | None:
    """The token from `SessionToken.to_json`'s text (or its parsed dict), or None if not one."""
    try:
        if isinstance(text, str):
            return SessionToken.from_json(text)
        return SessionToken.model_validate(text)
    except ValidationError:
        return None


def default_state_dir() -> Path:
    """`$XDG_STATE_HOME/partner-sync`, else `~/.local/state/partner-sync`."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "partner-sync"


class FileSessionStore:
    """A JSON file only its owner can read or write (0600 in a 0700 directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = f"file {path}"

    def load(self) -> SessionToken | None:
        """Read the file; a missing, unreadable or too-open file counts as nothing kept."""
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return None
        if mode & 0o077:
            # Someone else could have read the token: do not trust it, log in afresh.
            logger.warning(
                "%s is readable by others (mode %o); ignoring it", self.path, mode & 0o777
            )
            return None
        try:
            return session_from_json(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            logger.warning("cannot read the kept session %s: %s", self.path, exc.strerror)
            return None

    def save(self, session: SessionToken) -> None:
        """Write atomically: a temporary 0600 file in the same directory, then rename."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".session-", dir=self.path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(session.to_json())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def clear(self) -> bool:
        """Delete the file."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


class NullSessionStore:
    """Keeps nothing: every run logs in (`PARTNER_SESSION_STORE=none`)."""

    where = "nowhere (PARTNER_SESSION_STORE=none)"

    def load(self) -> SessionToken | None:
        """Nothing is kept."""
        return None

    def save(self, session: SessionToken) -> None:
        """Keep nothing."""

    def clear(self) -> bool:
        """Nothing to forget."""
        return False


def file_store(settings: Settings) -> FileSessionStore:
    """The file store at `PARTNER_SESSION_FILE`, or the per-account default path."""
    if settings.session_file:
        return FileSessionStore(Path(settings.session_file).expanduser())
    return FileSessionStore(default_state_dir() / f"session-{account_key(settings)}.json")


SessionStoreKind = Literal["file", "prefect", "none"]


def session_store_kind(settings: Settings) -> SessionStoreKind:
    """Where the kept session lives for these settings: the one rule every command follows.

    `PARTNER_SESSION_STORE=auto` is the Prefect Secret block when `PREFECT_API_URL` is set
    (environment or `.env`) and the file otherwise; `file`, `prefect` and `none` are
    themselves. It depends on settings only, never on the command, so `sync --no-prefect`,
    the flow, `login` and `logout` agree.
    """
    choice = settings.session_store
    if choice == "auto":
        return "prefect" if settings.prefect_api_url else "file"
    return choice


def plain_session_store(settings: Settings) -> SessionStore:
    """The file or null store `session_store_kind` names; the Prefect kind is refused.

    The Secret block store needs Prefect, which this core does not import: callers that
    may need it build it with `flows._session_prefect.run_session_store`.
    """
    kind = session_store_kind(settings)
    if kind == "none":
        return NullSessionStore()
    if kind == "prefect":
        raise SettingsError(
            f"PARTNER_SESSION_STORE={settings.session_store} keeps the session in a Prefect "
            "Secret block (PREFECT_API_URL), which this caller cannot reach; "
            "set PARTNER_SESSION_STORE=file or none"
        )
    return file_store(settings)
