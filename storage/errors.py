"""Errors raised by `storage`.

Every message is one readable line that says what happened and what to do about it;
none carries row data beyond the offending key.

```
StorageError                    base of everything raised on purpose by storage
├── MassDeleteRefusedError      the sweep would mark too many rows deleted
├── SyncLockedError             another sync of the same dataset holds the lock
├── DatabaseLockedError         another process holds the SQLite database's write lock
├── DatabaseReadOnlyError       the SQLite file (or its directory or disk) cannot be written
└── InvalidItemError            an item without a usable key, or a key seen twice
```

Database driver errors (`sqlalchemy.exc.DBAPIError` and friends) are not wrapped: they
propagate unchanged after the sync transaction has been rolled back.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of the errors `storage` raises on purpose."""


class MassDeleteRefusedError(StorageError):
    """The sweep would mark more rows deleted than the safety valve allows."""

    def __init__(self, message: str, *, would_delete: int, live: int, limit: float) -> None:
        super().__init__(message)
        self.would_delete = would_delete
        self.live = live
        self.limit = limit


class SyncLockedError(StorageError):
    """Another sync of the same dataset held the lock for longer than `lock_timeout`."""

    def __init__(self, message: str, *, dataset: str) -> None:
        super().__init__(message)
        self.dataset = dataset


class DatabaseLockedError(StorageError):
    """Another process kept the whole SQLite database locked longer than the engine waits."""


class DatabaseReadOnlyError(StorageError):
    """The SQLite database cannot be opened for writing: a read-only file, directory or disk."""


class InvalidItemError(StorageError):
    """An item lacks its key, has a key of the wrong type, or repeats a key within one read."""

    def __init__(self, message: str, *, dataset: str, key: object = None) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.key = key
