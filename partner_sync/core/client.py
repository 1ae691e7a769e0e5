"""The `PartnerClient` a run uses, built from settings."""

from __future__ import annotations

from partner_api import ConfigurationError, PartnerClient, RetryPolicy

from .settings import Settings, SettingsError


def build_client(settings: Settings) -> PartnerClient:
    """A `PartnerClient` from settings (raises `SettingsError` naming what is missing)."""
    settings.require("api_key", "api_secret")
    try:
        return PartnerClient(
            settings.base_url,
            settings.api_key,
            settings.api_secret.get_secret_value(),
            session_header=settings.session_header,
            sign_query=settings.sign_query,
            allow_insecure_http=settings.allow_insecure_http,
            ca_bundle=settings.ca_bundle or None,
            timeout=settings.timeout,
            page_size=settings.page_size,
            concurrency=settings.concurrency,
            max_response_bytes=settings.max_response_bytes,
            retry_policy=RetryPolicy(
                max_attempts=settings.max_attempts,
                max_retry_seconds=settings.max_retry_seconds,
                max_retry_after=settings.max_retry_after,
            ),
        )
    except ConfigurationError as exc:
        raise SettingsError(str(exc)) from None
