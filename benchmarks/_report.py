"""The results table, the machine it ran on, and `RESULTS.md`."""

from __future__ import annotations

import math
import os
import platform
import site
import sysconfig
from datetime import UTC, datetime
from pathlib import Path

from ._change_tracking import CHANGE_TRACKING
from ._children import MEMORY
from ._cli_figures import DLT_FIRST, DLT_RESYNC, FIRST_LOAD, LATENCY, RESYNC, START
from ._figures import POSTGRES, UPSERT
from ._timing import Figure

#: The issue's rows in its order, then the start-up row and the change-tracking hook.
ORDER = (
    FIRST_LOAD,
    LATENCY,
    RESYNC,
    DLT_FIRST,
    DLT_RESYNC,
    UPSERT,
    POSTGRES,
    MEMORY,
    START,
    CHANGE_TRACKING,
)

#: The block of `benchmarks/README.md` that a full run rewrites.
README_START = "<!-- findings: written by `make bench`; edits here are overwritten -->"
README_END = "<!-- end of findings -->"


def _amount(value: float, unit: str) -> str:
    if math.isnan(value):
        return "—"
    if unit == "MiB":
        return f"{value:,.0f} MiB"
    return f"{value:,.3f} s" if value < 10 else f"{value:,.1f} s"


def _value(figure: Figure) -> str:
    if figure.skipped:
        return "pending" if figure.kind == "pending" else "skipped"
    if figure.kind == "seconds":
        return f"{figure.value:.2f} s"
    return f"{figure.value:.2f}x"


def _target(figure: Figure) -> str:
    if figure.kind == "pending":
        return "—"
    if figure.kind == "seconds":
        return f"≤ {figure.limit:g} s"
    cap = f", ≤ {figure.cap:g} {figure.unit}" if figure.cap is not None else ""
    return f"≤ {figure.limit:g}x{cap}"


def _verdict(figure: Figure) -> str:
    if figure.kind == "pending":
        return "—"
    if figure.skipped:
        return "**not shown**"
    return "met" if figure.met else "**missed**"


def missed(figures: list[Figure]) -> list[Figure]:
    """The judged rows whose target does not hold (a skipped row has not shown it holds)."""
    return [f for f in figures if f.judged and not f.met]


def markdown_table(figures: list[Figure]) -> str:
    """The table: figure, ours, baseline, ratio (or seconds), target, verdict, CPU ratio.

    The last column is the same ratio in CPU seconds (of the processes, or of this
    process where both sides run in it): on a shared machine it moves less than wall time.
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
            lines.append(f"- **{f.name}**: {_value(f)}: {f.skipped}")
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
    uname = platform.uname()
    return [
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        f"machine: {uname.system} {uname.release} {uname.machine}",
        f"CPU: {_cpu_model()}, {os.cpu_count()} cores",
        f"Python: {platform.python_version()} ({platform.python_implementation()})",
    ]


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as `uptime` prints them."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def results_markdown(
    figures: list[Figure],
    *,
    settings: str,
    wall: float,
    profile: str | None,
    load_before: str,
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
        f"- load average (1, 5, 15 min) at the start: {load_before}; at the end: {load_average()}",
        f"- wall time of the whole run: {wall:,.0f} s",
        f"- targets missed: {len(missed(figures))} of {sum(1 for f in figures if f.judged)}",
        "",
    ]
    if profile:
        parts += [profile, ""]
    return without_local_paths("\n".join(parts))


def without_local_paths(text: str) -> str:
    """`text` with this checkout's, this interpreter's and the home directory's paths cut."""
    root = str(Path(__file__).resolve().parent.parent)
    for prefix in sorted({*site.getsitepackages(), sysconfig.get_path("stdlib")}, key=len)[::-1]:
        text = text.replace(prefix + os.sep, "")
    text = text.replace(root + os.sep, "").replace(root, ".")
    return text.replace(str(Path.home()), "~")


def findings_block(figures: list[Figure], *, load_before: str, date: str) -> str:
    """The README's findings: the table of this run, where and how loaded it ran."""
    verdict = missed(figures)
    summary = (
        "every target holds"
        if not verdict
        else f"{len(verdict)} target(s) missed: " + ", ".join(f.name for f in verdict)
    )
    return "\n".join(
        [
            README_START,
            "",
            f"From the last `make bench` ({date}, {os.cpu_count()} cores, load average "
            f"{load_before} at the start, {load_average()} at the end): {summary}. "
            "What each row compares, the runs and the profile are in `RESULTS.md`.",
            "",
            markdown_table(figures),
            "",
            README_END,
        ]
    )


def rewrite_findings(readme: Path, block: str) -> None:
    """Replace the findings block of `readme` (between the markers) with `block`."""
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise RuntimeError(
            f"{readme.name} has no findings block ({README_START!r} … {README_END!r})"
        )
    readme.write_text(text[:start] + block + text[end + len(README_END) :])
