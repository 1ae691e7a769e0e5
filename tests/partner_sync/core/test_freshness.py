"""The freshness verdict behind `partner-sync check`: durations, ages, verdicts, JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from partner_sync.core.freshness import check_freshness, format_age, parse_duration
from storage import DatasetFreshness

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
LIMIT = timedelta(hours=26)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("26h", timedelta(hours=26)),
        ("90m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1d12h", timedelta(hours=36)),
        ("45s", timedelta(seconds=45)),
        (" 1w ", timedelta(weeks=1)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "26", "h", "26x", "26h junk", "0h", "-1h"])
def test_a_bad_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_ages_read_short() -> None:
    assert format_age(timedelta(seconds=45)) == "45s"
    assert format_age(timedelta(minutes=12, seconds=5)) == "12m"
    assert format_age(timedelta(hours=3, minutes=5)) == "3h 05m"
    assert format_age(timedelta(days=2, hours=4)) == "2d 04h"


def state(
    name: str, success_ago: timedelta | None, status: str | None, error: str | None = None
) -> DatasetFreshness:
    at = NOW - success_ago if success_ago is not None else None
    return DatasetFreshness(name, at, status, error, at)


def test_fresh_stale_never_and_failing() -> None:
    report = check_freshness(
        [
            state("countries", timedelta(hours=2), "succeeded"),
            state("currencies", timedelta(hours=27), "not_modified"),
            state("languages", None, None),
            state("cities", timedelta(hours=1), "failed", "PartnerError: 503"),
        ],
        LIMIT,
        now=NOW,
    )
    verdicts = {c.dataset: c.verdict.value for c in report.datasets}
    assert verdicts == {
        "countries": "fresh",
        "currencies": "stale",
        "languages": "never",
        "cities": "failing",
    }
    assert not report.ok
    lines = [c.line(LIMIT) for c in report.datasets]
    assert lines[0] == (
        "countries: FRESH, last success 2h 00m ago (limit 1d 02h), last sync succeeded"
    )
    assert lines[2] == "languages: NEVER, no successful sync yet, last sync none"
    assert lines[3].endswith("last sync failed: PartnerError: 503")


def test_all_fresh_is_ok_and_the_limit_is_exclusive_of_older() -> None:
    report = check_freshness([state("countries", LIMIT, "succeeded")], LIMIT, now=NOW)
    assert report.ok  # exactly at the limit still passes; one second more does not
    older = check_freshness(
        [state("countries", LIMIT + timedelta(seconds=1), "succeeded")], LIMIT, now=NOW
    )
    assert not older.ok


def test_the_json_shape() -> None:
    report = check_freshness([state("countries", timedelta(minutes=5), "succeeded")], LIMIT, NOW)
    assert report.as_json() == {
        "ok": True,
        "checked_at": "2026-01-02T12:00:00+00:00",
        "max_age_seconds": 93600.0,
        "datasets": [
            {
                "dataset": "countries",
                "ok": True,
                "verdict": "fresh",
                "age_seconds": 300.0,
                "last_success_at": "2026-01-02T11:55:00+00:00",
                "last_status": "succeeded",
                "last_error": None,
            }
        ],
    }
