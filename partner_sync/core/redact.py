"""Mask secrets in log records: the API secret, the password, OTPs and session tokens.

Prefect redacts nothing in run logs but its own API key, and it stores run logs in its
database and shows them in the UI. `MaskSecretsFilter` on Prefect's run loggers
(`prefect.flow_runs`, `prefect.task_runs`) rewrites a record before any handler (console
or API) formats it. Values are registered as they become known (`remember_secret`): the
settings' secrets at the start of a run, each OTP when it arrives, each token after a
login. Prefect-free: the flow installs the filter, the core registers the values.
"""

from __future__ import annotations

import logging
import threading

from pydantic import SecretStr

from .settings import Settings

#: What a masked value becomes.
MASK = "**********"
#: Shorter values are not masked: masking "1" or "ab" would garble ordinary text.
MIN_SECRET_LENGTH = 4
#: The loggers Prefect's run loggers (`get_run_logger`) and the engine write run logs to.
PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")

_lock = threading.Lock()
_secrets: set[str] = set()


def remember_secret(value: str | SecretStr | None) -> None:
    """Mask `value` in every later record that passes a `MaskSecretsFilter`."""
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if raw and len(raw) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(raw)


def remember_settings_secrets(settings: Settings) -> None:
    """Mask every secret the settings hold."""
    for value in (
        settings.api_secret,
        settings.password,
        settings.totp_secret,
        settings.imap_password,
    ):
        remember_secret(value)


def mask(text: str) -> str:
    """`text` with every remembered secret replaced by `MASK` (longest first)."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class MaskSecretsFilter(logging.Filter):
    """Rewrites a record's message (and traceback text) with remembered secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask in place; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


_installed = MaskSecretsFilter()


def install_mask_filter(names: tuple[str, ...] = PREFECT_RUN_LOGGERS) -> None:
    """Attach the (one, shared) filter to the named loggers; calling again changes nothing."""
    for name in names:
        log = logging.getLogger(name)
        if _installed not in log.filters:
            log.addFilter(_installed)


def mask_destination(destination: str) -> str:
    """Where a code went, safe to show anyone: `p***@example.com`, `***89`.

    The partner masks the destination already (docs/partner-api.md §2.3, step 3); this keeps an
    unmasked one (a partner that changed its mind) out of messages. A value with a `*` is
    taken as masked; an email keeps its first letter and domain; anything else its last
    two characters.
    """
    text = destination.strip()
    if not text or "*" in text:
        return text
    local, at, domain = text.rpartition("@")
    if at and local:
        return f"{local[0]}***@{domain}"
    return "***" + text[-2:] if len(text) > 4 else "***"
