"""`partner-sync login`, `logout` and `otp`: the session a later run will use."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer

from partner_api import PromptOtpSource, SessionExpiredError
from partner_api.otp import OTP_PATTERN
from partner_sync.core.client import build_client
from partner_sync.core.login import log_in, usable_kept_session
from partner_sync.core.otp import build_otp_source
from partner_sync.core.report import EXIT_FAILED, EXIT_OK

from ._output import EXIT_USAGE, fail
from ._settings import load_cli_settings, prefect_api_missing, session_store_for


def login(
    force: Annotated[bool, typer.Option(help="Log in even if a session is kept.")] = False,
) -> int:
    """Log in once (interactively by default) and keep the session for later runs."""
    settings = load_cli_settings()
    settings.require("api_key", "api_secret", "email", "password")
    store = session_store_for(settings)
    kept = None if force else usable_kept_session(store, settings)
    if kept is not None:
        print(
            f"already logged in: the session kept in {store.where} is valid until "
            f"{kept.expires_at:%Y-%m-%d %H:%M:%S} UTC (--force logs in again)"
        )
        return EXIT_OK
    with build_client(settings) as client:
        # A pause needs a flow run; at a terminal the person is right here.
        source = (
            PromptOtpSource()
            if settings.otp_source == "prefect"
            else build_otp_source(settings, client)
        )
        session = log_in(client, settings, source)
    store.save(session)
    print(
        f"logged in; the session is kept in {store.where} until "
        f"{session.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    return EXIT_OK


def logout() -> int:
    """End the kept session on the server and forget it."""
    settings = load_cli_settings()
    store = session_store_for(settings)
    kept = store.load()
    if kept is None:
        store.clear()  # an unreadable leftover goes too
        print(f"no session kept in {store.where}")
        return EXIT_OK
    with build_client(settings) as client:
        client.use_session(kept)
        try:
            client.logout()
            ended = "ended on the server"
        except SessionExpiredError:
            ended = "had already expired on the server"
        finally:
            store.clear()
    print(f"logged out: the session {ended} and is forgotten ({store.where})")
    return EXIT_OK


def otp(
    code: Annotated[str, typer.Argument(help="The 6-digit code.")],
    flow_run: Annotated[
        UUID | None, typer.Option(help="The paused run's id (default: the newest).")
    ] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the partner's verdict (0: do not wait).")
    ] = 60.0,
) -> int:
    """Give the one-time code to the flow run paused for it, and say whether it worked."""
    code = code.strip()
    if not OTP_PATTERN.match(code):
        return fail("a one-time code is 6 digits", EXIT_USAGE)
    refused = prefect_api_missing("whose run is paused for the code")
    if refused is not None:
        return refused
    # Lazy: importing Prefect costs ~1.8 s, which the commands without it must not pay.
    from flows.otp_prefect import answer_paused_run

    answer = answer_paused_run(code, flow_run, wait=wait)
    print(answer.message)
    return EXIT_OK if answer.accepted else EXIT_FAILED
