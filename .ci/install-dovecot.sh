#!/usr/bin/env bash
# Install Dovecot's IMAP server (Debian's dovecot-imapd), which tests/partner_api/test_otp_imap.py
# starts from a throwaway config. Idempotent: does nothing when `dovecot` is already installed.
set -euo pipefail

if command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; then
  echo "dovecot already installed: $(/usr/sbin/dovecot --version 2>/dev/null || dovecot --version)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh image has no package lists: update only when the package is not known yet.
if ! apt-cache show dovecot-imapd >/dev/null 2>&1; then
  $SUDO apt-get update
fi
# The package's postinst starts the system service where systemd/invoke-rc.d allow it; the
# tests never use that instance (they run their own `dovecot -F -c CONF` on a free port).
$SUDO apt-get install -y --no-install-recommends dovecot-imapd
/usr/sbin/dovecot --version
