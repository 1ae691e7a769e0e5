"""Settings, read from the environment and `.env` (pydantic-settings).

Every assumption the contract makes (docs/partner-api.md §2) is a setting here. Only the
application (this core, the flow and the CLI) reads settings, once, at its edge;
`partner_api` and `storage` take explicit arguments.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from partner_api._constants import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_MAX_RETRY_SECONDS,
    DEFAULT_PAGE_SIZE,
    DEFAULT_SESSION_HEADER,
    DEFAULT_TIMEOUT,
    MAX_CONCURRENCY,
    MAX_PAGE_SIZE,
)

OtpSourceName = Literal["prompt", "command", "totp", "sandbox", "prefect", "imap"]
SessionStoreName = Literal["auto", "file", "prefect", "none"]

#: Settings that must be present for a sync, by field name -> environment variable.
REQUIRED_FOR_SYNC = {
    "api_key": "PARTNER_API_KEY",
    "api_secret": "PARTNER_API_SECRET",
    "email": "PARTNER_EMAIL",
    "password": "PARTNER_PASSWORD",
}


#: Settings read from a variable without the `PARTNER_` prefix, by field name.
UNPREFIXED = {"database_url": "DATABASE_URL", "prefect_api_url": "PREFECT_API_URL"}


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    """partner-sync's configuration. Secrets are `SecretStr`: they print as `**********`."""

    model_config = SettingsConfigDict(
        env_prefix="PARTNER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
    )

    base_url: str = DEFAULT_BASE_URL
    api_key: str = ""
    api_secret: SecretStr = SecretStr("")
    email: str = ""
    password: SecretStr = SecretStr("")
    mfa_method: Literal["EMAIL", "TOTP"] = "EMAIL"
    otp_source: OtpSourceName = "prompt"
    otp_command: str = ""
    totp_secret: SecretStr = SecretStr("")
    sign_query: bool = True
    session_header: str = DEFAULT_SESSION_HEADER
    allow_insecure_http: bool = False
    #: A PEM file of CAs to trust for the partner's TLS certificate (default: the system's).
    ca_bundle: str = ""

    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0)
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, le=100)
    max_retry_seconds: float = Field(default=DEFAULT_MAX_RETRY_SECONDS, gt=0)
    max_retry_after: float = Field(default=DEFAULT_MAX_RETRY_AFTER, ge=0)
    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, ge=1024)
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    #: Pages in flight at once while a dataset is read (a 429 halves it for a while).
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY)
    login_restarts: int = Field(default=1, ge=0, le=5)

    imap_host: str = ""
    imap_port: int | None = Field(default=None, ge=1, le=65535)
    imap_user: str = ""
    imap_password: SecretStr = SecretStr("")
    imap_folder: str = "INBOX"
    imap_sender: str = ""
    #: A regex whose first group (or whole match) is the code; default: first 6-digit number.
    imap_code_pattern: str = r"(?<!\d)(\d{6})(?!\d)"
    imap_security: Literal["ssl", "starttls", "none"] = "ssl"
    #: After a successful verify: mark the message `\Seen`, or move it to this folder.
    imap_move_to: str = ""
    #: A CA bundle to trust for the mailbox's TLS certificate (default: the system's).
    imap_ca_file: str = ""
    #: Seconds to wait for the code's email before giving up (the login's end bounds it too).
    imap_wait: float = Field(default=120.0, gt=0)

    #: Where the session token is kept between runs (README "Prefect"): `auto` is the
    #: Prefect Secret block when `PREFECT_API_URL` is set, else the file
    #: (`partner_sync.core.session.session_store_kind` is the one rule).
    session_store: SessionStoreName = "auto"
    #: The file store's path (default: per account under `$XDG_STATE_HOME/partner-sync/`).
    session_file: str = ""
    #: A kept token that expires within this many seconds is not used: log in afresh.
    session_margin: float = Field(default=300.0, ge=0)

    #: The Prefect global concurrency limit a run holds from login to end ("" turns it off).
    run_lock: str = "partner-sync"
    #: The served deployment's schedule (cron, UTC).
    sync_cron: str = "0 3 * * *"
    #: The Prefect notification block told when a deployment's run pauses for a code, fails
    #: or crashes, by its slug (`slack-webhook/ops`, `custom-webhook/ops`); "" tells no one.
    notify_block: str = Field(default="", pattern=r"^$|^[a-z0-9][a-z0-9-]*/[^/]+$")
    #: Prefix of the Prefect Secret blocks `partner-sync secrets push` creates.
    secret_block_prefix: str = Field(default="partner-sync", pattern=r"^[a-z0-9][a-z0-9-]*$")

    max_delete_fraction: float = Field(default=0.5, ge=0, le=1)
    lock_timeout: float = Field(default=30.0, ge=0)
    #: Keep what each run changed (`partner-sync changes`) this many days; unset keeps all.
    changes_retention_days: int | None = Field(default=None, ge=1)

    #: Prefect's `PREFECT_API_URL` as the environment or `.env` gives it (read, never used to
    #: connect: Prefect reads its own). It decides `auto` choices the same way for every
    #: command, `sync --no-prefect` included, without importing Prefect.
    prefect_api_url: str = Field(default="", validation_alias=AliasChoices("PREFECT_API_URL"))

    #: The app's database; not prefixed, as is the convention.
    database_url: str = Field(
        default="sqlite:///partner_sync.db",
        validation_alias=AliasChoices("DATABASE_URL", "PARTNER_DATABASE_URL"),
    )

    @field_validator("session_store", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("mfa_method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def require(self, *fields: str) -> None:
        """Raise `SettingsError` naming every listed setting that is empty."""
        missing = []
        for name in fields:
            value = getattr(self, name)
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            if not raw:
                missing.append(REQUIRED_FOR_SYNC.get(name, f"PARTNER_{name.upper()}"))
        if missing:
            raise SettingsError(
                f"missing setting{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
                "(set in the environment or .env; see README 'Configuration')"
            )


#: Every setting that is a credential, in the order `secrets push` reports them.
CREDENTIAL_FIELDS = (
    "api_key",
    "api_secret",
    "email",
    "password",
    "totp_secret",
    "imap_user",
    "imap_password",
)


def missing_credentials(settings: Settings) -> list[str]:
    """The credentials this configuration needs that are empty (by field name).

    The four of the partner account always; the TOTP secret and the mailbox's user and
    password only when `PARTNER_OTP_SOURCE` reads them.
    """
    needed = list(REQUIRED_FOR_SYNC)
    if settings.otp_source == "totp":
        needed.append("totp_secret")
    if settings.otp_source == "imap":
        needed += ["imap_user", "imap_password"]
    missing = []
    for name in needed:
        value = getattr(settings, name)
        if not (value.get_secret_value() if isinstance(value, SecretStr) else value):
            missing.append(name)
    return missing


def load_settings(**overrides: object) -> Settings:
    """Load settings, turning a validation failure into one readable `SettingsError` line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            name = str(error["loc"][0]) if error["loc"] else "?"
            env = UNPREFIXED.get(name, f"PARTNER_{name.upper()}")
            problems.append(f"{env}: {error['msg']}")
        raise SettingsError("invalid setting " + "; ".join(problems)) from None
