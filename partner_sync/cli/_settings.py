"""What a CLI command reads before it acts: settings, credentials from Secret blocks, the store.

The same rules as the flow's, in one place for every command: a credential the environment
leaves empty is read from its Prefect Secret block when `PREFECT_API_URL` is set, and the
kept session lives where `partner_sync.core.session.session_store_kind` says. Prefect is
imported only when one of these needs it, so `sync --no-prefect` without a Prefect API
still starts without it.
"""

from __future__ import annotations

from typing import Any

from partner_sync.core.redact import remember_settings_secrets
from partner_sync.core.session import SessionStore, plain_session_store, session_store_kind
from partner_sync.core.settings import Settings, load_settings, missing_credentials

from ._output import EXIT_USAGE, fail


def load_cli_settings(**overrides: Any) -> Settings:
    """Settings, with empty credentials filled from Secret blocks when a Prefect API is set."""
    settings = load_settings(**overrides)
    if settings.prefect_api_url and missing_credentials(settings):
        # Lazy: importing Prefect costs ~1.8 s, paid only when a block may hold the value.
        from flows._secret_blocks import fill_from_blocks

        fill_from_blocks(settings)
    remember_settings_secrets(settings)
    return settings


def session_store_for(settings: Settings) -> SessionStore:
    """The store `session_store_kind` names; Prefect is imported only for the Secret block."""
    if session_store_kind(settings) != "prefect":
        return plain_session_store(settings)
    from flows._session_prefect import run_session_store

    return run_session_store(settings)


def prefect_api_missing(what: str) -> int | None:
    """`EXIT_USAGE` after one line when no Prefect API is configured for `what`; else None.

    Without one, Prefect would start a temporary server (~10 s) that knows nothing of the
    runs, blocks or deployments on the user's real server.
    """
    # Lazy: importing Prefect costs ~1.8 s, which the commands without it must not pay.
    from flows._session_prefect import prefect_api_configured

    if prefect_api_configured():
        return None
    return fail(
        f"no Prefect API is configured: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api) "
        f"to the server {what}",
        EXIT_USAGE,
    )
