"""The two forms of the demo settings are one recipe: the environment loads to the same `Settings`."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from partner_sync.core.settings import Settings
from tests.support.settings import demo_env, demo_settings


def test_the_demo_environment_loads_to_the_demo_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = {
        "otp_source": "imap",
        "imap_port": 1143,
        "imap_password": SecretStr("mailbox"),
        "sign_query": False,
        "lock_timeout": 10.0,
    }
    monkeypatch.chdir(tmp_path)  # no `.env` of the developer's
    for name, value in demo_env("http://127.0.0.1:1/prometheus", "sqlite://", **overrides).items():
        monkeypatch.setenv(name, value)

    expected = demo_settings("http://127.0.0.1:1/prometheus", "sqlite://", **overrides)
    assert Settings() == expected
    assert expected.api_key and expected.api_secret.get_secret_value()  # the demo account
