"""The `partner-sync` Typer app: its commands, global options and exit codes.

Exit codes: 0 when every dataset succeeded or was not modified, 1 when one failed or was
skipped (or any other error), 2 for a usage or settings error, 130 after Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from partner_sync.core.report import EXIT_FAILED, one_line
from partner_sync.core.settings import SettingsError

from ._changes import changes
from ._check import check
from ._notify import notify_remove, notify_setup
from ._ops import db_upgrade, secrets_push, serve, status
from ._output import EXIT_INTERRUPTED, EXIT_USAGE, configure_logging, fail, load_sandbox
from ._session import login, logout, otp
from ._sync import demo, sync

PROG = "partner-sync"

app = typer.Typer(
    name=PROG,
    help="Keep a local copy of the partner's reference data in sync.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (repeatable).")
    ] = 0,
) -> None:
    """Keep a local copy of the partner's reference data in sync."""
    configure_logging(verbose)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def sandbox(ctx: typer.Context) -> int:
    """Run the sandbox Partner API (its own options: `partner-sync sandbox --help`)."""
    return int(load_sandbox().main(list(ctx.args)))


app.command()(sync)
app.command()(demo)
app.command()(status)
app.command()(changes)
app.command()(check)
app.command()(login)
app.command()(logout)
app.command()(otp)
app.command()(serve)

secrets_app = typer.Typer(help="Credentials in Prefect Secret blocks.", no_args_is_help=True)
secrets_app.command("push")(secrets_push)
app.add_typer(secrets_app, name="secrets")

notify_app = typer.Typer(
    help="Tell a person (Slack, Teams, email, a webhook) when a run needs a code or fails.",
    no_args_is_help=True,
)
notify_app.command("setup")(notify_setup)
notify_app.command("remove")(notify_remove)
app.add_typer(notify_app, name="notify")

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
db_app.command("upgrade")(db_upgrade)
app.add_typer(db_app, name="db")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `partner-sync` console script; returns the exit code."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name=PROG, standalone_mode=False)
    except typer.TyperException as exc:  # usage errors: the usage and the message, exit 2
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            fail(exc.format_message(), exc.exit_code)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return fail(
            "interrupted; nothing half-written (each dataset is one transaction)", EXIT_INTERRUPTED
        )
    except SettingsError as exc:
        return fail(str(exc), EXIT_USAGE)
    except Exception as exc:
        return fail(one_line(exc), EXIT_FAILED)
    return code if isinstance(code, int) else 0
