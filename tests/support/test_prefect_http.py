"""The test suite's Prefect API client retries a busy server's 503, and only what may be retried."""

from __future__ import annotations

import httpx

from tests.support.prefect_http import prefect_http


def answering(*statuses: int) -> tuple[httpx.MockTransport, list[str]]:
    """A transport answering `statuses` in turn (the last one from then on); records each path."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        status = statuses[min(len(seen), len(statuses)) - 1]
        # Retry-After: 0 keeps the test fast; without it Prefect's client backs off 2**n s.
        return httpx.Response(status, json={"n": len(seen)}, headers={"Retry-After": "0"})

    return httpx.MockTransport(answer), seen


def test_a_busy_server_is_asked_again_until_it_answers() -> None:
    transport, seen = answering(503, 503, 200)
    with prefect_http("http://prefect.test/api", transport=transport) as http:
        response = http.post("/deployments/d/create_flow_run", json={})
    assert response.status_code == 200
    assert response.json() == {"n": 3}
    assert seen == ["/api/deployments/d/create_flow_run"] * 3


def test_an_answer_that_is_not_retryable_comes_back_as_it_is() -> None:
    transport, seen = answering(404)
    with prefect_http("http://prefect.test/api", transport=transport) as http:
        response = http.get("/deployments/name/x/y")
    assert response.status_code == 404
    assert seen == ["/api/deployments/name/x/y"]
