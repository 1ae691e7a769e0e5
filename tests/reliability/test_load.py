"""Load: 200 concurrent signed requests from 20 clients, every answer right, no false replay.

CI holds the load for 3 s; `make reliability` for 30 s (and `python -m benchmarks.load`
writes the figures to `benchmarks/LOAD.md`).
"""

from __future__ import annotations

from benchmarks.load import run_load
from tests.reliability.support import FIGURES, Size, cli_sandbox

CITIES = 5_000


def test_the_sandbox_holds_200_concurrent_signed_requests_from_20_clients(size: Size) -> None:
    seconds = size(3, 30)
    with cli_sandbox("--cities", str(CITIES)) as sandbox:
        result = run_load(
            sandbox.base_url, clients=20, concurrency=200, duration=seconds, cities=CITIES
        )
    FIGURES[f"load ({size.name}): requests (per second, over s)"] = (
        f"{result.requests:,} ({result.per_second:,.0f}/s over {result.elapsed:.1f} s)"
    )
    assert result.requests > 0
    assert result.wrong == 0
    assert not result.errors, result.errors
    assert result.nonce_rejections == 0
    assert set(result.server_codes) == {"2000"}, result.server_codes
