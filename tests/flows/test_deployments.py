"""The served deployment's definition: schedule, typed parameters, overlap guard."""

from __future__ import annotations

import pytest

from partner_sync.core.settings import Settings


def test_the_deployment_has_a_utc_cron_typed_parameters_and_cancels_overlaps(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployments.serve import build_deployment

    monkeypatch.setenv("PARTNER_SYNC_CRON", "15 4 * * *")
    deployment = build_deployment(Settings())
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "15 4 * * *" and schedule.schedule.timezone == "UTC"
    assert deployment.concurrency_limit == 1
    assert deployment.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    assert set(deployment.tags) >= {"partner-sync"} and deployment.description
    from prefect.utilities.callables import parameter_schema

    from flows.sync_reference_data import sync_reference_data

    # The schema the deployment registers: the UI's form and the server's validation.
    schema = parameter_schema(sync_reference_data).model_dump()
    properties = schema["properties"]
    assert set(properties) == {"datasets", "full_refresh", "allow_mass_delete"}
    assert properties["full_refresh"]["type"] == "boolean"
    dataset_enum = schema["definitions"]["DatasetName"]["enum"]
    assert dataset_enum == ["countries", "currencies", "languages", "cities"]
