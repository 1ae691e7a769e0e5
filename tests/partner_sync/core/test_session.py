"""The kept session without Prefect: the 0600 file store, and runs that reuse the token."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from partner_api import SessionToken
from partner_sync.core.run import run_sync
from partner_sync.core.session import (
    FileSessionStore,
    NullSessionStore,
    account_key,
    file_store,
    plain_session_store,
    session_store_kind,
)
from partner_sync.core.settings import Settings, SettingsError


def a_session(token: str = "tok-abcdef", hours: float = 1) -> SessionToken:
    return SessionToken(
        token=SecretStr(token),
        expires_at=datetime.now(UTC) + timedelta(hours=hours),
        scopes=("partner:auth",),
    )


def logins(control: Callable[..., Any]) -> int:
    return int(control("stats")["logins"])


def test_the_file_store_round_trips_with_mode_0600(tmp_path: Path) -> None:
    store = FileSessionStore(tmp_path / "state" / "session.json")
    assert store.load() is None
    session = a_session()
    store.save(session)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    loaded = store.load()
    assert loaded is not None
    assert loaded.token.get_secret_value() == "tok-abcdef"
    assert loaded.expires_at == session.expires_at and loaded.scopes == session.scopes
    assert "tok-abcdef" not in repr(loaded) + store.where
    assert store.clear() is True and store.clear() is False and store.load() is None


def test_a_file_others_can_read_is_not_trusted(tmp_path: Path) -> None:
    store = FileSessionStore(tmp_path / "session.json")
    store.save(a_session())
    store.path.chmod(0o644)
    assert store.load() is None


def test_a_corrupt_file_counts_as_nothing_kept(tmp_path: Path) -> None:
    store = FileSessionStore(tmp_path / "session.json")
    store.path.write_text("{not json")
    store.path.chmod(0o600)
    assert store.load() is None


def test_accounts_never_share_a_kept_session(env: dict[str, str]) -> None:
    one = Settings()
    other = Settings(email="someone@example.com")
    assert account_key(one) != account_key(other)
    assert file_store(one).path != file_store(other).path
    assert file_store(one).path.is_relative_to(Path(env["XDG_STATE_HOME"]))


def test_the_store_setting_chooses_the_store(env: dict[str, str], tmp_path: Path) -> None:
    assert isinstance(plain_session_store(Settings(session_store="none")), NullSessionStore)
    chosen = plain_session_store(
        Settings(session_store="file", session_file=str(tmp_path / "s.json"))
    )
    assert isinstance(chosen, FileSessionStore) and chosen.path == tmp_path / "s.json"
    # `auto` without PREFECT_API_URL is the file, for every command.
    assert isinstance(plain_session_store(Settings(session_store="auto")), FileSessionStore)
    with pytest.raises(SettingsError, match="PARTNER_SESSION_STORE=prefect"):
        plain_session_store(Settings(session_store="prefect"))


@pytest.mark.parametrize(
    ("choice", "api_url", "kind"),
    [
        ("auto", "", "file"),
        ("auto", "http://127.0.0.1:4200/api", "prefect"),
        ("file", "http://127.0.0.1:4200/api", "file"),
        ("none", "http://127.0.0.1:4200/api", "none"),
        ("prefect", "", "prefect"),
    ],
)
def test_one_rule_names_the_store_from_settings_alone(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, choice: str, api_url: str, kind: str
) -> None:
    monkeypatch.setenv("PARTNER_SESSION_STORE", choice)
    monkeypatch.setenv("PREFECT_API_URL", api_url)
    assert session_store_kind(Settings()) == kind


def test_a_second_run_reuses_the_kept_session_and_makes_no_login(
    settings: Settings, sandbox_control: Callable[..., Any]
) -> None:
    before = logins(sandbox_control)
    run_sync(settings, ["currencies"])
    assert logins(sandbox_control) == before + 1
    (outcome,) = run_sync(settings, ["currencies"]).outcomes
    assert outcome.status == "not_modified"
    assert logins(sandbox_control) == before + 1


def test_a_token_near_its_expiry_is_not_used(
    settings: Settings, sandbox_control: Callable[..., Any]
) -> None:
    store = file_store(settings)
    store.save(a_session("tok-about-to-expire", hours=60 / 3600))  # 60 s left, margin 300 s
    before = logins(sandbox_control)
    (outcome,) = run_sync(settings, ["currencies"]).outcomes
    assert outcome.status == "succeeded"
    assert logins(sandbox_control) == before + 1
    kept = store.load()
    assert kept is not None and kept.token.get_secret_value() != "tok-about-to-expire"


def test_a_rejected_kept_token_logs_in_again_and_keeps_the_new_one(
    settings: Settings, sandbox_control: Callable[..., Any]
) -> None:
    run_sync(settings, ["currencies"])
    old = file_store(settings).load()
    sandbox_control("expire-sessions", {})
    before = logins(sandbox_control)
    (outcome,) = run_sync(settings, ["currencies"], full_refresh=True).outcomes
    assert outcome.status == "succeeded", outcome.error
    assert logins(sandbox_control) == before + 1
    new = file_store(settings).load()
    assert old is not None and new is not None
    assert new.token.get_secret_value() != old.token.get_secret_value()
