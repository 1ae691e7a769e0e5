"""`SessionToken`: aware UTC expiry, its JSON form for a store, and no token in any other text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import SecretStr, ValidationError

from partner_api import SessionToken

TOKEN = "tok-0123456789-abcdef"


def a_token(**overrides: object) -> SessionToken:
    values: dict[str, object] = {
        "token": SecretStr(TOKEN),
        "expires_at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        "scopes": ("partner:auth", "partner:constants:read"),
    }
    return SessionToken.model_validate(values | overrides)


def test_json_round_trip_keeps_every_field() -> None:
    token = a_token()
    again = SessionToken.from_json(token.to_json())
    assert again == token
    assert again.token.get_secret_value() == TOKEN
    assert TOKEN in token.to_json()  # the store's form reveals it, on purpose


def test_the_store_form_of_earlier_versions_still_reads() -> None:
    text = '{"token": "t", "expires_at": "2030-01-02T03:04:05+00:00", "scopes": ["a"]}'
    assert SessionToken.from_json(text).scopes == ("a",)


def test_repr_str_and_pydantic_dumps_never_show_the_token() -> None:
    token = a_token()
    for text in (repr(token), str(token), token.model_dump_json(), str(token.model_dump())):
        assert TOKEN not in text
    assert "**********" in token.model_dump_json()


def test_expiry_is_aware_utc_and_naive_times_are_refused() -> None:
    plus_two = timezone(timedelta(hours=2))
    token = a_token(expires_at=datetime(2030, 1, 2, 5, 4, 5, tzinfo=plus_two))
    assert token.expires_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert token.expires_at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        a_token(expires_at=datetime(2030, 1, 2))  # noqa: DTZ001 - the naive time is the case
    with pytest.raises(ValidationError):
        a_token(token=SecretStr(""))
    with pytest.raises(ValidationError):
        SessionToken.from_json('{"token": "t"}')


def test_expires_within_counts_from_now() -> None:
    token = a_token()
    now = token.expires_at - timedelta(seconds=100)
    assert token.expires_within(100, now=now)
    assert not token.expires_within(99, now=now)


def test_the_token_is_frozen() -> None:
    with pytest.raises(ValidationError):
        a_token().scopes = ()  # type: ignore[misc]
