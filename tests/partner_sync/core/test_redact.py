"""The logging filter that masks secrets in Prefect's run logs."""

from __future__ import annotations

import logging

import pytest

from partner_sync.core.redact import (
    MASK,
    MaskSecretsFilter,
    install_mask_filter,
    mask,
    mask_destination,
    remember_secret,
)


def test_a_remembered_secret_is_masked_in_message_args_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    remember_secret("otp-like-secret-123456")
    log = logging.getLogger("tests.redact")
    log.addFilter(MaskSecretsFilter())
    try:
        with caplog.at_level(logging.INFO, logger="tests.redact"):
            log.info("token is %s", "otp-like-secret-123456")
            try:
                raise ValueError("boom otp-like-secret-123456")
            except ValueError:
                log.exception("failed")
    finally:
        log.filters.clear()
    assert "otp-like-secret-123456" not in caplog.text
    assert "token is " + MASK in caplog.text and "ValueError: boom " + MASK in caplog.text


def test_short_values_are_not_masked() -> None:
    remember_secret("ab")
    assert mask("a table about ab") == "a table about ab"


def test_the_filter_is_installed_once_on_prefects_run_loggers() -> None:
    install_mask_filter()
    install_mask_filter()
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, MaskSecretsFilter) for f in filters) == 1


@pytest.mark.parametrize(
    ("destination", "shown"),
    [
        ("p***@example.com", "p***@example.com"),  # the partner's masking is kept
        ("pat@example.com", "p***@example.com"),
        ("+49 170 1234589", "***89"),
        ("1234", "***"),
        ("", ""),
    ],
)
def test_a_destination_is_shown_masked(destination: str, shown: str) -> None:
    assert mask_destination(destination) == shown
