"""Settings of the sandbox server, and the demo credentials it accepts.

A leaf module: everything else in the sandbox imports it, it imports nothing of the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from partner_api.datasets import DATASETS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 18020
DEFAULT_CONTEXT_PATH = "/prometheus"
DEFAULT_SEED = 20240301
DEFAULT_CITIES = 50_000

# Demo credentials: fixed so that docs, tests and the CLI banner agree. They protect nothing.
DEMO_API_KEY = "sk_test_partner_sandbox"
DEMO_API_SECRET = "sandbox-secret"  # published sandbox credential
AUTH_ONLY_API_KEY = "sk_test_auth_only"
AUTH_ONLY_API_SECRET = "sandbox-secret-auth-only"  # published sandbox credential
DEMO_EMAIL = "partner@example.com"
DEMO_PASSWORD = "Str0ngP@ss!"  # published sandbox credential
DEMO_TOTP_SECRET = "PARTNERSANDBOXTOTPSECRETDEMO2345"
"""Base32 secret of the demo account's authenticator (RFC 6238, SHA-1, 6 digits, 30 s)."""

SCOPE_AUTH = "partner:auth"
SCOPE_CONSTANTS_READ = "partner:constants:read"

API_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    DEMO_API_KEY: (DEMO_API_SECRET, (SCOPE_AUTH, SCOPE_CONSTANTS_READ)),
    AUTH_ONLY_API_KEY: (AUTH_ONLY_API_SECRET, (SCOPE_AUTH,)),
}
"""API key -> (secret, scopes) the sandbox knows by default (`SandboxConfig.api_secret` can
change the demo key's secret)."""

MFA_EMAIL = 10011001
MFA_TOTP = 10011002

FAULT_KINDS: tuple[str, ...] = ("500", "503", "429", "4031", "drop")
"""Faults `fault_rate` draws from, uniformly: statuses, a drift 403, a broken connection."""


@dataclass
class SandboxConfig:
    """How a sandbox server behaves.

    The instance handed to `create_app` is copied; the copy is the live configuration that
    `POST /_sandbox/config` and `POST /_sandbox/data-version` change at run time.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    context_path: str = DEFAULT_CONTEXT_PATH
    cities: int = DEFAULT_CITIES
    clock_skew: float = 0.0
    """Seconds added to real time to make the sandbox clock (`Date` header, timestamp window)."""
    fault_rate: float = 0.0
    """Probability (0..1) that a partner-chain request gets an injected fault instead of an answer."""
    fault_kinds: tuple[str, ...] | None = None
    """Which faults `fault_rate` draws from (default: all of `FAULT_KINDS`)."""
    rate_limit: float | None = None
    """Requests per second per API key (token bucket); `None` turns rate limiting off."""
    retry_after: int = 1
    """Seconds sent in `Retry-After` with an injected 429."""
    latency_ms: float = 0.0
    """Milliseconds every partner-chain request waits before it is answered (a distant partner)."""
    latency_jitter_ms: float = 0.0
    """Up to this many milliseconds more, drawn uniformly per request (seeded)."""
    drift_new_field: tuple[str, ...] = ()
    """Datasets whose items carry a field the contract does not list (`NEW_FIELD`)."""
    drift_type: tuple[str, ...] = ()
    """Datasets where a listed field changes its type (see `sandbox.TYPE_DRIFT`)."""
    sign_query: bool = True
    """`True`: the signed PATH includes `?query` exactly as sent."""
    window: float = 60.0
    login_expires_in: int = 300
    token_expires_in: int = 3600
    max_otp_attempts: int = 5
    data_version: int = 1
    maildir: Path | None = None
    api_secret: str = DEMO_API_SECRET
    """The secret of the demo API key (`DEMO_API_KEY`); any Unicode text, used as UTF-8."""
    email: str = DEMO_EMAIL
    """The demo account's email (compared case-insensitively, as the partner does)."""
    password: str = DEMO_PASSWORD
    """The demo account's password; any Unicode text, compared as UTF-8."""
    tls_certfile: Path | None = None
    """A PEM certificate (chain) to serve HTTPS with; `tls_keyfile` is its private key."""
    tls_keyfile: Path | None = None
    max_body_bytes: int = 64 * 1024
    max_header_bytes: int = 8 * 1024
    nonce_memory_max: int = 1_000_000
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        """Reject settings the sandbox cannot honour, so a typo fails at start, not mid-test."""
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if self.fault_kinds is not None:
            unknown = set(self.fault_kinds) - set(FAULT_KINDS)
            if unknown or not self.fault_kinds:
                raise ValueError(f"fault_kinds must be a non-empty subset of {FAULT_KINDS}")
            self.fault_kinds = tuple(self.fault_kinds)
        if not (self.api_secret and self.email and self.password):
            raise ValueError("api_secret, email and password must not be empty")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive or None")
        if self.cities < 0:
            raise ValueError("cities must not be negative")
        if self.data_version not in (1, 2):
            raise ValueError("data_version must be 1 or 2")
        if not self.context_path.startswith("/") or self.context_path.endswith("/"):
            raise ValueError("context_path must start with '/' and not end with '/'")
        if self.retry_after < 0:
            raise ValueError("retry_after must not be negative")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ValueError("latency_ms and latency_jitter_ms must not be negative")
        self.drift_new_field = check_datasets(self.drift_new_field, "drift_new_field")
        self.drift_type = check_datasets(self.drift_type, "drift_type")
        if self.maildir is not None:
            self.maildir = Path(self.maildir)
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together: give both or neither")
        if self.tls_certfile is not None and self.tls_keyfile is not None:
            self.tls_certfile, self.tls_keyfile = Path(self.tls_certfile), Path(self.tls_keyfile)

    def api_keys(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """API key -> (secret, scopes) this sandbox accepts."""
        secret, scopes = API_KEYS[DEMO_API_KEY]
        return {**API_KEYS, DEMO_API_KEY: (self.api_secret or secret, scopes)}

    @property
    def scheme(self) -> str:
        """`https` when a certificate is configured, else `http`."""
        return "https" if self.tls_certfile is not None else "http"


def check_datasets(names: object, what: str) -> tuple[str, ...]:
    """`names` as a tuple of known dataset names; `ValueError` naming the choices otherwise."""
    if isinstance(names, str) or not isinstance(names, list | tuple | set | frozenset):
        raise ValueError(f"{what} must be a list of dataset names")
    unknown = [name for name in names if name not in DATASETS]
    if unknown:
        raise ValueError(
            f"{what}: unknown dataset {unknown[0]!r}; choose from {', '.join(DATASETS)}"
        )
    return tuple(sorted(set(names)))
