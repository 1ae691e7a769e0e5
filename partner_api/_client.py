"""The Partner API client: signed requests, envelopes, typed errors, one retry layer."""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode

import httpx
from pydantic import ValidationError

from ._auth import HmacAuth
from ._clock import ServerClock, parse_http_date
from ._constants import (
    CONSTANTS_PATH,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_SESSION_HEADER,
    DEFAULT_TIMEOUT,
    HEALTH_PATH,
    LOGOUT_PATH,
    LOOPBACK_HOSTS,
    MAX_PAGE_SIZE,
    SUPPORTED_ENVELOPE_MAJOR,
    TIMESTAMP_WINDOW,
    WEB_PATH_PREFIX,
)
from ._errors import (
    APIStatusError,
    ConfigurationError,
    ForbiddenError,
    InvalidResponseError,
    PartnerConnectionError,
    RateLimitedError,
    error_class_for,
)
from ._retry import CallBudget, RetryAfterTooLongError, RetryMode, RetryPolicy, build_retrying
from .datasets import DATASETS
from .models import ENVELOPE_ADAPTER, Envelope

if TYPE_CHECKING:
    from ._dataset import DatasetRead
    from ._login import Session
    from ._otp import OtpSource

logger = logging.getLogger("partner_api.client")

USER_AGENT = "partner-sync/0.1 (+httpx)"


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange's outcome: the parsed envelope, or a 304."""

    status: int
    envelope: Envelope[Any] | None
    etag: str | None = None

    @property
    def not_modified(self) -> bool:
        """Whether the server answered 304 Not Modified."""
        return self.status == 304

    @property
    def data(self) -> Any:
        """The envelope's `data` (None for a 304)."""
        return self.envelope.data if self.envelope is not None else None


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (a loopback name or address)."""
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str, *, allow_insecure_http: bool) -> httpx.URL:
    """Validate the base URL: HTTPS, or plain HTTP only to loopback or when explicitly allowed."""
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(
            f"PARTNER_BASE_URL {base_url!r} is not a valid URL: {exc}"
        ) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"PARTNER_BASE_URL {base_url!r} must be an http(s) URL such as "
            "https://partner.example/prometheus"
        )
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(url.host):
        raise ConfigurationError(
            f"PARTNER_BASE_URL uses plain HTTP to {url.host}: signed requests and the session "
            "token would travel unencrypted; use https, or set PARTNER_ALLOW_INSECURE_HTTP=true"
        )
    return url


class PartnerClient:
    """A client of the partner's HMAC-signed API over one keep-alive `httpx.Client`.

    Every request is signed afresh (new timestamp from the server-corrected clock, new
    nonce), retried by one tenacity policy, and parsed from the contract's envelope into
    data or a typed `APIStatusError`. A session token, once set (by `login` or
    `use_session`), rides on every partner call.
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
        retry_policy: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        transport: httpx.BaseTransport | None = None,
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
        self.base_url = str(url).rstrip("/")
        self.context_path = url.path.rstrip("/")
        self.session_header = session_header
        self.page_size = page_size
        self.retry_policy = retry_policy or RetryPolicy()
        self.max_response_bytes = max_response_bytes
        self.clock = ServerClock(clock)
        self._sleep = sleep
        self._auth = HmacAuth(
            api_key,
            api_secret,
            context_path=self.context_path,
            sign_query=sign_query,
            clock=self.clock.now,
            nonce=nonce or (lambda: str(uuid.uuid4())),
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,  # a redirect must never carry our signature elsewhere
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
        self.session: Session | None = None
        #: Called to log in again when a data call meets 401 `4010` (set by `login`).
        self.relogin: Callable[[], Session] | None = None
        #: Counts of HTTP sends, for diagnostics and tests.
        self.sends = 0

    def __repr__(self) -> str:
        return f"PartnerClient(base_url={self.base_url!r}, api_key={self._auth.api_key!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- sessions ---------------------------------------------------------------------------

    def use_session(self, session: Session | None) -> None:
        """Send `session`'s token on every later partner call (None: send none)."""
        self.session = session

    def login(
        self,
        email: str,
        password: str,
        otp_source: OtpSource,
        *,
        mfa_method: str = "EMAIL",
        restarts: int = 1,
    ) -> Session:
        """Log in through the MFA handoff and keep the session; a `4010` later logs in again."""
        from ._login import perform_login

        def do_login() -> Session:
            session = perform_login(
                self, email, password, otp_source, mfa_method=mfa_method, restarts=restarts
            )
            self.use_session(session)
            return session

        session = do_login()
        self.relogin = do_login
        return session

    def logout(self) -> None:
        """End the session token on the server and forget it."""
        if self.session is None:
            return
        try:
            self.call("POST", LOGOUT_PATH, content=b"", mode=RetryMode.ONCE)
        finally:
            self.session = None

    # -- calls ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """`GET /actuator/health` (unsigned); also measures the clock offset."""
        sent = self.clock.local_time()
        try:
            response = self._http.get(HEALTH_PATH)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, "GET", HEALTH_PATH) from exc
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
    ) -> Answer:
        """Send a signed partner request under the retry policy and return its `Answer`.

        `page_of` names the dataset whose page this is, so its items are validated.
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
            can_relogin=self.relogin is not None,
            sleep=self._sleep,
        )
        for attempt in retrying:
            with attempt:
                if budget.relogin_due:
                    budget.relogin_due = False
                    assert self.relogin is not None
                    logger.info("session expired; logging in again")
                    self.relogin()
                return self._send_once(method, path, json, content, params, headers, page_of)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def read_dataset(self, dataset: str, etags: dict[str, str] | None = None) -> DatasetRead:
        """Read `dataset` page by page; see `DatasetRead` for ETags and consistency checks."""
        from ._dataset import DatasetRead

        if dataset not in DATASETS:
            raise ConfigurationError(
                f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}"
            )
        return DatasetRead(self, dataset, etags or {}, self.page_size)

    def fetch_page(self, dataset: str, page: int, size: int, etag: str | None) -> Answer:
        """One page of `dataset` with validated items, conditional on `etag` when given."""
        headers = {"If-None-Match": etag} if etag else None
        return self.call(
            "GET",
            CONSTANTS_PATH.format(dataset=dataset),
            params={"page": page, "size": size},
            headers=headers,
            page_of=dataset,
        )

    # -- one send ---------------------------------------------------------------------------

    def _send_once(
        self,
        method: str,
        path: str,
        json_body: Any,
        content: bytes | None,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
        page_of: str | None,
    ) -> Answer:
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
        sent = self.clock.local_time()
        self.sends += 1
        try:
            response = self._http.send(request, auth=self._auth, stream=True)
            try:
                body = self._read_capped(response, method, path)
            finally:
                response.close()
        except httpx.TransportError as exc:
            raise self._transport_error(exc, method, path) from exc
        except httpx.InvalidURL:
            # httpx prepares the (never followed) redirect even when not following, and a
            # Location it cannot parse raises here, before we see the response.
            raise InvalidResponseError(
                f"{method} {path} answered a redirect whose Location is not a valid URL; "
                "redirects are not followed: check PARTNER_BASE_URL"
            ) from None
        received = self.clock.local_time()
        date = response.headers.get("date")
        status = response.status_code
        if status == 403:
            # A 403 may be drift even when unlabelled: adopt the server's clock now, so the
            # retry is signed with it (CONTRACT §2.1).
            self.clock.resync(date, sent, received)
        else:
            self.clock.observe(date, sent, received)

        if status == 304:
            if "if-none-match" not in request.headers:
                raise InvalidResponseError(
                    f"{method} {path} answered 304 Not Modified to a request without "
                    "If-None-Match; the server is confused, nothing was changed",
                    status=status,
                )
            return Answer(status, None, response.headers.get("etag"))
        if 300 <= status < 400:
            raise InvalidResponseError(
                f"{method} {path} answered {status} redirecting to "
                f"{_clip(response.headers.get('location', '?'))!r}; redirects are not followed (the "
                "signature must not travel elsewhere): check PARTNER_BASE_URL",
                status=status,
            )
        envelope = self._parse(body, status, method, path, page_of)
        if 200 <= status < 300:
            if envelope is None:
                raise InvalidResponseError(
                    f"{method} {path} answered {status} with a body that is not the API's JSON "
                    f"envelope ({_describe_body(body, response)}); nothing was changed",
                    status=status,
                )
            if not envelope.success:
                raise InvalidResponseError(
                    f"{method} {path} answered {status} but the envelope says success:false "
                    f"(code {_clip(envelope.code)}: {_clip(envelope.message) or 'no message'})",
                    status=status,
                )
            return Answer(status, envelope, response.headers.get("etag"))
        raise self._status_error(status, envelope, method, path, response, body)

    def _read_capped(self, response: httpx.Response, method: str, path: str) -> bytes:
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

    def _parse(
        self, body: bytes, status: int, method: str, path: str, page_of: str | None
    ) -> Envelope[Any] | None:
        """The envelope, or None when the body is not one (empty, HTML, not JSON)."""
        if not body:
            return None
        ok = 200 <= status < 300
        adapter = DATASETS[page_of].page_adapter if page_of and ok else ENVELOPE_ADAPTER
        try:
            envelope = adapter.validate_json(body)
        except ValidationError as exc:
            if not _looks_like_envelope(body):
                return None
            raise InvalidResponseError(
                f"{method} {path} answered {status} with an envelope that breaks the contract: "
                f"{_summarize_validation(exc)}; nothing was changed",
                status=status,
            ) from None
        major = envelope.version.split(".", 1)[0]
        if major != SUPPORTED_ENVELOPE_MAJOR:
            raise InvalidResponseError(
                f"{method} {path} answered envelope version {_clip(envelope.version)!r}; this client "
                f"speaks version {SUPPORTED_ENVELOPE_MAJOR}.x: upgrade partner-sync",
                status=status,
            )
        return envelope

    def _status_error(
        self,
        status: int,
        envelope: Envelope[Any] | None,
        method: str,
        path: str,
        response: httpx.Response,
        body: bytes,
    ) -> APIStatusError:
        # The server's words go into our one-line messages: whitespace collapsed, length capped.
        code = _clip(envelope.code) if envelope is not None else None
        server_message = _clip(envelope.message) if envelope is not None else None
        cls = error_class_for(status, code)
        what = f"{method} {path} answered {status}"
        if code:
            what += f" {code}"
        if server_message:
            what += f": {server_message}"
        elif envelope is None and body:
            what += f" ({_describe_body(body, response)})"
        kwargs: dict[str, Any] = {
            "status": status,
            "code": code,
            "server_message": server_message,
            "path": path,
        }
        if issubclass(cls, RateLimitedError):
            retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock.now())
            cap = self.retry_policy.max_retry_after
            if retry_after is not None and retry_after > cap:
                return RetryAfterTooLongError(
                    f"{what}; the server asks to wait {retry_after:,.0f} s, more than "
                    f"PARTNER_MAX_RETRY_AFTER ({cap:g} s): try again later",
                    retry_after=retry_after,
                    **kwargs,
                )
            return RateLimitedError(f"{what}; rate limited", retry_after=retry_after, **kwargs)
        if issubclass(cls, ForbiddenError):
            diagnosis = self.diagnose_403(path, code, server_message)
            return cls(f"{what}. {diagnosis}", diagnosis=diagnosis, **kwargs)
        message = f"{what}; {cls.hint}" if cls.hint else what
        return cls(message, **kwargs)

    def diagnose_403(self, path: str, code: str | None, server_message: str | None) -> str:
        """Walk the four published 403 causes: which are ruled out and which remain."""
        offset = self.clock.offset
        measured = self.clock.measured
        ruled_out: list[str] = [f"not a /web/v1 path ({path} was checked before sending)"]
        remaining: list[str] = []
        clock_fact = (
            f"clock offset {offset:+.1f} s measured from the server's Date, inside the "
            f"{TIMESTAMP_WINDOW:.0f} s window"
            if measured
            else "no server Date seen yet, so the clock offset is unmeasured"
        )
        nonce_fact = "every attempt used a fresh UUID4 nonce"
        if code == "4033":
            scope = _scope_from(server_message)
            return (
                f"Diagnosis: the API key lacks scope {scope}; "
                "ask the partner to grant it or use a key that has it. "
                f"Ruled out: {ruled_out[0]}; signature, timestamp ({clock_fact}) and nonce "
                "passed (the server checks them first)"
            )
        if code == "4034":
            return (
                "Diagnosis: the server says this is a /web/v1 portal path; use /api/v1/partner/**"
            )
        if code == "4030":
            return (
                "Diagnosis: signature, header or API key rejected: check PARTNER_API_KEY, "
                "PARTNER_API_SECRET and PARTNER_SIGN_QUERY; "
                f"ruled out: {ruled_out[0]}; the server checks signatures before the clock"
            )
        if code == "4031":
            remaining.append(
                f"timestamp drift: the server still rejects the time after re-measuring "
                f"(clock offset {offset:+.1f} s, window {TIMESTAMP_WINDOW:.0f} s); check NTP on this "
                "worker and on the server's side"
            )
            ruled_out.append(nonce_fact)
        elif code == "4032":
            remaining.append(
                "nonce reuse: the server saw the nonce before although "
                f"{nonce_fact}: something replays requests or the server's nonce memory is wrong"
            )
            ruled_out.append(clock_fact)
        else:
            ruled_out.append(nonce_fact)
            remaining.append(f"timestamp drift ({clock_fact}, re-measured and retried)")
            remaining.append("missing scope on the API key")
            remaining.append("a gateway or firewall refusing the request before the API")
        envelope_fact = (
            f"envelope code {code}: {server_message or 'no message'}"
            if code
            else "the 403 carried no envelope"
        )
        return (
            f"Diagnosis ({envelope_fact}): ruled out {'; '.join(ruled_out)}. "
            f"Remaining: {'; '.join(remaining)}"
        )

    def _transport_error(
        self, exc: httpx.TransportError, method: str, path: str
    ) -> PartnerConnectionError:
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


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` in seconds from either form (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = parse_http_date(value)
    if when is None:
        return None
    return max(0.0, math.ceil(when - now))


def _scope_from(message: str | None) -> str:
    if message:
        for word in message.replace(",", " ").split():
            if ":" in word and word.startswith("partner"):
                return word.strip(".'\"")
    return f"named by the server ({message})" if message else "(the server did not name it)"


def _looks_like_envelope(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: not an envelope
        return False
    return isinstance(parsed, dict) and "success" in parsed


def _describe_body(body: bytes, response: httpx.Response) -> str:
    content_type = _clip(response.headers.get("content-type")) or "no content type"
    return f"{content_type}, {len(body):,} bytes"


#: Longest piece of server-controlled text quoted in an error message.
_MAX_QUOTED_CHARS = 200


def _clip(text: str | None) -> str | None:
    """Server-controlled text made fit for a one-line message: no line breaks, bounded."""
    if text is None:
        return None
    flat = " ".join(text.split())
    if len(flat) > _MAX_QUOTED_CHARS:
        return flat[: _MAX_QUOTED_CHARS - 3] + "..."
    return flat


def _summarize_validation(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more
