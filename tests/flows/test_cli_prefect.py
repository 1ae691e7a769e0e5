"""The CLI's commands against a real Prefect API: one store rule, credentials from Secret blocks.

`login`, `logout` and `sync --no-prefect` decide where the kept session lives by the same
rule as the flow (`session_store_kind`), and read a credential the environment leaves
empty from its Secret block, as a run does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from partner_api import SessionExpiredError
from partner_sync.core.settings import Settings

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def exported_api(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`export PREFECT_API_URL=…` for the session's Prefect API; the store left to `auto`."""
    from prefect.settings import PREFECT_API_URL

    url = str(PREFECT_API_URL.value())
    monkeypatch.setenv("PREFECT_API_URL", url)
    monkeypatch.setenv("PARTNER_SESSION_STORE", "auto")
    yield url


def test_sync_no_prefect_and_logout_agree_on_the_store_under_auto(
    exported_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows._session_prefect import run_session_store
    from partner_sync.cli import main

    store = run_session_store(Settings())
    store.clear()
    assert main(["sync", "--no-prefect", "--dataset", "currencies"]) == 0
    kept = store.load()
    assert kept is not None, "sync --no-prefect kept its session elsewhere"
    capsys.readouterr()

    assert main(["logout"]) == 0

    out = capsys.readouterr().out
    assert "ended on the server" in out and "Prefect Secret block" in out
    assert store.load() is None


def test_login_and_logout_read_the_credentials_from_secret_blocks(
    exported_api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows._session_prefect import run_session_store
    from partner_sync.cli import main
    from partner_sync.core.client import build_client

    full = Settings()  # every credential set: what `secrets push` reads
    monkeypatch.setenv("PARTNER_SECRET_BLOCK_PREFIX", f"t-{uuid.uuid4().hex[:8]}")
    assert main(["secrets", "push"]) == 0
    for name in ("PARTNER_API_KEY", "PARTNER_API_SECRET", "PARTNER_EMAIL", "PARTNER_PASSWORD"):
        monkeypatch.delenv(name)
    store = run_session_store(full)  # the block named from the real account
    store.clear()
    capsys.readouterr()

    assert main(["login"]) == 0
    assert store.where in capsys.readouterr().out
    kept = store.load()
    assert kept is not None

    assert main(["logout"]) == 0
    assert "ended on the server" in capsys.readouterr().out
    assert store.load() is None
    with build_client(full) as client:
        client.use_session(kept)
        with pytest.raises(SessionExpiredError):
            list(client.read_dataset("currencies"))


def test_otp_finds_the_paused_run_on_the_exported_api(
    exported_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from partner_sync.cli import main

    assert main(["otp", "123456", "--wait", "0"]) == 1
    assert "paused waiting for a one-time code" in capsys.readouterr().out
