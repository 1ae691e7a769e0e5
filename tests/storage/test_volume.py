"""A dataset of realistic size: many batches, one transaction, flat memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine

from storage import dataset_counts, sync_dataset

from .data import CITIES, T0, T1, T2, city, data_writes

ROWS = 20_000


def generated_pages(
    n: int, page_size: int = 1000, **changes: Any
) -> Iterator[list[dict[str, Any]]]:
    """Pages made on demand, as a network read delivers them: never the whole dataset."""
    for start in range(1, n + 1, page_size):
        yield [city(i, **changes) for i in range(start, min(start + page_size, n + 1))]


def test_twenty_thousand_cities_sync_and_resync(engine: Engine) -> None:
    first = sync_dataset(engine, CITIES, generated_pages(ROWS), now=T0)
    assert (first.inserted, first.status) == (ROWS, "succeeded")

    with data_writes(engine, "cities") as writes:
        again = sync_dataset(engine, CITIES, generated_pages(ROWS), now=T1)
    assert (again.inserted, again.updated, again.unchanged, again.deleted) == (0, 0, ROWS, 0)
    assert writes.statements == []

    changed = sync_dataset(engine, CITIES, generated_pages(ROWS, timezone="UTC"), now=T2)
    assert (changed.updated, changed.unchanged) == (ROWS, 0)
    assert dataset_counts(engine)["cities"] == (ROWS, 0)


def test_memory_does_not_grow_with_the_dataset(engine: Engine) -> None:
    # Warm up (compiled statements, connection pool) outside the measurement.
    sync_dataset(engine, CITIES, generated_pages(2000), now=T0, allow_mass_delete=True)

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            sync_dataset(engine, CITIES, generated_pages(n), batch_size=1000, now=T1)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(4000), peak(16_000)
    # Four times the rows, about the same peak: a batch, not the dataset, is in memory.
    assert large < small * 1.5, (small, large)
