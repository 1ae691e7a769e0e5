"""`python -m sandbox` / `partner-sync sandbox`: run the sandbox in the foreground."""

from __future__ import annotations

import argparse
import ipaddress
import logging
from pathlib import Path

from sandbox._app import create_app
from sandbox._config import (
    AUTH_ONLY_API_KEY,
    AUTH_ONLY_API_SECRET,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_SEED,
    DEMO_API_KEY,
    DEMO_TOTP_SECRET,
    MFA_EMAIL,
    MFA_TOTP,
    SandboxConfig,
)
from sandbox._drift import NEW_FIELD
from sandbox._server import base_url_for, bind_socket, make_server


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _datasets(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


def build_parser() -> argparse.ArgumentParser:
    """The sandbox's command-line options."""
    parser = argparse.ArgumentParser(
        prog="partner-sync sandbox",
        description="Run the Partner API sandbox: the partner's contract made runnable.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (demo keys!)"
    )
    parser.add_argument("--cities", type=int, default=50_000, help="number of generated cities")
    parser.add_argument("--clock-skew", type=float, default=0.0, help="seconds added to the clock")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="0..1 injected faults")
    parser.add_argument(
        "--fault-kinds",
        type=lambda v: tuple(v.split(",")),
        default=None,
        help="comma-separated faults to draw from: 500,503,429,4031,drop (default: all)",
    )
    parser.add_argument("--rate-limit", type=float, default=None, help="requests/s per API key")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After of injected 429s")
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="MS", help="delay every partner request"
    )
    parser.add_argument(
        "--latency-jitter",
        type=float,
        default=0.0,
        metavar="MS",
        help="plus up to this much more, drawn per request",
    )
    parser.add_argument(
        "--drift-new-field",
        type=_datasets,
        default=(),
        metavar="DATASETS",
        help=f"comma-separated datasets whose items carry the unlisted field {NEW_FIELD!r}",
    )
    parser.add_argument(
        "--drift-type",
        type=_datasets,
        default=(),
        metavar="DATASETS",
        help="comma-separated datasets where a listed field changes type "
        "(cities: population as text; others: name null)",
    )
    parser.add_argument("--data-version", type=int, choices=(1, 2), default=1)
    parser.add_argument("--maildir", type=Path, default=None, help="deliver OTP mails here")
    parser.add_argument(
        "--no-sign-query", action="store_true", help="sign the path without its ?query"
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        metavar="PEM",
        help="serve HTTPS with this certificate",
    )
    parser.add_argument(
        "--tls-key", type=Path, default=None, metavar="PEM", help="the certificate's private key"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--log-level", default="info", choices=("critical", "error", "warning", "info", "debug")
    )
    return parser


def banner(base_url: str, config: SandboxConfig) -> str:
    """The block printed at start: where the sandbox listens and how to sign in."""
    lines = [
        "Partner API sandbox (demo credentials below protect nothing)",
        f"  base URL        {base_url}",
        f"  health          {base_url}/actuator/health",
        f"  API key         {DEMO_API_KEY}",
        f"  API secret      {config.api_secret}",
        f"  auth-only key   {AUTH_ONLY_API_KEY}",
        f"  auth-only secr. {AUTH_ONLY_API_SECRET}",
        f"  account         {config.email}",
        f"  password        {config.password}",
        f"  MFA methods     EMAIL={MFA_EMAIL} TOTP={MFA_TOTP}",
        f"  TOTP secret     {DEMO_TOTP_SECRET}",
        f"  OTP outbox      {base_url}/_sandbox/outbox",
        f"  cities          {config.cities}  data version {config.data_version}"
        f"  clock skew {config.clock_skew:g}s  fault rate {config.fault_rate:g}"
        f"  rate limit {config.rate_limit or 'off'}"
        f"  sign query {'yes' if config.sign_query else 'no'}",
    ]
    if config.latency_ms or config.latency_jitter_ms:
        lines.append(
            f"  latency         {config.latency_ms:g} ms + up to {config.latency_jitter_ms:g} ms"
        )
    if config.drift_new_field or config.drift_type:
        lines.append(
            f"  schema drift    new field: {', '.join(config.drift_new_field) or '-'}"
            f"  type change: {', '.join(config.drift_type) or '-'}"
        )
    if config.maildir is not None:
        lines.append(f"  maildir         {config.maildir}")
    if config.tls_certfile is not None:
        lines.append(f"  TLS certificate {config.tls_certfile} (trust it: PARTNER_CA_BUNDLE)")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until Ctrl-C; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not _is_loopback_host(args.host) and not args.allow_remote:
        parser.error(
            f"refusing to listen on non-loopback host {args.host!r} without --allow-remote"
        )
    try:
        config = SandboxConfig(
            host=args.host,
            port=args.port,
            cities=args.cities,
            clock_skew=args.clock_skew,
            fault_rate=args.fault_rate,
            fault_kinds=args.fault_kinds,
            rate_limit=args.rate_limit,
            retry_after=args.retry_after,
            latency_ms=args.latency,
            latency_jitter_ms=args.latency_jitter,
            drift_new_field=args.drift_new_field,
            drift_type=args.drift_type,
            data_version=args.data_version,
            maildir=args.maildir,
            sign_query=not args.no_sign_query,
            tls_certfile=args.tls_cert,
            tls_keyfile=args.tls_key,
            seed=args.seed,
        )
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The OTP log line is how a developer signs in by hand.
    logging.getLogger("sandbox").setLevel(logging.INFO)
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}")
        return 1
    config.port = sock.getsockname()[1]
    app = create_app(config)
    server = make_server(app, log_level=args.log_level)
    base_url = base_url_for(args.host, config.port, config.context_path, config.scheme)
    print(banner(base_url, config), flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
