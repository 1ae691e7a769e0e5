"""Credentials in Prefect `Secret` blocks: `partner-sync secrets push` writes them, runs read them.

A setting given in the environment or `.env` wins; a credential left empty there is read
from the block `<PARTNER_SECRET_BLOCK_PREFIX>-<name>` (e.g. `partner-sync-api-secret`).
So workers need only `PREFECT_API_URL`; the credentials live encrypted on the Prefect
server and never travel as flow parameters.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect.blocks.system import Secret
from pydantic import SecretStr

from partner_sync.core.settings import CREDENTIAL_FIELDS, Settings

from ._session_prefect import _is_missing

logger = logging.getLogger("partner_sync.secrets")


def block_name(settings: Settings, field: str) -> str:
    """The block that holds `field`: `partner-sync-api-secret` for `api_secret`."""
    return f"{settings.secret_block_prefix}-{field.replace('_', '-')}"


def _raw(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")


def push_secrets(settings: Settings) -> list[str]:
    """Create or overwrite one block per credential that is set; return the block names."""
    pushed = []
    for field in CREDENTIAL_FIELDS:
        value = _raw(getattr(settings, field))
        if value:
            name = block_name(settings, field)
            Secret(value=value).save(name, overwrite=True)
            pushed.append(name)
    return pushed


def fill_from_blocks(settings: Settings) -> list[str]:
    """Fill every empty credential from its block, in place; return the fields filled."""
    filled = []
    for field in CREDENTIAL_FIELDS:
        if _raw(getattr(settings, field)):
            continue
        try:
            block: Any = Secret.load(block_name(settings, field))
            value = block.get()
        except Exception as exc:
            if not _is_missing(exc):
                logger.warning(
                    "cannot read block %s: %s", block_name(settings, field), type(exc).__name__
                )
            continue
        current = getattr(settings, field)
        setattr(settings, field, SecretStr(str(value)) if isinstance(current, SecretStr) else value)
        filled.append(field)
    return filled
