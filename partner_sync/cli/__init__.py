"""The `partner-sync` command line, on Typer (as Prefect's own CLI).

`sync --no-prefect`, `status`, `check`, `db upgrade`, `login`/`logout` with a file store and
`sandbox` never import Prefect; the commands that need it import `flows` or
`deployments` when they run.
"""

from __future__ import annotations

from ._app import app, main

__all__ = ["app", "main"]
