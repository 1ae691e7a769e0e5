"""Prefect settings that suit a short flow called from the CLI or as a script.

Imported only by the Prefect-backed paths: importing it imports Prefect.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings


def quiet_prefect_defaults() -> None:
    """Defaults for a machine that may be offline, set only where the user has not.

    No telemetry from the temporary server (it logs a traceback when offline), and a
    start-up timeout that survives a slow first start (Prefect's default is 20 s).
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


@contextmanager
def quick_flow_settings() -> Iterator[None]:
    """Heartbeats off around a flow called in this process.

    The heartbeat thread sleeps in one-second steps and the engine joins it at the end, so
    it adds up to ~1 s to every flow call; for a run someone is waiting on at a terminal
    that second buys nothing (heartbeats detect crashed runs of deployments, which keep
    them). Only `temporary_settings` can turn it off: the environment variable cannot
    say None.
    """
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
