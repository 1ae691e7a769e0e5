"""A self-signed TLS certificate for a loopback test server (Dovecot, the HTTPS sandbox)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed_certificate(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """Write `<name>-cert.pem` and `<name>-key.pem` (for `127.0.0.1`) into `directory`.

    The certificate is its own CA: a client trusts it by naming the certificate file as its
    CA bundle. The key is mode 0600.
    """
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key
