"""The sandbox's defences, each checked over real HTTP (the clock is faked, never waited on)."""

from __future__ import annotations

import hmac
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import sandbox._checks as sandbox_checks
import sandbox._state as sandbox_state
from sandbox import MFA_EMAIL, SandboxConfig, SandboxHandle, running_sandbox
from sandbox._cli import build_parser
from tests.support.caller import Caller, assert_error

INITIATE = "/api/v1/partner/auth/login/initiate"
CREDENTIALS = {"email": "partner@example.com", "password": "Str0ngP@ss!"}


class FakeMonotonic:
    """`time.monotonic` for the sandbox's state, moved by hand."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    """Replace the monotonic clock the sandbox's state reads (wall time stays real)."""
    fake = FakeMonotonic()
    monkeypatch.setattr(
        sandbox_state, "time", types.SimpleNamespace(monotonic=fake, time=time.time)
    )
    return fake


@pytest.fixture
def start() -> Iterator[Callable[..., Caller]]:
    """Start a sandbox with a config and return a signing caller on it."""
    stack: list[Any] = []

    def make(**config: Any) -> Caller:
        manager = running_sandbox(SandboxConfig(cities=10, **config))
        handle: SandboxHandle = manager.__enter__()
        caller = Caller(handle, "sk_test_partner_sandbox", "sandbox-secret")
        stack.append((manager, caller))
        return caller

    yield make
    for manager, caller in reversed(stack):
        caller.close()
        manager.__exit__(None, None, None)


def test_signatures_are_compared_in_constant_time(
    start: Callable[..., Caller], monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = start()
    compared: list[tuple[bytes, bytes]] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(
        sandbox_checks, "hmac", types.SimpleNamespace(new=hmac.new, compare_digest=compare_digest)
    )
    assert_error(
        caller.request("POST", INITIATE, body=CREDENTIALS, signature="Zm9yZ2Vk"), 403, "4030"
    )
    assert any(given == b"Zm9yZ2Vk" for _, given in compared)


def test_nonce_memory_is_bounded_and_refuses_rather_than_forgets(
    start: Callable[..., Caller], clock: FakeMonotonic
) -> None:
    caller = start(nonce_memory_max=20)
    state = caller.sandbox.state
    for n in range(20):
        answer = caller.request("POST", INITIATE, body=CREDENTIALS, nonce=f"nonce-{n}")
        assert answer.status_code == 200
    assert state.nonce_count == 20
    # Full of live nonces: a new request is refused (503, retried by clients) ...
    assert_error(caller.request("POST", INITIATE, body=CREDENTIALS), 503, "5030")
    # ... and no remembered nonce was forgotten to make room: a replay is still caught.
    assert_error(caller.request("POST", INITIATE, body=CREDENTIALS, nonce="nonce-0"), 403, "4032")
    assert state.nonce_count == 20
    # Bounded in time: after twice the window every old nonce is forgotten at once.
    clock.advance(2 * caller.sandbox.config.window + 1)
    assert caller.request("POST", INITIATE, body=CREDENTIALS).status_code == 200
    assert state.nonce_count == 1


def test_otp_attempts_are_limited(start: Callable[..., Caller]) -> None:
    caller = start(max_otp_attempts=2)
    session_id = caller.initiate()
    assert caller.send_otp(session_id).status_code == 200
    right = caller.sandbox.state.latest_otp(session_id) or ""
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert_error(caller.verify(session_id, wrong), 401, "4012")
    assert_error(caller.verify(session_id, wrong), 401, "4012")
    # The attempts are used up: even the right code no longer opens the session.
    assert_error(caller.verify(session_id, right), 401, "4013")


def test_login_sessions_expire(start: Callable[..., Caller], clock: FakeMonotonic) -> None:
    caller = start(login_expires_in=300)
    session_id = caller.initiate()
    assert caller.send_otp(session_id).status_code == 200
    otp = caller.sandbox.state.latest_otp(session_id) or ""
    clock.advance(301)
    assert_error(caller.verify(session_id, otp), 401, "4013")
    assert_error(caller.send_otp(session_id, MFA_EMAIL), 401, "4013")


def test_session_tokens_expire(start: Callable[..., Caller], clock: FakeMonotonic) -> None:
    caller = start(token_expires_in=3600)
    caller.login()
    assert caller.dataset("currencies", "page=0&size=5").status_code == 200
    clock.advance(3601)
    assert_error(caller.dataset("currencies", "page=0&size=5"), 401, "4010")


def test_a_used_login_session_cannot_mint_a_second_token(start: Callable[..., Caller]) -> None:
    caller = start()
    session_id = caller.initiate()
    assert caller.send_otp(session_id).status_code == 200
    otp = caller.sandbox.state.latest_otp(session_id) or ""
    assert caller.verify(session_id, otp).status_code == 200
    assert_error(caller.verify(session_id, otp), 401, "4013")


def test_it_binds_to_loopback_unless_told_otherwise(start: Callable[..., Caller]) -> None:
    assert SandboxConfig().host == "127.0.0.1"
    assert build_parser().parse_args([]).host == "127.0.0.1"
    caller = start()
    assert caller.sandbox.host == "127.0.0.1"
    assert caller.sandbox.base_url.startswith("http://127.0.0.1:")


def test_request_size_limits_answer_contract_errors(start: Callable[..., Caller]) -> None:
    caller = start(max_body_bytes=1024, max_header_bytes=2048)
    assert_error(caller.request("POST", INITIATE, content=b"{" + b" " * 2000 + b"}"), 400, "4000")
    assert_error(
        caller.request("POST", INITIATE, body=CREDENTIALS, headers={"X-Pad": "p" * 3000}),
        400,
        "4000",
    )
    # Refusals are counted by code, and the server is still fine afterwards.
    assert caller.request("POST", INITIATE, body=CREDENTIALS).status_code == 200
