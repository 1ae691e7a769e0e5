"""Named defaults for the Partner API client: every knob in one place."""

from __future__ import annotations

DEFAULT_BASE_URL = "http://127.0.0.1:18020/prometheus"
DEFAULT_SESSION_HEADER = "X-Session-Token"
DEFAULT_TIMEOUT = 30.0
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 1000

# Pages in flight at once while reading a dataset (setting `PARTNER_CONCURRENCY`). Measured
# (issue 13; 200,000 cities, 200 pages, 2 cores): on loopback N changes nothing (0.70-0.73 s,
# the CPU is the limit); with 20 ms a request N = 1, 2, 4, 8 took 5.2, 2.7, 1.5, 0.9 s, and
# with 50 ms N = 4, 6, 8 took 3.0, 2.0, 1.6 s. Eight hides a distant partner's round trip
# and is still a browser's handful of connections; a 429 halves it, and this many
# successes grow it back by one.
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 16
CONCURRENCY_GROW_AFTER = 8

# Retry bounds: the policy stops at whichever comes first.
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_MAX_RETRY_SECONDS = 120.0
DEFAULT_MAX_RETRY_AFTER = 60.0
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 20.0

# Per-cause budgets within one call (docs/partner-api.md §2.1; issue 3's table).
MAX_DRIFT_RETRIES = 2
MAX_NONCE_RETRIES = 1
MAX_UNKNOWN_403_RETRIES = 2
MAX_RELOGINS = 1

# How many times one dataset read may restart because the source changed mid-read.
MAX_DATASET_RESTARTS = 3

# A response body larger than this is refused while streaming, never read whole.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
# String fields longer than this are refused: reference data names are short.
MAX_FIELD_CHARS = 4096

# The server's timestamp window (published: 60 s) and the clock estimator's thresholds.
TIMESTAMP_WINDOW = 60.0
CLOCK_INFO_OFFSET = 5.0
CLOCK_WARNING_OFFSET = 30.0
# A round trip slower than this says little about the server's clock: skip it.
CLOCK_MAX_RTT = 2.0
# A sample this far from the estimate means the clock really moved: adopt it at once.
CLOCK_JUMP = 3.0
CLOCK_SAMPLES = 8

SUPPORTED_ENVELOPE_MAJOR = "2"

MFA_METHOD_VALUES = {"EMAIL": 10011001, "TOTP": 10011002}

LOGIN_INITIATE_PATH = "/api/v1/partner/auth/login/initiate"
MFA_SEND_PATH = "/api/v1/partner/auth/login/mfa/send"
MFA_VERIFY_PATH = "/api/v1/partner/auth/login/mfa/verify"
LOGOUT_PATH = "/api/v1/partner/auth/logout"
CONSTANTS_PATH = "/api/v1/partner/constants/{dataset}"
HEALTH_PATH = "/actuator/health"
WEB_PATH_PREFIX = "/web/v1"

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

#: A whole exchange (connect, send, headers, body) may take this many times
#: `PARTNER_TIMEOUT`: the timeout itself bounds each read, and a server trickling a byte
#: at a time would otherwise hold a request open for ever.
EXCHANGE_DEADLINE_FACTOR = 4
