"""The results table, the machine it ran on, and `RESULTS.md`."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from ._timing import Figure

#: The issue's order of the figures.
ORDER = (
    "signing overhead",
    "upsert throughput",
    "unchanged upsert",
    "end-to-end sync",
    "no-change re-sync",
    "memory",
    "PostgreSQL",
    "orchestration",
)


def _amount(value: float, unit: str) -> str:
    if math.isnan(value):
        return "—"
    if unit == "MiB":
        return f"{value:,.0f} MiB"
    return f"{value:,.3f} s" if value < 10 else f"{value:,.1f} s"


def _value(figure: Figure) -> str:
    if figure.skipped:
        return "skipped"
    if figure.kind == "added":
        return f"+{figure.value:.2f} s"
    return f"{figure.value:.2f}"


def _target(figure: Figure) -> str:
    if figure.kind == "added":
        return f"≤ +{figure.limit:g} s"
    return f"≤ {figure.limit:g}"


def _verdict(figure: Figure) -> str:
    if figure.skipped:
        return "—"
    return "met" if figure.met else "**missed**"


def markdown_table(figures: list[Figure]) -> str:
    """The table: figure, ours, baseline, ratio (seconds added for orchestration), target.

    The last column is the same ratio in CPU seconds of this process (where both sides run
    in it): on a machine shared with other work it moves far less than wall time.
    """
    lines = [
        "| figure | ours | baseline | ratio | target | | CPU ratio |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for f in figures:
        cpu = f"{f.cpu_ratio:.2f}" if f.cpu_ratio is not None else ""
        lines.append(
            f"| {f.name} | {_amount(f.ours, f.unit)} | {_amount(f.baseline, f.unit)} | "
            f"{_value(f)} | {_target(f)} | {_verdict(f)} | {cpu} |"
        )
    return "\n".join(lines)


def descriptions(figures: list[Figure]) -> str:
    """What each row compares, and what else was measured on the way."""
    lines = []
    for f in figures:
        if f.skipped:
            lines.append(f"- **{f.name}**: skipped: {f.skipped}")
            continue
        text = f"- **{f.name}**: ours = {f.ours_label}; baseline = {f.baseline_label}"
        if f.note:
            text += f". {f.note}"
        samples = "; ".join(
            f"{side} " + ", ".join(f"{v:.3g}" for v in values) for side, values in f.samples.items()
        )
        if samples:
            text += f". Runs: {samples}"
        lines.append(text + ".")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> list[str]:
    """Facts about this machine, one per line."""
    try:
        uname = subprocess.run(
            ["uname", "-a"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        uname = " ".join(platform.uname())
    return [
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        f"machine: `{uname}`",
        f"CPU: {_cpu_model()}, {os.cpu_count()} cores",
        f"Python: {platform.python_version()} ({platform.python_implementation()})",
        f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}",
    ]


def results_markdown(
    figures: list[Figure], *, settings: str, wall: float, profile: str | None
) -> str:
    """The whole `RESULTS.md`."""
    parts = [
        "# partner-sync benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks`); the method and what bounds each "
        "figure are in `benchmarks/README.md`.",
        "",
        markdown_table(figures),
        "",
        "## What each row compares",
        "",
        descriptions(figures),
        "",
        "## Run",
        "",
        *(f"- {line}" for line in machine()),
        f"- settings: {settings}",
        f"- wall time of the whole run: {wall:,.0f} s",
        "",
    ]
    if profile:
        parts += [profile, ""]
    return "\n".join(parts)
