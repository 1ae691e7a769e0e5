"""The one retry policy of the client, composed from tenacity's pieces.

| cause                                   | action                                               |
|-----------------------------------------|------------------------------------------------------|
| 403 `4031` (drift)                      | offset re-measured by the client; retry at once, ≤ 2 |
| 403 `4032` (nonce reuse)                | retry at once with a new nonce, once; WARNING        |
| 403 without envelope / unknown code     | treated as possible drift: retry at once, ≤ 2        |
| 403 `4030` `4033` `4034`, 400, 404, 4011| fail at once                                         |
| 401 `4010` on a data call               | renew the session once (callback), then retry        |
| 429                                     | wait `Retry-After` (refused above the cap)           |
| 5xx, connection errors, broken bodies   | exponential backoff with jitter                      |

Every attempt is a new send, so `HmacAuth` signs it afresh. The whole call is bounded by
`max_attempts` and `max_retry_seconds`, whichever comes first. Login calls use a narrower
`mode`: only what is safe to repeat is repeated (see `RetryMode`).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from ._constants import (
    BACKOFF_INITIAL,
    BACKOFF_MAX,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_MAX_RETRY_SECONDS,
    MAX_DRIFT_RETRIES,
    MAX_NONCE_RETRIES,
    MAX_RELOGINS,
    MAX_UNKNOWN_403_RETRIES,
)
from ._errors import (
    ClockDriftError,
    ForbiddenError,
    NonceReusedError,
    PartnerConnectionError,
    PartnerError,
    RateLimitedError,
    RetryAfterTooLongError,
    ServerError,
    SessionExpiredError,
    UntrustedCertificateError,
)

logger = logging.getLogger("partner_api.retry")


class RetryMode(enum.Enum):
    """How much of the policy applies to a call, by what repeating it could do."""

    #: Data calls: reading twice is harmless; the whole table applies.
    DATA = "data"
    #: `login/initiate` and `mfa/send`: repeating makes a new login session or sends another
    #: code, nothing worse, so transient failures are retried; there is no session to renew.
    LOGIN = "login"
    #: `mfa/verify` and `logout`: repeated only when the server certainly did not act on it
    #: (never connected, 429, 503, a 403 before processing). Anything ambiguous fails, and
    #: the login is restarted as a whole rather than resubmitting the code.
    ONCE = "once"


@dataclass(frozen=True)
class RetryPolicy:
    """The bounds of the policy (settings `PARTNER_MAX_ATTEMPTS`, `..._RETRY_SECONDS`, `..._RETRY_AFTER`)."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    backoff_initial: float = BACKOFF_INITIAL
    backoff_max: float = BACKOFF_MAX


@dataclass
class CallBudget:
    """Per-cause counters for one call; the transport reads `relogin_due` before each attempt."""

    drift: int = 0
    nonce: int = 0
    unknown_403: int = 0
    relogins: int = 0
    relogin_due: bool = False
    causes: list[str] = field(default_factory=list)


def _is_unknown_403(exc: BaseException) -> bool:
    return type(exc) is ForbiddenError


def _decide(
    exc: BaseException, mode: RetryMode, budget: CallBudget, can_relogin: bool
) -> str | None:
    """Return the cause to retry for, or None to fail now (and count the retry)."""
    if not isinstance(exc, ClockDriftError):
        # The drift budget counts consecutive rejections: a re-measure that worked, then
        # another kind of failure, is not a clock that cannot be corrected.
        budget.drift = 0
    if isinstance(exc, ClockDriftError) and budget.drift < MAX_DRIFT_RETRIES:
        budget.drift += 1
        return "clock drift (403 4031), offset re-measured"
    if isinstance(exc, NonceReusedError) and budget.nonce < MAX_NONCE_RETRIES:
        budget.nonce += 1
        logger.warning(
            "the server saw this request's nonce before (403 4032): something replayed a "
            "signed request; signing afresh"
        )
        return "nonce reuse (403 4032)"
    if _is_unknown_403(exc) and budget.unknown_403 < MAX_UNKNOWN_403_RETRIES:
        budget.unknown_403 += 1
        return "unclassified 403, treated as possible drift"
    if isinstance(exc, SessionExpiredError):
        if mode is RetryMode.DATA and can_relogin and budget.relogins < MAX_RELOGINS:
            budget.relogins += 1
            budget.relogin_due = True
            return "session expired (401 4010), logging in again"
        return None
    if isinstance(exc, RetryAfterTooLongError):
        return None
    if isinstance(exc, RateLimitedError):
        return "rate limited (429)"
    if isinstance(exc, ServerError):
        if mode is RetryMode.ONCE and exc.status != 503:
            return None
        return f"server error ({exc.status})"
    if isinstance(exc, UntrustedCertificateError):
        return None  # the same certificate fails the same way until a setting changes
    if isinstance(exc, PartnerConnectionError):
        if mode is RetryMode.ONCE and exc.sent:
            return None
        return "connection error" if exc.sent else "could not connect"
    return None


class _Wait:
    """`Retry-After` for 429, nothing for re-signing causes, jittered backoff otherwise."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_random_exponential(
            multiplier=policy.backoff_initial, max=policy.backoff_max
        )

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitedError):
            if exc.retry_after is not None:
                return exc.retry_after
            return self._backoff(state)
        if isinstance(exc, ServerError | PartnerConnectionError):
            return self._backoff(state)
        return 0.0


def build_retrying(
    policy: RetryPolicy,
    mode: RetryMode,
    budget: CallBudget,
    *,
    describe: str,
    can_relogin: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """A tenacity `Retrying` for one call, with its per-cause `budget`."""

    def should_retry(exc: BaseException) -> bool:
        if not isinstance(exc, PartnerError):
            return False
        cause = _decide(exc, mode, budget, can_relogin)
        if cause is not None:
            budget.causes.append(cause)
        return cause is not None

    def log_retry(state: RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        cause = budget.causes[-1] if budget.causes else "error"
        logger.info(
            "%s: attempt %d failed (%s); retrying in %.2f s",
            describe,
            state.attempt_number,
            cause,
            wait,
        )

    return Retrying(
        stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_retry_seconds),
        retry=retry_if_exception(should_retry),
        wait=_Wait(policy),
        before_sleep=log_retry,
        reraise=True,
        sleep=sleep,
    )
