"""`partner-sync serve`: the flow's deployment, served by this process (one host, no work pool).

The deployment runs on a cron schedule (`PARTNER_SYNC_CRON`, default daily 03:00 UTC)
and by hand from the Prefect UI, whose form offers the typed parameters (datasets to
choose from, `full_refresh`). At most one run at a time: a run that would overlap is
cancelled (`CANCEL_NEW`), because two runs would only queue on the same rows.
Stopping `serve` pauses the schedule. With `PARTNER_NOTIFY_BLOCK` set, the deployment
is registered first and its notification automation created or updated (`flows.notify`)
before the runs start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

from flows.notify import NotifySetup, setup_notifications
from flows.sync_reference_data import sync_reference_data
from partner_sync.core.settings import Settings

logger = logging.getLogger("partner_sync.serve")

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


def register_notifications(settings: Settings, deployment: Any) -> NotifySetup | None:
    """Register `deployment` and point its notification automation at the settings' block.

    Nothing without `PARTNER_NOTIFY_BLOCK`. The deployment must exist before an automation
    can name it, so it is applied here; `serve` applies it again (an update, same id).
    """
    if not settings.notify_block:
        return None
    deployment.apply()
    return setup_notifications(deployment.full_name, settings.notify_block)


def serve_deployment(
    settings: Settings,
    *,
    name: str | None = None,
    cron: str | None = None,
    announce: Callable[[str], None] = logger.info,
) -> None:
    """Register the deployment and run its flow runs from this process until interrupted.

    `announce` receives one line when notifications are set up (the CLI prints it).
    """
    deployment = build_deployment(settings, name=name, cron=cron)
    done = register_notifications(settings, deployment)
    if done is not None:
        announce(
            f"notifications: {done.block} is told when a run of {done.deployment} pauses "
            f"for a code, fails or crashes (automation {done.name!r})"
        )
    serve(deployment)
