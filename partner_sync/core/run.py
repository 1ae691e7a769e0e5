"""The one run loop: open the database, start the session, walk the datasets, report.

`run_sync` is what every shell calls: the CLI's plain path (`sync --no-prefect`), the
plain script, and the Prefect flow, which passes a `run_dataset` that is a Prefect task,
its own session store and OTP source, and publishes the returned report as artifacts.
So the fatal/skip rule and the verdict (`RunReport.ok`) are written once, here and in
`report.py`. No Prefect import here: the plain path never pays Prefect's start-up.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy import Engine

from partner_api import (
    AuthenticationError,
    ClockDriftError,
    ConfigurationError,
    ForbiddenError,
    OtpError,
    OtpSource,
    PartnerClient,
    PartnerConnectionError,
)
from storage import make_engine, upgrade_database

from .client import build_client
from .dataset import resolve_datasets, sync_one
from .login import start_session
from .progress import LogProgress, Progress
from .report import DatasetOutcome, Problem, RunReport, Status, one_line
from .session import SessionStore, plain_session_store
from .settings import Settings, SettingsError

logger = logging.getLogger("partner_sync")

#: Errors after which the other datasets cannot fare better: stop the run at once.
FATAL_ERRORS: tuple[type[BaseException], ...] = (
    SettingsError,
    ConfigurationError,
    AuthenticationError,
    ForbiddenError,
    OtpError,
)


class RunDataset(Protocol):
    """Syncs one dataset and returns its outcome, or raises; the flow's is a Prefect task."""

    def __call__(
        self,
        client: PartnerClient,
        engine: Engine,
        settings: Settings,
        dataset: str,
        *,
        allow_mass_delete: bool,
        full_refresh: bool,
    ) -> DatasetOutcome:
        """Read `dataset` through `client` and write it through `engine`."""
        ...


def is_fatal(exc: BaseException) -> bool:
    """Whether `exc` dooms every dataset of the run (bad credentials, unreachable server...).

    A drift 403 that outlasted its retries is not: the clock may settle for the next
    dataset, and each dataset is its own transaction.
    """
    if isinstance(exc, PartnerConnectionError):
        return not exc.sent
    if isinstance(exc, ClockDriftError):
        return False
    return isinstance(exc, FATAL_ERRORS)


def _problem(where: str, exc: BaseException) -> Problem:
    diagnosis = str(getattr(exc, "diagnosis", "") or "")
    return Problem(where, one_line(exc), diagnosis, kind=type(exc).__name__)


def _skipped(names: Sequence[str], why: str) -> list[DatasetOutcome]:
    return [DatasetOutcome(name, Status.skipped, error=f"not attempted: {why}") for name in names]


def run_sync(
    settings: Settings,
    datasets: Sequence[str] | None = None,
    *,
    allow_mass_delete: bool = False,
    full_refresh: bool = False,
    run_dataset: RunDataset | None = None,
    store: SessionStore | None = None,
    otp_source: OtpSource | None = None,
    progress: Progress | None = None,
    on_session: Callable[[PartnerClient], None] | None = None,
) -> RunReport:
    """Sync `datasets` (default all): one session, then each dataset in its own transaction.

    The session is the kept one in `store` while it lasts (default: the store the
    settings name for a run without Prefect), else a login through `otp_source`
    (default: the one the settings name). A failed dataset is recorded and the others
    still run, unless the failure is fatal for all (bad credentials, missing scope,
    server unreachable): then the rest are skipped, as all are when the login fails.
    `run_dataset` (default `sync_one` with `progress`) does one dataset; `on_session`
    sees the client once it has its session. A `SettingsError` is raised, not reported:
    nothing was attempted.
    """
    names = resolve_datasets(datasets)
    store = store if store is not None else plain_session_store(settings)
    progress = progress or LogProgress()

    run_one: RunDataset = run_dataset or functools.partial(sync_one, progress=progress)
    # A SQLite database locked by another process is waited for as long as a dataset's lock.
    engine = make_engine(settings.database_url, busy_timeout=settings.lock_timeout)
    try:
        upgrade_database(engine)
        with build_client(settings) as client:
            try:
                start = start_session(client, settings, store, otp_source)
            except SettingsError:
                raise
            except Exception as exc:  # the report says why; every dataset is skipped
                logger.error("login failed: %s", one_line(exc))
                outcomes = _skipped(names, "no session (the login failed)")
                return RunReport(tuple(outcomes), "login failed", (_problem("login", exc),))
            if on_session is not None:
                on_session(client)
            logger.info("session ready; syncing %s", ", ".join(names))
            outcomes, problems = [], []
            for index, name in enumerate(names):
                started = time.monotonic()
                try:
                    outcome = run_one(
                        client,
                        engine,
                        settings,
                        name,
                        allow_mass_delete=allow_mass_delete,
                        full_refresh=full_refresh,
                    )
                except Exception as exc:  # every failure becomes a recorded outcome
                    seconds = round(time.monotonic() - started, 3)
                    outcome = DatasetOutcome(
                        name, Status.failed, seconds=seconds, error=one_line(exc)
                    )
                    progress.finish(outcome)
                    problems.append(_problem(name, exc))
                    if is_fatal(exc):
                        rest = names[index + 1 :]
                        outcomes += [outcome, *_skipped(rest, f"{name} failed fatally")]
                        break
                outcomes.append(outcome)
            return RunReport(tuple(outcomes), start.note, tuple(problems))
    finally:
        engine.dispose()
