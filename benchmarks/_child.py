"""Work run in a child process: the peak memory of one sync.

`python -m benchmarks._child memory BASE_URL ROWS DB` prints one JSON line last. A child
gives each measurement a clean process, with its own peak RSS.
"""

from __future__ import annotations

import json
import sys
import time
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


def main(argv: list[str]) -> int:
    """Dispatch on the first argument and print the result as the last line."""
    kind, *rest = argv
    if kind == "memory":
        result = memory(rest[0], int(rest[1]), rest[2])
    else:
        raise SystemExit(f"unknown child work {kind!r}")
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
