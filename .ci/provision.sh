#!/usr/bin/env bash
# What `make test` needs from a Debian machine beyond Python, installed or started when missing:
#   - Debian packages: dovecot-imapd (the IMAP OTP source's tests), chromium (the Prefect UI
#     test drives it through Playwright, which cannot download browsers here), curl and openssl;
#   - PostgreSQL answering on 127.0.0.1:5432, with the `test` database.
# Idempotent and quiet when everything is there. When something cannot be done it prints ONE
# line saying what is missing and how to get it, and exits non-zero.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
TEST_DATABASE=${TEST_DATABASE:-test}

fail() {
  echo "make provision: $*" >&2
  exit 1
}

# -- Debian packages: "command package" pairs; a package is wanted when its command is missing.
REQUIRED="/usr/sbin/dovecot:dovecot-imapd /usr/bin/chromium:chromium curl:curl openssl:openssl"
missing=()
for pair in $REQUIRED; do
  command=${pair%%:*} package=${pair#*:}
  if [[ $command == /* ]]; then [ -x "$command" ] && continue; else command -v "$command" >/dev/null && continue; fi
  missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
  hint="apt-get install -y --no-install-recommends ${missing[*]}"
  command -v apt-get >/dev/null || fail "missing ${missing[*]} and no apt-get here: install them with this system's package manager"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo -n true 2>/dev/null || fail "missing ${missing[*]}; not root and no passwordless sudo: run \`sudo $hint\`, then make test"
    SUDO=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Whether a package source offers `$1`. (Not `apt-cache policy | grep -q` under pipefail:
  # grep's early exit kills apt-cache with SIGPIPE, and the pipeline fails on a match.)
  offered() {
    local policy
    policy=$(apt-cache policy "$1" 2>/dev/null) || return 1
    grep -q 'Candidate: [^(]' <<<"$policy"
  }
  # A fresh image has no package lists: update only when a package has no install candidate.
  for package in "${missing[@]}"; do
    if ! offered "$package"; then
      "${SUDO[@]}" apt-get update -q >/dev/null || fail "missing ${missing[*]}; apt-get update failed (no package source reachable?): run \`$hint\` once one is"
      break
    fi
  done
  for package in "${missing[@]}"; do
    offered "$package" \
      || fail "missing $package and no package source offers it: add a Debian source to /etc/apt/sources.list, then \`$hint\`"
  done
  echo "make provision: installing ${missing[*]}"
  # dovecot-imapd's postinst starts the system service where invoke-rc.d allows it; the tests
  # never use that instance (they run their own `dovecot -F -c CONF` on free ports).
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "\`$hint\` failed: run it by hand to see why"
fi

# -- PostgreSQL: start the cluster when it does not answer, then the `test` database.
pg_answers() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2; }

command -v pg_isready >/dev/null || fail "PostgreSQL is not installed: \`apt-get install postgresql\`, then make test"
if ! pg_answers; then
  versions=$(ls /etc/postgresql 2>/dev/null || true)
  [ -n "$versions" ] || fail "PostgreSQL does not answer on $PG_HOST:$PG_PORT and no cluster is in /etc/postgresql: \`apt-get install postgresql\`"
  version=$(echo "$versions" | sort -V | tail -n 1)
  echo "make provision: starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start \
    || fail "\`pg_ctlcluster $version main start\` failed (run it as root to see why)"
  for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
  pg_answers || fail "PostgreSQL $version started but does not answer on $PG_HOST:$PG_PORT after 30 s"
fi

psql_q() { psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAq -v ON_ERROR_STOP=1 -c "$1"; }
exists=$(psql_q "SELECT 1 FROM pg_database WHERE datname = '$TEST_DATABASE'") \
  || fail "cannot query PostgreSQL as $PG_USER on $PG_HOST:$PG_PORT (the tests need trust auth for $PG_USER)"
if [ "$exists" != "1" ]; then
  echo "make provision: creating the PostgreSQL database $TEST_DATABASE"
  createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$TEST_DATABASE" \
    || fail "\`createdb -h $PG_HOST -U $PG_USER $TEST_DATABASE\` failed"
fi
