"""`python -m benchmarks._dlt_peer DESTINATION WORKDIR`: the cities through dlt, as its docs say.

The peer row of `make bench`: dlt's `RESTClient.paginate` with a page-number paginator
(`base_page=0`, `total_path` on the envelope's `totalPages`), a `requests` `AuthBase` that
signs every page afresh with the contract's HMAC, and a `write_disposition="merge"`
resource keyed on `id`, into `DESTINATION`:

- `duckdb`: dlt's default for a local database, default file format;
- `duckdb-parquet`: the same with `loader_file_format="parquet"` (needs pyarrow);
- `sqlite`: the `sqlalchemy` destination on a SQLite file.

The pipeline's state and the destination live in WORKDIR, so running twice on one WORKDIR
is dlt's re-sync of unchanged data. The partner's address and session come from
`BENCH_BASE_URL`, `BENCH_API_KEY`, `BENCH_API_SECRET` and `BENCH_TOKEN` (the login, which
dlt has no way to do, is done once by the parent for every side). Prints one JSON line
with the number of rows the destination holds afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

DESTINATIONS = ("duckdb", "duckdb-parquet", "sqlite")
PAGE_SIZE = 1000


def main(argv: list[str]) -> int:
    """Run the pipeline once into `argv[0]`'s destination under the directory `argv[1]`."""
    destination_name, workdir = argv
    import dlt
    from dlt.sources.helpers.rest_client.client import RESTClient
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
    from requests import PreparedRequest
    from requests.auth import AuthBase

    base_url = os.environ["BENCH_BASE_URL"].rstrip("/")
    context_path = urlsplit(base_url).path.rstrip("/")

    class PartnerHmacAuth(AuthBase):
        """Signs each request as the contract says: a fresh timestamp and nonce per page."""

        def __init__(self, api_key: str, secret: str, token: str) -> None:
            self.api_key = api_key
            self.secret = secret.encode()
            self.token = token

        def __call__(self, request: PreparedRequest) -> PreparedRequest:
            path = request.path_url  # path and ?query as sent
            if context_path and path.startswith(context_path + "/"):
                path = path[len(context_path) :]
            timestamp = str(int(time.time()))
            nonce = str(uuid.uuid4())
            body: Any = request.body or b""  # a GET has none
            if isinstance(body, str):
                body = body.encode()
            message = f"{request.method}\n{path}\n{timestamp}\n{nonce}\n".encode() + bytes(body)
            digest = hmac.new(self.secret, message, hashlib.sha256).digest()
            request.headers["Authorization"] = "HMAC-SHA256 " + base64.b64encode(digest).decode()
            request.headers["X-Api-Key"] = self.api_key
            request.headers["X-Timestamp"] = timestamp
            request.headers["X-Nonce"] = nonce
            request.headers["X-Session-Token"] = self.token
            return request

    client = RESTClient(
        base_url=base_url,
        auth=PartnerHmacAuth(
            os.environ["BENCH_API_KEY"], os.environ["BENCH_API_SECRET"], os.environ["BENCH_TOKEN"]
        ),
        paginator=PageNumberPaginator(base_page=0, page_param="page", total_path="data.totalPages"),
        data_selector="data.content",
    )

    @dlt.resource(name="cities", primary_key="id", write_disposition="merge")
    def cities() -> Any:
        yield from client.paginate("/api/v1/partner/constants/cities", params={"size": PAGE_SIZE})

    run_options: dict[str, Any] = {}
    if destination_name.startswith("duckdb"):
        destination: Any = dlt.destinations.duckdb(os.path.join(workdir, "cities.duckdb"))
        if destination_name == "duckdb-parquet":
            run_options["loader_file_format"] = "parquet"
    elif destination_name == "sqlite":
        destination = dlt.destinations.sqlalchemy(
            f"sqlite:///{os.path.join(workdir, 'partner.db')}"
        )
    else:
        raise SystemExit(f"unknown destination {destination_name!r}; one of {DESTINATIONS}")
    pipeline = dlt.pipeline(
        pipeline_name="partner_cities",
        pipelines_dir=os.path.join(workdir, "pipelines"),
        destination=destination,
        dataset_name="partner",
    )
    info = pipeline.run(cities(), **run_options)
    info.raise_on_failed_jobs()
    with pipeline.sql_client() as sql:
        rows = sql.execute_sql(f"SELECT count(*) FROM {sql.make_qualified_table_name('cities')}")
    if not rows:
        raise RuntimeError("dlt's destination answered no row count")
    sys.stdout.write(json.dumps({"rows": int(rows[0][0])}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
