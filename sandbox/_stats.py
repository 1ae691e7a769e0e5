"""The counters `GET /_sandbox/stats` shows, and `POST /_sandbox/reset-stats` zeroes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stats:
    """Counters of one sandbox since it started or since the last reset."""

    requests: int = 0
    partner_requests: int = 0
    logins: int = 0
    initiates: int = 0
    nonce_rejections: int = 0
    faults_injected: int = 0
    rate_limited: int = 0
    not_modified: int = 0
    in_flight: int = 0
    """Partner-chain requests being answered right now (latency included)."""
    in_flight_peak: int = 0
    """The most partner-chain requests answered at once since the start or the last reset."""
    by_code: Counter[str] = field(default_factory=Counter)
    by_fault: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        """The camelCase shape of `GET /_sandbox/stats`."""
        return {
            "requests": self.requests,
            "partnerRequests": self.partner_requests,
            "logins": self.logins,
            "initiates": self.initiates,
            "nonceRejections": self.nonce_rejections,
            "faultsInjected": self.faults_injected,
            "rateLimited": self.rate_limited,
            "notModified": self.not_modified,
            "inFlight": self.in_flight,
            "inFlightPeak": self.in_flight_peak,
            "byCode": dict(sorted(self.by_code.items())),
            "byFault": dict(sorted(self.by_fault.items())),
        }

    def reset(self) -> Stats:
        """Fresh counters; requests in flight stay counted (they are still being answered)."""
        return Stats(in_flight=self.in_flight, in_flight_peak=self.in_flight)
