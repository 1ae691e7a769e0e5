"""The build step of `deployments/prefect.yaml`: where the project lives on every worker host.

`prefect deploy` runs it on the deploying machine, before anything is registered. It
reads `PARTNER_SYNC_HOME` and refuses, in one line, a value that is missing or does not
hold the project; otherwise every later run would fail on the workers instead (Prefect
keeps an unset `{{ $VAR }}` as literal text, and the pull step's `chdir` into it raises
`FileNotFoundError` in a temporary folder).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The flow's file, relative to the project root (the deployment's entrypoint).
ENTRYPOINT = Path("flows") / "sync_reference_data.py"


class ProjectHomeError(ValueError):
    """`PARTNER_SYNC_HOME` is unset or does not name the project's checkout."""


def _refuse(message: str) -> ProjectHomeError:
    # Prefect prints a step's exception inside a long traceback: say it first, on its own line.
    sys.stderr.write(f"partner-sync: error: {message}\n")
    return ProjectHomeError(message)


def project_home() -> dict[str, str]:
    """`{"directory": <absolute PARTNER_SYNC_HOME>}` for the pull step, or `ProjectHomeError`."""
    raw = os.environ.get("PARTNER_SYNC_HOME", "").strip()
    if not raw:
        raise _refuse(
            "PARTNER_SYNC_HOME is not set: set it to the project's directory, the same path "
            "on every worker host (e.g. `PARTNER_SYNC_HOME=$PWD prefect --no-prompt deploy "
            "--all --prefect-file deployments/prefect.yaml` from the project root)"
        )
    home = Path(raw).expanduser().resolve()
    if not (home / ENTRYPOINT).is_file():
        raise _refuse(
            f"PARTNER_SYNC_HOME {raw!r} does not hold the project ({ENTRYPOINT} is missing "
            "there): set it to the checkout's root directory"
        )
    return {"directory": str(home)}
