"""Sending one signed partner request: sign, send, read capped, retry, renew the session.

`Transport` owns the connection pool, the signing `HmacAuth`, the server clock and the
session token. `call` runs one request under the tenacity policy of `_retry.py`: every
attempt is a new send, so it is signed afresh; a `4010` on a data call asks the `renew`
callback for a new token (at most `MAX_RELOGINS` times a call) and signs again. Bodies are
streamed and refused past the cap; `httpx.TransportError` becomes `PartnerConnectionError`
here, at the boundary. Login and dataset reading build on `call`.

`call` is safe from several threads at once (a dataset read keeps pages in flight): every
send passes the `AdaptiveLimit` gate, the counters are locked, and a `4010` met by several
calls at once renews the session once.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx

from ._auth import HmacAuth
from ._clock import ServerClock
from ._concurrency import AdaptiveLimit
from ._constants import (
    DEFAULT_CONCURRENCY,
    EXCHANGE_DEADLINE_FACTOR,
    HEALTH_PATH,
    WEB_PATH_PREFIX,
)
from ._deadline import deadline_transport, exchange_deadline
from ._errors import (
    ConfigurationError,
    InvalidResponseError,
    PartnerConnectionError,
    UntrustedCertificateError,
)
from ._response import Answer, answer_from
from ._retry import CallBudget, RetryMode, RetryPolicy, build_retrying
from ._token import SessionToken

logger = logging.getLogger("partner_api.client")

USER_AGENT = "partner-sync/0.1 (+httpx)"

#: Asked for a new session token when a data call meets 401 `4010`.
Renew = Callable[[], SessionToken]


class CallCancelledError(Exception):
    """A call given up because its caller no longer wants the answer (internal)."""


class Transport:
    """Signed sends to one partner base URL over one keep-alive `httpx.Client`."""

    def __init__(
        self,
        base_url: str,
        auth: HmacAuth,
        clock: ServerClock,
        *,
        session_header: str,
        timeout: float,
        retry_policy: RetryPolicy,
        max_response_bytes: int,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
        sleep: Callable[[float], None] = time.sleep,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.base_url = base_url
        self.auth = auth
        self.clock = clock
        self.session_header = session_header
        self.retry_policy = retry_policy
        self.max_response_bytes = max_response_bytes
        self._sleep = sleep
        #: A whole request and its response must be done within this (docs/partner-api.md
        #: §3): httpx's `timeout` is per read, which a trickling server never trips.
        self.exchange_seconds = timeout * EXCHANGE_DEADLINE_FACTOR
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport if transport is not None else deadline_transport(verify),
            follow_redirects=False,  # a redirect must never carry our signature elsewhere
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
        self.session: SessionToken | None = None
        self._renew: Renew | None = None
        self._renew_lock = threading.Lock()
        #: The gate every send passes: at most `concurrency` on the wire, fewer after a 429.
        self.limit = AdaptiveLimit(concurrency)
        #: Counts of HTTP sends, for diagnostics and tests.
        self.sends = 0
        self._sends_lock = threading.Lock()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def use_session(self, token: SessionToken | None, renew: Renew | None) -> None:
        """Send `token` on every later call; `renew` replaces it after a `4010`."""
        self.session = token
        self._renew = renew

    def health(self) -> dict[str, Any]:
        """`GET /actuator/health` (unsigned); also measures the clock offset."""
        sent = self.clock.local_time()
        try:
            response = self._http.get(HEALTH_PATH)
        except httpx.TransportError as exc:
            raise self._connection_error(exc, "GET", HEALTH_PATH) from exc
        self.clock.observe(response.headers.get("date"), sent, self.clock.local_time())
        if response.status_code != 200:
            raise InvalidResponseError(
                f"health check answered {response.status_code}; is PARTNER_BASE_URL right?",
                status=response.status_code,
            )
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise InvalidResponseError("health check answered a body that is not JSON") from exc
        return body

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        mode: RetryMode = RetryMode.DATA,
        page_of: str | None = None,
        cancelled: threading.Event | None = None,
    ) -> Answer:
        """Send a signed partner request under the retry policy and return its `Answer`.

        `page_of` names the dataset whose page this is, so its items are validated. Once
        `cancelled` is set, no further attempt is sent and a retry wait is cut short
        (`CallCancelledError`): the reader that wanted the answer has stopped.
        """
        if path.startswith(WEB_PATH_PREFIX) or "/web/v1/" in path:
            raise ConfigurationError(
                f"refusing to send {path}: /web/v1/** belongs to the partner portal and always "
                "answers 403 on the partner chain; use the /api/v1/partner/** path"
            )
        budget = CallBudget()
        retrying = build_retrying(
            self.retry_policy,
            mode,
            budget,
            describe=f"{method} {path}",
            can_relogin=self._renew is not None,
            sleep=self._sleep if cancelled is None else self._cancellable_sleep(cancelled),
        )
        sent_with = self.session
        for attempt in retrying:
            with attempt:
                if cancelled is not None and cancelled.is_set():
                    raise CallCancelledError(f"{method} {path} cancelled")
                if budget.relogin_due:
                    budget.relogin_due = False
                    self._renew_session(sent_with)
                sent_with = self.session
                return self.send_once(method, path, json, content, params, headers, page_of)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _cancellable_sleep(self, cancelled: threading.Event) -> Callable[[float], None]:
        """The retry wait, cut short when `cancelled` is set."""

        def sleep(seconds: float) -> None:
            # The real clock is waited on the event so a stop wakes it; an injected sleep
            # (tests) is called as it is.
            if self._sleep is time.sleep:
                cancelled.wait(seconds)
            else:
                self._sleep(seconds)
            if cancelled.is_set():
                raise CallCancelledError("cancelled while waiting to retry")

        return sleep

    def _renew_session(self, stale: SessionToken | None) -> None:
        """Replace the `stale` token, unless another call already did while this one waited."""
        with self._renew_lock:
            if self.session is not stale:
                return
            renew = self._renew
            if renew is None:  # pragma: no cover - the policy renews only when a callback is set
                return
            logger.info("session expired; asking for a new one")
            token = renew()
            # The callback may have set a session (and a callback) itself, by logging in
            # through the client; what it returns is the token to send, the callback stays ours.
            self.session = token
            self._renew = renew

    def send_once(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        page_of: str | None = None,
    ) -> Answer:
        """One signed send, its body read capped and parsed; no retry."""
        # The query is encoded here, not by httpx's `params=`: that machinery costs ~50 µs a
        # request, a twentieth of a small signed GET. The signature covers whatever is sent.
        url = f"{path}?{urlencode(params)}" if params else path
        if self.session is not None:
            headers = {
                **(headers or {}),
                self.session_header: self.session.token.get_secret_value(),
            }
        request = self._http.build_request(
            method, url, json=json_body, content=content, headers=headers
        )
        with self._sends_lock:
            self.sends += 1
        ticket = self.limit.acquire()
        status: int | None = None
        try:
            sent = self.clock.local_time()
            with exchange_deadline(self.exchange_seconds):
                response = self._http.send(request, auth=self.auth, stream=True)
                try:
                    body = self._read_capped(response, method, path)
                finally:
                    response.close()
            status = response.status_code
        except httpx.TransportError as exc:
            raise self._connection_error(exc, method, path) from exc
        except httpx.InvalidURL:
            # httpx prepares the (never followed) redirect even when not following, and a
            # Location it cannot parse raises here, before we see the response.
            raise InvalidResponseError(
                f"{method} {path} answered a redirect whose Location is not a valid URL; "
                "redirects are not followed: check PARTNER_BASE_URL"
            ) from None
        finally:
            self.limit.release(
                ticket,
                throttled=status == 429,
                succeeded=status is not None and status < 400,
            )
        received = self.clock.local_time()
        date = response.headers.get("date")
        if response.status_code == 403:
            # A 403 may be drift even when unlabelled: adopt the server's clock now, so the
            # retry is signed with it (docs/partner-api.md §2.1).
            self.clock.resync(date, sent, received)
        else:
            self.clock.observe(date, sent, received)
        return answer_from(
            response,
            body,
            method=method,
            path=path,
            page_of=page_of,
            clock=self.clock,
            max_retry_after=self.retry_policy.max_retry_after,
        )

    def _read_capped(self, response: httpx.Response, method: str, path: str) -> bytes:
        """The body, refused unread when announced too large, or as soon as it grows so."""
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise InvalidResponseError(
                f"{method} {path} announced a {int(declared):,}-byte body, over the "
                f"{self.max_response_bytes:,}-byte cap (PARTNER_MAX_RESPONSE_BYTES); refused "
                "unread",
                status=response.status_code,
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise InvalidResponseError(
                    f"{method} {path} sent more than the {self.max_response_bytes:,}-byte cap "
                    "(PARTNER_MAX_RESPONSE_BYTES); refused without reading the rest",
                    status=response.status_code,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _connection_error(
        self, exc: httpx.TransportError, method: str, path: str
    ) -> PartnerConnectionError:
        reason = untrusted_certificate_reason(exc)
        if reason is not None:
            return UntrustedCertificateError(
                f"the Partner API's TLS certificate at {self.base_url} is not trusted "
                f"({reason}); set PARTNER_CA_BUNDLE to a CA bundle file that holds its issuer"
            )
        sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        kind = type(exc).__name__
        if sent:
            what = f"{method} {path} failed mid-exchange ({kind}: {exc or 'no detail'})"
        else:
            what = (
                f"cannot reach the Partner API at {self.base_url} ({kind}: {exc or 'no detail'}); "
                "check PARTNER_BASE_URL and that the server is up"
            )
        return PartnerConnectionError(what, sent=sent)


def untrusted_certificate_reason(exc: BaseException) -> str | None:
    """OpenSSL's reason when `exc` was caused by a certificate that did not verify, else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or "certificate verify failed"
        seen = seen.__cause__ or seen.__context__
    # httpx re-raises httpcore's error without the ssl one attached in some versions.
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return text.partition("certificate verify failed: ")[2].partition(" (_ssl")[0] or (
            "certificate verify failed"
        )
    return None
