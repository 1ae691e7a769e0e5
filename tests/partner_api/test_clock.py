"""The server clock estimate, driven with explicit times (no sleeps)."""

from __future__ import annotations

import logging
from email.utils import formatdate

import pytest

from partner_api._clock import ServerClock, parse_http_date


def date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


def test_offset_is_the_date_minus_the_round_trip_midpoint() -> None:
    clock = ServerClock(clock=lambda: 1000.0)
    clock.observe(date(1300), sent=999.9, received=1000.1)
    assert clock.offset == pytest.approx(300.5)
    assert clock.now() == pytest.approx(1300.5)


def test_slow_round_trips_are_skipped() -> None:
    clock = ServerClock()
    clock.observe(date(5000), sent=0.0, received=10.0)
    assert not clock.measured


def test_small_noise_is_smoothed_by_the_median() -> None:
    clock = ServerClock()
    for server, local in [(1000, 999.5), (2001, 2000.5), (3000, 2999.5)]:
        clock.observe(date(server), sent=local - 0.01, received=local + 0.01)
    assert clock.offset == pytest.approx(1.0)


def test_a_real_jump_is_adopted_at_once_not_averaged_away() -> None:
    clock = ServerClock()
    for t in range(5):
        clock.observe(date(1000 + t), sent=999.5 + t, received=999.5 + t)
    clock.observe(date(2000 - 300), sent=1999.5, received=1999.5)
    assert clock.offset == pytest.approx(-300, abs=1)


def test_resync_adopts_even_a_slow_sample() -> None:
    clock = ServerClock()
    assert clock.resync(date(1100), sent=1000.0, received=1003.0)
    assert clock.offset == pytest.approx(99.0, abs=1)
    assert not clock.resync("garbage", sent=0, received=0)


def test_large_offsets_are_logged_at_info_then_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="partner_api.clock")
    clock = ServerClock()
    clock.observe(date(1010), sent=1000.0, received=1000.0)
    clock.observe(date(1100), sent=1000.0, received=1000.0)
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.INFO, logging.WARNING]


@pytest.mark.parametrize("value", [None, "", "garbage", "Mon, 99 Foo 2024", "2024-01-01T00:00:00"])
def test_garbage_dates_are_ignored(value: str | None) -> None:
    assert parse_http_date(value) is None
    clock = ServerClock()
    clock.observe(value, sent=0, received=0)
    assert not clock.measured
