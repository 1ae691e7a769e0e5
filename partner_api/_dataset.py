"""Reading one dataset with pages in flight concurrently, ETags, and a consistency check.

Page 0 is read first, alone: it says how many pages there are. The rest are fetched by a
small thread pool over the client's one `httpx.Client`, each request signed afresh and
retried on its own, while the consumer (storage, writing rows in one transaction) works on
the pages already here: the network hides behind the database and the other way round.
Pages are handed out strictly in page order, and at most `window` are asked ahead of the
one the consumer holds, so memory stays bounded by about `window + 1` pages. How many of
those are on the wire at once is the transport's `AdaptiveLimit` (a 429 halves it).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Self

from ._errors import DatasetChangedError, InvalidResponseError
from ._response import Answer
from ._transport import Transport
from .datasets import get_dataset
from .models import PageData

logger = logging.getLogger("partner_api.dataset")

#: Worker threads of a read are named so, for logs and for tests that count them.
THREAD_NAME_PREFIX = "partner-read"

Page = list[dict[str, Any]]


def etag_key(page: int, size: int) -> str:
    """How a page's ETag is remembered: an ETag is only valid for the same page size."""
    return f"{page}/{size}"


def fetch_page(
    transport: Transport,
    dataset: str,
    page: int,
    size: int,
    etag: str | None,
    *,
    cancelled: threading.Event | None = None,
) -> Answer:
    """One page of `dataset` with validated items, conditional on `etag` when given."""
    headers = {"If-None-Match": etag} if etag else None
    return transport.call(
        "GET",
        get_dataset(dataset).path,
        params={"page": page, "size": size},
        headers=headers,
        page_of=dataset,
        cancelled=cancelled,
    )


class _InOrder:
    """Answers of `fetch(page)` for `pages`, handed out in page order.

    `window` pages are submitted at once; each one handed out submits the next, so the
    pool never holds more than `window` answers beyond the one the consumer has.
    """

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        fetch: Callable[[int], Answer],
        pages: Iterable[int],
        window: int,
    ) -> None:
        self._pool = pool
        self._fetch = fetch
        self._todo = iter(pages)
        self._pending: deque[tuple[int, Future[Answer]]] = deque()
        for _ in range(window):
            self._submit_next()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> tuple[int, Answer]:
        if not self._pending:
            raise StopIteration
        page, future = self._pending.popleft()
        answer = future.result()
        self._submit_next()
        return page, answer

    def cancel(self) -> None:
        """Drop every answer not yet handed out; requests not yet started never start."""
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()

    def _submit_next(self) -> None:
        page = next(self._todo, None)
        if page is not None:
            self._pending.append((page, self._pool.submit(self._fetch, page)))


class DatasetRead:
    """An iterator of pages (`list[dict]` of validated items) of one dataset, in page order.

    With remembered `etags` every page is asked with `If-None-Match`: when every page
    answers 304 nothing is yielded and `not_modified` becomes True. A changed page after
    unchanged ones restarts the read without conditions (nothing was yielded yet), so the
    consumer always receives either nothing or the whole dataset.

    The pages must describe one consistent snapshot: if `totalElements` changes between
    pages, or page 0 no longer matches its ETag at the end, `DatasetChangedError` is
    raised and the consumer must discard what it has (the storage transaction rolls back)
    and read again. After a full iteration, `etags` holds the new ETags and
    `total_elements` the size of the dataset.

    Up to `concurrency` pages are fetched at once by worker threads. Stopping early
    (`close()`, leaving a `with` block, or dropping the iterator) or an error cancels the
    requests not yet sent, lets the ones on the wire finish, and ends the threads.
    """

    def __init__(
        self,
        transport: Transport,
        dataset: str,
        etags: dict[str, str],
        page_size: int,
        *,
        concurrency: int | None = None,
    ) -> None:
        self._transport = transport
        self.dataset = dataset
        self.page_size = page_size
        self.concurrency = concurrency or transport.limit.maximum
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {self.concurrency}")
        self._known = {k: v for k, v in etags.items() if k.endswith(f"/{page_size}")}
        self.not_modified = False
        self.etags: dict[str, str] = {}
        self.total_elements: int | None = None
        #: The size the first page announced, while the read is under way (for progress).
        self.expected_total: int | None = None
        self.pages_read = 0
        self._active: Generator[Page, None, None] | None = None

    def __iter__(self) -> Generator[Page, None, None]:
        self._active = self._iterate()
        return self._active

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the read under way, if any: cancel what is queued, end the worker threads."""
        if self._active is not None:
            self._active.close()

    def _iterate(self) -> Generator[Page, None, None]:
        stop = threading.Event()
        pool = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix=f"{THREAD_NAME_PREFIX}-{self.dataset}"
        )
        try:
            if self._known and self._all_unchanged(pool, stop):
                self.not_modified = True
                self.etags = dict(self._known)
                logger.debug("%s: every page answered 304, not modified", self.dataset)
                return
            yield from self._read_all(pool, stop)
        finally:
            # Whatever ended the read (done, an error, the consumer stopping): requests not
            # sent yet are dropped, retry waits cut short, and the threads joined.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _fetch(self, conditional: bool, stop: threading.Event) -> Callable[[int], Answer]:
        """A worker's job: fetch one page, with its remembered ETag when `conditional`."""

        def fetch(page: int) -> Answer:
            condition = self._known.get(etag_key(page, self.page_size)) if conditional else None
            return fetch_page(
                self._transport, self.dataset, page, self.page_size, condition, cancelled=stop
            )

        return fetch

    def _all_unchanged(self, pool: ThreadPoolExecutor, stop: threading.Event) -> bool:
        """Ask every remembered page conditionally, concurrently; stop at the first change."""
        pages = range(len(self._known))
        if any(etag_key(page, self.page_size) not in self._known for page in pages):
            return False
        answers = _InOrder(pool, self._fetch(True, stop), pages, self.concurrency)
        try:
            for _page, answer in answers:
                self.pages_read += 1
                if not answer.not_modified:
                    # This page changed: its content is valid, but re-reading it below is
                    # simpler than threading it through, and costs one page once per change.
                    return False
        finally:
            answers.cancel()
        return True

    def _read_all(
        self, pool: ThreadPoolExecutor, stop: threading.Event
    ) -> Generator[Page, None, None]:
        size = self.page_size
        first = fetch_page(self._transport, self.dataset, 0, size, None)
        self.pages_read += 1
        data = self._page_data(first, 0)
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
        self._check_page(first, data, 0, total)
        # The rest are asked before page 0 is handed out, so the consumer's work on it
        # already overlaps the network.
        rest = _InOrder(pool, self._fetch(False, stop), range(1, total_pages), self.concurrency)
        try:
            yield data.content
            for page, answer in rest:
                self.pages_read += 1
                data = self._page_data(answer, page)
                if data.total_elements != total or data.total_pages != total_pages:
                    raise DatasetChangedError(
                        f"{self.dataset} changed while being read (totalElements {total} -> "
                        f"{data.total_elements} at page {page}); read it again"
                    )
                self._check_page(answer, data, page, total)
                yield data.content
        finally:
            rest.cancel()
        self._confirm_snapshot(total_pages)
        self.total_elements = total

    def _page_data(self, answer: Answer, page: int) -> PageData[Any]:
        data = answer.data
        if not isinstance(data, PageData):
            raise InvalidResponseError(
                f"{self.dataset} page {page} answered without paged data; nothing was changed"
            )
        return data

    def _check_page(self, answer: Answer, data: PageData[Any], page: int, total: int) -> None:
        """The page is the one asked for, with as many items as the totals say; keep its ETag."""
        size = self.page_size
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

    def _confirm_snapshot(self, total_pages: int) -> None:
        """Ask page 0 again, conditionally: a change there means the pages mix two versions.

        `totalElements` alone misses a change that adds as many rows as it removes. One
        conditional request per multi-page read catches it wherever the server's ETag covers
        the dataset's version (the sandbox's does), and a change in page 0 everywhere else.
        It is sent after every other page has arrived, so it covers them all.
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
