"""Helpers for the end-to-end tests: a real `prefect server start`, `partner-sync serve`, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import PortInUse, free_port, retry_on_port_clash
from tests.support.prefect_http import prefect_http
from tests.support.processes import running_process, start_process, stop_process

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from partner_sync.cli import main; sys.exit(main())"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without Prefect's or partner-sync's settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "PARTNER_")) and k != "DATABASE_URL"
    }
    env.update(PYTHONPATH=str(PROJECT), PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)
    return env


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Call `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@dataclass
class PrefectServer:
    """A running `prefect server start` and its API."""

    api_url: str
    ui_url: str
    home: Path
    process: subprocess.Popen[Any]

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        with prefect_http(self.api_url) as http:
            response = http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a client of this server."""
        return clean_env(PREFECT_API_URL=self.api_url, PREFECT_HOME=str(self.home), **extra)

    def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/flow_runs/{flow_run_id}"))

    def state_of(self, flow_run_id: str) -> str:
        state = self.flow_run(flow_run_id).get("state") or {}
        return str(state.get("type", ""))

    def wait_for_state(self, flow_run_id: str, types: set[str], timeout: float) -> str:
        return str(
            wait_until(
                lambda: (s := self.state_of(flow_run_id)) in types and s,
                timeout,
                f"flow run {flow_run_id} to reach {types}",
            )
        )


@contextmanager
def prefect_server(
    tmp: Path, database_url: str | None = None, **extra_env: str
) -> Iterator[PrefectServer]:
    """`prefect server start` on a free port (SQLite in `tmp` unless `database_url`).

    The server binds the port itself, so another process can take it between `free_port`
    and that bind: then the server exits with EADDRINUSE and starts again on a new port.
    """
    server = retry_on_port_clash(lambda: _start_prefect_server(tmp, database_url, extra_env))
    try:
        yield server
    finally:
        stop_process(server.process, sig=signal.SIGINT, timeout=15)


@contextmanager
def prefect_server_on(
    port: int, tmp: Path, database_url: str | None = None, **extra_env: str
) -> Iterator[PrefectServer]:
    """`prefect server start` on `port` (a restart on the same port and data, say)."""
    server = _start_prefect_server(tmp, database_url, extra_env, port=port)
    try:
        yield server
    finally:
        stop_process(server.process, sig=signal.SIGINT, timeout=15)


def _start_prefect_server(
    tmp: Path, database_url: str | None, extra_env: dict[str, str], port: int | None = None
) -> PrefectServer:
    """Start the server (on a port free a moment ago unless `port`); return it once healthy."""
    port = port or free_port()
    home = tmp / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=database_url
        or f"sqlite+aiosqlite:///{tmp / 'prefect.db'}",
        PREFECT_UI_API_URL=f"http://127.0.0.1:{port}/api",
        **extra_env,
    )
    log_path = tmp / "prefect-server.log"
    with log_path.open("wb") as log:
        process = start_process(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
    server = PrefectServer(
        f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port}", home, process
    )

    def healthy() -> bool:
        if process.poll() is not None:
            output = log_path.read_text(errors="replace")
            if "already in use" in output.lower():
                raise PortInUse(f"prefect server could not bind {port}")
            raise AssertionError(f"prefect server exited: {output[-2000:]}")
        try:
            return httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, 90, "the Prefect server's /api/health")
    except BaseException:
        stop_process(process, sig=signal.SIGINT, timeout=15)
        raise
    return server


@contextmanager
def background(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> Iterator[Any]:
    """A background process, interrupted (as Ctrl-C would) afterwards; its output goes to `log`."""
    with (
        log.open("wb") as out,
        running_process(
            args,
            sig=signal.SIGINT,
            timeout=15,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        ) as process,
    ):
        yield process


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
