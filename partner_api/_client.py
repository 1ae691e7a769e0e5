"""`PartnerClient`: the façade a user holds. The work is done by the modules below it.

`_transport` signs, sends, retries and reads; `_response` parses envelopes and maps errors;
`_login` runs the MFA handoff; `_dataset` reads pages. None of them imports this module.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import httpx

from ._auth import HmacAuth
from ._clock import ServerClock
from ._constants import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_SESSION_HEADER,
    DEFAULT_TIMEOUT,
    LOGOUT_PATH,
    MAX_CONCURRENCY,
    MAX_PAGE_SIZE,
)
from ._dataset import DatasetRead, fetch_page
from ._errors import ConfigurationError
from ._login import perform_login
from ._response import Answer
from ._retry import RetryMode, RetryPolicy
from ._token import SessionToken
from ._transport import Renew, Transport
from ._urls import check_base_url, tls_context
from .datasets import DATASETS
from .otp import OtpSource


class PartnerClient:
    """A client of the partner's HMAC-signed API over one keep-alive `httpx.Client`.

    Every request is signed afresh (new timestamp from the server-corrected clock, new
    nonce), retried by one tenacity policy, and parsed from the contract's envelope into
    data or a typed `APIStatusError`. A session token, once set (by `login` or
    `use_session`), rides on every partner call; when the server answers `4010` the
    `renew` callback given with it supplies a new one, once per call. `ca_bundle` is a
    PEM file of CAs to trust for the partner's TLS certificate (default: the system's).

    A dataset read keeps up to `concurrency` pages in flight (setting `PARTNER_CONCURRENCY`);
    a 429 halves that, successes grow it back. The client is safe to share between threads.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        session_header: str = DEFAULT_SESSION_HEADER,
        sign_query: bool = True,
        allow_insecure_http: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry_policy: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        transport: httpx.BaseTransport | None = None,
        ca_bundle: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        nonce: Callable[[], str] | None = None,
    ) -> None:
        url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        if not api_key:
            raise ConfigurationError("PARTNER_API_KEY is empty; set it to the partner API key")
        if not api_secret:
            raise ConfigurationError(
                "PARTNER_API_SECRET is empty; set it to the partner API secret"
            )
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigurationError(
                f"PARTNER_PAGE_SIZE must be 1..{MAX_PAGE_SIZE}, not {page_size}"
            )
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ConfigurationError(
                f"PARTNER_CONCURRENCY must be 1..{MAX_CONCURRENCY}, not {concurrency}"
            )
        self.base_url = str(url).rstrip("/")
        self.page_size = page_size
        server_clock = ServerClock(clock)
        self._auth = HmacAuth(
            api_key,
            api_secret,
            context_path=url.path.rstrip("/"),
            sign_query=sign_query,
            clock=server_clock.now,
            nonce=nonce or (lambda: str(uuid.uuid4())),
        )
        self._transport = Transport(
            self.base_url,
            self._auth,
            server_clock,
            session_header=session_header,
            timeout=timeout,
            retry_policy=retry_policy or RetryPolicy(),
            max_response_bytes=max_response_bytes,
            transport=transport,
            verify=tls_context(ca_bundle),
            sleep=sleep,
            concurrency=concurrency,
        )

    def __repr__(self) -> str:
        return f"PartnerClient(base_url={self.base_url!r}, api_key={self._auth.api_key!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._transport.close()

    @property
    def clock(self) -> ServerClock:
        """The server clock every request is signed with (an OTP source may read it too)."""
        return self._transport.clock

    @property
    def concurrency(self) -> int:
        """The most pages a dataset read keeps in flight at once."""
        return self._transport.limit.maximum

    @property
    def session(self) -> SessionToken | None:
        """The session token sent on every call, if any."""
        return self._transport.session

    @property
    def sends(self) -> int:
        """How many HTTP sends this client made (every retry counts), for diagnostics."""
        return self._transport.sends

    # -- sessions ---------------------------------------------------------------------------

    def use_session(self, token: SessionToken | None, *, renew: Renew | None = None) -> None:
        """Send `token` on every later call (None: send none).

        `renew` is called for a new token when a data call meets 401 `4010`, at most once
        per call; without it a `4010` raises `SessionExpiredError`.
        """
        self._transport.use_session(token, renew)

    def login(
        self,
        email: str,
        password: str,
        otp_source: OtpSource,
        *,
        mfa_method: str = "EMAIL",
        restarts: int = 1,
        renew: Renew | None = None,
    ) -> SessionToken:
        """Log in through the MFA handoff and use the new session token.

        A later `4010` calls `renew`; by default (None) that logs in again through the same
        `otp_source`. `restarts` bounds how often an ambiguous login starts over.
        """

        def log_in_again() -> SessionToken:
            return perform_login(
                self._transport,
                email,
                password,
                otp_source,
                mfa_method=mfa_method,
                restarts=restarts,
            )

        token = log_in_again()
        self.use_session(token, renew=renew or log_in_again)
        return token

    def logout(self) -> None:
        """End the session token on the server and forget it."""
        if self.session is None:
            return
        try:
            self.call("POST", LOGOUT_PATH, content=b"", mode=RetryMode.ONCE)
        finally:
            self.use_session(None)

    # -- calls ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """`GET /actuator/health` (unsigned); also measures the clock offset."""
        return self._transport.health()

    def call(self, method: str, path: str, **options: Any) -> Answer:
        """Send a signed partner request under the retry policy and return its `Answer`.

        `options` are `Transport.call`'s: `json`, `content`, `params`, `headers`, `mode`
        (a `RetryMode`) and `page_of` (the dataset whose page this is).
        """
        return self._transport.call(method, path, **options)

    def read_dataset(self, dataset: str, etags: dict[str, str] | None = None) -> DatasetRead:
        """Read `dataset` page by page; see `DatasetRead` for ETags and consistency checks."""
        if dataset not in DATASETS:
            raise ConfigurationError(
                f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}"
            )
        return DatasetRead(self._transport, dataset, etags or {}, self.page_size)

    def fetch_page(self, dataset: str, page: int, size: int, etag: str | None) -> Answer:
        """One page of `dataset` with validated items, conditional on `etag` when given."""
        return fetch_page(self._transport, dataset, page, size, etag)
