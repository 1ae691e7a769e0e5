"""Fixtures for the sandbox tests: a sandbox of the module's own and hand-signed callers.

The names differ from `tests/conftest.py`'s on purpose: `raw_sandbox` is one sandbox per module
(seeded with `TEST_SEED`), not the session's `sandbox`, and `logged_in_caller` is a
`tests.support.caller.Caller` holding a token, not the session's logged-in `PartnerClient`.
"""

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
from tests.conftest import TEST_CITIES
from tests.support.caller import Caller

#: The seed of the module sandboxes' generated data (tests rebuild the data with it).
TEST_SEED = 7


@pytest.fixture(scope="module")
def raw_sandbox() -> Iterator[SandboxHandle]:
    """One sandbox per test module (tests that change it put it back)."""
    with running_sandbox(SandboxConfig(cities=TEST_CITIES, seed=TEST_SEED)) as handle:
        yield handle


@pytest.fixture
def make_caller(raw_sandbox: SandboxHandle) -> Iterator[Callable[..., Caller]]:
    """Factory of callers on the module's sandbox: `make_caller(key, secret)`."""
    callers: list[Caller] = []

    def make(
        api_key: str = DEMO_API_KEY,
        api_secret: str = DEMO_API_SECRET,
        on: SandboxHandle | None = None,
    ) -> Caller:
        caller = Caller(on or raw_sandbox, api_key, api_secret)
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
def logged_in_caller(caller: Caller) -> Caller:
    """A caller holding a session token."""
    caller.login()
    return caller
