"""The verdict rule, the table row and the OTP-source wiring outside Prefect."""

from __future__ import annotations

import pytest

from partner_api import PartnerClient
from partner_sync.core.otp import build_otp_source
from partner_sync.core.report import (
    EXIT_FAILED,
    EXIT_OK,
    TABLE_COLUMNS,
    DatasetOutcome,
    Problem,
    RunReport,
    Status,
    report_markdown,
)
from partner_sync.core.settings import Settings, SettingsError
from storage import SyncResult


def written(dataset: str, status: str, inserted: int = 0) -> DatasetOutcome:
    result = SyncResult(dataset, status, inserted, 0, 0, 0, run_id=1, seconds=0.5)
    return DatasetOutcome.written(result, 0.75)


def test_succeeded_and_not_modified_are_success() -> None:
    report = RunReport(
        (written("countries", "succeeded", 3), written("cities", "not_modified")), "s"
    )
    assert report.ok and report.exit_code == EXIT_OK


@pytest.mark.parametrize("bad", [Status.failed, Status.skipped])
def test_a_failed_or_skipped_dataset_fails_the_run(bad: Status) -> None:
    outcome = DatasetOutcome("cities", bad, error="boom")
    report = RunReport(
        (written("countries", "succeeded"), outcome), "s", (Problem("cities", "boom"),)
    )
    assert not report.ok and report.exit_code == EXIT_FAILED
    assert report.failure_summary() == f"1 {bad} of 2 datasets: cities: boom"


def test_a_row_has_the_table_columns_with_the_storage_counts() -> None:
    row = written("countries", "succeeded", inserted=7).as_row()
    assert list(row) == [*TABLE_COLUMNS, "error"]
    assert (row["status"], row["inserted"], row["seconds"]) == ("succeeded", 7, 0.75)
    assert DatasetOutcome("cities", Status.skipped).as_row()["inserted"] == 0


def test_the_markdown_report_carries_the_403_diagnosis() -> None:
    problem = Problem("countries", "missing scope", "the key lacks partner:constants:read")
    report = RunReport((DatasetOutcome("countries", Status.failed),), "login failed", (problem,))
    text = report_markdown(report)
    assert text.startswith("# partner-sync: 1 failed") and "Session: login failed" in text
    assert "**403 diagnosis**" in text and "partner:constants:read" in text


def test_the_prefect_otp_source_outside_a_flow_run_is_a_one_line_settings_error() -> None:
    with (
        PartnerClient("http://127.0.0.1:9/prometheus", "k", "s") as client,
        pytest.raises(SettingsError, match="PARTNER_OTP_SOURCE=prefect pauses a Prefect"),
    ):
        build_otp_source(Settings(_env_file=None, otp_source="prefect"), client)  # type: ignore[call-arg]
