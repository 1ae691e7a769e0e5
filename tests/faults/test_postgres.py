"""PostgreSQL faults: the backend killed mid-upsert, a statement timeout, the sync's lock held by
another session, the server restarted between two statements of a dataset's write.

Each test runs in a throwaway schema of the test server (`tests/support/postgres.py`). The
faults are real: `pg_terminate_backend` from a second connection, the server's own
`statement_timeout` (set through the URL's `options`, as a DBA would set it for the role)
tripped by a table lock another session holds, a second session holding the dataset's
advisory lock, and `pg_ctlcluster ... restart`. The hook that fires a fault at the right
moment is a SQLAlchemy `after_cursor_execute` listener that recognises the first upsert of
`cities` (the largest dataset), so the transaction has written before it breaks.

The restart stops the whole server for every other test using it on this machine, so it runs
only when `PARTNER_SYNC_PG_RESTART=1` (`.ci/run` sets it); otherwise it is deselected, not
skipped.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, text

from storage.db import advisory_key
from tests.faults.support import Scenario, assert_one_line, run_cli, statuses
from tests.support.postgres import POSTGRES_URL, throwaway_schema

pytestmark = pytest.mark.postgres

#: The cluster `make provision` sets up (Debian's PostgreSQL 15).
CLUSTER = ("15", "main")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway schema in the test database, as a URL."""
    with throwaway_schema("fault") as url:
        yield url


def is_cities_upsert(statement: str) -> bool:
    """The bulk upsert of the cities table (not its seen-keys table)."""
    sql = " ".join(statement.split()).lower()
    return sql.startswith("insert into cities") and "on conflict" in sql


@contextmanager
def after_first_cities_upsert(fault: Callable[[Connection], Any]) -> Iterator[list[Any]]:
    """Call `fault(conn)` once, right after the sync's first cities upsert ran on `conn`."""
    fired: list[Any] = []

    def after(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if not fired and is_cities_upsert(statement):
            fired.append(fault(conn))

    event.listen(Engine, "after_cursor_execute", after)
    try:
        yield fired
    finally:
        event.remove(Engine, "after_cursor_execute", after)


def test_the_backend_killed_mid_upsert_rolls_the_dataset_back(
    prepare: Callable[..., Scenario], postgres_url: str
) -> None:
    scenario = prepare(postgres_url)
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")

    def terminate(conn: Connection) -> bool:
        pid = conn.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
        with admin.connect() as other:
            return bool(
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
            )

    try:
        with after_first_cities_upsert(terminate) as fired:
            result = run_cli()
    finally:
        admin.dispose()

    assert fired == [True], "the backend was never terminated"
    assert_one_line(result, r"^1 failed of 4 datasets: cities: PostgreSQL error \(\w+\): ")
    scenario.assert_untouched(faulted=("cities",))
    assert statuses(scenario.new_runs())["cities"] == "failed"
    scenario.assert_next_run_completes()


def test_a_statement_timeout_fails_the_dataset_in_one_line(
    prepare: Callable[..., Scenario], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = prepare(postgres_url)
    # The server cancels any statement running longer than 1.5 s, as a DBA may set it.
    monkeypatch.setenv("DATABASE_URL", postgres_url + "%20-cstatement_timeout%3D1500")
    schema = postgres_url.rsplit("%3D", 1)[1]
    blocker = create_engine(POSTGRES_URL)
    try:
        with blocker.connect() as other, other.begin():
            # Reads go on; the cities upsert waits for this lock until the timeout cancels it.
            other.execute(text(f"LOCK TABLE {schema}.cities IN SHARE MODE"))
            result = run_cli()
    finally:
        blocker.dispose()

    assert_one_line(
        result,
        r"^1 failed of 4 datasets: cities: PostgreSQL error \(QueryCanceled\): "
        r"canceling statement due to statement timeout$",
    )
    scenario.assert_untouched(faulted=("cities",))
    scenario.assert_next_run_completes()


def test_the_sync_lock_held_by_another_session_past_the_lock_timeout(
    prepare: Callable[..., Scenario], postgres_url: str
) -> None:
    scenario = prepare(postgres_url)
    holder = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with holder.connect() as other:
            key = advisory_key(other, "cities")
            other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            result = run_cli()
    finally:
        holder.dispose()

    assert_one_line(
        result,
        r"^1 failed of 4 datasets: cities: another sync of 'cities' is running \(it holds the "
        r"dataset's PostgreSQL advisory lock\); gave up waiting for it after 1 s",
    )
    scenario.assert_untouched(faulted=("cities",))
    scenario.assert_next_run_completes()


@pytest.mark.pg_restart
def test_the_server_restarted_between_two_statements_fails_only_that_dataset(
    prepare: Callable[..., Scenario], postgres_url: str
) -> None:
    scenario = prepare(postgres_url)

    def restart(conn: Connection) -> int:
        done = subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", *CLUSTER, "restart"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.returncode

    with after_first_cities_upsert(restart) as fired:
        result = run_cli()

    assert fired == [0], "the server was never restarted"
    assert_one_line(result, r"^1 failed of 4 datasets: cities: PostgreSQL error \(\w+\): ")
    scenario.assert_untouched(faulted=("cities",))
    scenario.assert_next_run_completes()
