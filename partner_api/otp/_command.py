"""The `command` OTP source: a program prints the code, like a credential helper."""

from __future__ import annotations

import os
import shlex
import subprocess

from .._errors import ConfigurationError, OtpError
from ._base import BaseOtpSource, OtpChallenge, extract_code


class CommandOtpSource(BaseOtpSource):
    """Runs `PARTNER_OTP_COMMAND` and reads the code from its stdout, like a credential helper.

    The command is split with `shlex` and run without a shell (wrap it in `sh -c '…'` for
    pipes). It learns the context from `PARTNER_MFA_METHOD`, `PARTNER_OTP_DESTINATION` and
    `PARTNER_OTP_ATTEMPT` in its environment.
    """

    name = "command"
    asks_again = False

    def __init__(self, command: str) -> None:
        if not command.strip():
            raise ConfigurationError(
                "PARTNER_OTP_SOURCE=command needs PARTNER_OTP_COMMAND, the command that prints the code"
            )
        self._argv = shlex.split(command)

    def get_code(self, challenge: OtpChallenge) -> str:
        """Run the command (bounded by the login session's life) and parse its stdout."""
        env = dict(os.environ)
        env.update(
            PARTNER_MFA_METHOD=challenge.method,
            PARTNER_OTP_DESTINATION=challenge.destination or "",
            PARTNER_OTP_ATTEMPT=str(challenge.attempt),
        )
        program = self._argv[0]
        try:
            done = subprocess.run(
                self._argv,
                capture_output=True,
                text=True,
                timeout=max(1.0, challenge.seconds_left()),
                env=env,
                check=False,
            )
        except FileNotFoundError as exc:
            raise OtpError(
                f"PARTNER_OTP_COMMAND: program {program!r} not found; check the command"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise OtpError(
                f"PARTNER_OTP_COMMAND {program!r} printed no code before the login expired"
            ) from exc
        if done.returncode != 0:
            # stderr's last line may say why; stdout is never echoed (it may hold a code).
            last = (done.stderr.strip().splitlines() or [""])[-1][:200]
            raise OtpError(
                f"PARTNER_OTP_COMMAND {program!r} exited {done.returncode}"
                + (f": {last}" if last else "")
            )
        code = extract_code(done.stdout)
        if code is None:
            raise OtpError(f"PARTNER_OTP_COMMAND {program!r} printed no 6-digit code on stdout")
        return code
