"""Prefect faults: the API server stopped while a flow run syncs, and while a run is paused for its
one-time code; the plain path (`sync --no-prefect`) with `PREFECT_API_URL` at a dead server.

The server is a real `prefect server start` (tests/flows/e2e.py), killed with SIGKILL and
started again on the same port and database; the flow run is a real `partner-sync sync` in
a subprocess. What these tests pin down (the README's fault table):

- Stopped mid-run: the datasets do not need the API (a task's state goes out as an event,
  fire and forget), so every dataset is synced; the run then fails to record its end and
  the command exits 1 with one line naming the API. Prefect retries each API call with
  back-off (`PREFECT_CLIENT_MAX_RETRIES`, 5 by default: about a minute per call, several
  minutes in all); the test sets 1 to stay quick. On the restarted server the run stays
  `RUNNING` (nothing marks it crashed), and its run lock's lease (120 s) makes a Prefect run
  started meanwhile end Cancelled; `sync --no-prefect` runs at once.
- Stopped while paused: the paused run keeps polling for the code through Prefect's retries;
  the server back within them, the code typed with `partner-sync otp` is taken and the run
  completes. Nothing was written while it waited.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from sandbox import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    SandboxConfig,
    SandboxHandle,
    running_sandbox,
)
from tests.faults.support import SECRETS, SEEN_LINES, Scenario, leaked
from tests.flows.e2e import CLI, PROJECT, PrefectServer, prefect_server_on, run, wait_until
from tests.support.ports import free_port
from tests.support.prefect_http import prefect_http
from tests.support.processes import start_process, stop_process

#: A partner slow enough (per request) that a run lasts some seconds: room to stop the server.
LATENCY_MS = 150
PAGE_SIZE = "500"


class RestartableServer:
    """A `prefect server start` that can be killed and started again on the same port and data."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self._stack: ExitStack | None = None
        self.server: PrefectServer | None = None

    def start(self) -> PrefectServer:
        """Start it (again) and wait until `/api/health` answers."""
        self._stack = ExitStack()
        self.server = self._stack.enter_context(prefect_server_on(self.port, self.tmp))
        return self.server

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, as in a crash or an OOM kill."""
        assert self.server is not None and self._stack is not None
        self.server.process.kill()
        self.server.process.wait(30)
        self._stack.close()
        self.server = None

    def close(self) -> None:
        """Stop it if it runs."""
        if self._stack is not None:
            self._stack.close()


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[SandboxHandle]:
    """A sandbox answering each request after `LATENCY_MS`."""
    with running_sandbox(SandboxConfig(cities=2500, latency_ms=LATENCY_MS)) as handle:
        yield handle


@pytest.fixture(scope="module")
def prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableServer]:
    """One restartable Prefect server for the module (its start costs 5-40 s here)."""
    server = RestartableServer(tmp_path_factory.mktemp("prefect-fault"))
    server.start()
    try:
        yield server
    finally:
        server.close()


def flow_env(
    server: PrefectServer, sandbox: SandboxHandle, fault_env: dict[str, str], **extra: str
) -> dict[str, str]:
    """The environment of `partner-sync sync` through Prefect against `server`."""
    return server.env(
        PARTNER_BASE_URL=sandbox.base_url,
        PARTNER_API_KEY=DEMO_API_KEY,
        PARTNER_API_SECRET=DEMO_API_SECRET,
        PARTNER_EMAIL=DEMO_EMAIL,
        PARTNER_PASSWORD=DEMO_PASSWORD,
        PARTNER_PAGE_SIZE=PAGE_SIZE,
        PARTNER_SESSION_STORE="file",
        DATABASE_URL=fault_env["DATABASE_URL"],
        XDG_STATE_HOME=fault_env["XDG_STATE_HOME"],
        **extra,
    )


def flow_runs(server: PrefectServer) -> list[dict[str, str]]:
    """Every flow run on the server: id, state type and message."""
    with prefect_http(server.api_url) as http:
        answer = http.post("/flow_runs/filter", json={}).json()
    return [
        {
            "id": r["id"],
            "type": (r.get("state") or {}).get("type", ""),
            "message": (r.get("state") or {}).get("message") or "",
        }
        for r in answer
    ]


def wait_for_log(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until `text` shows in `log` (failing early if `process` ended)."""

    def there() -> bool:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        return text in log.read_text(errors="replace")

    wait_until(there, timeout, f"{text!r} in {log.name}", interval=0.1)


@pytest.fixture
def slow_prepare(
    prepare: Callable[..., Scenario], slow_sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], Scenario]]:
    """`prepare`, against the slow sandbox (its data version is restored afterwards)."""
    monkeypatch.setenv("PARTNER_BASE_URL", slow_sandbox.base_url)
    monkeypatch.setenv("PARTNER_PAGE_SIZE", PAGE_SIZE)

    def make() -> Scenario:
        scenario = Scenario.prepared(
            str(_database_url()), slow_sandbox.config, slow_sandbox.state.set_data_version
        )
        return scenario

    yield make
    slow_sandbox.state.set_data_version(1)


def _database_url() -> str:
    import os

    return os.environ["DATABASE_URL"]


def test_the_server_stopped_while_paused_for_the_code_and_back_the_run_completes(
    prefect: RestartableServer,
    slow_sandbox: SandboxHandle,
    slow_prepare: Callable[[], Scenario],
    fault_env: dict[str, str],
    tmp_path: Path,
) -> None:
    scenario = slow_prepare()
    server = prefect.server
    assert server is not None
    # Prefect's default retries: a server back within about a minute is not noticed.
    env = flow_env(server, slow_sandbox, fault_env, PARTNER_OTP_SOURCE="prefect")
    log = tmp_path / "paused-run.log"
    with log.open("wb") as out:
        process = start_process([*CLI, "sync"], env=env, stdout=out, stderr=out, cwd=PROJECT)
    try:
        paused = wait_until(
            lambda: [r for r in flow_runs(server) if r["type"] == "PAUSED"], 90, "a paused run"
        )[0]
        prefect.kill()
        # The run waits on through the outage: alive, polling, nothing written.
        wait_until(lambda: "Paus" in log.read_text(errors="replace"), 5, "the pause in the log")
        assert process.poll() is None, log.read_text()[-3000:]
        scenario.assert_untouched()
        server = prefect.start()
        assert flow_runs(server) and paused["id"] in {r["id"] for r in flow_runs(server)}
        code = httpx.get(f"{slow_sandbox.base_url}/_sandbox/outbox", timeout=10).json()
        answered = run([*CLI, "otp", str(code["messages"][-1]["otp"])], server.env(), PROJECT)
        assert answered.returncode == 0, answered.stdout + answered.stderr
        assert process.wait(120) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        stop_process(process, sig=signal.SIGINT)
    state = {r["id"]: r["type"] for r in flow_runs(server)}[paused["id"]]
    assert state == "COMPLETED"
    assert not leaked(log.read_text(errors="replace"), SECRETS)
    for dataset in ("countries", "currencies", "languages", "cities"):
        assert scenario.source(dataset)  # the run wrote version 2: check it whole
    scenario.assert_next_run_completes()


def test_the_server_stopped_mid_run_the_data_is_synced_and_the_command_ends_in_one_line(
    prefect: RestartableServer,
    slow_sandbox: SandboxHandle,
    slow_prepare: Callable[[], Scenario],
    fault_env: dict[str, str],
    tmp_path: Path,
) -> None:
    scenario = slow_prepare()
    server = prefect.server
    assert server is not None
    env = flow_env(
        server,
        slow_sandbox,
        fault_env,
        PARTNER_OTP_SOURCE="sandbox",
        # One retry per API call instead of five: minutes become seconds (see the docstring).
        PREFECT_CLIENT_MAX_RETRIES="1",
        # A lock of its own: the paused test's outage can leave the default one taken for
        # its lease (see the docstring).
        PARTNER_RUN_LOCK="partner-sync-mid-run",
    )
    log = tmp_path / "killed-run.log"
    with log.open("wb") as out:
        process = start_process([*CLI, "sync"], env=env, stdout=out, stderr=out, cwd=PROJECT)
    try:
        wait_for_log(log, "languages: reading", process, 90)
        prefect.kill()
        code = process.wait(180)
    finally:
        stop_process(process)
    output = log.read_text(errors="replace")
    errors = [line for line in output.splitlines() if line.startswith("partner-sync: error: ")]
    assert code == 1, output[-3000:]
    assert len(errors) == 1, output[-3000:]
    assert re.search(
        r"^partner-sync: error: lost the Prefect API at http://127\.0\.0\.1:\d+/api during the "
        r"run \(\w+: .+\); datasets that finished before are committed",
        errors[0],
    ), errors[0]
    SEEN_LINES["test_the_server_stopped_mid_run"] = errors[0].removeprefix("partner-sync: error: ")
    # Prefect's own services (events, logs) print their connection errors around it; the
    # one line from partner-sync is the one that says what happened.
    assert not leaked(output, SECRETS)
    scenario.assert_untouched(faulted=())  # each dataset: as before or exactly the source

    server = prefect.start()
    states = {r["type"] for r in flow_runs(server)}
    assert "RUNNING" in states, states  # nobody marks the dead run crashed
    scenario.assert_next_run_completes()  # the plain path: no Prefect, no lock


def test_the_plain_path_does_not_care_about_a_dead_prefect_api(
    prepare: Callable[..., Scenario], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = prepare()
    # A Prefect API that was configured once and is gone now; `auto` would pick Prefect's
    # session store if the plain path looked at it.
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    monkeypatch.setenv("PARTNER_SESSION_STORE", "auto")
    scenario.assert_next_run_completes("sync", "--no-prefect")
