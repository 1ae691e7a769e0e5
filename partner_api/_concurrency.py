"""A polite, adaptive cap on how many partner requests are on the wire at once.

The cap starts at the configured maximum. A 429 halves it (never below 1), so a client that
outran the partner's rate limit backs off at once, not after every request has hit the wall;
every `grow_after` successful answers raise it by one again, up to the maximum. Only one
halving per crowd of requests: a 429 answering a request sent before the last halving says
nothing new (the crowd it belongs to was already cut), so it does not halve again.
"""

from __future__ import annotations

import threading

from ._constants import CONCURRENCY_GROW_AFTER


class AdaptiveLimit:
    """A counting gate whose width halves on a 429 and grows back by one after successes.

    `acquire` blocks until fewer than `limit` requests are in flight and returns a ticket;
    `release` gives the ticket back with what the request met. Thread-safe.
    """

    def __init__(self, maximum: int, *, grow_after: int = CONCURRENCY_GROW_AFTER) -> None:
        if maximum < 1:
            raise ValueError(f"maximum must be at least 1, not {maximum}")
        if grow_after < 1:
            raise ValueError(f"grow_after must be at least 1, not {grow_after}")
        self.maximum = maximum
        self.grow_after = grow_after
        self._limit = maximum
        self._in_flight = 0
        self._successes = 0
        # Bumped by every halving; a ticket from an older generation cannot halve again.
        self._generation = 0
        self._changed = threading.Condition()

    def __repr__(self) -> str:
        return f"AdaptiveLimit(limit={self._limit}, maximum={self.maximum})"

    @property
    def limit(self) -> int:
        """How many requests may be in flight now."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """How many requests hold a ticket now."""
        return self._in_flight

    def acquire(self) -> int:
        """Wait for room under the limit, take it, and return the ticket to release."""
        with self._changed:
            self._changed.wait_for(lambda: self._in_flight < self._limit)
            self._in_flight += 1
            return self._generation

    def release(self, ticket: int, *, throttled: bool = False, succeeded: bool = False) -> None:
        """Give back `ticket`: `throttled` for a 429, `succeeded` for an answer that worked.

        An error that is neither (a 5xx, a dropped connection) changes nothing but frees
        the room: backing off from those is the retry policy's job.
        """
        with self._changed:
            self._in_flight -= 1
            if throttled:
                if ticket == self._generation:
                    self._limit = max(1, self._limit // 2)
                    self._generation += 1
                self._successes = 0
            elif succeeded and self._limit < self.maximum:
                self._successes += 1
                if self._successes >= self.grow_after:
                    self._limit += 1
                    self._successes = 0
            self._changed.notify_all()
