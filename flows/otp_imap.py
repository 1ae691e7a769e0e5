"""`PARTNER_OTP_SOURCE=imap`: the mailbox OTP source built from settings.

Imported by `flows._sync.build_otp_source` only when that source is chosen. The source itself
(`partner_api.ImapOtpSource`) takes explicit arguments; this is where the `PARTNER_IMAP_*`
settings are read and checked.
"""

from __future__ import annotations

from partner_api import ConfigurationError, ImapOtpSource, OtpSource

from ._settings import Settings, SettingsError

#: What the imap source cannot work without, by field name (`require` names the variable).
REQUIRED_FOR_IMAP = ("imap_host", "imap_user", "imap_password", "imap_sender")


def imap_source_from_settings(settings: Settings) -> OtpSource:
    """An `ImapOtpSource` from `PARTNER_IMAP_*`; `SettingsError` names a missing or bad one."""
    settings.require(*REQUIRED_FOR_IMAP)
    try:
        return ImapOtpSource(
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
        )
    except ConfigurationError as exc:
        raise SettingsError(str(exc)) from None
