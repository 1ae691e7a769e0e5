"""Load: many clients' concurrent signed requests against the sandbox, every answer checked.

`python -m benchmarks.load` starts the sandbox in its own process, logs in 20 clients (each
its own session), and keeps 200 signed dataset requests in flight (10 per client) for 30
seconds. Every answer is compared with the page the sandbox must serve (`build_items`), and
the sandbox's own count of nonce rejections must stay at zero: a fresh UUID4 per request
must never look like a replay. It prints the figures and writes `benchmarks/LOAD.md`.

The load generator is one asyncio process (on a small machine, one process per client
would measure the scheduler): `httpx.AsyncClient`s sharing the client's `HmacAuth`, which
signs without I/O and so serves async clients as well.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from partner_api import PartnerClient, SandboxOtpSource
from partner_api._auth import HmacAuth
from partner_api.datasets import DATASETS
from sandbox import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    build_items,
)

PAGE_SIZE = 50
CONSTANTS = "/api/v1/partner/constants/{dataset}"
REPORT = Path(__file__).resolve().parent / "LOAD.md"


@dataclass
class LoadResult:
    """What one load run measured."""

    clients: int
    concurrency: int
    duration: float
    cities: int
    requests: int = 0
    correct: int = 0
    wrong: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    nonce_rejections: int = 0
    server_codes: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list, repr=False)
    elapsed: float = 0.0
    #: The machine's 1-minute load average when the run began: other work skews the figures.
    load_average: float = 0.0

    @property
    def per_second(self) -> float:
        """Answered requests per second over the run."""
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile(self, fraction: float) -> float:
        """A latency percentile in milliseconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def lines(self) -> list[str]:
        """The figures, one per line."""
        return [
            f"clients x in flight   {self.clients} x {self.concurrency // self.clients} "
            f"= {self.concurrency}",
            f"duration              {self.elapsed:.1f} s",
            f"requests              {self.requests:,}",
            f"requests per second   {self.per_second:,.0f}",
            f"latency p50 / p99     {self.percentile(0.5):.1f} / {self.percentile(0.99):.1f} ms",
            f"correct answers       {self.correct:,}",
            f"wrong answers         {self.wrong}",
            f"errors                {dict(self.errors) or 0}",
            f"nonce rejections      {self.nonce_rejections} (sandbox's own count)",
            f"machine load average  {self.load_average:.1f} at the start",
        ]


def expected_pages(cities: int, seed: int | None = None) -> dict[tuple[str, int], str]:
    """The digest of every page of every dataset at `PAGE_SIZE`, as the sandbox serves it."""
    pages: dict[tuple[str, int], str] = {}
    for dataset in DATASETS:
        kwargs: dict[str, Any] = {"cities": cities}
        if seed is not None:
            kwargs["seed"] = seed
        items = build_items(dataset, **kwargs)
        for page in range(-(-len(items) // PAGE_SIZE)):
            pages[(dataset, page)] = _digest(items[page * PAGE_SIZE : (page + 1) * PAGE_SIZE])
    return pages


def _digest(items: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()


def _log_in(base_url: str) -> tuple[str, HmacAuth]:
    """Log one client in through the MFA handoff; return its token and its signer."""
    with PartnerClient(base_url, DEMO_API_KEY, DEMO_API_SECRET) as client:
        session = client.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(base_url))
        # The signer keeps the client's measured clock offset (a snapshot is enough here).
        offset = client.clock.offset
    auth = HmacAuth(
        DEMO_API_KEY,
        DEMO_API_SECRET,
        context_path=httpx.URL(base_url).path,
        clock=lambda: time.time() + offset,
    )
    return session.token.get_secret_value(), auth


async def _worker(
    http: httpx.AsyncClient,
    plan: list[tuple[str, int]],
    expected: dict[tuple[str, int], str],
    result: LoadResult,
    deadline: float,
    rng: random.Random,
) -> None:
    while time.monotonic() < deadline:
        dataset, page = rng.choice(plan)
        started = time.monotonic()
        try:
            response = await http.get(
                CONSTANTS.format(dataset=dataset), params={"page": page, "size": PAGE_SIZE}
            )
        except httpx.HTTPError as exc:
            result.errors[type(exc).__name__] += 1
            continue
        result.latencies.append(time.monotonic() - started)
        result.requests += 1
        if response.status_code != 200:
            try:
                code = response.json().get("code", "?")
            except ValueError:
                code = "not JSON"
            result.errors[f"{response.status_code} {code}"] += 1
            continue
        content = response.json()["data"]["content"]
        if _digest(content) == expected[(dataset, page)]:
            result.correct += 1
        else:
            result.wrong += 1


async def _run(
    base_url: str,
    signers: list[tuple[str, HmacAuth]],
    per_client: int,
    duration: float,
    expected: dict[tuple[str, int], str],
    result: LoadResult,
) -> None:
    plan = sorted(expected)
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    clients = [
        httpx.AsyncClient(
            base_url=base_url,
            auth=auth,
            headers={"X-Session-Token": token, "Accept": "application/json"},
            limits=limits,
            timeout=60.0,
        )
        for token, auth in signers
    ]
    started = time.monotonic()
    deadline = started + duration
    try:
        await asyncio.gather(
            *(
                _worker(http, plan, expected, result, deadline, random.Random(f"{n}-{k}"))
                for n, http in enumerate(clients)
                for k in range(per_client)
            )
        )
    finally:
        result.elapsed = time.monotonic() - started
        for http in clients:
            await http.aclose()


def run_load(
    base_url: str,
    *,
    clients: int = 20,
    concurrency: int = 200,
    duration: float = 30.0,
    cities: int = 50_000,
    seed: int | None = None,
) -> LoadResult:
    """Hold `concurrency` signed requests from `clients` sessions for `duration` seconds."""
    if concurrency % clients:
        raise ValueError("concurrency must be a multiple of clients")
    expected = expected_pages(cities, seed)
    signers = [_log_in(base_url) for _ in range(clients)]
    before = httpx.get(base_url + "/_sandbox/stats", timeout=10).json()
    result = LoadResult(clients, concurrency, duration, cities, load_average=os.getloadavg()[0])
    asyncio.run(_run(base_url, signers, concurrency // clients, duration, expected, result))
    after = httpx.get(base_url + "/_sandbox/stats", timeout=10).json()
    result.nonce_rejections = after["nonceRejections"] - before["nonceRejections"]
    result.server_codes = {
        code: count - before["byCode"].get(code, 0)
        for code, count in after["byCode"].items()
        if count != before["byCode"].get(code, 0)
    }
    return result


def write_report(result: LoadResult, path: Path = REPORT) -> None:
    """Write the figures to `LOAD.md`."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
    text = "\n".join(
        [
            "# Load: the sandbox under concurrent signed requests",
            "",
            f"`python -m benchmarks.load` ({when}; {machine}). The sandbox runs in its own "
            "process (one uvicorn worker); one asyncio process drives the clients, each "
            f"with its own session. Pages of {PAGE_SIZE} items from all four datasets "
            f"({result.cities:,} cities), chosen at random; every answer is compared with "
            "the page the sandbox must serve.",
            "",
            "```",
            *result.lines(),
            f"sandbox answers        {result.server_codes}",
            "```",
            "",
            "Requests per second are the whole path: signing (HMAC-SHA256, fresh UUID4 "
            "nonce), the sandbox's checks (signature, window, nonce memory, scope, session), "
            "serving the page, and parsing and checking it here. Client and server share "
            "the machine's CPUs.",
            "",
        ]
    )
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the load benchmark against a fresh sandbox process and report."""
    from benchmarks._sandbox import sandbox_process

    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--cities", type=int, default=50_000)
    parser.add_argument("--output", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    with sandbox_process(args.cities) as sandbox:
        result = run_load(
            sandbox.base_url,
            clients=args.clients,
            concurrency=args.concurrency,
            duration=args.duration,
            cities=args.cities,
        )
    print("\n".join(result.lines()))
    write_report(result, args.output)
    print(f"written to {args.output}")
    return 0 if result.wrong == 0 and not result.errors and result.nonce_rejections == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
