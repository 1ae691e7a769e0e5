"""`partner-sync notify setup` and `notify remove`: who is told when a run needs a code or fails."""

from __future__ import annotations

from typing import Annotated

import typer

from partner_sync.core.report import EXIT_OK
from partner_sync.core.settings import load_settings

from ._output import EXIT_USAGE, fail

DeploymentOption = Annotated[
    str,
    typer.Option(
        help="The deployment, `flow/deployment` or a name of the sync flow's "
        "(`daily` for `partner-sync serve`, `daily-pool` for deployments/prefect.yaml)."
    ),
]

_NO_API = (
    "no Prefect API is configured: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api) "
    "to the server that runs the deployment"
)


def notify_setup(
    deployment: DeploymentOption = "daily",
    block: Annotated[
        str | None,
        typer.Option(
            help="The notification block's slug, e.g. `slack-webhook/ops` "
            "(default: PARTNER_NOTIFY_BLOCK)."
        ),
    ] = None,
) -> int:
    """Create or update the automation that tells a block when a run pauses, fails or crashes."""
    # Lazy: importing Prefect costs ~1.5 s, which the commands without it must not pay.
    from flows._session_prefect import prefect_api_configured
    from flows.notify import NotifySetupError, setup_notifications

    if not prefect_api_configured():
        return fail(_NO_API, EXIT_USAGE)
    slug = block or load_settings().notify_block
    if not slug:
        return fail("name a notification block: --block SLUG or PARTNER_NOTIFY_BLOCK", EXIT_USAGE)
    try:
        done = setup_notifications(deployment, slug)
    except NotifySetupError as exc:
        return fail(str(exc), EXIT_USAGE)
    verb = "updated" if done.updated else "created"
    print(
        f"automation {done.name!r} {verb}: {done.block} is told when a run of "
        f"{done.deployment} pauses for a code, fails or crashes"
    )
    return EXIT_OK


def notify_remove(deployment: DeploymentOption = "daily") -> int:
    """Delete the deployment's notification automation."""
    # Lazy: importing Prefect costs ~1.5 s, which the commands without it must not pay.
    from flows._session_prefect import prefect_api_configured
    from flows.notify import automation_name, remove_notifications

    if not prefect_api_configured():
        return fail(_NO_API, EXIT_USAGE)
    removed = remove_notifications(deployment)
    name = automation_name(deployment)
    print(f"automation {name!r} deleted" if removed else f"no automation {name!r}: nothing to do")
    return EXIT_OK
