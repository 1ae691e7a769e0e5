"""`partner-sync check`: is every dataset's copy fresh? An exit code for cron and Nagios-style checks."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from partner_api import DatasetName
from partner_sync.core.freshness import DEFAULT_MAX_AGE, check_freshness, parse_duration
from partner_sync.core.report import EXIT_FAILED, EXIT_OK
from partner_sync.core.settings import load_settings
from storage import DATASET_TABLES, dataset_freshness, make_engine, upgrade_database


class CheckFormat(StrEnum):
    """How `check` prints its verdicts."""

    TEXT = "text"
    JSON = "json"


def _duration(text: str) -> str:
    try:
        parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return text


def check(
    max_age: Annotated[
        str,
        typer.Option(
            callback=_duration,
            help="The oldest a last successful sync may be: 26h, 90m, 2d, 1d12h.",
        ),
    ] = DEFAULT_MAX_AGE,
    dataset: Annotated[
        list[DatasetName] | None,
        typer.Option("--dataset", help="A dataset to check (repeatable; default: all)."),
    ] = None,
    output: Annotated[
        CheckFormat, typer.Option("--format", help="text: one line per dataset; json.")
    ] = CheckFormat.TEXT,
) -> int:
    """Exit 0 when every dataset's last successful sync is younger than --max-age, else 1.

    A dataset never synced, older than the limit, or whose last sync failed fails the
    check. One line per dataset: verdict, age, last status and error.
    """
    limit = parse_duration(max_age)
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
        names = [str(name) for name in dataset] if dataset else list(DATASET_TABLES)
        states = dataset_freshness(engine, [DATASET_TABLES[name] for name in names])
    finally:
        engine.dispose()
    report = check_freshness(states, limit)
    if output is CheckFormat.JSON:
        print(json.dumps(report.as_json(), indent=2))
    else:
        for item in report.datasets:
            print(item.line(limit))
    return EXIT_OK if report.ok else EXIT_FAILED
