"""Reading one dataset page by page, with ETags and a consistency check across pages."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from ._errors import DatasetChangedError, InvalidResponseError
from ._response import Answer
from ._transport import Transport
from .datasets import get_dataset
from .models import PageData

logger = logging.getLogger("partner_api.dataset")


def etag_key(page: int, size: int) -> str:
    """How a page's ETag is remembered: an ETag is only valid for the same page size."""
    return f"{page}/{size}"


def fetch_page(
    transport: Transport, dataset: str, page: int, size: int, etag: str | None
) -> Answer:
    """One page of `dataset` with validated items, conditional on `etag` when given."""
    headers = {"If-None-Match": etag} if etag else None
    return transport.call(
        "GET",
        get_dataset(dataset).path,
        params={"page": page, "size": size},
        headers=headers,
        page_of=dataset,
    )


class DatasetRead:
    """An iterator of pages (`list[dict]` of validated items) of one dataset.

    With remembered `etags` every page is asked with `If-None-Match`: when every page
    answers 304 nothing is yielded and `not_modified` becomes True. A changed page after
    unchanged ones restarts the read without conditions (nothing was yielded yet), so the
    consumer always receives either nothing or the whole dataset.

    The pages must describe one consistent snapshot: if `totalElements` changes between
    pages, `DatasetChangedError` is raised and the consumer must discard what it has (the
    storage transaction rolls back) and read again. After a full iteration, `etags` holds
    the new ETags and `total_elements` the size of the dataset.
    """

    def __init__(
        self, transport: Transport, dataset: str, etags: dict[str, str], page_size: int
    ) -> None:
        self._transport = transport
        self.dataset = dataset
        self.page_size = page_size
        self._known = {k: v for k, v in etags.items() if k.endswith(f"/{page_size}")}
        self.not_modified = False
        self.etags: dict[str, str] = {}
        self.total_elements: int | None = None
        #: The size the first page announced, while the read is under way (for progress).
        self.expected_total: int | None = None
        self.pages_read = 0

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        if self._known and self._all_unchanged():
            self.not_modified = True
            self.etags = dict(self._known)
            logger.debug("%s: every page answered 304, not modified", self.dataset)
            return
        yield from self._read_all()

    def _all_unchanged(self) -> bool:
        """Ask each remembered page conditionally; stop at the first one that changed."""
        for page in range(len(self._known)):
            etag = self._known.get(etag_key(page, self.page_size))
            if etag is None:
                return False
            answer = fetch_page(self._transport, self.dataset, page, self.page_size, etag)
            self.pages_read += 1
            if not answer.not_modified:
                # Page 0 changed: its content is valid, but re-reading it below is simpler
                # than threading it through, and costs one page once per change.
                return False
        return True

    def _read_all(self) -> Iterator[list[dict[str, Any]]]:
        size = self.page_size
        total: int | None = None
        total_pages = 1
        page = 0
        while page < total_pages:
            answer = fetch_page(self._transport, self.dataset, page, size, None)
            self.pages_read += 1
            data = answer.data
            if not isinstance(data, PageData):
                raise InvalidResponseError(
                    f"{self.dataset} page {page} answered without paged data; nothing was changed"
                )
            if total is None:
                total = data.total_elements
                total_pages = data.total_pages
                self.expected_total = total
                expected_pages = math.ceil(total / size)
                if total_pages != expected_pages:
                    raise InvalidResponseError(
                        f"{self.dataset}: totalPages {total_pages} does not fit totalElements "
                        f"{total} at page size {size} (expected {expected_pages}); the server's "
                        "paging is inconsistent, nothing was changed"
                    )
            elif data.total_elements != total or data.total_pages != total_pages:
                raise DatasetChangedError(
                    f"{self.dataset} changed while being read (totalElements {total} -> "
                    f"{data.total_elements} at page {page}); read it again"
                )
            if data.page != page:
                raise InvalidResponseError(
                    f"{self.dataset}: asked for page {page}, the server answered page {data.page}"
                )
            expected = min(size, total - page * size)
            if len(data.content) != expected:
                raise InvalidResponseError(
                    f"{self.dataset} page {page} has {len(data.content)} items where the paging "
                    f"totals say {expected}; nothing was changed"
                )
            if answer.etag:
                self.etags[etag_key(page, size)] = answer.etag
            yield data.content
            page += 1
        self._confirm_snapshot(total_pages)
        self.total_elements = total

    def _confirm_snapshot(self, total_pages: int) -> None:
        """Ask page 0 again, conditionally: a change there means the pages mix two versions.

        `totalElements` alone misses a change that adds as many rows as it removes. One
        conditional request per multi-page read catches it wherever the server's ETag covers
        the dataset's version (the sandbox's does), and a change in page 0 everywhere else.
        """
        first = self.etags.get(etag_key(0, self.page_size))
        if total_pages < 2 or first is None:
            return
        answer = fetch_page(self._transport, self.dataset, 0, self.page_size, first)
        self.pages_read += 1
        if not answer.not_modified:
            raise DatasetChangedError(
                f"{self.dataset} changed while being read (page 0 no longer matches its ETag); "
                "read it again"
            )
