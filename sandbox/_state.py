"""The live state of one sandbox server: nonces, login sessions, tokens, outbox, statistics.

uvicorn runs the app on one event loop, but tests read and change the state from their own
thread, so every mutation happens under one lock (held for microseconds, never across I/O).
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox._config import FAULT_KINDS, SandboxConfig
from sandbox._data import Catalog, DatasetView
from sandbox._mail import deliver_otp
from sandbox._stats import Stats

logger = logging.getLogger("sandbox")

_OUTBOX_MAX = 10_000
_TOKENS_MAX = 200_000
_LOGIN_SESSIONS_MAX = 200_000


class NonceMemoryFull(Exception):
    """Every remembered nonce is still live and the memory is at its bound."""


@dataclass
class LoginSession:
    """One login between `initiate` and a successful `verify` (or its expiry)."""

    session_id: str
    email: str
    expires_at: float  # time.monotonic()
    otp: str | None = None  # only the newest EMAIL OTP counts
    attempts: int = 0
    used: bool = False


@dataclass
class SessionToken:
    """An issued access token."""

    scopes: tuple[str, ...]
    expires_at: float  # time.monotonic()
    revoked: bool = False


@dataclass
class _Bucket:
    tokens: float
    updated: float


class SandboxState:
    """Everything a running sandbox remembers; `handle.state` in tests."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.catalog = Catalog(seed=config.seed, cities=config.cities)
        self.lock = threading.Lock()
        self.stats = Stats()
        self.outbox: deque[dict[str, Any]] = deque(maxlen=_OUTBOX_MAX)
        self.login_sessions: OrderedDict[str, LoginSession] = OrderedDict()
        self.tokens: OrderedDict[str, SessionToken] = OrderedDict()
        # (api key, nonce) -> monotonic time first accepted; insertion order is time order.
        self._nonces: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._buckets: dict[str, _Bucket] = {}
        self._rng = random.Random(config.seed)
        # Latency jitter has its own generator so that turning it on leaves the faults'
        # seeded sequence as it was.
        self._jitter_rng = random.Random(config.seed + 1)

    # -- clock ---------------------------------------------------------------------------------

    def now(self) -> float:
        """The sandbox clock: real time plus `clock_skew`, in epoch seconds."""
        return time.time() + self.config.clock_skew

    @property
    def data_version(self) -> int:
        """The data version served now (1 or 2)."""
        return self.config.data_version

    def view(self, dataset: str) -> DatasetView:
        """`dataset` as served now: data version and drift switches; `KeyError` if unknown."""
        config = self.config
        return self.catalog.view(
            dataset,
            config.data_version,
            new_field=dataset in config.drift_new_field,
            type_drift=dataset in config.drift_type,
        )

    def set_data_version(self, version: int) -> None:
        """Serve `version` (1 or 2) from the next request on."""
        if version not in (1, 2):
            raise ValueError("data version must be 1 or 2")
        with self.lock:
            self.config.data_version = version

    # -- network and chaos ---------------------------------------------------------------------

    def draw_delay(self) -> float:
        """Seconds to hold this partner request: `latency_ms` plus up to `latency_jitter_ms`."""
        config = self.config
        delay = config.latency_ms
        if config.latency_jitter_ms > 0:
            with self.lock:
                delay += self._jitter_rng.uniform(0.0, config.latency_jitter_ms)
        return delay / 1000.0

    def enter(self) -> None:
        """Count a partner request as in flight (and the peak)."""
        with self.lock:
            stats = self.stats
            stats.partner_requests += 1
            stats.in_flight += 1
            stats.in_flight_peak = max(stats.in_flight_peak, stats.in_flight)

    def leave(self) -> None:
        """A partner request is answered."""
        with self.lock:
            self.stats.in_flight -= 1

    def reset_stats(self) -> Stats:
        """Zero the counters (a test's own baseline); return the fresh ones."""
        with self.lock:
            self.stats = self.stats.reset()
            return self.stats

    def draw_fault(self) -> str | None:
        """With probability `fault_rate`, the kind of fault to inject into this request."""
        rate = self.config.fault_rate
        if rate <= 0:
            return None
        with self.lock:
            if self._rng.random() >= rate:
                return None
            kind = self._rng.choice(self.config.fault_kinds or FAULT_KINDS)
            self.stats.faults_injected += 1
            self.stats.by_fault[kind] += 1
            return kind

    def take_rate_token(self, api_key: str) -> int | None:
        """Spend one request of `api_key`'s bucket; `None` if allowed, else Retry-After seconds."""
        rate = self.config.rate_limit
        if rate is None:
            return None
        capacity = max(1.0, rate)
        now = time.monotonic()
        with self.lock:
            bucket = self._buckets.get(api_key)
            if bucket is None:
                bucket = self._buckets[api_key] = _Bucket(capacity, now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            self.stats.rate_limited += 1
            return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    # -- replay protection ---------------------------------------------------------------------

    def use_nonce(self, api_key: str, nonce: str) -> bool:
        """Record `nonce` for `api_key`; `False` if it was already used (a replay).

        Raises `NonceMemoryFull` when `nonce_memory_max` nonces are all still within
        their horizon: forgetting one of them would let its request be replayed, so the
        request is refused (503) instead.
        """
        now = time.monotonic()
        # Remember for twice the window: a timestamp accepted at one edge of the window
        # stays acceptable for at most 2 x window, so a replay cannot outlive the memory.
        horizon = now - 2 * self.config.window
        key = (api_key, nonce)
        with self.lock:
            nonces = self._nonces
            while nonces:
                oldest_key, seen = next(iter(nonces.items()))
                if seen >= horizon:
                    break
                del nonces[oldest_key]
            if key in nonces:
                self.stats.nonce_rejections += 1
                return False
            if len(nonces) >= self.config.nonce_memory_max:
                raise NonceMemoryFull(len(nonces))
            nonces[key] = now
            return True

    @property
    def nonce_count(self) -> int:
        """How many nonces are remembered now."""
        return len(self._nonces)

    # -- login ---------------------------------------------------------------------------------

    def start_login(self, email: str) -> LoginSession:
        """Open a login session after a correct email and password."""
        session = LoginSession(
            session_id=str(uuid.uuid4()),
            email=email,
            expires_at=time.monotonic() + self.config.login_expires_in,
        )
        with self.lock:
            self._prune(self.login_sessions, _LOGIN_SESSIONS_MAX)
            self.login_sessions[session.session_id] = session
            self.stats.initiates += 1
        return session

    def live_login(self, session_id: str) -> LoginSession | None:
        """The login session if it exists, is not expired and not used up."""
        session = self.login_sessions.get(session_id)
        if session is None or session.used or session.expires_at <= time.monotonic():
            return None
        if session.attempts >= self.config.max_otp_attempts:
            return None
        return session

    def send_email_otp(self, session: LoginSession) -> str:
        """Make a new 6-digit OTP (the only valid one from now on), post it and return it."""
        otp = f"{secrets.randbelow(1_000_000):06d}"
        sent_at = datetime.fromtimestamp(self.now(), UTC)
        with self.lock:
            session.otp = otp
            self.outbox.append(
                {
                    "to": session.email,
                    "sessionId": session.session_id,
                    "otp": otp,
                    "sentAt": sent_at.isoformat().replace("+00:00", "Z"),
                }
            )
        # This is the sandbox: the OTP is fake and logging it is how a developer reads it.
        logger.info("sandbox OTP for %s (login %s): %s", session.email, session.session_id, otp)
        if self.config.maildir is not None:
            deliver_otp(self.config.maildir, session.email, otp, sent_at)
        return otp

    def fail_otp(self, session: LoginSession) -> int:
        """Count a wrong OTP; return the attempts used so far."""
        with self.lock:
            session.attempts += 1
            return session.attempts

    def finish_login(self, session: LoginSession, scopes: tuple[str, ...]) -> str:
        """Use the login session up and issue an access token."""
        token = secrets.token_urlsafe(32)
        with self.lock:
            session.used = True
            self._prune(self.tokens, _TOKENS_MAX)
            self.tokens[token] = SessionToken(
                scopes=scopes, expires_at=time.monotonic() + self.config.token_expires_in
            )
            self.stats.logins += 1
        return token

    def check_token(self, token: str) -> SessionToken | None:
        """The token if it is known, not revoked and not expired."""
        found = self.tokens.get(token)
        if found is None or found.revoked or found.expires_at <= time.monotonic():
            return None
        return found

    def revoke_token(self, token: str) -> None:
        """End a token (logout)."""
        with self.lock:
            found = self.tokens.get(token)
            if found is not None:
                found.revoked = True

    def expire_tokens(self) -> int:
        """Expire every issued token; return how many were still live."""
        now = time.monotonic()
        with self.lock:
            live = 0
            for tok in self.tokens.values():
                if not tok.revoked and tok.expires_at > now:
                    live += 1
                tok.expires_at = min(tok.expires_at, now)
            return live

    def outbox_for(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Sent EMAIL OTPs, oldest first, optionally only those of one login session."""
        with self.lock:
            return [
                dict(m) for m in self.outbox if session_id is None or m["sessionId"] == session_id
            ]

    def latest_otp(self, session_id: str) -> str | None:
        """The newest OTP mailed for a login session, for tests."""
        messages = self.outbox_for(session_id)
        return str(messages[-1]["otp"]) if messages else None

    def count(self, code: str) -> None:
        """Count an answered envelope code."""
        with self.lock:
            self.stats.by_code[code] += 1

    @staticmethod
    def _prune(table: OrderedDict[str, Any], limit: int) -> None:
        """Keep a table bounded: drop expired heads, then the oldest beyond `limit`."""
        now = time.monotonic()
        while table:
            first = next(iter(table.values()))
            if len(table) < limit and first.expires_at > now:
                break
            table.popitem(last=False)
