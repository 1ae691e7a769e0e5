"""The dataset endpoint: `GET /api/v1/partner/constants/{dataset}` (docs/partner-api.md §2.4).

Paging (`?page=N&size=M`), a strong `ETag` per (dataset content, page, size) with `304` on a
matching `If-None-Match`, the whole list without paging parameters (cities streamed chunk by
chunk). Whole answer bodies are kept in a small LRU: a benchmark that reads the same pages again
pays a dict lookup, not the generation (or even a copy) of a thousand cities.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from partner_api.datasets import CONSTANTS_SCOPE
from sandbox._data import DatasetView
from sandbox._partner import PartnerRoute
from sandbox._responses import (
    JSON,
    OK_PREFIX,
    Reject,
    base_headers,
    dumps,
    envelope_of,
    ok_envelope,
    raw_response,
)
from sandbox._state import SandboxState

CONSTANTS_ROUTE = "/api/v1/partner/constants/{dataset}"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
_PAGE_CACHE_ENTRIES = 256
_STREAM_CHUNK = 1000

PageKey = tuple[str, str, int | None, int | None]


def dataset_routes(state: SandboxState) -> list[PartnerRoute]:
    """The dataset endpoint of one sandbox (with its own page cache)."""
    pages: OrderedDict[PageKey, bytes] = OrderedDict()

    async def constants(request: Request) -> Response:
        dataset: str = request.path_params["dataset"]
        try:
            view = state.view(dataset)
        except KeyError:
            raise Reject("4040", f"unknown dataset {dataset}") from None
        page, size = parse_paging(request.scope.get("query_string", b""))
        etag = etag_of(view, page, size)
        headers = {"etag": etag}
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and etag_matches(if_none_match, etag):
            with state.lock:
                state.stats.not_modified += 1
            return raw_response(state, 304, b"", headers, media_type=None)
        key = (dataset, view.fingerprint, page, size)
        cached = pages.get(key)
        if cached is not None:
            pages.move_to_end(key)
            return ok_envelope(state, cached, headers)
        if page is None or size is None:
            if view.name == "cities":
                return _streamed(state, view, headers)  # a million cities never sit in memory
            data = dumps(view.slice(0, view.total))
        else:
            start = min(page * size, view.total)
            data = dumps(
                {
                    "content": view.slice(start, min(start + size, view.total)),
                    "page": page,
                    "size": size,
                    "totalElements": view.total,
                    "totalPages": math.ceil(view.total / size),
                }
            )
        pages[key] = envelope = envelope_of(data)
        while len(pages) > _PAGE_CACHE_ENTRIES:
            pages.popitem(last=False)
        return ok_envelope(state, envelope, headers)

    return [
        PartnerRoute(
            CONSTANTS_ROUTE,
            constants,
            method="GET",
            scope_required=CONSTANTS_SCOPE,
            needs_token=True,
        )
    ]


def _streamed(state: SandboxState, view: DatasetView, headers: dict[str, str]) -> Response:
    """The whole dataset as one envelope, sent in chunks (chunked transfer encoding)."""
    state.count("2000")

    async def body() -> AsyncIterator[bytes]:
        yield OK_PREFIX + b"["
        first = True
        for chunk in view.chunks(_STREAM_CHUNK):
            if not chunk:
                continue
            piece = dumps(chunk)[1:-1]
            yield piece if first else b"," + piece
            first = False
        yield b"]}"

    return StreamingResponse(body(), headers={**base_headers(state), **headers}, media_type=JSON)


def etag_of(view: DatasetView, page: int | None, size: int | None) -> str:
    """A strong ETag of one page: it changes iff the dataset's content (or the page) does."""
    digest = hashlib.sha256(f"{view.name}|{view.fingerprint}|{page}|{size}".encode()).hexdigest()
    return f'"{view.name[:3]}-{digest[:40]}"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """`If-None-Match` semantics: any listed tag (weakly compared) or `*` matches."""
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):  # If-None-Match uses the weak comparison
            candidate = candidate[2:]
        if candidate in ("*", etag):
            return True
    return False


def parse_paging(query_string: bytes) -> tuple[int | None, int | None]:
    """(page, size) from the query, or (None, None) without paging parameters."""
    if not query_string:
        return None, None
    try:
        query = parse_qs(query_string.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise Reject("4000", "query string is not UTF-8") from None
    if "page" not in query and "size" not in query:
        return None, None
    try:
        page = int(query.get("page", ["0"])[0])
        size = int(query.get("size", [str(DEFAULT_PAGE_SIZE)])[0])
    except ValueError:
        raise Reject("4000", "page and size must be integers") from None
    if page < 0:
        raise Reject("4000", "page must be 0 or more")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise Reject("4000", f"size must be between 1 and {MAX_PAGE_SIZE}")
    return page, size
