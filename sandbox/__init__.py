"""The Partner API sandbox: the partner's contract (`CONTRACT.md`) as a runnable server.

Everything in partner-sync is tested against it over real HTTP::

    from sandbox import SandboxConfig, running_sandbox

    with running_sandbox(SandboxConfig(cities=1_000)) as sandbox:
        sandbox.base_url  # http://127.0.0.1:PORT/prometheus
        sandbox.state.latest_otp(session_id)

Besides the partner endpoints it answers an unauthenticated control surface under
`{base}/_sandbox/` (loopback clients only): `outbox`, `stats`, `data-version`, `config`,
`expire-sessions`.
"""

from __future__ import annotations

from sandbox._app import SandboxApp, create_app
from sandbox._cli import main
from sandbox._config import (
    AUTH_ONLY_API_KEY,
    AUTH_ONLY_API_SECRET,
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    MFA_EMAIL,
    MFA_TOTP,
    SCOPE_AUTH,
    SCOPE_CONSTANTS_READ,
    SandboxConfig,
)
from sandbox._data import DATASETS, KEY_FIELDS, build_items
from sandbox._mail import SANDBOX_MAIL_FROM
from sandbox._server import SandboxHandle, running_sandbox
from sandbox._state import FAULT_KINDS, SandboxState

__all__ = [
    "AUTH_ONLY_API_KEY",
    "AUTH_ONLY_API_SECRET",
    "DATASETS",
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "DEMO_EMAIL",
    "DEMO_PASSWORD",
    "DEMO_TOTP_SECRET",
    "FAULT_KINDS",
    "KEY_FIELDS",
    "MFA_EMAIL",
    "MFA_TOTP",
    "SANDBOX_MAIL_FROM",
    "SCOPE_AUTH",
    "SCOPE_CONSTANTS_READ",
    "SandboxApp",
    "SandboxConfig",
    "SandboxHandle",
    "SandboxState",
    "build_items",
    "create_app",
    "main",
    "running_sandbox",
]
