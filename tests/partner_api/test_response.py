"""Reading answers: the one status-and-code mapping, envelopes that break the contract."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from partner_api import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ClockDriftError,
    ForbiddenError,
    InvalidResponseError,
    NotFoundError,
    PartnerClient,
    RateLimitedError,
    ServerError,
    SessionExpiredError,
    SignatureError,
)
from partner_api._clock import ServerClock
from partner_api._response import Answer, answer_from, error_class_for, parse_retry_after
from tests.partner_api.transports import envelope, ok, scripted

PATH = "/api/v1/partner/constants/currencies"


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "4000", BadRequestError),
        (401, "4010", SessionExpiredError),
        (401, None, AuthenticationError),
        (403, "4030", SignatureError),
        (403, "4031", ClockDriftError),
        (403, "9999", ForbiddenError),
        (404, None, NotFoundError),
        (429, "4290", RateLimitedError),
        (500, "4031", ServerError),  # a stray code outside the status's family loses
        (503, None, ServerError),
        (418, None, APIStatusError),
    ],
)
def test_status_and_code_map_to_one_class(
    status: int, code: str | None, expected: type[APIStatusError]
) -> None:
    assert error_class_for(status, code) is expected


def answer(response: httpx.Response) -> Answer:
    response.request = httpx.Request("GET", f"http://h/prometheus{PATH}")
    return answer_from(
        response,
        response.content,
        method="GET",
        path=PATH,
        page_of=None,
        clock=ServerClock(),
        max_retry_after=60,
    )


def test_a_success_envelope_is_the_answer() -> None:
    result = answer(httpx.Response(200, json=ok([1, 2]), headers={"ETag": '"v1"'}))
    assert (result.status, result.data, result.etag) == (200, [1, 2], '"v1"')


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (httpx.Response(200, text="<html>hi</html>"), "not the API's JSON envelope"),
        (httpx.Response(200, json={**ok(1), "version": "3.0.0"}), "speaks version 2.x"),
        (httpx.Response(200, json={**ok(1), "success": False}), "success:false"),
        (httpx.Response(200, json={"success": True}), "breaks the contract"),
        (httpx.Response(302, headers={"Location": "http://elsewhere/"}), "not followed"),
        (httpx.Response(304), "without If-None-Match"),
    ],
)
def test_answers_that_break_the_contract_are_refused(response: httpx.Response, words: str) -> None:
    with pytest.raises(InvalidResponseError, match=words):
        answer(response)


def test_a_dataset_page_without_data_is_refused_not_empty() -> None:
    # Found by the fuzz test: success:true and no `data` was handed back as a page of None.
    response = httpx.Response(200, json={"version": "2.0.0", "success": True, "code": "2000"})
    response.request = httpx.Request("GET", f"http://h/prometheus{PATH}")
    with pytest.raises(InvalidResponseError, match="success:true but no page data"):
        answer_from(
            response,
            response.content,
            method="GET",
            path=PATH,
            page_of="cities",
            clock=ServerClock(),
            max_retry_after=60,
        )


def test_server_words_in_a_failure_are_one_clipped_line() -> None:
    failure = httpx.Response(400, json=envelope("4000", "bad\nrequest " + "x" * 500))
    with pytest.raises(BadRequestError) as caught:
        answer(failure)
    message = str(caught.value)
    assert "\n" not in message and "bad request" in message and len(message) < 300


def test_retry_after_in_both_forms() -> None:
    now = time.time()
    assert parse_retry_after("7", now) == 7.0
    in_90s = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(in_90s, now) == pytest.approx(90, abs=1)
    assert parse_retry_after("garbage", now) is None


def test_a_failure_through_the_client_is_typed() -> None:
    transport = scripted([httpx.Response(404, json=envelope("4040", "no such dataset"))])
    with (
        PartnerClient("http://127.0.0.1:9/prometheus", "k", "s", transport=transport) as client,
        pytest.raises(NotFoundError, match="no such dataset") as caught,
    ):
        client.call("GET", PATH)
    assert (caught.value.status, caught.value.code, caught.value.path) == (404, "4040", PATH)
