"""One partner-sync run at a time, including while a run is paused for its one-time code.

A deployment's `concurrency_limit` (1, `CANCEL_NEW`) stops a run from starting while
another is Running, but Prefect releases that slot when a run pauses (and does not take
it back on resume): a run started meanwhile would log in, email a second code and write
the same rows. So the flow also holds a global concurrency limit (`PARTNER_RUN_LOCK`,
default `partner-sync`, created on first use with limit 1) from before the login to the
end; a run that cannot get it within a few seconds ends Cancelled, as `CANCEL_NEW` would.
This also covers runs outside the deployment (`partner-sync sync` against the same API).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

#: Seconds a run waits for the lock before it gives up (another run holds it); more than
#: one, as a lock released a moment ago can take a moment to show as free on a busy server.
ACQUIRE_TIMEOUT = 5.0
#: The lease's life; renewed in the background while held, so a crashed run frees it after this.
LEASE_SECONDS = 120.0
#: Seconds between looks at a taken lock while waiting for it.
POLL_SECONDS = 0.5


def ensure_lock(name: str) -> bool:
    """Create the global concurrency limit `name` (limit 1) unless it exists; whether it is free."""
    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
            return limit.active_slots < limit.limit
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code != 409:  # 409: another run created it just now
                raise
    return True


def wait_until_free(name: str, timeout: float) -> bool:
    """Whether the lock `name` showed a free slot within `timeout` s (it may exist or not).

    Looking before taking keeps the common case quiet: Prefect's own acquisition logs an
    ERROR with a traceback ("Service ... failed to process item") when it times out, so
    it is asked only when a slot looked free a moment ago.
    """
    deadline = time.monotonic() + timeout
    while not ensure_lock(name):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


@contextmanager
def run_lock(name: str) -> Iterator[bool]:
    """Hold the lock `name` for the block; yields False (holding nothing) if another run has it."""
    if not name:
        yield True
        return
    if not wait_until_free(name, ACQUIRE_TIMEOUT):
        yield False
        return
    with ExitStack() as stack:
        try:
            stack.enter_context(
                concurrency(
                    name,
                    occupy=1,
                    timeout_seconds=ACQUIRE_TIMEOUT,
                    lease_duration=LEASE_SECONDS,
                    strict=True,
                )
            )
        except TimeoutError:
            yield False
            return
        yield True
