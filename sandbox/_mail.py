"""Delivery of the sandbox's one-time passwords into a Maildir, as a mail server would."""

from __future__ import annotations

import mailbox
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

SANDBOX_MAIL_FROM = "no-reply@partner.example"
"""Sender address of the sandbox's OTP mails (shown as `Partner Security`)."""

OTP_SUBJECT = "Your Partner sign-in code"


def build_otp_message(to: str, otp: str, sent_at: datetime) -> EmailMessage:
    """An RFC 5322 message carrying `otp`, with a text/plain and a text/html part."""
    msg = EmailMessage()
    msg["From"] = f"Partner Security <{SANDBOX_MAIL_FROM}>"
    msg["To"] = to
    msg["Subject"] = OTP_SUBJECT
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = make_msgid(domain="partner.example")
    msg.set_content(
        f"Your Partner sign-in code is {otp}.\n\n"
        "It expires in a few minutes. If you did not try to sign in, ignore this message.\n"
    )
    msg.add_alternative(
        "<html><body>"
        "<p>Your Partner sign-in code is</p>"
        f'<p style="font-size:24px;font-weight:bold;letter-spacing:4px">{otp}</p>'
        "<p>It expires in a few minutes. If you did not try to sign in, ignore this message.</p>"
        "</body></html>",
        subtype="html",
    )
    return msg


def deliver_otp(maildir: Path, to: str, otp: str, sent_at: datetime) -> str:
    """Write the OTP mail into `maildir` (created if missing; tmp -> new); return its key."""
    box = mailbox.Maildir(maildir, create=True)
    return box.add(build_otp_message(to, otp, sent_at))
