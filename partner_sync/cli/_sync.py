"""`partner-sync sync` and `partner-sync demo`: one run, through the Prefect flow or without it."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from partner_api import DatasetName
from partner_sync.core.progress import progress_for_terminal
from partner_sync.core.report import RunReport
from partner_sync.core.run import run_sync
from partner_sync.core.settings import load_settings

from ._output import load_sandbox, print_report
from ._settings import load_cli_settings, session_store_for

DatasetsOption = Annotated[
    list[DatasetName] | None,
    typer.Option("--dataset", help="A dataset to sync (repeatable; default: all)."),
]
NoPrefectOption = Annotated[
    bool,
    typer.Option(
        "--no-prefect", help="Run the sync directly, without Prefect (no server, no flow run)."
    ),
]
MassDeleteOption = Annotated[
    bool,
    typer.Option(
        "--allow-mass-delete",
        help="For this run, allow marking more than PARTNER_MAX_DELETE_FRACTION of rows deleted.",
    ),
]
FullRefreshOption = Annotated[
    bool,
    typer.Option("--full-refresh", help="Ignore remembered ETags and read every dataset in full."),
]


def sync(
    dataset: DatasetsOption = None,
    no_prefect: NoPrefectOption = False,
    allow_mass_delete: MassDeleteOption = False,
    full_refresh: FullRefreshOption = False,
) -> int:
    """Sync datasets from the partner (through the Prefect flow unless --no-prefect)."""
    return _run_and_print(dataset, no_prefect, allow_mass_delete, full_refresh, {})


def demo(
    dataset: DatasetsOption = None,
    no_prefect: NoPrefectOption = False,
    allow_mass_delete: MassDeleteOption = False,
    full_refresh: FullRefreshOption = False,
    cities: Annotated[int, typer.Option(help="Cities in the sandbox.")] = 50_000,
) -> int:
    """Sync everything from an embedded sandbox started on a free port."""
    sandbox_package = load_sandbox()
    config = sandbox_package.SandboxConfig(cities=cities)
    # The sandbox logs each code it "emails" (it is the partner's side); in the demo both
    # sides share one terminal, and a one-time code has no business in our output.
    logging.getLogger("sandbox").setLevel(logging.WARNING)
    with sandbox_package.running_sandbox(config) as sandbox:
        print(f"sandbox listening at {sandbox.base_url} ({cities:,} cities)")
        overrides = {
            "base_url": sandbox.base_url,
            "api_key": sandbox_package.DEMO_API_KEY,
            "api_secret": sandbox_package.DEMO_API_SECRET,
            "email": sandbox_package.DEMO_EMAIL,
            "password": sandbox_package.DEMO_PASSWORD,
            "mfa_method": "EMAIL",
            "otp_source": "sandbox",
            # The sandbox's port changes every demo: a kept session could never be reused.
            "session_store": "none",
        }
        return _run_and_print(dataset, no_prefect, allow_mass_delete, full_refresh, overrides)


def _run_and_print(
    datasets: Sequence[str] | None,
    no_prefect: bool,
    allow_mass_delete: bool,
    full_refresh: bool,
    overrides: dict[str, Any],
) -> int:
    if no_prefect:
        settings = load_cli_settings(**overrides)
        with progress_for_terminal() as progress:
            report = run_sync(
                settings,
                datasets,
                allow_mass_delete=allow_mass_delete,
                full_refresh=full_refresh,
                progress=progress,
                store=session_store_for(settings),
            )
    else:
        load_settings(**overrides)  # a bad setting is one line here, not a failed flow run
        report = _run_flow(datasets, allow_mass_delete, full_refresh, overrides)
    return print_report(report)


def _run_flow(
    datasets: Sequence[str] | None,
    allow_mass_delete: bool,
    full_refresh: bool,
    overrides: dict[str, Any],
) -> RunReport:
    """Run the flow in this process (a temporary Prefect server unless PREFECT_API_URL)."""
    # The flow reads settings itself (never as parameters): pass overrides by environment.
    for key, value in overrides.items():
        env = "DATABASE_URL" if key == "database_url" else f"PARTNER_{key.upper()}"
        os.environ[env] = str(value)
    # Lazy: importing Prefect costs ~1.5 s, which `sync --no-prefect` must never pay.
    from flows._prefect_runtime import quick_flow_settings
    from flows.sync_reference_data import SyncFailedError, sync_reference_data

    try:
        with quick_flow_settings():
            state: Any = sync_reference_data(
                datasets=[DatasetName(name) for name in datasets] if datasets else None,
                full_refresh=full_refresh,
                allow_mass_delete=allow_mass_delete,
                return_state=True,
            )
    except Exception as exc:
        lost = _lost_prefect_api(exc)
        if lost is None:
            raise
        raise lost from None
    if state.is_cancelled():  # e.g. another run holds the lock: nothing was attempted
        raise RuntimeError(f"the flow run was cancelled: {state.message}")
    result = state.result(raise_on_failure=False)
    if isinstance(result, SyncFailedError):
        return result.report
    if isinstance(result, BaseException):
        raise result
    if not isinstance(result, RunReport):
        raise RuntimeError(f"the flow run ended {state.name}: {state.message}")
    return result


class PrefectApiLostError(RuntimeError):
    """The Prefect API stopped answering while the flow ran in this process."""


def _lost_prefect_api(exc: BaseException) -> PrefectApiLostError | None:
    """A one-line error naming the Prefect API when `exc` (or its cause) is a lost connection.

    Prefect lets the bare transport error out (`[Errno 111] Connection refused`), which names
    neither Prefect nor where it was; the datasets finished before are committed either way.
    """
    import httpx
    from prefect.settings import PREFECT_API_URL

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.TransportError | ConnectionError) or (
            isinstance(seen, RuntimeError) and "Failed to reach API" in str(seen)
        ):
            reason = " ".join(str(seen).split()) or type(seen).__name__
            return PrefectApiLostError(
                f"lost the Prefect API at {PREFECT_API_URL.value() or '(temporary server)'} "
                f"during the run ({type(seen).__name__}: {reason}); datasets that finished "
                "before are committed (`partner-sync status` shows them), the flow run's "
                "state on the server is stale"
            )
        seen = seen.__cause__ or seen.__context__
    return None
