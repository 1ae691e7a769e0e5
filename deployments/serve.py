"""`partner-sync serve`: the flow's deployment, served by this process (one host, no work pool).

The deployment runs on a cron schedule (`PARTNER_SYNC_CRON`, default daily 03:00 UTC)
and by hand from the Prefect UI, whose form offers the typed parameters (datasets to
choose from, `full_refresh`). At most one run at a time: a run that would overlap is
cancelled (`CANCEL_NEW`), because two runs would only queue on the same rows.
Stopping `serve` pauses the schedule.
"""

from __future__ import annotations

from typing import Any

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

from flows.sync_reference_data import sync_reference_data
from partner_sync.core.settings import Settings

DEPLOYMENT_NAME = "daily"
TAGS = ["partner-sync", "reference-data"]
DESCRIPTION = (
    "Sync the partner's reference data (countries, currencies, languages, cities) into "
    "DATABASE_URL. Uses the kept session while it lasts; otherwise the run pauses for the "
    "emailed one-time code: type it into the form, or run `partner-sync otp CODE`. "
    "Credentials come from the environment or Prefect Secret blocks, never parameters."
)


def build_deployment(
    settings: Settings, *, name: str | None = None, cron: str | None = None
) -> Any:
    """The `RunnerDeployment` of the sync flow with schedule, tags and the overlap guard."""
    return sync_reference_data.to_deployment(
        name=name or DEPLOYMENT_NAME,
        schedules=[Cron(cron or settings.sync_cron, timezone="UTC")],
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        parameters={"full_refresh": False},
        description=DESCRIPTION,
        tags=TAGS,
    )


def serve_deployment(
    settings: Settings, *, name: str | None = None, cron: str | None = None
) -> None:
    """Register the deployment and run its flow runs from this process until interrupted."""
    serve(build_deployment(settings, name=name, cron=cron))
