"""The session token a login yields: what it is, when it lapses, and its form in a store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, SecretStr, field_validator


class SessionToken(BaseModel):
    """A session token, its expiry (aware, UTC) and its scopes.

    `repr`, `str` and pydantic's own dumps show the token as `**********`; only `to_json`
    reveals it, for a session store that keeps it between runs.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    token: SecretStr
    expires_at: AwareDatetime
    scopes: tuple[str, ...] = ()

    @field_validator("token")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("the session token is empty")
        return value

    @field_validator("expires_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def expires_within(self, seconds: float, *, now: datetime | None = None) -> bool:
        """Whether the token expires within `seconds` from `now` (default: the present)."""
        now = now or datetime.now(UTC)
        return self.expires_at - now <= timedelta(seconds=seconds)

    def to_json(self) -> str:
        """The token as JSON *with the secret revealed*: for a session store only."""
        return json.dumps(
            {
                "token": self.token.get_secret_value(),
                "expires_at": self.expires_at.isoformat(),
                "scopes": list(self.scopes),
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SessionToken:
        """The token from `to_json`'s text; pydantic's `ValidationError` if it is not one."""
        return cls.model_validate_json(text)
