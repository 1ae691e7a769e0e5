"""The sandbox as a separate process, so server and client do not share one GIL."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

#: Generous: a million cities are generated lazily, so start-up is mostly imports.
_START_TIMEOUT = 60.0


@dataclass(frozen=True)
class SandboxProcess:
    """A sandbox server running in a child process."""

    base_url: str
    cities: int
    pid: int
    latency_ms: float = 0.0

    def control(self, name: str, *, post: bool = False) -> dict[str, Any]:
        """`GET` (or `POST`) the loopback control route `/_sandbox/NAME`; its JSON."""
        url = f"{self.base_url}/_sandbox/{name}"
        response = httpx.post(url) if post else httpx.get(url)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@contextlib.contextmanager
def sandbox_process(cities: int, *, latency_ms: float = 0.0) -> Iterator[SandboxProcess]:
    """Run `python -m sandbox --port 0 --cities N [--latency MS]` until the block ends.

    The port is read from the banner the sandbox prints; the block starts once health
    answers. On a 2-core machine a separate process gives the server one core and the
    benchmark the other, as a real partner server would (an in-process uvicorn thread
    would take the GIL from the very client being measured).
    """
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        "0",
        "--cities",
        str(cities),
        "--log-level",
        "warning",
        "--latency",
        str(latency_ms),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
    )
    try:
        base_url = _read_base_url(process)
        _wait_healthy(base_url, process)
        yield SandboxProcess(
            base_url=base_url, cities=cities, pid=process.pid, latency_ms=latency_ms
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def _read_base_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        words = line.split()
        if words[:2] == ["base", "URL"]:
            return words[2]
    raise RuntimeError(f"the sandbox exited (status {process.wait()}) before printing its URL")


def _wait_healthy(base_url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited with status {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(base_url + "/actuator/health", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the sandbox at {base_url} did not become healthy")
