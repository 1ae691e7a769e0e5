"""Reading everything the Prefect API holds, page by page (the API answers 200 items at most)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

#: Items per request: the Prefect API's default (and maximum) page size.
PAGE = 200


def post_all(http: httpx.Client, path: str, body: dict[str, Any] | None = None) -> list[Any]:
    """Every item a `/…/filter` endpoint holds: `limit`/`offset` until a short page."""
    items: list[Any] = []
    while True:
        response = http.post(path, json={**(body or {}), "limit": PAGE, "offset": len(items)})
        response.raise_for_status()
        page = response.json()
        items += page
        if len(page) < PAGE:
            return items


def read_all_logs(flow_run_id: UUID) -> list[Any]:
    """Every log record Prefect stored for the run (flushed first), in order."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    logs: list[Any] = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_logs(log_filter=log_filter, limit=PAGE, offset=len(logs))
            logs += page
            if len(page) < PAGE:
                return logs
