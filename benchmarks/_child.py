"""Work run in a child process: peak memory of one sync, and the orchestration runs.

`python -m benchmarks._child memory BASE_URL ROWS DB` and
`python -m benchmarks._child orchestration BASE_URL WORKDIR RUNS` print one JSON line last.
A child gives each measurement a clean process: its own peak RSS, its own `import prefect`.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any


def _status_kib(field: str) -> int:
    """A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


class _Quiet:
    def start(self, dataset: str) -> None:
        pass

    def advance(self, dataset: str, rows: int, total: int | None) -> None:
        pass

    def finish(self, outcome: object) -> None:
        pass


def memory(base_url: str, rows: int, db: str) -> dict[str, Any]:
    """Sync `cities` into a new SQLite file; report RSS before and the peak after."""
    from partner_api import PartnerClient, SandboxOtpSource
    from partner_sync.core.dataset import sync_one
    from partner_sync.core.settings import Settings
    from sandbox import DEMO_API_KEY, DEMO_API_SECRET, DEMO_EMAIL, DEMO_PASSWORD
    from storage.db import make_engine, upgrade_database

    engine = make_engine(f"sqlite:///{db}")
    upgrade_database(engine)
    with PartnerClient(base_url, DEMO_API_KEY, DEMO_API_SECRET) as client:
        client.login(DEMO_EMAIL, DEMO_PASSWORD, SandboxOtpSource(base_url))
        settings = Settings(_env_file=None)
        before = _status_kib("VmRSS")
        started = time.perf_counter()
        outcome = sync_one(client, engine, settings, "cities", progress=_Quiet())
        seconds = time.perf_counter() - started
    engine.dispose()
    if outcome.result is None or outcome.result.inserted != rows:
        raise RuntimeError(f"expected {rows} cities inserted, got {outcome}")
    return {
        "rows": rows,
        "seconds": seconds,
        "rss_before_kib": before,
        "peak_rss_kib": _status_kib("VmHWM"),
    }


def orchestration(base_url: str, workdir: str, runs: int) -> dict[str, Any]:
    """The Prefect flow for `countries` vs `run_sync` of the same, alternately, fresh files.

    Both read the same settings from the environment the parent set (sandbox OTP source,
    the same session file, so both reuse one kept session after the first login).
    """
    started = time.perf_counter()
    from flows._prefect_runtime import quick_flow_settings
    from flows.sync_reference_data import sync_reference_data

    import_seconds = time.perf_counter() - started
    from partner_sync.core.run import run_sync
    from partner_sync.core.settings import load_settings

    def fresh_database() -> None:
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/orch-{uuid.uuid4().hex[:8]}.db"

    def flow_run() -> float:
        fresh_database()
        begun = time.perf_counter()
        # As the CLI calls it (`partner-sync sync`): heartbeats off for a run at a terminal.
        with quick_flow_settings():
            report: Any = sync_reference_data(datasets=["countries"])  # type: ignore[list-item]
        took = time.perf_counter() - begun
        if not report.ok or report.outcomes[0].status != "succeeded":
            raise RuntimeError(f"the flow did not succeed: {report}")
        return took

    def plain_run() -> float:
        fresh_database()
        begun = time.perf_counter()
        outcomes = run_sync(load_settings(), ["countries"], progress=_Quiet()).outcomes
        took = time.perf_counter() - begun
        if outcomes[0].status != "succeeded":
            raise RuntimeError(f"the plain sync did not succeed: {outcomes}")
        return took

    first_flow = flow_run()  # registers the flow with the server, logs in, keeps the session
    plain_run()
    flows: list[float] = []
    plains: list[float] = []
    for round_ in range(runs):
        if round_ % 2 == 0:
            flows.append(flow_run())
            plains.append(plain_run())
        else:
            plains.append(plain_run())
            flows.append(flow_run())
    return {
        "import_seconds": import_seconds,
        "first_flow_seconds": first_flow,
        "flow": flows,
        "plain": plains,
    }


def main(argv: list[str]) -> int:
    """Dispatch on the first argument and print the result as the last line."""
    kind, *rest = argv
    if kind == "memory":
        result = memory(rest[0], int(rest[1]), rest[2])
    elif kind == "orchestration":
        result = orchestration(rest[0], rest[1], int(rest[2]))
    else:
        raise SystemExit(f"unknown child work {kind!r}")
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
