"""A throwaway Dovecot IMAP server for tests: `running_dovecot()` starts one, yields where it is.

Dovecot (Debian's `dovecot-imapd` 2.3, installed by `make provision`) runs in the
foreground (`dovecot -F -c CONF`) from a config written into a fresh temporary directory that
also holds its runtime (`base_dir`), state, log, TLS certificate and the one user's Maildir.
It listens on two free loopback ports: plain IMAP (which also offers STARTTLS) and IMAPS.
Dovecot binds them itself, so when another process took one in the meantime it is started
again on fresh ports (`retry_on_port_clash`).

Dovecot refuses to serve mail as root, so when the tests run as root the single static user
is mapped to `nobody`, which owns the Maildir. Whatever the test process delivers into the
Maildir (the sandbox writes the OTP mails there) must stay readable by that user: the block
runs with umask 022, and the temporary directory is world-traversable (0755). When the tests
run as an ordinary user, Dovecot runs entirely as that user and nothing needs remapping.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import PortInUse, free_port, retry_on_port_clash
from tests.support.processes import start_process, stop_process
from tests.support.tls import self_signed_certificate

#: Where Debian puts the binary (often not on a non-root PATH).
_DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
INSTALL_HINT = "Dovecot is not installed: run `make provision` (installs dovecot-imapd)"
START_TIMEOUT = 15.0


class DovecotUnavailable(RuntimeError):
    """Dovecot is missing or did not start; the message says what to do."""


@dataclass(frozen=True)
class DovecotServer:
    """Where the running test Dovecot answers, and its one user's credentials and Maildir."""

    host: str
    #: Plain IMAP; STARTTLS is offered here too.
    port: int
    #: IMAP over TLS from the first byte.
    ssl_port: int
    user: str
    password: str
    #: The user's INBOX as a Maildir (`cur/`, `new/`, `tmp/`); deliver into `new/`.
    maildir: Path
    #: The self-signed certificate (for `127.0.0.1`) to trust as a CA file.
    ca_file: Path
    log_path: Path
    #: The `passwd-file` passdb (one line per user); without it Dovecot cannot check logins.
    passwd_file: Path

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of Dovecot's log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def find_dovecot() -> str:
    """The path of the `dovecot` binary, or raise `DovecotUnavailable` saying how to install it."""
    found = shutil.which("dovecot")
    if found:
        return found
    for candidate in _DOVECOT_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    raise DovecotUnavailable(INSTALL_HINT)


@contextlib.contextmanager
def running_dovecot(
    *,
    user: str = "otp-reader@example.test",
    password: str = "mailbox-test-password",
    broken_auth: bool = False,
) -> Iterator[DovecotServer]:
    """Run a Dovecot IMAP server on free loopback ports until the block ends.

    `broken_auth` replaces the passdb by one whose checker is missing: every login then meets
    a server-side failure (`[UNAVAILABLE] Temporary authentication failure`).
    """
    binary = find_dovecot()
    old_umask = os.umask(0o022)
    try:
        root, server, process = retry_on_port_clash(
            lambda: _start(binary, user=user, password=password, broken_auth=broken_auth)
        )
        try:
            yield server
        finally:
            stop_process(process)
            shutil.rmtree(root, ignore_errors=True)
    finally:
        os.umask(old_umask)


def _start(
    binary: str, *, user: str, password: str, broken_auth: bool
) -> tuple[Path, DovecotServer, subprocess.Popen[bytes]]:
    """One try: a fresh directory and config on fresh ports, Dovecot started and answering."""
    root = Path(tempfile.mkdtemp(prefix="partner-dovecot-"))
    try:
        root.chmod(0o755)  # the unprivileged mail user must traverse it to its Maildir
        server = _prepare(root, user=user, password=password, broken_auth=broken_auth)
        with (root / "stderr.log").open("wb") as stderr:
            process = start_process([binary, "-F", "-c", str(root / "dovecot.conf")], stderr=stderr)
        try:
            _wait_ready(server, process, root)
        except BaseException:
            stop_process(process)
            raise
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root, server, process


def _prepare(root: Path, *, user: str, password: str, broken_auth: bool) -> DovecotServer:
    """Write the config, the certificate and the Maildir under `root`."""
    runtime, state, home = root / "run", root / "state", root / "home"
    for path in (runtime, state, home):
        path.mkdir()
    maildir = home / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    cert, key = self_signed_certificate(root)

    if os.geteuid() == 0:
        # Dovecot refuses uid 0 for mail; `nobody` owns the mail, its own users do the rest.
        mail_user, mail_group = "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
        internal_user, login_user = _system_user("dovecot"), _system_user("dovenull")
        for path in (home, maildir, *(maildir / s for s in ("cur", "new", "tmp"))):
            shutil.chown(path, mail_user, mail_group)
    else:
        mail_user = internal_user = login_user = pwd.getpwuid(os.geteuid()).pw_name
        mail_group = grp.getgrgid(os.getegid()).gr_name

    if ":" in user or ":" in password or "\n" in user + password:
        raise ValueError("a passwd-file user or password cannot hold ':' or a line break")
    passwd_file = root / "passwd"
    # Dovecot looks a user up by its name with `\\`, `"` and `'` backslash-escaped (its
    # `str_escape`), so the file's key is written the same way.
    lookup_name = user.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
    passwd_file.write_text(f"{lookup_name}:{{PLAIN}}{password}\n", encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(passwd_file, internal_user)  # the auth worker reads it as that user
    passwd_file.chmod(0o600)

    host, port, ssl_port = "127.0.0.1", free_port(), free_port()
    log_path = root / "dovecot.log"
    config = f"""\
# Throwaway config written by tests/support/dovecot.py; nothing outside {root} is used.
protocols = imap
listen = 127.0.0.1
base_dir = {runtime}
state_dir = {state}
instance_name = partner-dovecot-{port}
log_path = {log_path}
info_log_path = {log_path}
default_internal_user = {internal_user}
default_login_user = {login_user}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal_user).pw_gid).gr_name}

ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
# Plain LOGIN without TLS is fine on loopback (the `none` security of the OTP source).
disable_plaintext_auth = no
login_trusted_networks = 127.0.0.0/8
auth_mechanisms = plain login
# Any user name (spaces, quotes, non-ASCII letters), not only Dovecot's default safe set.
auth_username_chars =
# Tests try a wrong password on purpose: answer at once instead of after the 2 s default.
auth_failure_delay = 0

# A passwd-file, not `static`: its password may hold spaces, quotes and non-ASCII letters.
{_BROKEN_PASSDB if broken_auth else _PASSWD_PASSDB.format(passwd_file=passwd_file)}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={home}
}}
mail_location = maildir:{maildir}
first_valid_uid = 1
mail_fsync = never

service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {ssl_port}
    ssl = yes
  }}
}}
"""
    (root / "dovecot.conf").write_text(config)
    (root / "dovecot.conf").chmod(0o600)
    return DovecotServer(
        host=host,
        port=port,
        ssl_port=ssl_port,
        user=user,
        password=password,
        maildir=maildir,
        ca_file=cert,
        log_path=log_path,
        passwd_file=passwd_file,
    )


_PASSWD_PASSDB = """passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd_file}
}}"""
#: A passdb whose checker program does not exist: Dovecot answers a temporary failure.
_BROKEN_PASSDB = """passdb {
  driver = checkpassword
  args = /nonexistent/checkpassword
}"""


def _system_user(name: str) -> str:
    """`name` when that system user exists (Debian's package creates it), else `nobody`."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return "nobody"
    return name


def _wait_ready(server: DovecotServer, process: subprocess.Popen[bytes], root: Path) -> None:
    """Wait until both listeners greet with `* OK`, or raise with Dovecot's own words."""
    deadline = time.monotonic() + START_TIMEOUT
    pending = [server.port, server.ssl_port]
    while pending:
        if process.poll() is not None:
            stderr = (root / "stderr.log").read_text(errors="replace").strip()
            said = f"{stderr[-2000:]}\n{server.log_tail()}"
            if "Address already in use" in said:  # another process took a port meanwhile
                raise PortInUse(f"dovecot could not bind {server.port}/{server.ssl_port}")
            raise DovecotUnavailable(f"dovecot exited with {process.returncode}: {said}")
        port = pending[0]
        try:
            with socket.create_connection((server.host, port), timeout=1.0) as sock:
                if port == server.port and not sock.recv(64).startswith(b"* OK"):
                    raise OSError("no IMAP greeting yet")
            pending.pop(0)
            continue
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise DovecotUnavailable(
                f"dovecot did not answer on {server.host}:{port} within {START_TIMEOUT:.0f} s\n"
                + server.log_tail()
            )
        time.sleep(0.05)
    if process.poll() is not None:  # what answered was another server on a port it took
        raise PortInUse(f"dovecot exited while {server.port}/{server.ssl_port} answered")
