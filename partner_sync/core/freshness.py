"""Is the local copy fresh? The verdict behind `partner-sync check` (and the ages `status` shows).

A dataset is *fresh* when its last successful sync (`succeeded` or `not_modified`)
committed less than `max_age` ago and its newest sync did not fail. Otherwise it is
*never* synced, *stale*, or *failing*: its last sync failed, even while the copy is younger
than the limit, so monitoring hears of a broken sync at once rather than when the copy has
aged past the limit. A sync in progress judges by the age alone. Prefect-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from storage import DatasetFreshness, RunStatus

#: `check`'s default limit: a daily sync may run late by two hours before anyone is paged.
DEFAULT_MAX_AGE = "26h"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(text: str) -> timedelta:
    """`26h`, `90m`, `2d`, `1d12h`, `45s`, `1w` -> a positive `timedelta`; `ValueError` else."""
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not compact or not parts or _DURATION.sub("", compact).strip():
        raise ValueError(
            f"{text!r} is not a duration: give a number and a unit, e.g. 26h, 90m, 2d, 1d12h"
        )
    seconds = sum(float(value) * _UNITS[unit] for value, unit in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return timedelta(seconds=seconds)


def format_age(age: timedelta) -> str:
    """A short, human age: `45s`, `12m`, `3h 05m`, `2d 04h`."""
    seconds = max(0, int(age.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


class Verdict(StrEnum):
    """How one dataset fares against the limit."""

    FRESH = "fresh"
    STALE = "stale"
    FAILING = "failing"
    NEVER = "never"


@dataclass(frozen=True)
class DatasetCheck:
    """One dataset's verdict, with what it rests on."""

    dataset: str
    verdict: Verdict
    #: Time since the last successful sync (None: never synced).
    age: timedelta | None
    last_success_at: datetime | None
    last_status: str | None
    last_error: str | None

    @property
    def ok(self) -> bool:
        """Whether this dataset passes the check."""
        return self.verdict is Verdict.FRESH

    def line(self, max_age: timedelta) -> str:
        """One line for a terminal or a monitoring system's status text."""
        if self.age is None:
            age = "no successful sync yet"
        else:
            age = f"last success {format_age(self.age)} ago (limit {format_age(max_age)})"
        text = f"{self.dataset}: {self.verdict.value.upper()}, {age}, "
        text += f"last sync {self.last_status or 'none'}"
        if self.last_error:
            text += f": {self.last_error}"
        return text

    def as_json(self) -> dict[str, Any]:
        """The machine-readable form (`check --format json`)."""
        return {
            "dataset": self.dataset,
            "ok": self.ok,
            "verdict": self.verdict.value,
            "age_seconds": round(self.age.total_seconds(), 3) if self.age is not None else None,
            "last_success_at": _iso(self.last_success_at),
            "last_status": self.last_status,
            "last_error": self.last_error,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class FreshnessReport:
    """Every checked dataset's verdict; `ok` when all are fresh."""

    checked_at: datetime
    max_age: timedelta
    datasets: list[DatasetCheck]

    @property
    def ok(self) -> bool:
        """Whether every dataset is fresh (`check` exits 0)."""
        return all(check.ok for check in self.datasets)

    def as_json(self) -> dict[str, Any]:
        """`{"ok", "checked_at", "max_age_seconds", "datasets": [...]}`."""
        return {
            "ok": self.ok,
            "checked_at": self.checked_at.isoformat(),
            "max_age_seconds": self.max_age.total_seconds(),
            "datasets": [check.as_json() for check in self.datasets],
        }


def judge(state: DatasetFreshness, max_age: timedelta, now: datetime) -> DatasetCheck:
    """The verdict for one dataset's stored state at `now`."""
    age = now - state.last_success_at if state.last_success_at is not None else None
    if state.last_status == RunStatus.FAILED.value:
        verdict = Verdict.FAILING
    elif age is None:
        verdict = Verdict.NEVER
    elif age > max_age:
        verdict = Verdict.STALE
    else:
        verdict = Verdict.FRESH
    return DatasetCheck(
        dataset=state.dataset,
        verdict=verdict,
        age=age,
        last_success_at=state.last_success_at,
        last_status=state.last_status,
        last_error=state.last_error,
    )


def check_freshness(
    states: list[DatasetFreshness], max_age: timedelta, now: datetime | None = None
) -> FreshnessReport:
    """Judge every dataset's state against `max_age`."""
    checked_at = now or datetime.now(UTC)
    return FreshnessReport(
        checked_at, max_age, [judge(state, max_age, checked_at) for state in states]
    )
