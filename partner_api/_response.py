"""Reading an HTTP answer: the contract's envelope, or the typed error it stands for.

`answer_from` turns one response (its body already read, capped, by the transport) into an
`Answer` or raises: `InvalidResponseError` for what breaks the contract, an `APIStatusError`
subclass for a failure the server reported. `error_class_for` is the one place where an HTTP
status and an envelope code become an error class (docs/partner-api.md §2.1).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from ._clock import ServerClock, parse_http_date
from ._constants import SUPPORTED_ENVELOPE_MAJOR
from ._diagnosis import diagnose_403
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ClockDriftError,
    ForbiddenError,
    InvalidCredentialsError,
    InvalidOtpError,
    InvalidResponseError,
    LoginSessionExpiredError,
    MissingScopeError,
    NonceReusedError,
    NotFoundError,
    RateLimitedError,
    RetryAfterTooLongError,
    ServerError,
    SessionExpiredError,
    SignatureError,
    WebPathError,
)
from .datasets import DATASETS
from .models import ENVELOPE_ADAPTER, Envelope

#: Longest piece of server-controlled text quoted in an error message.
MAX_QUOTED_CHARS = 200


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


_BY_CODE: dict[str, type[APIStatusError]] = {
    "4000": BadRequestError,
    "4010": SessionExpiredError,
    "4011": InvalidCredentialsError,
    "4012": InvalidOtpError,
    "4013": LoginSessionExpiredError,
    "4030": SignatureError,
    "4031": ClockDriftError,
    "4032": NonceReusedError,
    "4033": MissingScopeError,
    "4034": WebPathError,
    "4040": NotFoundError,
    "4290": RateLimitedError,
}

_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    429: RateLimitedError,
}


def error_class_for(status: int, code: str | None) -> type[APIStatusError]:
    """Map an HTTP status and envelope code to the most specific error class.

    The envelope code wins only when it agrees with the status family, so a server that
    answers 500 with a stray `4031` is still a server error.
    """
    by_code = _BY_CODE.get(code or "")
    by_status = ServerError if status >= 500 else _BY_STATUS.get(status, APIStatusError)
    if by_code is not None and issubclass(by_code, by_status):
        return by_code
    return by_status


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


def answer_from(
    response: httpx.Response,
    body: bytes,
    *,
    method: str,
    path: str,
    page_of: str | None,
    clock: ServerClock,
    max_retry_after: float,
) -> Answer:
    """The `Answer` of `response` (whose `body` was read), or the error it stands for.

    `page_of` names the dataset whose page this is, so its items are validated; `clock`
    dates a `Retry-After` and feeds the 403 diagnosis; a `Retry-After` above
    `max_retry_after` seconds becomes `RetryAfterTooLongError`.
    """
    status = response.status_code
    if status == 304:
        if "if-none-match" not in response.request.headers:
            raise InvalidResponseError(
                f"{method} {path} answered 304 Not Modified to a request without "
                "If-None-Match; the server is confused, nothing was changed",
                status=status,
            )
        return Answer(status, None, response.headers.get("etag"))
    if 300 <= status < 400:
        raise InvalidResponseError(
            f"{method} {path} answered {status} redirecting to "
            f"{clip(response.headers.get('location', '?'))!r}; redirects are not followed (the "
            "signature must not travel elsewhere): check PARTNER_BASE_URL",
            status=status,
        )
    envelope = parse_envelope(body, status, method, path, page_of)
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
                f"(code {clip(envelope.code)}: {clip(envelope.message) or 'no message'})",
                status=status,
            )
        if page_of is not None and envelope.data is None:
            # A dataset page is its data (docs/partner-api.md §2.4): success without it is
            # no page at all, not an empty one.
            raise InvalidResponseError(
                f"{method} {path} answered {status} with success:true but no page data; "
                "nothing was changed",
                status=status,
            )
        return Answer(status, envelope, response.headers.get("etag"))
    raise make_status_error(
        response,
        body,
        envelope,
        method=method,
        path=path,
        clock=clock,
        max_retry_after=max_retry_after,
    )


def parse_envelope(
    body: bytes, status: int, method: str, path: str, page_of: str | None
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
        item_problem = _describe_item_problem(exc, body, page_of) if page_of and ok else None
        if item_problem is not None:
            raise InvalidResponseError(item_problem, status=status) from None
        raise InvalidResponseError(
            f"{method} {path} answered {status} with an envelope that breaks the contract: "
            f"{_summarize_validation(exc)}; nothing was changed",
            status=status,
        ) from None
    major = envelope.version.split(".", 1)[0]
    if major != SUPPORTED_ENVELOPE_MAJOR:
        raise InvalidResponseError(
            f"{method} {path} answered envelope version {clip(envelope.version)!r}; this client "
            f"speaks version {SUPPORTED_ENVELOPE_MAJOR}.x: upgrade partner-sync",
            status=status,
        )
    return envelope


def make_status_error(
    response: httpx.Response,
    body: bytes,
    envelope: Envelope[Any] | None,
    *,
    method: str,
    path: str,
    clock: ServerClock,
    max_retry_after: float,
) -> APIStatusError:
    """The error for a failure answer, its message one line with what to do."""
    status = response.status_code
    # The server's words go into our one-line messages: whitespace collapsed, length capped.
    code = clip(envelope.code) if envelope is not None else None
    server_message = clip(envelope.message) if envelope is not None else None
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
        retry_after = parse_retry_after(response.headers.get("retry-after"), clock.now())
        if retry_after is not None and retry_after > max_retry_after:
            return RetryAfterTooLongError(
                f"{what}; the server asks to wait {retry_after:,.0f} s, more than "
                f"PARTNER_MAX_RETRY_AFTER ({max_retry_after:g} s): try again later",
                retry_after=retry_after,
                **kwargs,
            )
        return RateLimitedError(f"{what}; rate limited", retry_after=retry_after, **kwargs)
    if issubclass(cls, ForbiddenError):
        diagnosis = diagnose_403(
            path, code, server_message, offset=clock.offset, measured=clock.measured
        )
        return cls(f"{what}. {diagnosis}", diagnosis=diagnosis, **kwargs)
    message = f"{what}; {cls.hint}" if cls.hint else what
    return cls(message, **kwargs)


def clip(text: str | None) -> str | None:
    """Server-controlled text made fit for a one-line message: no line breaks, bounded."""
    if text is None:
        return None
    flat = " ".join(text.split())
    if len(flat) > MAX_QUOTED_CHARS:
        return flat[: MAX_QUOTED_CHARS - 3] + "..."
    return flat


def _looks_like_envelope(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: not an envelope
        return False
    return isinstance(parsed, dict) and "success" in parsed


def _describe_body(body: bytes, response: httpx.Response) -> str:
    content_type = clip(response.headers.get("content-type")) or "no content type"
    return f"{content_type}, {len(body):,} bytes"


def _summarize_validation(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


#: JSON's names for the Python types an item's value can have, for "got text" in a message.
_JSON_TYPE_NAMES = {
    type(None): "null",
    str: "text",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    list: "an array",
    dict: "an object",
}


def _describe_item_problem(exc: ValidationError, body: bytes, dataset: str) -> str | None:
    """One line for an item field that breaks docs/partner-api.md §2.4, naming one sample key.

    Schema drift of a known field (a number sent as text, a required field sent as null or
    left out) refuses the dataset: the line names the field, what came instead and the key
    of the first item that shows it, so the partner can be told exactly what changed. None
    when the problem is not in an item's field (the envelope or paging itself is broken).
    """
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        if len(loc) < 4 or loc[:2] != ("data", "content") or not isinstance(loc[2], int):
            continue
        index, field = loc[2], str(loc[3])
        what = error["msg"]
        if error["type"].endswith("_type"):  # a type error: say what came instead
            what += f", got {_JSON_TYPE_NAMES.get(type(error.get('input')), 'something else')}"
        key_field = DATASETS[dataset].key
        return (
            f"{dataset}: field {field!r} is not what the contract says ({what}) in "
            f"{_sample_item(body, index, key_field)} (data.content.{index}); {dataset} is "
            "refused, its stored rows are kept"
        )
    return None


def _sample_item(body: bytes, index: int, key_field: str) -> str:
    """`item code 'AD'`: the key of the `index`-th item, read from the body (only on errors)."""
    try:
        key = json.loads(body)["data"]["content"][index][key_field]
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):
        return f"item {index}"
    if not isinstance(key, str | int) or isinstance(key, bool):
        return f"item {index}"
    return f"item {key_field} {clip(key)!r}" if isinstance(key, str) else f"item {key_field} {key}"
