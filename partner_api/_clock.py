"""The server clock, estimated from `Date` headers (docs/partner-api.md §2.2).

The server's clock is the truth: a request is signed with `local time + offset`, where
`offset = server Date - midpoint(sent, received)`. `Date` has one-second resolution, so a
sample is taken as the middle of that second; samples from slow round trips say little and
are skipped; the estimate is the median of recent samples, and a sample far from it (the
server's clock really moved) replaces the history at once.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from ._constants import (
    CLOCK_INFO_OFFSET,
    CLOCK_JUMP,
    CLOCK_MAX_RTT,
    CLOCK_SAMPLES,
    CLOCK_WARNING_OFFSET,
)

logger = logging.getLogger("partner_api.clock")


def parse_http_date(value: str | None) -> float | None:
    """Parse an HTTP `Date` header into epoch seconds; `None` for a missing or garbage value."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # RFC 7231 dates are GMT; a naive parse means a malformed header
        return None
    return parsed.timestamp()


class ServerClock:
    """Local time corrected by a continually re-measured offset to the server's clock."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._samples: deque[float] = deque(maxlen=CLOCK_SAMPLES)
        self._offset = 0.0
        self._measured = False
        self._reported_band = 0
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        """The current estimate of `server time - local time`, in seconds."""
        return self._offset

    @property
    def measured(self) -> bool:
        """Whether any `Date` header has been seen yet."""
        return self._measured

    def local_time(self) -> float:
        """The local clock, uncorrected (the injected clock source)."""
        return self._clock()

    def now(self) -> float:
        """The server's time as best known: local time plus the offset."""
        return self._clock() + self._offset

    def observe(self, date_header: str | None, sent: float, received: float) -> None:
        """Fold one response's `Date` into the estimate (`sent`/`received` are local times)."""
        sample = self._sample(date_header, sent, received)
        if sample is None or received - sent > CLOCK_MAX_RTT:
            return
        with self._lock:
            if self._measured and abs(sample - self._offset) > CLOCK_JUMP:
                self._samples.clear()
            self._samples.append(sample)
            self._offset = statistics.median(self._samples)
            self._measured = True
        self._report()

    def resync(self, date_header: str | None, sent: float, received: float) -> bool:
        """Adopt the offset from one response at once (after a drift 403); False if no `Date`.

        Slow round trips are accepted here: a drift rejection is exactly when the old
        estimate is known to be wrong, and any `Date` is better than none.
        """
        sample = self._sample(date_header, sent, received)
        if sample is None:
            return False
        with self._lock:
            self._samples.clear()
            self._samples.append(sample)
            self._offset = sample
            self._measured = True
        self._report()
        return True

    @staticmethod
    def _sample(date_header: str | None, sent: float, received: float) -> float | None:
        server = parse_http_date(date_header)
        if server is None:
            return None
        # The header truncates to the second: the server's time was within [server, server + 1).
        return server + 0.5 - (sent + received) / 2

    def _report(self) -> None:
        magnitude = abs(self._offset)
        band = 2 if magnitude > CLOCK_WARNING_OFFSET else 1 if magnitude > CLOCK_INFO_OFFSET else 0
        if band == self._reported_band:
            return
        self._reported_band = band
        if band == 2:
            logger.warning(
                "server clock differs from this machine's by %+.1f s; requests are signed with "
                "the server's time, but check NTP on this worker",
                self._offset,
            )
        elif band == 1:
            logger.info(
                "server clock offset is %+.1f s; signing with the server's time", self._offset
            )
        else:
            logger.info("server clock offset back to %+.1f s", self._offset)
