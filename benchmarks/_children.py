"""The figures measured in child processes: peak memory, and Prefect orchestration."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from sandbox import DEMO_API_KEY, DEMO_API_SECRET, DEMO_EMAIL, DEMO_PASSWORD

from ._sandbox import sandbox_process
from ._timing import Figure, median

#: The project root: children import `benchmarks`, `flows`, ... from it.
ROOT = Path(__file__).resolve().parent.parent
_PREFECT_START_TIMEOUT = 120.0


def run_child(args: list[str], *, env: dict[str, str] | None = None, cwd: str) -> dict[str, Any]:
    """Run `python -m benchmarks._child ARGS`; return the JSON it printed last."""
    child_env = dict(env or os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), child_env.get("PYTHONPATH")])
    )
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._child", *args],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise RuntimeError(f"child {args[0]} failed with status {done.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --- memory -------------------------------------------------------------------------------


def memory_figure(base_url: str, rows: int, big_rows: int, runs: int) -> Figure:
    """Peak RSS of a child syncing `big_rows` cities vs one syncing `rows` (flat is the aim).

    The `big_rows` sync reads its own sandbox process, started only for it.
    """
    with tempfile.TemporaryDirectory(prefix="partner-bench-mem-") as workdir:

        def peak(url: str, n: int, label: str) -> dict[str, Any]:
            return run_child(["memory", url, str(n), f"{workdir}/{label}.db"], cwd=workdir)

        small = [peak(base_url, rows, f"small{i}") for i in range(runs)]
        with sandbox_process(big_rows) as big_sandbox:
            big = [peak(big_sandbox.base_url, big_rows, f"big{i}") for i in range(runs)]
    mib = 1024.0
    small_peak = median([r["peak_rss_kib"] for r in small]) / mib
    big_peak = median([r["peak_rss_kib"] for r in big]) / mib
    small_base = median([r["rss_before_kib"] for r in small]) / mib
    big_base = median([r["rss_before_kib"] for r in big]) / mib
    return Figure(
        "memory",
        big_peak,
        small_peak,
        "MiB",
        1.5,
        ours_label=f"peak RSS syncing {big_rows:,} cities",
        baseline_label=f"ours at {rows:,}",
        note=(
            f"above the RSS before the sync: +{big_peak - big_base:,.0f} MiB vs "
            f"+{small_peak - small_base:,.0f} MiB; {big_rows:,} rows took "
            f"{median([r['seconds'] for r in big]):,.1f} s"
        ),
        samples={
            "ours": [r["peak_rss_kib"] for r in big],
            "small": [r["peak_rss_kib"] for r in small],
        },
    )


# --- orchestration ------------------------------------------------------------------------


#: Tries at starting the Prefect server on a fresh port when another process took the last one.
_PORT_ATTEMPTS = 5


class _PortTaken(RuntimeError):
    """The server could not bind its port: another process took it after we picked it."""


def _free_port() -> int:
    """A port free a moment ago; `prefect_server` tries again when it is taken meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def prefect_server(home: str) -> Iterator[tuple[str, float]]:
    """`prefect server start` in its own process group; yields (API URL, start-up seconds)."""
    started = time.perf_counter()
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        try:
            process, log, api = _start_prefect_server(home, _free_port())
            break
        except _PortTaken:
            if attempt == _PORT_ATTEMPTS:
                raise
    try:
        yield api, time.perf_counter() - started
    finally:
        _stop_group(process)
        log.close()


def _start_prefect_server(home: str, port: int) -> tuple[subprocess.Popen[bytes], Any, str]:
    """Start the server on `port` and wait until it is healthy; `_PortTaken` if it cannot bind."""
    env = dict(os.environ, PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.pop("PREFECT_API_URL", None)
    command = [
        str(Path(sys.executable).with_name("prefect")),
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--analytics-off",
        "--no-ui",
    ]
    log_path = Path(home) / "server.log"
    log = open(log_path, "w")  # noqa: SIM115  (closed by the caller, or here on failure)
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + _PREFECT_START_TIMEOUT
        while True:
            if process.poll() is not None:
                said = log_path.read_text(errors="replace").lower()
                if "address already in use" in said:
                    raise _PortTaken(f"port {port} was taken before prefect server bound it")
                raise RuntimeError(f"prefect server exited with status {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{api}/health", timeout=2.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("prefect server did not become healthy")
            time.sleep(0.2)
    except BaseException:
        _stop_group(process)
        log.close()
        raise
    if process.poll() is not None:  # what answered was another server on the port it took
        log.close()
        raise _PortTaken(f"prefect server exited while port {port} answered")
    return process, log, api


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group (it may have spawned helpers), killing it if need be."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def orchestration_figure(base_url: str, runs: int) -> Figure:
    """The Prefect flow for `countries` against a running server vs plain `run_sync`."""
    with (
        tempfile.TemporaryDirectory(prefix="partner-bench-prefect-") as home,
        prefect_server(home) as (api, startup),
    ):
        env = dict(os.environ)
        for name in list(env):
            if name.startswith(("PARTNER_", "PREFECT_")) or name == "DATABASE_URL":
                del env[name]
        env.update(
            PREFECT_HOME=home,
            PREFECT_API_URL=api,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PARTNER_BASE_URL=base_url,
            PARTNER_API_KEY=DEMO_API_KEY,
            PARTNER_API_SECRET=DEMO_API_SECRET,
            PARTNER_EMAIL=DEMO_EMAIL,
            PARTNER_PASSWORD=DEMO_PASSWORD,
            PARTNER_OTP_SOURCE="sandbox",
            PARTNER_SESSION_STORE="file",
            PARTNER_SESSION_FILE=f"{home}/session.json",
        )
        result = run_child(["orchestration", base_url, home, str(runs)], env=env, cwd=home)
    flow, plain = median(result["flow"]), median(result["plain"])
    return Figure(
        "orchestration",
        flow,
        plain,
        "s",
        1.5,
        kind="added",
        ours_label="Prefect flow, `countries`, running server",
        baseline_label="`run_sync` as a plain function",
        note=(
            f"once per process: `import prefect` + flow module {result['import_seconds']:.1f} s, "
            f"first flow call {result['first_flow_seconds']:.1f} s; "
            f"`prefect server start` until healthy {startup:.1f} s"
        ),
        samples={"flow": result["flow"], "plain": result["plain"]},
    )
