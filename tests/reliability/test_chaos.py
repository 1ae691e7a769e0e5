"""Chaos: repeated syncs against a faulty, skewed sandbox whose data changes between runs.

The sandbox runs as `partner-sync sandbox --fault-rate 0.3 --clock-skew 120` in its own
process. After every run, each dataset is either exactly the sandbox's data (its outcome
succeeded) or exactly what it was before the run (its outcome failed); no key is ever
stored twice.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from partner_api import DATASETS, APIStatusError, PartnerConnectionError
from partner_sync.core.run import run_sync
from storage.db import make_engine, upgrade_database
from tests.reliability.support import (
    FIGURES,
    Size,
    cli_sandbox,
    key_is_unique,
    mismatch_with_source,
    source_items,
    sync_runs,
    table_rows,
)
from tests.support.settings import demo_settings

SEED = 4242

#: What a login beaten by the injected faults raises (5xx, 429, 4031 answers, dropped
#: connections). Anything else, a `TypeError` say, is a bug and fails the test.
LOGIN_FAULTS = (APIStatusError, PartnerConnectionError)


def _subclass_names(cls: type) -> set[str]:
    return {cls.__name__}.union(*(_subclass_names(sub) for sub in cls.__subclasses__()))


LOGIN_FAULT_NAMES = set().union(*(_subclass_names(cls) for cls in LOGIN_FAULTS))


def test_syncs_under_faults_and_skew_leave_the_source_or_the_previous_state(
    tmp_path: Path, size: Size
) -> None:
    runs, cities = size(6, 20), size(1_500, 5_000)
    rng = random.Random(SEED)
    database_url = f"sqlite:///{tmp_path / 'chaos.db'}"
    engine = make_engine(database_url)
    upgrade_database(engine)
    statuses: Counter[str] = Counter()
    failed_runs = 0
    switches = 0
    with cli_sandbox(
        "--cities",
        str(cities),
        "--seed",
        str(SEED),
        "--fault-rate",
        "0.3",
        "--clock-skew",
        "120",
        # An injected 429 is retried at once: the test measures correctness, not patience.
        "--retry-after",
        "0",
    ) as sandbox:
        # Three attempts per request: most runs survive the faults, some datasets do not.
        settings = demo_settings(sandbox.base_url, database_url, max_attempts=3)
        version = 1
        for run in range(runs):
            if run > 0 and rng.random() < 0.5:
                version = 3 - version
                sandbox.control("data-version", {"version": version})
                switches += 1
            before = {name: table_rows(engine, name) for name in DATASETS}
            runs_before = len(sync_runs(engine))
            report = run_sync(settings)
            outcomes = {o.dataset: o for o in report.outcomes}
            login = [p for p in report.problems if p.where == "login"]
            if login:  # the login itself failed: every dataset skipped, nothing may change
                failed_runs += 1
                assert login[0].kind in LOGIN_FAULT_NAMES, login[0]
                assert "\n" not in login[0].error
                assert {o.status for o in report.outcomes} == {"skipped"}
            for name in DATASETS:
                rows = table_rows(engine, name)
                outcome = outcomes.get(name)
                status = outcome.status if outcome else "login failed"
                statuses[status] += 1
                assert key_is_unique(engine, name)
                if status in ("succeeded", "not_modified"):
                    source = source_items(name, cities, version, SEED)
                    problem = mismatch_with_source(rows, source)
                    assert problem is None, f"run {run} {name} ({status}): {problem}"
                else:
                    assert rows == before[name], f"run {run} {name} failed but changed rows"
                    if outcome is not None:
                        assert outcome.error and "\n" not in outcome.error
            new_runs = sync_runs(engine)[runs_before:]
            assert all(r["status"] != "running" for r in new_runs)
        stats = sandbox.control("stats")
    engine.dispose()
    FIGURES[f"chaos ({size.name}): runs (data version switches)"] = f"{runs} ({switches})"
    FIGURES[f"chaos ({size.name}): dataset outcomes"] = dict(sorted(statuses.items()))
    FIGURES[f"chaos ({size.name}): runs whose login failed"] = failed_runs
    FIGURES[f"chaos ({size.name}): faults injected / partner requests"] = (
        f"{stats['faultsInjected']} / {stats['partnerRequests']} {stats['byFault']}"
    )
    assert stats["faultsInjected"] > 0
    assert statuses["succeeded"] + statuses["not_modified"] > 0
