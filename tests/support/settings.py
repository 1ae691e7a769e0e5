"""Demo settings: the sandbox's demo account, a base URL and a database URL.

One recipe in two forms: `demo_settings` is a `Settings` for code under test in this process
(any `.env` of the developer ignored), `demo_env` the same values as the environment a user
would export, for a subprocess or `monkeypatch.setenv`. Overrides are `Settings` field names
in both (`otp_source="prefect"`, `lock_timeout=10`), so a test states only what differs.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from partner_sync.core.settings import Settings
from sandbox import DEMO_API_KEY, DEMO_API_SECRET, DEMO_EMAIL, DEMO_PASSWORD


def demo_values(base_url: str, database_url: str, **overrides: Any) -> dict[str, Any]:
    """The demo account's settings by field name; codes come from the sandbox's outbox."""
    values: dict[str, Any] = {
        "base_url": base_url,
        "api_key": DEMO_API_KEY,
        "api_secret": DEMO_API_SECRET,
        "email": DEMO_EMAIL,
        "password": DEMO_PASSWORD,
        "otp_source": "sandbox",
        "database_url": database_url,
    }
    values.update(overrides)
    return values


def demo_settings(base_url: str, database_url: str, **overrides: Any) -> Settings:
    """`Settings` of the demo account (nothing read from the environment's `.env`)."""
    values = demo_values(base_url, database_url, **overrides)
    return Settings(_env_file=None, **values)


def demo_env(base_url: str, database_url: str, **overrides: Any) -> dict[str, str]:
    """The same settings as environment variables (`PARTNER_*` and `DATABASE_URL`)."""
    return {
        env_name(field): env_value(value)
        for field, value in demo_values(base_url, database_url, **overrides).items()
        if value is not None
    }


def env_name(field: str) -> str:
    """The variable `Settings` reads `field` from (`DATABASE_URL` has no prefix)."""
    return "DATABASE_URL" if field == "database_url" else f"PARTNER_{field.upper()}"


def env_value(value: Any) -> str:
    """`value` as `Settings` parses it back from the environment."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
