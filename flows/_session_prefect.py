"""The session store in an encrypted Prefect `Secret` block, shared by every worker of a deployment.

`run_session_store` builds the store the core's one rule (`session_store_kind`) names:
this one when it says `prefect`, otherwise the core's file or null store.

The Prefect server encrypts block secrets at rest; the key lives in the same database
unless `PREFECT_SERVER_ENCRYPTION_KEY` is set (README "Prefect"). Anyone who can read
blocks through the Prefect API can read the token, as with the API secret itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect.blocks.system import Secret
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

from partner_api import SessionToken
from partner_sync.core.session import (
    SessionStore,
    account_key,
    plain_session_store,
    session_from_json,
    session_store_kind,
)
from partner_sync.core.settings import Settings, SettingsError

logger = logging.getLogger("partner_sync.session")


def prefect_api_configured() -> bool:
    """Whether a Prefect API URL is set (a server that outlives this process)."""
    return bool(get_current_settings().api.url)


def _is_missing(exc: Exception) -> bool:
    # `Block.load` reports an unknown name as ValueError("Unable to find block document ...").
    return isinstance(exc, ObjectNotFound) or (
        isinstance(exc, ValueError) and "Unable to find block document" in str(exc)
    )


class PrefectSecretSessionStore:
    """A `Secret` block named `partner-sync-session-<account>` holding the session as JSON."""

    def __init__(self, block_name: str, api_url: str | None = None) -> None:
        self.block_name = block_name
        #: The API the block lives on: the settings' `PREFECT_API_URL` (the one the store's
        #: choice was made by), else whatever Prefect is configured with in this process.
        self.api_url = api_url
        self.where = f"Prefect Secret block {block_name!r}"

    @contextmanager
    def _on_api(self) -> Iterator[None]:
        if self.api_url is None:
            yield
            return
        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            yield

    def load(self) -> SessionToken | None:
        """Load the block; a missing or malformed block counts as nothing kept."""
        try:
            with self._on_api():
                block: Any = Secret.load(self.block_name)
        except Exception as exc:
            if not _is_missing(exc):
                logger.warning("cannot read %s: %s", self.where, type(exc).__name__)
            return None
        value = block.get()  # a JSON string comes back parsed, as a dict
        return session_from_json(value) if isinstance(value, str | dict) else None

    def save(self, session: SessionToken) -> None:
        """Create or overwrite the block."""
        with self._on_api():
            Secret(value=session.to_json()).save(self.block_name, overwrite=True)

    def clear(self) -> bool:
        """Delete the block."""
        try:
            with self._on_api():
                Secret.delete(self.block_name)
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True


def session_block_name(settings: Settings) -> str:
    """The Secret block that keeps this account's session."""
    return f"partner-sync-session-{account_key(settings)}"


def run_session_store(settings: Settings) -> SessionStore:
    """The store `session_store_kind` names, the Secret block included.

    The block needs a Prefect API that outlives this process: without one (a temporary
    server) it is refused in one line, as a token kept there would vanish with the server.
    """
    if session_store_kind(settings) != "prefect":
        return plain_session_store(settings)
    # The choice was made from the settings' PREFECT_API_URL; Prefect's own settings in this
    # process may have been read before that was set (a long-lived process, a test run).
    api_url = settings.prefect_api_url or None
    if api_url is None and not prefect_api_configured():
        raise SettingsError(
            "PARTNER_SESSION_STORE=prefect needs a Prefect API (PREFECT_API_URL); "
            "use `file` or `none` without one"
        )
    return PrefectSecretSessionStore(session_block_name(settings), api_url=api_url)
