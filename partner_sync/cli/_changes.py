"""`partner-sync changes`: what the runs changed, key by key and field by field."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from partner_api import DatasetName
from partner_sync.core.changes import CSV_COLUMNS, as_record, csv_rows, describe_fields
from partner_sync.core.report import EXIT_OK
from partner_sync.core.settings import load_settings
from storage import DATASET_TABLES, Change, load_changes, make_engine, upgrade_database

from ._output import EXIT_USAGE, console, fail


class Format(StrEnum):
    """How `changes` prints: a table for people, JSON or CSV for programs."""

    table = "table"
    json = "json"
    csv = "csv"


def changes(
    dataset: Annotated[
        DatasetName | None, typer.Option(help="Only this dataset (default: all).")
    ] = None,
    run: Annotated[
        int | None, typer.Option(help="The changes of this run id (as `status` lists them).")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"],
            help="The changes of every run started since then (UTC).",
        ),
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many changes (default: all).")
    ] = None,
) -> int:
    """Show what the runs changed (default: each dataset's latest run that changed anything)."""
    if run is not None and since is not None:
        return fail("give --run or --since, not both", EXIT_USAGE)
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
        found = load_changes(
            engine,
            dataset=DATASET_TABLES[str(dataset)] if dataset is not None else None,
            run_id=run,
            since=since.replace(tzinfo=UTC) if since is not None else None,
            limit=limit,
        )
    finally:
        engine.dispose()
    if output == Format.json:
        print(json.dumps([as_record(c) for c in found], indent=2, ensure_ascii=False))
    elif output == Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_rows(found))
    else:
        _print_table(found)
    return EXIT_OK


def _print_table(found: list[Change]) -> None:
    if not found:
        print("no changes recorded for that choice of runs")
        return
    table = Table(title="changes")
    for column in ("run", "dataset", "at", "kind", "key", "fields"):
        table.add_column(column, no_wrap=column != "fields")
    for change in found:
        table.add_row(
            str(change.run_id),
            change.dataset,
            change.at.strftime("%Y-%m-%d %H:%M") if change.at is not None else "",
            str(change.kind),
            change.key or "",
            describe_fields(change),
        )
    console().print(table)
