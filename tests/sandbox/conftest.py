"""Fixtures for the sandbox tests: a running sandbox and signing callers (see `sandbox_testkit`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sandbox import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    SandboxConfig,
    SandboxHandle,
    running_sandbox,
)
from tests.sandbox.sandbox_testkit import TEST_CITIES, TEST_SEED, Caller


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """One sandbox per test module (tests that change it put it back)."""
    with running_sandbox(SandboxConfig(cities=TEST_CITIES, seed=TEST_SEED)) as handle:
        yield handle


@pytest.fixture
def make_caller(sandbox: SandboxHandle) -> Iterator[Callable[..., Caller]]:
    """Factory of callers on the module's sandbox: `make_caller(key, secret)`."""
    callers: list[Caller] = []

    def make(
        api_key: str = DEMO_API_KEY,
        api_secret: str = DEMO_API_SECRET,
        on: SandboxHandle | None = None,
    ) -> Caller:
        caller = Caller(on or sandbox, api_key, api_secret)
        callers.append(caller)
        return caller

    yield make
    for caller in callers:
        caller.close()


@pytest.fixture
def caller(make_caller: Callable[..., Caller]) -> Caller:
    """A caller with the full-scope demo key."""
    return make_caller()


@pytest.fixture
def logged_in(caller: Caller) -> Caller:
    """A caller holding a session token."""
    caller.login()
    return caller
