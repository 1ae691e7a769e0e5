"""The 403 diagnosis: walk the four published causes, say which are ruled out and which remain.

The partner's chain answers 403 for a bad signature, a timestamp outside the window, a
reused nonce, a missing scope, or a `/web/v1` path (docs/partner-api.md §2.1). A gateway may
also answer 403 without an envelope. The diagnosis uses only what the client knows: the
envelope code, the server's message and the measured clock offset.
"""

from __future__ import annotations

from ._constants import TIMESTAMP_WINDOW


def diagnose_403(
    path: str,
    code: str | None,
    server_message: str | None,
    *,
    offset: float,
    measured: bool,
) -> str:
    """One line walking the published 403 causes for a refused `path`.

    `offset` is the clock offset to the server (seconds) and `measured` whether any server
    `Date` was seen yet.
    """
    ruled_out: list[str] = [f"not a /web/v1 path ({path} was checked before sending)"]
    remaining: list[str] = []
    clock_fact = (
        f"clock offset {offset:+.1f} s measured from the server's Date, inside the "
        f"{TIMESTAMP_WINDOW:.0f} s window"
        if measured
        else "no server Date seen yet, so the clock offset is unmeasured"
    )
    nonce_fact = "every attempt used a fresh UUID4 nonce"
    if code == "4033":
        return (
            f"Diagnosis: the API key lacks scope {_scope_from(server_message)}; "
            "ask the partner to grant it or use a key that has it. "
            f"Ruled out: {ruled_out[0]}; signature, timestamp ({clock_fact}) and nonce "
            "passed (the server checks them first)"
        )
    if code == "4034":
        return "Diagnosis: the server says this is a /web/v1 portal path; use /api/v1/partner/**"
    if code == "4030":
        return (
            "Diagnosis: signature, header or API key rejected: check PARTNER_API_KEY, "
            "PARTNER_API_SECRET and PARTNER_SIGN_QUERY; "
            f"ruled out: {ruled_out[0]}; the server checks signatures before the clock"
        )
    if code == "4031":
        remaining.append(
            f"timestamp drift: the server still rejects the time after re-measuring "
            f"(clock offset {offset:+.1f} s, window {TIMESTAMP_WINDOW:.0f} s); check NTP on this "
            "worker and on the server's side"
        )
        ruled_out.append(nonce_fact)
    elif code == "4032":
        remaining.append(
            "nonce reuse: the server saw the nonce before although "
            f"{nonce_fact}: something replays requests or the server's nonce memory is wrong"
        )
        ruled_out.append(clock_fact)
    else:
        ruled_out.append(nonce_fact)
        remaining.append(f"timestamp drift ({clock_fact}, re-measured and retried)")
        remaining.append("missing scope on the API key")
        remaining.append("a gateway or firewall refusing the request before the API")
    envelope_fact = (
        f"envelope code {code}: {server_message or 'no message'}"
        if code
        else "the 403 carried no envelope"
    )
    return (
        f"Diagnosis ({envelope_fact}): ruled out {'; '.join(ruled_out)}. "
        f"Remaining: {'; '.join(remaining)}"
    )


def _scope_from(message: str | None) -> str:
    """The `partner:...` scope the server's message names, or what is known of it."""
    if message:
        for word in message.replace(",", " ").split():
            if ":" in word and word.startswith("partner"):
                return word.strip(".'\"")
    return f"named by the server ({message})" if message else "(the server did not name it)"
