"""An HTTP client for a test's Prefect API that retries what the server asks to be retried.

Prefect's server answers `503 Service Unavailable` when its SQLite database is busy (many
writers at once: a served deployment, its runner, the event services, the test itself), and
expects the client to try again; Prefect's own client retries 408, 429, 502 and 503 with
back-off. A test that spoke to the API with a bare `httpx` call failed on the first busy
moment (CI: `create_flow_run` answered 503 in `tests/flows/test_notify.py`), so every test
talks to a Prefect API through this client, which is Prefect's own.
"""

from __future__ import annotations

from typing import Any

import httpx


def prefect_http(api_url: str, timeout: float = 30, **kwargs: Any) -> httpx.Client:
    """A client of the Prefect API at `api_url`, retrying as Prefect's own client does.

    It does not raise on an error status: callers check the status, as with `httpx`.
    """
    from prefect.client.base import PrefectHttpxSyncClient

    return PrefectHttpxSyncClient(
        base_url=api_url, timeout=timeout, raise_on_all_errors=False, **kwargs
    )
