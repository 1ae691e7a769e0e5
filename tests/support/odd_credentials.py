"""Credentials with spaces, both quotes, backslashes and non-ASCII letters, and the search for
any piece of them in what a run printed or stored."""

from __future__ import annotations

import json
import re

ODD_API_SECRET = "sëcret-key \"quotedA\" 'singleA' back\\slashA Zürich-東京"
ODD_PASSWORD = "pässwörd \"quotedB\" 'singleB' back\\\\slashB 日本語"
ODD_EMAIL = '"jürgen o\'brien \\\\ x"@exämple.com'
ODD_IMAP_USER = "otp läser \"q\" 'r' back\\slash@example.test"
ODD_IMAP_PASSWORD = "mäilbox \"quotedC\" 'singleC' back\\slashC 東北"
#: The ones that are secrets (the email and the mailbox user are not).
ODD_SECRETS = (ODD_API_SECRET, ODD_PASSWORD, ODD_IMAP_PASSWORD)


def fragments(secret: str) -> set[str]:
    """Pieces of `secret` no output may hold: each word, the whole, its JSON and repr forms."""
    words = {w for w in re.split(r"\s+", secret) if len(w) >= 2}
    stripped = {w.strip("\"'\\") for w in words}
    escaped = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=True)[1:-1], repr(secret)}
    return {f for f in words | stripped | escaped | {secret} if len(f) >= 2}


def assert_no_fragment(text: str, secrets: tuple[str, ...] = ODD_SECRETS) -> None:
    """Fail naming the piece when `text` holds any piece of any of `secrets`."""
    for secret in secrets:
        for piece in fragments(secret):
            assert piece not in text, f"output holds a piece of a secret: {piece!r}"
