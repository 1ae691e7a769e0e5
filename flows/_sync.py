"""The sync itself, free of Prefect: log in, read each dataset, write it, report.

The Prefect flow and the `--no-prefect` CLI path both call these functions, so the logic is
tested once and Prefect's start-up cost is paid only where Prefect is wanted. This module
must never import `prefect`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol

from partner_api import (
    DATASETS,
    AuthenticationError,
    ClockDriftError,
    CommandOtpSource,
    ConfigurationError,
    DatasetChangedError,
    ForbiddenError,
    OtpError,
    OtpSource,
    PartnerClient,
    PartnerConnectionError,
    PromptOtpSource,
    RetryPolicy,
    SandboxOtpSource,
    SessionToken,
    TotpOtpSource,
)
from partner_api._constants import MAX_DATASET_RESTARTS

from ._redact import remember_secret
from ._session import SessionStore
from ._settings import Settings, SettingsError

logger = logging.getLogger("partner_sync")


class Dataset(StrEnum):
    """The partner's datasets, as a type: Prefect turns it into the deployment form's choices."""

    countries = "countries"
    currencies = "currencies"
    languages = "languages"
    cities = "cities"


assert tuple(Dataset) == tuple(DATASETS), "Dataset must list the contract's datasets in its order"


@dataclass
class DatasetOutcome:
    """What happened to one dataset in one run (no secret in it: safe as a Prefect result)."""

    dataset: str
    status: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    seconds: float = 0.0
    error: str | None = None

    def as_row(self) -> dict[str, Any]:
        """A plain dict for tables and artifacts."""
        return asdict(self)


class Progress(Protocol):
    """Receives progress while datasets are read (a rich bar, log lines, or nothing)."""

    def start(self, dataset: str) -> None:
        """A dataset's read begins (again, after a restart)."""

    def advance(self, dataset: str, rows: int, total: int | None) -> None:
        """One page of `rows` items arrived; `total` is the dataset's size when known."""

    def finish(self, outcome: DatasetOutcome) -> None:
        """The dataset is done."""


class LogProgress:
    """Progress as plain log lines (not attached to a terminal)."""

    def __init__(self, log: logging.Logger | logging.LoggerAdapter[Any] = logger) -> None:
        self._log = log
        self._rows: dict[str, int] = {}
        self._pages: dict[str, int] = {}

    def start(self, dataset: str) -> None:
        """Reset the counters of `dataset`."""
        self._rows[dataset] = 0
        self._pages[dataset] = 0
        self._log.info("%s: reading", dataset)

    def advance(self, dataset: str, rows: int, total: int | None) -> None:
        """Log every 50th page, so a million rows make twenty lines, not a thousand."""
        self._rows[dataset] = self._rows.get(dataset, 0) + rows
        self._pages[dataset] = self._pages.get(dataset, 0) + 1
        if self._pages[dataset] % 50 == 0:
            self._log.info(
                "%s: %d pages, %d/%s rows",
                dataset,
                self._pages[dataset],
                self._rows[dataset],
                total if total is not None else "?",
            )

    def finish(self, outcome: DatasetOutcome) -> None:
        """Log the dataset's outcome in one line."""
        if outcome.error:
            self._log.error("%s: %s: %s", outcome.dataset, outcome.status, outcome.error)
        else:
            self._log.info(
                "%s: %s (inserted %d, updated %d, unchanged %d, deleted %d) in %.1f s",
                outcome.dataset,
                outcome.status,
                outcome.inserted,
                outcome.updated,
                outcome.unchanged,
                outcome.deleted,
                outcome.seconds,
            )


class _PagesWithProgress:
    """Pass pages through, reporting each; exposes the read's `not_modified` and `etags`."""

    def __init__(self, read: Any, progress: Progress) -> None:
        self._read = read
        self._progress = progress

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        for page in self._read:
            self._progress.advance(self._read.dataset, len(page), self._read.expected_total)
            yield page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._read, name)


def build_client(settings: Settings) -> PartnerClient:
    """A `PartnerClient` from settings (raises `SettingsError` naming what is missing)."""
    settings.require("api_key", "api_secret")
    try:
        return PartnerClient(
            settings.base_url,
            settings.api_key,
            settings.api_secret.get_secret_value(),
            session_header=settings.session_header,
            sign_query=settings.sign_query,
            allow_insecure_http=settings.allow_insecure_http,
            timeout=settings.timeout,
            page_size=settings.page_size,
            max_response_bytes=settings.max_response_bytes,
            retry_policy=RetryPolicy(
                max_attempts=settings.max_attempts,
                max_retry_seconds=settings.max_retry_seconds,
                max_retry_after=settings.max_retry_after,
            ),
        )
    except ConfigurationError as exc:
        raise SettingsError(str(exc)) from None


def build_otp_source(settings: Settings, client: PartnerClient) -> OtpSource:
    """The OTP source `PARTNER_OTP_SOURCE` names."""
    source = settings.otp_source
    if source == "prompt":
        return PromptOtpSource()
    if source == "command":
        return CommandOtpSource(settings.otp_command)
    if source == "totp":
        return TotpOtpSource(settings.totp_secret.get_secret_value(), clock=client.clock.now)
    if source == "sandbox":
        return SandboxOtpSource(settings.base_url)
    if source == "prefect":
        from .otp_prefect import PrefectOtpSource  # imports Prefect: only when chosen

        return PrefectOtpSource()
    if source == "imap":
        from .otp_imap import imap_source_from_settings

        return imap_source_from_settings(settings)
    raise SettingsError(f"PARTNER_OTP_SOURCE {source!r} is not a known source")


def log_in(
    client: PartnerClient,
    settings: Settings,
    otp_source: OtpSource | None = None,
    *,
    renew: Callable[[], SessionToken] | None = None,
) -> SessionToken:
    """Log in with the MFA handoff; a later `4010` calls `renew` (default: log in again)."""
    settings.require("email", "password")
    source = otp_source or build_otp_source(settings, client)
    # A source that waits for a person (the Prefect pause) must not start a second login on
    # its own when the first expired: that would send a new code nobody asked for.
    restarts = settings.login_restarts if getattr(source, "restarts_login", True) else 0
    session = client.login(
        settings.email,
        settings.password.get_secret_value(),
        source,
        mfa_method=settings.mfa_method,
        restarts=restarts,
        renew=renew,
    )
    remember_secret(session.token)
    return session


def start_session(
    client: PartnerClient,
    settings: Settings,
    store: SessionStore,
    otp_source: OtpSource | None = None,
) -> bool:
    """Use the kept session if it lives past the margin, else log in; True if it logged in.

    Either way a later `4010` logs in again through the same OTP source, and every new
    session is kept in `store`. The OTP source is built only when a login happens, so a
    valid kept token never touches a mailbox or pauses a run.
    """
    source: list[OtpSource] = [otp_source] if otp_source is not None else []

    def login_and_keep() -> SessionToken:
        if not source:
            source.append(build_otp_source(settings, client))
        session = log_in(client, settings, source[0], renew=login_and_keep)
        try:
            store.save(session)
        except Exception as exc:  # the run can go on; the next one will log in again
            logger.warning("logged in, but cannot keep the session in %s: %s", store.where, exc)
        return session

    kept = store.load()
    if kept is not None and not kept.expires_within(settings.session_margin):
        remember_secret(kept.token)
        client.use_session(kept, renew=login_and_keep)
        logger.info(
            "using the kept session from %s (valid until %s)",
            store.where,
            kept.expires_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        )
        return False
    if kept is not None:
        logger.info("the kept session expires within %g s; logging in", settings.session_margin)
    login_and_keep()
    return True


def sync_one(
    client: PartnerClient,
    engine: Any,
    dataset: str,
    settings: Settings,
    *,
    allow_mass_delete: bool = False,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> DatasetOutcome:
    """Read one dataset and write it in one transaction; restart if it changed mid-read."""
    from storage import DATASET_TABLES, load_etags, sync_dataset

    progress = progress or LogProgress()
    started = time.monotonic()
    for attempt in range(MAX_DATASET_RESTARTS + 1):
        progress.start(dataset)
        etags = {} if full_refresh else load_etags(engine, DATASET_TABLES[dataset])
        read = client.read_dataset(dataset, etags)
        try:
            result = sync_dataset(
                engine,
                DATASET_TABLES[dataset],
                _PagesWithProgress(read, progress),
                max_delete_fraction=settings.max_delete_fraction,
                allow_mass_delete=allow_mass_delete,
                lock_timeout=settings.lock_timeout,
            )
        except DatasetChangedError as exc:
            if attempt == MAX_DATASET_RESTARTS:
                raise
            logger.warning("%s; reading it again (%d/%d)", exc, attempt + 1, MAX_DATASET_RESTARTS)
            continue
        outcome = DatasetOutcome(
            dataset=dataset,
            status=result.status,
            inserted=result.inserted,
            updated=result.updated,
            unchanged=result.unchanged,
            deleted=result.deleted,
            seconds=round(time.monotonic() - started, 3),
        )
        progress.finish(outcome)
        return outcome
    raise AssertionError("unreachable")  # pragma: no cover


#: Errors after which the other datasets cannot fare better: stop the run at once.
FATAL_ERRORS: tuple[type[BaseException], ...] = (
    SettingsError,
    ConfigurationError,
    AuthenticationError,
    ForbiddenError,
    OtpError,
)


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


def one_line(exc: BaseException) -> str:
    """The error as one readable line (exceptions here never carry secrets).

    A database error speaks through its driver's message: SQLAlchemy's own text appends
    the statement and its parameters, which would copy row data into logs and run records.
    """
    from sqlalchemy.exc import StatementError

    if isinstance(exc, StatementError) and exc.orig is not None:
        exc = exc.orig
        text = f"database error ({type(exc).__name__}): " + " ".join(str(exc).split())
        return text if len(text) <= 1000 else text[:997] + "..."
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 1000 else text[:997] + "..."


def resolve_datasets(names: Sequence[str] | None) -> list[str]:
    """Validate dataset names (None or empty: all of them, in the contract's order)."""
    if not names:
        return list(DATASETS)
    names = [str(n.value) if isinstance(n, Dataset) else n for n in names]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise SettingsError(
            f"unknown dataset {', '.join(unknown)}; choose from {', '.join(DATASETS)}"
        )
    return list(dict.fromkeys(names))


def run_sync(
    settings: Settings,
    datasets: Sequence[str] | None = None,
    *,
    allow_mass_delete: bool = False,
    full_refresh: bool = False,
    progress: Progress | None = None,
    otp_source: OtpSource | None = None,
    on_session: Callable[[PartnerClient], None] | None = None,
    store: SessionStore | None = None,
) -> list[DatasetOutcome]:
    """Sync `datasets` (default all): one session, then each dataset in its own transaction.

    The session is the kept one while it lasts (`store`, default the one the settings
    name for a run without Prefect), else a fresh login. A failed dataset is recorded and
    the others still run, unless the failure is fatal for all (bad credentials, missing
    scope, server unreachable).
    """
    from storage.db import make_engine, upgrade_database

    from ._session import session_store

    names = resolve_datasets(datasets)
    store = store if store is not None else session_store(settings, prefect_api=False)
    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
        with build_client(settings) as client:
            start_session(client, settings, store, otp_source)
            if on_session is not None:
                on_session(client)
            return _sync_each(
                client, engine, names, settings, allow_mass_delete, full_refresh, progress
            )
    finally:
        engine.dispose()


def _sync_each(
    client: PartnerClient,
    engine: Any,
    names: list[str],
    settings: Settings,
    allow_mass_delete: bool,
    full_refresh: bool,
    progress: Progress | None,
) -> list[DatasetOutcome]:
    outcomes: list[DatasetOutcome] = []
    for index, name in enumerate(names):
        started = time.monotonic()
        try:
            outcomes.append(
                sync_one(
                    client,
                    engine,
                    name,
                    settings,
                    allow_mass_delete=allow_mass_delete,
                    full_refresh=full_refresh,
                    progress=progress,
                )
            )
        except Exception as exc:  # every failure becomes a recorded outcome
            outcome = DatasetOutcome(
                name, "failed", seconds=round(time.monotonic() - started, 3), error=one_line(exc)
            )
            (progress or LogProgress()).finish(outcome)
            outcomes.append(outcome)
            if is_fatal(exc):
                outcomes.extend(
                    DatasetOutcome(rest, "skipped", error="not attempted after a fatal error")
                    for rest in names[index + 1 :]
                )
                break
    return outcomes
