"""The OTP source `PARTNER_OTP_SOURCE` names, built from settings.

The sources themselves live in `partner_api` and take explicit arguments; this is where
their settings (`PARTNER_OTP_COMMAND`, `PARTNER_TOTP_SECRET`, `PARTNER_IMAP_*`) are read
and checked. The `prefect` source pauses a Prefect flow run, so only the flow can supply
it (`run_sync(..., otp_source=...)`); asked for here, it is a one-line `SettingsError`.
"""

from __future__ import annotations

from partner_api import (
    CommandOtpSource,
    ConfigurationError,
    OtpSource,
    PartnerClient,
    PromptOtpSource,
    SandboxOtpSource,
    TotpOtpSource,
)
from partner_api import otp as otp_sources

from .settings import Settings, SettingsError

#: What the imap source cannot work without, by field name (`require` names the variable).
REQUIRED_FOR_IMAP = ("imap_host", "imap_user", "imap_password", "imap_sender")


def build_otp_source(settings: Settings, client: PartnerClient) -> OtpSource:
    """The OTP source `PARTNER_OTP_SOURCE` names (`prefect` only inside a Prefect flow run)."""
    source = settings.otp_source
    if source == "prompt":
        return PromptOtpSource()
    if source == "command":
        return CommandOtpSource(settings.otp_command)
    if source == "totp":
        return TotpOtpSource(settings.totp_secret.get_secret_value(), clock=client.clock.now)
    if source == "sandbox":
        return SandboxOtpSource(settings.base_url, ca_bundle=settings.ca_bundle or None)
    if source == "imap":
        return imap_source_from_settings(settings)
    if source == "prefect":
        raise SettingsError(
            "PARTNER_OTP_SOURCE=prefect pauses a Prefect flow run for the code: run "
            "`partner-sync sync` without --no-prefect, or `partner-sync login` first"
        )
    raise SettingsError(f"PARTNER_OTP_SOURCE {source!r} is not a known source")


def imap_source_from_settings(settings: Settings) -> OtpSource:
    """An `ImapOtpSource` from `PARTNER_IMAP_*`; `SettingsError` names a missing or bad one."""
    settings.require(*REQUIRED_FOR_IMAP)
    try:
        # Through the package: it loads the IMAP source (imap-tools) only now.
        return otp_sources.ImapOtpSource(
            settings.imap_host,
            port=settings.imap_port,
            user=settings.imap_user,
            password=settings.imap_password.get_secret_value(),
            folder=settings.imap_folder,
            sender=settings.imap_sender,
            code_pattern=settings.imap_code_pattern,
            security=settings.imap_security,
            move_to=settings.imap_move_to or None,
            ca_file=settings.imap_ca_file or None,
            max_wait=settings.imap_wait,
        )
    except ConfigurationError as exc:
        raise SettingsError(str(exc)) from None
