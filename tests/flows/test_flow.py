"""The Prefect flow end to end against the sandbox, under a real (temporary) Prefect API."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sandbox import DEMO_API_SECRET, DEMO_PASSWORD


def test_the_flow_syncs_every_dataset_and_logs_no_secret(
    prefect_api: None, env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    from flows.sync_reference_data import sync_reference_data

    state = sync_reference_data(datasets=["countries", "currencies"], return_state=True)
    assert state.is_completed(), state.message
    report = state.result()
    assert report.ok
    rows = report.rows()
    assert [r["dataset"] for r in rows] == ["countries", "currencies"]
    assert all(r["status"] == "succeeded" and r["inserted"] > 100 for r in rows)
    engine = sa.create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM countries")).scalar_one()
            == rows[0]["inserted"]
        )
    engine.dispose()
    logged = caplog.text
    assert DEMO_API_SECRET not in logged and DEMO_PASSWORD not in logged


def test_a_failing_dataset_fails_the_run_with_its_cause(
    prefect_api: None, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.sync_reference_data import SyncFailedError, sync_reference_data

    monkeypatch.setenv("PARTNER_PASSWORD", "wrong-password")
    state = sync_reference_data(datasets=["countries"], return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="4011") as caught:
        state.result()
    assert isinstance(caught.value, SyncFailedError)
    assert [str(o.status) for o in caught.value.report.outcomes] == ["skipped"]
    assert "wrong-password" not in str(caught.value)
