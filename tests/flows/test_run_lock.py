"""The run lock under a real Prefect API: a run that finds it taken ends Cancelled, quietly."""

from __future__ import annotations

import logging
import uuid

import pytest

from tests.flows.prefect_reads import read_all_logs

pytestmark = pytest.mark.usefixtures("prefect_api")


class Records(logging.Handler):
    """Keeps every record it sees (Prefect's loggers do not propagate to pytest's)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_run_that_finds_the_lock_taken_ends_cancelled_without_an_error_or_traceback(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import get_client
    from prefect.engine import handle_engine_signals
    from prefect.flow_engine import flow_run_logger, run_flow

    from flows._run_lock import run_lock
    from flows.sync_reference_data import sync_reference_data

    lock = f"test-lock-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PARTNER_RUN_LOCK", lock)
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(sync_reference_data, parameters={})
    # What `python -m prefect.engine` does for a deployment's run, the run logger as the
    # engine's error logger included.
    seen = Records()
    logging.getLogger("prefect").addHandler(seen)
    try:
        with (
            run_lock(lock) as held,
            pytest.raises(SystemExit) as exited,
            handle_engine_signals(flow_run.id),
        ):
            assert held
            run_flow(sync_reference_data, flow_run=flow_run, error_logger=flow_run_logger(flow_run))
    finally:
        logging.getLogger("prefect").removeHandler(seen)

    assert exited.value.code in (0, None)
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run.id).state
    assert state is not None and state.type.value == "CANCELLED"
    assert "another partner-sync run holds the lock" in (state.message or "")
    stored = "\n".join(log.message for log in read_all_logs(flow_run.id))
    captured = "\n".join(r.getMessage() for r in seen.records)
    for text in (stored, captured):
        assert "another partner-sync run holds the lock" in text
        assert "unexpected exception" not in text
        assert "CancelledRun" not in text
    errors = [r.getMessage() for r in seen.records if r.levelno >= logging.ERROR]
    assert not errors
