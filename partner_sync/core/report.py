"""What a run did: one outcome per dataset, how the session was had, the problems, the verdict.

Every shell shows the same report: the CLI prints `TABLE_COLUMNS` as a table and exits
with `RunReport.exit_code`, the Prefect flow publishes the same columns as a table
artifact, `report_markdown` as its markdown report, and ends Failed when the CLI would
exit non-zero. The verdict rule lives here once (`RunReport.ok`):

- `succeeded` / `not_modified`: the dataset's table matches the partner's (not modified
  is success: the partner said nothing changed since the remembered ETags);
- `failed`: the dataset was attempted and nothing of it was written (one transaction);
- `skipped`: not attempted, because an earlier failure (or the login) dooms the run.

A run is a success only when no dataset failed or was skipped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import StatementError

from storage import SyncResult

from .changes import changes_markdown
from .redact import mask

#: The columns of the per-dataset table, in the CLI and in the flow's table artifact.
TABLE_COLUMNS = ("dataset", "status", "inserted", "updated", "unchanged", "deleted", "seconds")
#: The counts a `SyncResult` carries, in `TABLE_COLUMNS` order.
COUNT_COLUMNS = ("inserted", "updated", "unchanged", "deleted")

#: Exit code of a run whose every dataset succeeded or was not modified.
EXIT_OK = 0
#: Exit code of a run in which some dataset failed or was skipped.
EXIT_FAILED = 1

#: Longest error line kept in an outcome (the database's own text can be long).
MAX_ERROR_CHARS = 1000


class Status(StrEnum):
    """What happened to one dataset in one run."""

    succeeded = "succeeded"
    not_modified = "not_modified"
    failed = "failed"
    skipped = "skipped"


#: The statuses that count as success (the verdict rule).
SUCCESS = frozenset({Status.succeeded, Status.not_modified})


@dataclass(frozen=True)
class DatasetOutcome:
    """One dataset's outcome: the storage result when it was written, else the error.

    No secret in it: safe as a Prefect result and in artifacts.
    """

    dataset: str
    status: Status
    #: What storage did (None when the dataset failed or was skipped).
    result: SyncResult | None = None
    #: Wall time of the dataset's read and write, restarts included.
    seconds: float = 0.0
    error: str | None = None

    @classmethod
    def written(cls, result: SyncResult, seconds: float) -> DatasetOutcome:
        """The outcome of a dataset storage wrote (or found not modified)."""
        return cls(result.dataset, Status(result.status), result, round(seconds, 3))

    def as_row(self) -> dict[str, Any]:
        """`TABLE_COLUMNS` plus `error`, plain values: for tables, artifacts and JSON."""
        row: dict[str, Any] = {"dataset": self.dataset, "status": str(self.status)}
        for column in COUNT_COLUMNS:
            row[column] = getattr(self.result, column) if self.result is not None else 0
        row["seconds"] = self.seconds
        row["error"] = self.error
        return row


@dataclass(frozen=True)
class Problem:
    """One failure worth a paragraph in the report: where, the error, the 403 diagnosis."""

    where: str
    error: str
    diagnosis: str = ""
    #: The error's class name (e.g. `MissingScopeError`), for monitoring and tests.
    kind: str = ""


@dataclass(frozen=True)
class RunReport:
    """The whole run: outcomes in the order asked, how the session was had, the problems."""

    outcomes: tuple[DatasetOutcome, ...]
    #: How the session was had, e.g. "the kept session from file ..." or "login failed".
    session: str
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """The verdict: True when no dataset failed or was skipped (not_modified is success)."""
        return all(o.status in SUCCESS for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for this run (the flow ends Failed exactly when it is not 0)."""
        return EXIT_OK if self.ok else EXIT_FAILED

    def rows(self) -> list[dict[str, Any]]:
        """Every outcome as a row (`DatasetOutcome.as_row`)."""
        return [o.as_row() for o in self.outcomes]

    def failure_summary(self) -> str:
        """One line: how many datasets did not succeed, and each problem's error."""
        bad = [o for o in self.outcomes if o.status not in SUCCESS]
        counts = Counter(str(o.status) for o in bad)
        head = " and ".join(f"{n} {status}" for status, n in counts.items())
        causes = "; ".join(f"{p.where}: {p.error}" for p in self.problems)
        return f"{head} of {len(self.outcomes)} datasets" + (f": {causes}" if causes else "")


def report_markdown(report: RunReport) -> str:
    """The run's report: a summary line, how the session was had, each error and diagnosis,
    then what changed (each dataset's first changes, and fields the partner started sending).
    """
    counts = Counter(str(o.status) for o in report.outcomes)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing ran"
    lines = [f"# partner-sync: {summary}", "", f"Session: {report.session}", ""]
    if not report.problems:
        lines.append("No errors.")
    for problem in report.problems:
        lines += [f"## {problem.where} failed", "", f"    {problem.error}", ""]
        if problem.diagnosis:
            lines += ["**403 diagnosis**", "", problem.diagnosis, ""]
    results = [o.result for o in report.outcomes if o.result is not None]
    lines += ["", *changes_markdown(results)]
    return mask("\n".join(lines))


#: The database a driver's exceptions come from, by the driver's top-level module.
_DATABASE_OF_DRIVER = {"sqlite3": "SQLite", "psycopg": "PostgreSQL", "psycopg2": "PostgreSQL"}


def database_name(driver_error: BaseException) -> str:
    """`SQLite` or `PostgreSQL` for a driver's exception (else `database`), for error lines.

    A user who sees "database is locked" or "the connection is lost" should not have to
    guess which of their servers said it.
    """
    module = type(driver_error).__module__.split(".")[0]
    return _DATABASE_OF_DRIVER.get(module, "database")


def one_line(exc: BaseException) -> str:
    """The error as one readable line (exceptions here never carry secrets).

    A database error speaks through its driver's message, prefixed with the database that
    said it (`SQLite error (OperationalError): database is locked`): SQLAlchemy's own text
    appends the statement and its parameters, which would copy row data into logs and run
    records.
    """
    if isinstance(exc, StatementError) and exc.orig is not None:
        driver_error = " ".join(str(exc.orig).split())
        text = f"{database_name(exc.orig)} error ({type(exc.orig).__name__}): {driver_error}"
    else:
        text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."
