"""What changed, in words: change log entries as lines, flat rows and the report's section.

One formatting for every place a change is shown: `partner-sync changes` (table, JSON,
CSV) and the run's markdown report, which lists the first `storage.changes.SAMPLE_SIZE`
changes of each dataset and counts the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from storage import Change, ChangeKind, SyncResult

#: A field's change: `name: "Old" → "New"`.
ARROW = "→"

#: The columns of `partner-sync changes --format csv`: one row per changed field.
CSV_COLUMNS = ("run", "dataset", "at", "kind", "key", "field", "old", "new")


def _value(value: Any) -> str:
    """A value as JSON writes it: strings quoted, None as null."""
    return json.dumps(value, ensure_ascii=False)


def describe_fields(change: Change) -> str:
    """`name: "Old" → "New"; population: 1 → 2`, or a note for a change without fields."""
    if change.kind == ChangeKind.LOADED:
        count = change.rows
        rows = "every row" if count is None else f"{count:,} row{'' if count == 1 else 's'}"
        return f"first load: {rows} inserted"
    if not change.fields:
        return ""
    return "; ".join(
        f"{field}: {_value(old)} {ARROW} {_value(new)}"
        for field, (old, new) in change.fields.items()
    )


def describe(change: Change) -> str:
    """One line: `updated DE: name "Germany" → "Deutschland"`."""
    head = str(change.kind) if change.key is None else f"{change.kind} {change.key}"
    detail = describe_fields(change)
    return f"{head}: {detail}" if detail else head


def as_record(change: Change) -> dict[str, Any]:
    """A change as plain JSON values (`--format json`)."""
    return {
        "run": change.run_id,
        "dataset": change.dataset,
        "at": change.at.isoformat() if change.at is not None else None,
        "kind": str(change.kind),
        "key": change.key,
        "fields": change.fields,
        "rows": change.rows,
    }


def csv_rows(changes: Iterable[Change]) -> Iterable[dict[str, Any]]:
    """`CSV_COLUMNS` rows: one per changed field, one for a change without fields."""
    for change in changes:
        base = {
            "run": change.run_id,
            "dataset": change.dataset,
            "at": change.at.isoformat() if change.at is not None else "",
            "kind": str(change.kind),
            "key": change.key if change.key is not None else "",
        }
        if not change.fields:
            yield {**base, "field": "", "old": "", "new": change.rows or ""}
            continue
        for field, (old, new) in change.fields.items():
            yield {**base, "field": field, "old": _value(old), "new": _value(new)}


def changes_markdown(results: Iterable[SyncResult]) -> list[str]:
    """The report's "What changed" lines: per dataset its first changes and new fields."""
    lines: list[str] = []
    for result in results:
        if not result.changes_total and not result.new_fields:
            continue
        lines += [f"### {result.dataset} (run {result.run_id})", ""]
        lines += [f"- {describe(change)}" for change in result.changes]
        rest = result.changes_total - len(result.changes)
        if rest > 0:
            lines.append(f"- … and {rest:,} more: `partner-sync changes --run {result.run_id}`")
        for field, key in result.new_fields:
            lines.append(
                f"- **new field** `{field}` (e.g. {key}): not in the contract, kept in `extra`"
            )
        lines.append("")
    return ["## What changed", "", *lines] if lines else []
