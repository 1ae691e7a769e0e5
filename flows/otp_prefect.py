"""The `prefect` OTP source: the flow run pauses and a person (or `partner-sync otp`) types the code.

After `mfa/send` the run pauses with `pause_flow_run(wait_for_input=OtpInput...)`. The
Prefect UI shows a form with a description of where the code went and when (UTC) the
login expires; `partner-sync otp CODE` answers from a terminal or an automation. A wrong
code (`4012`) pauses again, each time under a new key, and the run's log says why;
nobody answering before the login expires ends the run with one line.

`pause_flow_run`, not `suspend_flow_run`: a suspended run starts again from the top when
resumed, which would log in again and send a new code.

The code never becomes a parameter, a result or a log line. Prefect stores run input in
plain text, so the answer is deleted as soon as it is read. After each answer the flow
writes a verdict input (`<pause key>-verdict`: accepted or rejected by the partner) that
`partner-sync otp` waits for, so whoever typed the code learns whether it worked.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from prefect import get_client, get_run_logger
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import (
    RunInput,
    create_flow_run_input,
    delete_flow_run_input,
    read_flow_run_input,
)
from prefect.input.run_input import Keyset, keyset_from_base_key
from prefect.states import Running
from pydantic import Field

from partner_api import BaseOtpSource, OtpChallenge, OtpError
from partner_sync.core.redact import mask_destination, remember_secret

logger = logging.getLogger("partner_sync.otp")

#: Seconds between the paused run's checks for an answer.
POLL_INTERVAL = 2
#: The contract allows at most 5 OTP attempts per login session.
MAX_ATTEMPTS = 5
#: Seconds Prefect's pause deadline lies past the login's (see `PrefectOtpSource.get_code`).
PAUSE_GRACE = 60

#: Labels set on the run before each pause, for whoever is told about it (`flows.notify`'s
#: message reads them): Prefect's Paused state carries no message of its own. Never secret.
LABEL_SENT_TO = "partner-sync.otp-sent-to"
LABEL_EXPIRES_AT = "partner-sync.otp-expires-at"
LABEL_TIME_LEFT = "partner-sync.otp-time-left"
LABEL_ATTEMPT = "partner-sync.otp-attempt"


def _end_pause(flow_run_id: UUID, key: str, expired: threading.Event) -> None:
    """Resume the run paused at `key` without an answer: its login has expired."""
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(flow_run_id).state
            if state is None or not state.is_paused() or state.state_details.pause_key != key:
                return  # answered in the meantime
            expired.set()
            client.set_flow_run_state(
                flow_run_id,
                Running(message="the login expired before a one-time code arrived"),
                force=True,
            )
    except Exception as exc:  # Prefect's own (later) pause timeout still ends the run
        logger.warning("could not end the expired pause: %s", type(exc).__name__)


class OtpInput(RunInput):
    """The one-time code, as the paused run's form asks for it: exactly 6 digits."""

    otp: str = Field(
        pattern=r"^\d{6}$",
        title="One-time code",
        description="The 6-digit code from the email (or the authenticator app).",
    )

    @classmethod
    def save(cls, keyset: Keyset, flow_run_id: UUID | None = None) -> None:
        """Store the form (its schema and description) once, even when an answer was lost.

        `pause_flow_run` stores the form right after the run is Paused. A Prefect server that
        stops after storing an input but before answering makes Prefect's client send the
        same create again when the server is back, and the server refuses it as a duplicate
        (409): the input is stored, so that is success (tests/faults/test_prefect.py).
        """
        try:
            super().save(keyset, flow_run_id=flow_run_id)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 409:
                raise
            # The duplicate was the schema or the description; the description, stored
            # second, may still be missing.
            description = cls._description if isinstance(cls._description, str) else None
            if description and read_flow_run_input(keyset["description"], flow_run_id) is None:
                create_flow_run_input(keyset["description"], description, flow_run_id=flow_run_id)


def verdict_key(pause_key: str) -> str:
    """The run input key under which the flow says whether the code at `pause_key` worked."""
    return f"{pause_key}-verdict"


def response_key(pause_key: str) -> str:
    """The run input key under which Prefect stores the answer to the pause `pause_key`."""
    return keyset_from_base_key(f"paused-{pause_key}")["response"]


def _where(challenge: OtpChallenge) -> str:
    if challenge.method == "TOTP":
        return "from the authenticator app"
    if challenge.destination:
        return f"sent by email to {mask_destination(challenge.destination)}"
    return "sent by the partner (it did not say where)"


def pause_labels(
    challenge: OtpChallenge, now: datetime | None = None
) -> dict[str, str | int | float | bool]:
    """The run labels for a pause: where the code went (masked), when the login expires."""
    left = int(challenge.seconds_left())
    until = (now or datetime.now(UTC)) + timedelta(seconds=left)
    return {
        LABEL_SENT_TO: _where(challenge),
        LABEL_EXPIRES_AT: f"{until:%Y-%m-%d %H:%M:%S} UTC",
        LABEL_TIME_LEFT: f"{left // 60} min {left % 60:02d} s",
        LABEL_ATTEMPT: str(challenge.attempt),
    }


def describe_challenge(challenge: OtpChallenge, now: datetime | None = None) -> str:
    """The form's markdown: where the code went, until when it is good, which attempt this is.

    The description is written once, at pause time, and read whenever someone opens the
    form: so it states the absolute expiry (UTC), never a countdown that would be stale.
    """
    until = (now or datetime.now(UTC)) + timedelta(seconds=int(challenge.seconds_left()))
    if challenge.method == "TOTP":
        where = "from your **authenticator app**"
    elif challenge.destination:
        # As code: a masked address (`p***@example.com`) would otherwise render as emphasis.
        where = f"sent by email to `{mask_destination(challenge.destination)}`"
    else:
        where = "sent by the partner"
    lines = [
        f"### partner-sync needs the one-time code {where}",
        "",
        f"Type it below before **{until:%H:%M:%S} UTC** ({until:%Y-%m-%d}); "
        "after that the login expires and this run fails.",
    ]
    if challenge.previous_error:
        lines += [
            "",
            f"**The previous code was not accepted.** Attempt {challenge.attempt} of "
            f"{MAX_ATTEMPTS}.",
        ]
    lines += ["", "From a terminal: `partner-sync otp 123456`."]
    return "\n".join(lines)


class PrefectOtpSource(BaseOtpSource):
    """Pauses the current flow run until someone supplies the code through Prefect."""

    name = "prefect"
    asks_again = True
    #: A second login would email a new code to someone who may still be typing the first.
    restarts_login = False

    def __init__(self, poll_interval: int = POLL_INTERVAL) -> None:
        self._poll_interval = poll_interval
        self._pending_key: str | None = None

    def _flow_run_id(self) -> UUID:
        context = FlowRunContext.get()
        if context is None or context.flow_run is None:
            raise OtpError(
                "PARTNER_OTP_SOURCE=prefect works only inside a Prefect flow run; "
                "use `prompt` (or `partner-sync login`) outside one"
            )
        return context.flow_run.id

    def get_code(self, challenge: OtpChallenge) -> str:
        """Pause the run until a code arrives or the login expires."""
        flow_run_id = self._flow_run_id()
        if self._pending_key is not None:
            self._verdict(flow_run_id, accepted=False)
        if challenge.previous_error:
            # Said in the run's own log: the form is not the only place a person looks.
            left = MAX_ATTEMPTS - challenge.attempt + 1
            get_run_logger().warning(
                "%s; pausing again, %d attempt%s left",
                challenge.previous_error,
                left,
                "" if left == 1 else "s",
            )
        timeout = int(challenge.seconds_left())
        if timeout < 1:
            raise OtpError("the login expired before the run could ask for the code")
        digest = hashlib.sha256(challenge.session_id.encode()).hexdigest()[:10]
        key = f"otp-{digest}-{challenge.attempt}"
        # Prefect's own pause timeout cannot be survived: the server fails the run with its
        # own message. So Prefect's deadline is set past the login's, and at the login's a
        # timer ends the pause itself; the run then fails with our line, not Prefect's.
        expired = threading.Event()
        timer = threading.Timer(
            timeout,
            contextvars.copy_context().run,
            args=(_end_pause, flow_run_id, key, expired),
        )
        timer.daemon = True
        self._label_run(flow_run_id, challenge)
        started = time.monotonic()
        timer.start()
        try:
            answer: Any = pause_flow_run(
                wait_for_input=OtpInput.with_initial_data(
                    description=describe_challenge(challenge)
                ),
                timeout=timeout + PAUSE_GRACE,
                poll_interval=self._poll_interval,
                key=key,
            )
        except Exception as exc:
            if expired.is_set() or isinstance(exc, FlowPauseTimeout):
                raise OtpError(
                    f"nobody supplied the one-time code within {timeout} s, so the login "
                    "expired; start the run again and answer the pause in the Prefect UI or "
                    "with `partner-sync otp CODE`"
                ) from None
            raise
        finally:
            timer.cancel()
        code = str(answer.otp)
        remember_secret(code)
        self._forget_answer(flow_run_id, key)
        self._pending_key = key
        logger.debug("got a code after %.0f s", time.monotonic() - started)
        return code

    def confirm(self) -> None:
        """Tell whoever answered that the partner accepted the code."""
        if self._pending_key is not None:
            self._verdict(self._flow_run_id(), accepted=True)

    def _label_run(self, flow_run_id: UUID, challenge: OtpChallenge) -> None:
        # Before the pause, so the Paused event's notification finds them on the run.
        try:
            with get_client(sync_client=True) as client:
                client.update_flow_run_labels(flow_run_id, pause_labels(challenge))
        except Exception as exc:  # informational only: the message then says "unknown"
            logger.warning("could not label the run for its pause: %s", type(exc).__name__)

    def _forget_answer(self, flow_run_id: UUID, key: str) -> None:
        # Prefect keeps run input in plain text; the code is single-use, but delete it anyway.
        try:
            delete_flow_run_input(response_key(key), flow_run_id=flow_run_id)
        except Exception as exc:
            logger.warning("could not delete the stored answer: %s", type(exc).__name__)

    def _verdict(self, flow_run_id: UUID, *, accepted: bool) -> None:
        assert self._pending_key is not None
        key, self._pending_key = self._pending_key, None
        try:
            create_flow_run_input(verdict_key(key), {"accepted": accepted}, flow_run_id=flow_run_id)
        except Exception as exc:  # informational only: the login goes on regardless
            logger.warning("could not record the code's verdict: %s", type(exc).__name__)


# -- answering a paused run (`partner-sync otp`) --------------------------------------------


@dataclass(frozen=True)
class OtpAnswer:
    """What became of a code handed to a paused run."""

    #: True: the partner accepted it; False: rejected or not delivered; None: not known yet.
    accepted: bool | None
    #: One line for the person who typed the code (never the code).
    message: str
    flow_run_id: UUID | None = None


def _paused_otp_runs(client: Any, flow_name: str) -> list[Any]:
    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
        ),
        limit=100,
    )
    waiting = [r for r in runs if is_waiting_for_otp(r)]
    return sorted(waiting, key=lambda r: r.state.timestamp, reverse=True)


def is_waiting_for_otp(flow_run: Any) -> bool:
    """Whether `flow_run` is paused at an OTP pause of this source."""
    state = flow_run.state
    return bool(
        state is not None
        and state.is_paused()
        and str(state.state_details.pause_key or "").startswith("otp-")
    )


def answer_paused_run(
    code: str,
    flow_run_id: UUID | None = None,
    *,
    flow_name: str = "sync-reference-data",
    wait: float = 60.0,
    poll_interval: float = 0.5,
) -> OtpAnswer:
    """Resume the newest (or the named) run paused for a code, then wait for its verdict.

    The Prefect server checks the input against `OtpInput`'s schema; the partner's answer
    arrives when the run has verified the code (the verdict input), at most `wait` s later.
    """
    with get_client(sync_client=True) as client:
        if flow_run_id is None:
            runs = _paused_otp_runs(client, flow_name)
            if not runs:
                return OtpAnswer(
                    False, f"no run of flow {flow_name!r} is paused waiting for a one-time code"
                )
            run = runs[0]
        else:
            run = client.read_flow_run(flow_run_id)
            if not is_waiting_for_otp(run):
                state = run.state.name if run.state else "no state"
                return OtpAnswer(
                    False, f"flow run {run.name!r} is not waiting for a one-time code ({state})"
                )
        pause_key = str(run.state.state_details.pause_key)
        label = f"flow run {run.name!r} ({run.id})"
        try:
            resume_flow_run(run.id, run_input={"otp": code})
        except FlowPauseTimeout:
            return OtpAnswer(False, f"{label} waited too long: its pause timed out", run.id)
        except Exception as exc:  # rejected input or no longer paused
            text = " ".join(str(exc).split()).replace(code, "******")
            return OtpAnswer(False, f"Prefect refused the code for {label}: {text}", run.id)
        deadline = time.monotonic() + wait
        while True:
            verdict = read_flow_run_input(verdict_key(pause_key), flow_run_id=run.id)
            if isinstance(verdict, dict) and "accepted" in verdict:
                if verdict["accepted"]:
                    return OtpAnswer(
                        True, f"the partner accepted the code; {label} goes on", run.id
                    )
                return OtpAnswer(
                    False,
                    f"the partner rejected the code; {label} is paused again for another one",
                    run.id,
                )
            now = client.read_flow_run(run.id).state
            if now is not None and now.is_final():
                return OtpAnswer(
                    False, f"{label} ended {now.name}: {now.message or 'no message'}", run.id
                )
            if time.monotonic() >= deadline:
                return OtpAnswer(
                    None, f"{label} resumed; no verdict from the partner within {wait:g} s", run.id
                )
            time.sleep(poll_interval)
