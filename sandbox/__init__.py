"""The Partner API sandbox: the partner's contract (docs/partner-api.md) as a runnable server.

A Starlette application served by uvicorn; everything in partner-sync is tested against it
over real HTTP::

    from sandbox import SandboxConfig, running_sandbox

    with running_sandbox(SandboxConfig(cities=1_000)) as handle:
        handle.base_url  # http://127.0.0.1:PORT/prometheus
        handle.state.latest_otp(session_id)

Besides the partner endpoints it answers an unauthenticated control surface under
`{base}/_sandbox/` (loopback clients only): `outbox`, `stats`, `reset-stats`, `data-version`,
`config` (faults, rate limit, latency, schema drift...), `expire-sessions`. From the project it
imports only the dataset registry (`partner_api.datasets`); nothing but the CLI, the tests and
the benchmarks imports it.

Modules, one concern each: `_config` (settings, demo credentials), `_keys`, `_codes`, `_cities`,
`_drift` and `_data` (the datasets), `_state` and `_stats` (what a running sandbox remembers
and counts), `_mail` (OTP mails), `_responses` (the envelope), `_checks` (§2.5's checks in
order), `_partner` (the partner chain: latency, faults, checks, endpoint), `_faults`, `_login`,
`_datasets` (paging, ETags), `_control`, `_app` (routes and limits), `_server` (uvicorn),
`_cli` (the command line).
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
    FAULT_KINDS,
    MFA_EMAIL,
    MFA_TOTP,
    SCOPE_AUTH,
    SCOPE_CONSTANTS_READ,
    SandboxConfig,
)
from sandbox._data import build_items
from sandbox._drift import NEW_FIELD, TYPE_DRIFT, type_drift_of
from sandbox._mail import SANDBOX_MAIL_FROM
from sandbox._server import SandboxHandle, running_sandbox
from sandbox._state import SandboxState

__all__ = [
    "AUTH_ONLY_API_KEY",
    "AUTH_ONLY_API_SECRET",
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "DEMO_EMAIL",
    "DEMO_PASSWORD",
    "DEMO_TOTP_SECRET",
    "FAULT_KINDS",
    "MFA_EMAIL",
    "MFA_TOTP",
    "NEW_FIELD",
    "SANDBOX_MAIL_FROM",
    "SCOPE_AUTH",
    "SCOPE_CONSTANTS_READ",
    "TYPE_DRIFT",
    "SandboxApp",
    "SandboxConfig",
    "SandboxHandle",
    "SandboxState",
    "build_items",
    "create_app",
    "main",
    "running_sandbox",
    "type_drift_of",
]
