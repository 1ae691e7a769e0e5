"""What the CLI writes: the per-dataset table, error lines, log levels."""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType

from rich.console import Console
from rich.table import Table

from partner_sync.core.report import TABLE_COLUMNS, RunReport
from partner_sync.core.settings import SettingsError

#: Exit code of a usage or settings error (as argparse and click use it).
EXIT_USAGE = 2
#: Exit code after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


def fail(message: str, code: int) -> int:
    """Print `partner-sync: error: message` on stderr and return `code`."""
    print(f"partner-sync: error: {message}", file=sys.stderr)
    return code


def load_sandbox() -> ModuleType:
    """The `sandbox` package, or a `SettingsError` saying how to install its extra.

    The sandbox is an optional extra (`partner-sync[sandbox]`): a client installed for a
    real partner needs neither Starlette nor pycountry, so only `demo` and `sandbox` import it.
    """
    try:
        return importlib.import_module("sandbox")
    except ImportError as exc:
        raise SettingsError(
            f"the sandbox needs the 'sandbox' extra ({exc.name} is missing): "
            "pip install 'partner-sync[sandbox]'"
        ) from None


def console() -> Console:
    """A rich console; piped or logged output gets room for whole column titles."""
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


def print_report(report: RunReport) -> int:
    """The per-dataset table, then each problem on stderr; returns the run's exit code."""
    table = Table(title="partner-sync")
    for column in TABLE_COLUMNS:
        table.add_column(
            column,
            justify="left" if column in ("dataset", "status") else "right",
            no_wrap=True,
            min_width=len("not_modified") if column == "status" else None,
        )
    for row in report.rows():
        cells = [str(row[c]) for c in TABLE_COLUMNS[:-1]]
        table.add_row(*cells, f"{row['seconds']:.1f}")
    console().print(table)
    for problem in report.problems:
        if problem.diagnosis:
            print(f"{problem.where}: 403 diagnosis: {problem.diagnosis}", file=sys.stderr)
    if report.ok:
        return report.exit_code
    return fail(report.failure_summary(), report.exit_code)


def configure_logging(verbose: int) -> None:
    """Warnings by default; `-v` info, `-vv` debug, `-vvv` also httpx's request lines."""
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Progress and retries are worth seeing by default; httpx's per-request lines are not.
    logging.getLogger("partner_sync").setLevel(min(level, logging.INFO))
    logging.getLogger("partner_api").setLevel(min(level, logging.INFO))
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose > 2 else logging.WARNING)
