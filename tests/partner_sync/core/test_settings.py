"""Settings: names, defaults, secrets masked, one-line errors."""

from __future__ import annotations

import pytest

from partner_sync.core.settings import Settings, SettingsError, load_settings


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    for key in ("PARTNER_BASE_URL", "DATABASE_URL", "PARTNER_SIGN_QUERY"):
        monkeypatch.delenv(key, raising=False)
    s = Settings()
    assert s.base_url == "http://127.0.0.1:18020/prometheus"
    assert s.session_header == "X-Session-Token"
    assert s.sign_query is True
    assert s.mfa_method == "EMAIL"
    assert s.database_url == "sqlite:///partner_sync.db"


def test_secrets_are_masked_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_API_SECRET", "very-secret-value")
    monkeypatch.setenv("PARTNER_PASSWORD", "hunter2-password")
    monkeypatch.setenv("PARTNER_TOTP_SECRET", "JBSWY3DPEHPK3PXP")
    text = repr(Settings()) + str(Settings().model_dump())
    assert "very-secret-value" not in text and "hunter2-password" not in text
    assert "JBSWY3DPEHPK3PXP" not in text and "**********" in text


def test_a_missing_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARTNER_API_SECRET", raising=False)
    monkeypatch.setenv("PARTNER_API_KEY", "k")
    with pytest.raises(SettingsError, match="PARTNER_API_SECRET"):
        Settings(api_secret="").require("api_key", "api_secret")


def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_PAGE_SIZE", "5000")
    monkeypatch.setenv("PARTNER_PASSWORD", "not-shown-anywhere")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "PARTNER_PAGE_SIZE" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "not-shown-anywhere" not in str(caught.value)


def test_the_notify_block_is_a_block_slug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_NOTIFY_BLOCK", "slack-webhook/ops")
    assert load_settings().notify_block == "slack-webhook/ops"
    monkeypatch.setenv("PARTNER_NOTIFY_BLOCK", "https://hooks.slack.com/services/T000")
    with pytest.raises(SettingsError, match="PARTNER_NOTIFY_BLOCK"):
        load_settings()
