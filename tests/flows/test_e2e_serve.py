"""End to end: `prefect server start`, `partner-sync serve`, `prefect deployment run`, the OTP
answered with `partner-sync otp`, the data in the database, an overlapping run cancelled."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sandbox import SandboxHandle
from tests.flows.e2e import (
    BIN,
    CLI,
    PROJECT,
    PrefectServer,
    background,
    prefect_server,
    run,
    wait_until,
)
from tests.support.postgres import throwaway_database
from tests.support.prefect_http import prefect_http
from tests.support.settings import demo_env

DEPLOYMENT = "sync-reference-data/daily"


@dataclass
class Served:
    """A Prefect server with `partner-sync serve` running against it."""

    server: PrefectServer
    env: dict[str, str]
    database_url: str
    deployment_id: str
    tmp: Path


def partner_env(sandbox: SandboxHandle, tmp: Path) -> dict[str, str]:
    """What a user exports before `partner-sync serve`: the sandbox, codes through Prefect."""
    database_url = f"sqlite:///{tmp / 'partner_sync.db'}"
    env = demo_env(sandbox.base_url, database_url, otp_source="prefect")
    return env | {"XDG_STATE_HOME": str(tmp / "state")}


def serve(server: PrefectServer, sandbox: SandboxHandle, tmp: Path) -> Iterator[Served]:
    """`partner-sync serve` in the background until its deployment is registered."""
    # The runner polls for runs every second, not every 10 (test speed only).
    env = server.env(**partner_env(sandbox, tmp), PREFECT_RUNNER_POLL_FREQUENCY="1")
    with background([*CLI, "serve"], env, tmp / "serve.log", PROJECT) as process:

        def registered() -> str | None:
            assert process.poll() is None, (tmp / "serve.log").read_text()[-3000:]
            with prefect_http(server.api_url) as http:
                response = http.get(f"/deployments/name/{DEPLOYMENT}")
            return str(response.json()["id"]) if response.status_code == 200 else None

        deployment_id = wait_until(registered, 60, "the served deployment")
        # No earlier test's session: the first run must ask for a code.
        assert run([*CLI, "logout"], env, PROJECT).returncode == 0
        yield Served(server, env, env["DATABASE_URL"], deployment_id, tmp)


@pytest.fixture(scope="module")
def served_sqlite(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A SQLite-backed Prefect server with the deployment served."""
    tmp = tmp_path_factory.mktemp("e2e-sqlite")
    with prefect_server(tmp) as server:
        yield from serve(server, sandbox, tmp)


@pytest.fixture(scope="module")
def served_on_postgres(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A Prefect server on PostgreSQL with the deployment served: for the browser test.

    A Prefect server on SQLite answers 503 when a write meets another writer, for the client
    to retry: Prefect's client does, the UI's resume does not, and on a loaded machine the
    form's Submit was lost that way. The UI under test is the same on either database.
    """
    tmp = tmp_path_factory.mktemp("e2e-ui")
    with (
        throwaway_database("prefect_ui") as prefect_url,
        prefect_server(tmp, prefect_url) as server,
    ):
        yield from serve(server, sandbox, tmp)


def deployment_run(served: Served) -> str:
    """`prefect deployment run`, as a user types it; the new flow run's id."""
    done = run([str(BIN / "prefect"), "deployment", "run", DEPLOYMENT], served.env, served.tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", done.stdout)
    assert match, done.stdout
    return match.group(1)


def newest_code(sandbox: SandboxHandle) -> str:
    messages = httpx.get(f"{sandbox.base_url}/_sandbox/outbox", timeout=10).json()["messages"]
    return str(messages[-1]["otp"])


def test_a_deployment_run_pauses_for_the_otp_completes_and_an_overlapping_run_is_cancelled(
    served_sqlite: Served, sandbox: SandboxHandle
) -> None:
    served, server = served_sqlite, served_sqlite.server
    first = deployment_run(served)
    server.wait_for_state(first, {"PAUSED"}, 60)
    second = server.api("POST", f"/deployments/{served.deployment_id}/create_flow_run", json={})
    assert server.wait_for_state(second["id"], {"CANCELLED", "PAUSED"}, 60) == "CANCELLED"
    answered = run([*CLI, "otp", newest_code(sandbox)], served.env, PROJECT)
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert "the partner accepted the code" in answered.stdout
    assert server.wait_for_state(first, {"COMPLETED", "FAILED", "CRASHED"}, 60) == "COMPLETED"
    engine = sa.create_engine(served.database_url)
    with engine.connect() as conn:
        for table in ("countries", "currencies", "languages", "cities"):
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() > 0
    engine.dispose()


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_in_the_prefect_ui_a_run_started_with_the_run_button_takes_the_otp_from_the_form(
    served_on_postgres: Served, sandbox: SandboxHandle
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: `make provision` installs it (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    served, server = served_on_postgres, served_on_postgres.server
    # No session kept from another test: this run must pause for a code.
    assert run([*CLI, "logout"], served.env, PROJECT).returncode == 0
    known = {r["id"] for r in server.api("POST", "/flow_runs/filter", json={"limit": 200})}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        try:
            page.goto(f"{server.ui_url}/deployments")
            page.get_by_role("link", name="daily", exact=True).first.click()
            expect(page.get_by_text("At 03:00 AM every day")).to_be_visible()

            def new_runs() -> list[dict[str, Any]]:
                runs = server.api("POST", "/flow_runs/filter", json={"limit": 200})
                return [r for r in runs if r["id"] not in known]

            # A click can land before the UI has wired the menu up on a loaded machine: wait
            # until the page has settled and the menu item is there, then click once.
            page.wait_for_load_state("networkidle")
            page.get_by_role("button", name="Run", exact=True).click()
            quick_run = page.get_by_text("Quick run")
            expect(quick_run).to_be_visible()
            quick_run.click()
            wait_until(new_runs, 60, "the run the Run button started")

            def paused() -> str | None:
                states = {r["id"]: (r.get("state") or {}).get("type") for r in new_runs()}
                return next((i for i, t in states.items() if t == "PAUSED"), None)

            flow_run_id = wait_until(paused, 60, "the started run to pause for the code")
            page.goto(f"{server.ui_url}/runs/flow-run/{flow_run_id}")
            page.get_by_role("button", name="Resume").click()
            expect(page.get_by_text("partner-sync needs the one-time code")).to_be_visible()
            page.locator(".p-modal textarea").fill(newest_code(sandbox))
            page.get_by_role("button", name="Submit").click()
            # The form closes once the server has taken the answer.
            expect(page.locator(".p-modal textarea")).to_be_hidden()
            final = server.wait_for_state(flow_run_id, {"COMPLETED", "FAILED", "CRASHED"}, 90)
            assert final == "COMPLETED"
            page.reload()
            expect(page.get_by_text("Completed").first).to_be_visible()
            page.get_by_text("Artifacts", exact=True).first.click()
            expect(page.get_by_text("partner-sync-datasets").first).to_be_visible()
        except AssertionError as exc:
            # What the page showed and what the runner said, for a failure on a loaded machine.
            shot = served.tmp / "ui-failure.png"
            page.screenshot(path=str(shot))
            serve_log = (served.tmp / "serve.log").read_text(errors="replace")[-3000:]
            raise AssertionError(
                f"{exc}\n(the page: {shot}); serve.log ends:\n{serve_log}"
            ) from exc
        finally:
            browser.close()
