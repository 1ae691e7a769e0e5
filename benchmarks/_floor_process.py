"""`python -m benchmarks._floor_process DB`: the raw floor as a process of its own.

Reads the cities page by page from `BENCH_BASE_URL` (signed with `BENCH_API_KEY`,
`BENCH_API_SECRET`, `BENCH_TOKEN`) and upserts them into the SQLite file DB, which holds
our schema (`benchmarks._floors.load_sqlite`). Process start is part of what the parent
times, as it is for the CLI it is compared with. Prints one JSON line: the rows written.
"""

from __future__ import annotations

import json
import os
import sys

from benchmarks._floors import RawPartner, load_sqlite


def main(argv: list[str]) -> int:
    """Run the floor once into the file `argv[0]`."""
    (db,) = argv
    partner = RawPartner(
        os.environ["BENCH_BASE_URL"],
        os.environ["BENCH_API_KEY"],
        os.environ["BENCH_API_SECRET"],
        os.environ["BENCH_TOKEN"],
    )
    try:
        written = load_sqlite(db, partner.pages("cities"))
    finally:
        partner.close()
    sys.stdout.write(json.dumps({"written": written}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
