"""A run's session: the kept one while it lasts, else a login with the MFA handoff."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from partner_api import OtpSource, PartnerClient, SessionToken

from .otp import build_otp_source
from .redact import remember_secret
from .session import SessionStore
from .settings import Settings

logger = logging.getLogger("partner_sync")


@dataclass(frozen=True)
class SessionStart:
    """How a run had its session, for the report."""

    logged_in: bool
    #: One line, e.g. "the kept session from file ..." (never the token).
    note: str


def log_in(
    client: PartnerClient,
    settings: Settings,
    otp_source: OtpSource | None = None,
    *,
    renew: Callable[[], SessionToken] | None = None,
) -> SessionToken:
    """Log in with the MFA handoff; a later `4010` calls `renew` (default: log in again)."""
    settings.require("email", "password")
    source = otp_source or build_otp_source(settings, client)
    # A source that waits for a person (the Prefect pause) must not start a second login on
    # its own when the first expired: that would send a new code nobody asked for.
    restarts = settings.login_restarts if getattr(source, "restarts_login", True) else 0
    session = client.login(
        settings.email,
        settings.password.get_secret_value(),
        source,
        mfa_method=settings.mfa_method,
        restarts=restarts,
        renew=renew,
    )
    remember_secret(session.token)
    return session


def usable_kept_session(store: SessionStore, settings: Settings) -> SessionToken | None:
    """The session kept in `store` if it lives past `PARTNER_SESSION_MARGIN`, else None."""
    kept = store.load()
    if kept is not None and kept.expires_within(settings.session_margin):
        logger.info("the kept session expires within %g s; logging in", settings.session_margin)
        return None
    return kept


def start_session(
    client: PartnerClient,
    settings: Settings,
    store: SessionStore,
    otp_source: OtpSource | None = None,
) -> SessionStart:
    """Use the kept session if it lives past the margin, else log in.

    Either way a later `4010` logs in again through the same OTP source, and every new
    session is kept in `store`. The OTP source is built only when a login happens, so a
    valid kept token never touches a mailbox or pauses a run.
    """
    source: list[OtpSource] = [otp_source] if otp_source is not None else []

    def login_and_keep() -> SessionToken:
        if not source:
            source.append(build_otp_source(settings, client))
        session = log_in(client, settings, source[0], renew=login_and_keep)
        try:
            store.save(session)
        except Exception as exc:  # the run can go on; the next one will log in again
            logger.warning("logged in, but cannot keep the session in %s: %s", store.where, exc)
        return session

    kept = usable_kept_session(store, settings)
    if kept is not None:
        remember_secret(kept.token)
        client.use_session(kept, renew=login_and_keep)
        until = kept.expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        logger.info("using the kept session from %s (valid until %s)", store.where, until)
        return SessionStart(False, f"the kept session from {store.where} (valid until {until})")
    login_and_keep()
    return SessionStart(
        True,
        f"logged in through the {settings.otp_source} OTP source; kept in {store.where}",
    )
