"""Schema drift on demand: a partner that starts sending what the contract does not promise.

Two switches per dataset (`SandboxConfig.drift_new_field` / `drift_type`, the CLI's
`--drift-new-field` / `--drift-type`, `POST /_sandbox/config`):

- *new field*: every item carries `NEW_FIELD`, a field docs/partner-api.md §2.4 does not list
  (a client must keep it, not fail);
- *type change*: a listed field changes its type: `TYPE_DRIFT` names the field and what it
  becomes (cities' `population` as text, the other datasets' required `name` as null).

Both change the dataset's fingerprint, hence every ETag: a client's `If-None-Match` from
before the switch gets the drifted data, never a 304.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from sandbox._keys import Item

NEW_FIELD = "sandboxNote"
"""The field the *new field* switch adds to every item: a short text derived from the key."""

DriftKind = Literal["text", "null"]

TYPE_DRIFT: Mapping[str, tuple[str, DriftKind]] = {
    "cities": ("population", "text"),
}
"""Dataset -> (field, what it becomes) under the *type change* switch; see `type_drift_of`."""

_DEFAULT_TYPE_DRIFT: tuple[str, DriftKind] = ("name", "null")


def type_drift_of(dataset: str) -> tuple[str, DriftKind]:
    """The field the type-change switch alters in `dataset`, and how (every item has a `name`)."""
    return TYPE_DRIFT.get(dataset, _DEFAULT_TYPE_DRIFT)


def drift_items(
    dataset: str, key: str, items: list[Item], *, new_field: bool, type_drift: bool
) -> list[Item]:
    """Apply the switches to freshly made `items` in place, and return them."""
    field, kind = type_drift_of(dataset)
    for item in items:
        if new_field:
            item[NEW_FIELD] = f"note {item[key]}"
        if type_drift:
            item[field] = None if kind == "null" else str(item[field])
    return items
