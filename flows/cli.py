"""The `partner-sync` command line.

`sync --no-prefect`, `status`, `db upgrade` and `sandbox` never import Prefect, so they
start in well under a second; the Prefect-backed commands import it only when run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from partner_api import DATASETS

from ._settings import SettingsError, load_settings
from ._sync import DatasetOutcome, one_line

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"partner-sync: error: {message}", file=sys.stderr)
    return code


def _console() -> Any:
    """A rich console; piped or logged output gets room for whole column titles."""
    from rich.console import Console

    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


def _print_outcomes(rows: Sequence[dict[str, Any]]) -> None:
    """The per-dataset table, with rich when it is installed and a terminal or not."""
    from rich.table import Table

    table = Table(title="partner-sync")
    for column in ("dataset", "status", "inserted", "updated", "unchanged", "deleted", "seconds"):
        table.add_column(
            column,
            justify="left" if column in ("dataset", "status") else "right",
            no_wrap=True,
            min_width=len("not_modified") if column == "status" else None,
        )
    for row in rows:
        table.add_row(
            row["dataset"],
            row["status"],
            *(str(row[c]) for c in ("inserted", "updated", "unchanged", "deleted")),
            f"{row['seconds']:.1f}",
        )
    _console().print(table)
    for row in rows:
        if row.get("error") and row["status"] == "failed":
            print(f"{row['dataset']}: {row['error']}", file=sys.stderr)


def _configure_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Progress and retries are worth seeing by default; httpx's per-request lines are not.
    logging.getLogger("partner_sync").setLevel(min(level, logging.INFO))
    logging.getLogger("partner_api").setLevel(min(level, logging.INFO))
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose > 2 else logging.WARNING)


def cmd_sync(args: argparse.Namespace, **overrides: Any) -> int:
    """Run the sync (through the Prefect flow unless --no-prefect) and print the table."""
    settings = load_settings(**overrides)
    if args.no_prefect:
        from ._progress import progress_for_terminal
        from ._sync import run_sync

        with progress_for_terminal() as progress:
            outcomes = run_sync(
                settings,
                args.dataset,
                allow_mass_delete=args.allow_mass_delete,
                full_refresh=args.full_refresh,
                progress=progress,
            )
        rows = [o.as_row() for o in outcomes]
    else:
        rows = _run_flow(args, overrides)
    _print_outcomes(rows)
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        return _fail(f"{len(failed)} of {len(rows)} datasets failed: " + failed[0]["error"])
    return EXIT_OK


def _run_flow(args: argparse.Namespace, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    # The flow reads settings itself (never as parameters): pass overrides by environment.
    for key, value in overrides.items():
        env = "DATABASE_URL" if key == "database_url" else f"PARTNER_{key.upper()}"
        os.environ[env] = str(value)
    from ._prefect_runtime import quick_flow_settings, quiet_prefect_defaults

    quiet_prefect_defaults()
    from .sync_reference_data import SyncFailedError, sync_reference_data

    with quick_flow_settings():
        state: Any = sync_reference_data(
            datasets=args.dataset or None,
            full_refresh=args.full_refresh,
            allow_mass_delete=args.allow_mass_delete,
            return_state=True,
        )
    result = state.result(raise_on_failure=False)
    if isinstance(result, SyncFailedError):
        return result.rows
    if isinstance(result, BaseException):
        raise result
    return list(result)


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the sandbox on a free port, sync everything with the demo account, stop it."""
    from sandbox import (
        DEMO_API_KEY,
        DEMO_API_SECRET,
        DEMO_EMAIL,
        DEMO_PASSWORD,
        SandboxConfig,
        running_sandbox,
    )

    config = SandboxConfig(cities=args.cities)
    # The sandbox logs each code it "emails" (it is the partner's side); in the demo both
    # sides share one terminal, and a one-time code has no business in our output.
    logging.getLogger("sandbox").setLevel(logging.WARNING)
    with running_sandbox(config) as sandbox:
        print(f"sandbox listening at {sandbox.base_url} ({args.cities:,} cities)")
        overrides = {
            "base_url": sandbox.base_url,
            "api_key": DEMO_API_KEY,
            "api_secret": DEMO_API_SECRET,
            "email": DEMO_EMAIL,
            "password": DEMO_PASSWORD,
            "mfa_method": "EMAIL",
            "otp_source": "sandbox",
            # The sandbox's port changes every demo: a kept session could never be reused.
            "session_store": "none",
        }
        return cmd_sync(args, **overrides)


def cmd_status(args: argparse.Namespace) -> int:
    """Print the last runs and the rows per table."""
    from rich.table import Table

    from storage import dataset_counts, recent_runs
    from storage.db import make_engine, upgrade_database

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
        counts = dataset_counts(engine)
        runs = recent_runs(engine, limit=args.limit)
    finally:
        engine.dispose()
    console = _console()
    rows_table = Table(title="rows")
    for column in ("dataset", "live", "deleted"):
        rows_table.add_column(column)
    for name in DATASETS:
        live, deleted = counts.get(name, (0, 0))
        rows_table.add_row(name, str(live), str(deleted))
    console.print(rows_table)
    runs_table = Table(title=f"last {args.limit} runs")
    for column in ("id", "dataset", "started", "status", "ins", "upd", "same", "del", "error"):
        runs_table.add_column(column)
    for run in runs:
        runs_table.add_row(
            str(run.id),
            run.dataset,
            run.started_at.strftime("%Y-%m-%d %H:%M:%S") if run.started_at else "",
            run.status,
            str(run.inserted),
            str(run.updated),
            str(run.unchanged),
            str(run.deleted),
            (run.error or "")[:80],
        )
    console.print(runs_table)
    return EXIT_OK


def _store_for_cli(settings: Any) -> Any:
    """The session store a run would use: under `auto`, Prefect's when an API is configured."""
    from ._session import session_store

    prefect_api = False
    if settings.session_store in ("auto", "prefect"):
        from ._prefect_runtime import quiet_prefect_defaults

        quiet_prefect_defaults()
        from ._session_prefect import prefect_api_configured

        prefect_api = prefect_api_configured()
    return session_store(settings, prefect_api=prefect_api)


def cmd_login(args: argparse.Namespace) -> int:
    """Log in once (interactively by default) and keep the session for later runs."""
    from partner_api import PromptOtpSource

    from ._sync import build_client, build_otp_source, log_in

    settings = load_settings()
    settings.require("api_key", "api_secret", "email", "password")
    store = _store_for_cli(settings)
    kept = store.load()
    if kept is not None and not kept.expires_within(settings.session_margin) and not args.force:
        print(
            f"already logged in: the session kept in {store.where} is valid until "
            f"{kept.expires_at:%Y-%m-%d %H:%M:%S} UTC (--force logs in again)"
        )
        return EXIT_OK
    with build_client(settings) as client:
        # A pause needs a flow run; at a terminal the person is right here.
        source = (
            PromptOtpSource()
            if settings.otp_source == "prefect"
            else build_otp_source(settings, client)
        )
        session = log_in(client, settings, source)
    store.save(session)
    print(
        f"logged in; the session is kept in {store.where} until "
        f"{session.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    return EXIT_OK


def cmd_logout(args: argparse.Namespace) -> int:
    """End the kept session on the server and forget it."""
    from partner_api import SessionExpiredError

    from ._sync import build_client

    settings = load_settings()
    store = _store_for_cli(settings)
    kept = store.load()
    if kept is None:
        store.clear()  # an unreadable leftover goes too
        print(f"no session kept in {store.where}")
        return EXIT_OK
    with build_client(settings) as client:
        client.use_session(kept)
        try:
            client.logout()
            ended = "ended on the server"
        except SessionExpiredError:
            ended = "had already expired on the server"
        finally:
            store.clear()
    print(f"logged out: the session {ended} and is forgotten ({store.where})")
    return EXIT_OK


def cmd_otp(args: argparse.Namespace) -> int:
    """Hand a one-time code to the flow run paused for it, and say whether it worked."""
    from partner_api.otp import OTP_PATTERN

    code = args.code.strip()
    if not OTP_PATTERN.match(code):
        return _fail("a one-time code is 6 digits", EXIT_USAGE)
    from ._prefect_runtime import quiet_prefect_defaults

    quiet_prefect_defaults()
    from .otp_prefect import answer_paused_run

    answer = answer_paused_run(code, args.flow_run, wait=args.wait)
    print(answer.message)
    return EXIT_OK if answer.accepted else EXIT_FAILED


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the flow's deployment on this host until interrupted."""
    from ._prefect_runtime import quiet_prefect_defaults

    quiet_prefect_defaults()
    from deployments.serve import serve_deployment

    serve_deployment(load_settings(), name=args.name, cron=args.cron)
    return EXIT_OK


def cmd_secrets_push(args: argparse.Namespace) -> int:
    """Create (or overwrite) Prefect Secret blocks from the current credentials."""
    from ._prefect_runtime import quiet_prefect_defaults

    quiet_prefect_defaults()
    from ._secret_blocks import push_secrets
    from ._session_prefect import prefect_api_configured

    if not prefect_api_configured():
        return _fail(
            "no Prefect API is configured: set PREFECT_API_URL (e.g. "
            "http://127.0.0.1:4200/api) so the blocks land where the runs read them",
            EXIT_USAGE,
        )
    pushed = push_secrets(load_settings())
    if not pushed:
        return _fail("no credential is set: nothing to push", EXIT_USAGE)
    print("Secret blocks written: " + ", ".join(pushed))
    print("runs now read these when the environment leaves them empty")
    return EXIT_OK


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Bring the database schema to the newest migration."""
    from storage.db import upgrade_database

    settings = load_settings()
    upgrade_database(settings.database_url)
    print("database is at the newest schema")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="partner-sync",
        description="Keep a local copy of the partner's reference data in sync.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True)

    sandbox = sub.add_parser("sandbox", help="run the sandbox Partner API", add_help=False)
    sandbox.add_argument("rest", nargs=argparse.REMAINDER)

    def sync_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--dataset",
            action="append",
            choices=list(DATASETS),
            help="a dataset to sync (repeatable; default: all)",
        )
        p.add_argument(
            "--no-prefect",
            action="store_true",
            help="run the sync directly, without Prefect (no server, no flow run)",
        )
        p.add_argument(
            "--allow-mass-delete",
            action="store_true",
            help="for this run, allow marking more than PARTNER_MAX_DELETE_FRACTION of rows deleted",
        )
        p.add_argument(
            "--full-refresh",
            action="store_true",
            help="ignore remembered ETags and read every dataset in full",
        )

    sync = sub.add_parser("sync", help="sync datasets from the partner")
    sync_options(sync)
    demo = sub.add_parser("demo", help="sync everything from an embedded sandbox")
    sync_options(demo)
    demo.add_argument("--cities", type=int, default=50_000, help="cities in the sandbox")

    status = sub.add_parser("status", help="show the last runs and rows per table")
    status.add_argument("--limit", type=int, default=10)

    login = sub.add_parser("login", help="log in once and keep the session for later runs")
    login.add_argument("--force", action="store_true", help="log in even if a session is kept")
    sub.add_parser("logout", help="end the kept session on the server and forget it")

    otp = sub.add_parser("otp", help="give the one-time code to the flow run paused for it")
    otp.add_argument("code", help="the 6-digit code")
    otp.add_argument(
        "--flow-run", type=UUID, default=None, help="the paused run's id (default: the newest)"
    )
    otp.add_argument(
        "--wait",
        type=float,
        default=60.0,
        help="seconds to wait for the partner's verdict (0: do not wait)",
    )

    serve = sub.add_parser("serve", help="serve the Prefect deployment on this host")
    serve.add_argument("--name", default=None, help="deployment name (default: daily)")
    serve.add_argument(
        "--cron", default=None, help="schedule, cron in UTC (default: PARTNER_SYNC_CRON)"
    )

    secrets = sub.add_parser("secrets", help="credentials in Prefect Secret blocks")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True)
    secrets_sub.add_parser("push", help="create Secret blocks from the current settings")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply the migrations")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `partner-sync` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        from sandbox import main as sandbox_main

        return sandbox_main(argv[1:])
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    handlers = {
        "sync": cmd_sync,
        "demo": cmd_demo,
        "status": cmd_status,
        "db": cmd_db_upgrade,
        "login": cmd_login,
        "logout": cmd_logout,
        "otp": cmd_otp,
        "serve": cmd_serve,
        "secrets": cmd_secrets_push,
    }
    try:
        return handlers[args.command](args)
    except SettingsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted; nothing half-written (each dataset is one transaction)", 130)
    except Exception as exc:
        return _fail(one_line(exc))


__all__ = ["DatasetOutcome", "build_parser", "main"]
