"""The 403 diagnosis: each published cause ruled out or left, from what the client knows."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from partner_api import ForbiddenError, PartnerClient
from partner_api._diagnosis import diagnose_403
from tests.partner_api.transports import scripted

PATH = "/api/v1/partner/constants/currencies"


def test_a_missing_scope_is_named() -> None:
    text = diagnose_403(
        PATH, "4033", "missing scope partner:constants:read.", offset=0.0, measured=True
    )
    assert "lacks scope partner:constants:read;" in text


def test_drift_after_re_measuring_points_at_ntp() -> None:
    text = diagnose_403(PATH, "4031", None, offset=-75.0, measured=True)
    assert "clock offset -75.0 s" in text and "NTP" in text
    assert "ruled out" in text and "fresh UUID4 nonce" in text


def test_an_unmeasured_clock_is_said_so() -> None:
    text = diagnose_403(PATH, None, None, offset=0.0, measured=False)
    assert "no server Date seen yet" in text and "the 403 carried no envelope" in text


def test_an_unclassified_403_is_treated_as_drift_then_diagnosed() -> None:
    date = email.utils.formatdate(time.time() + 100, usegmt=True)
    html = httpx.Response(403, text="<html>Forbidden</html>", headers={"Date": date})
    transport = scripted([html, html, html])
    with (
        PartnerClient("http://127.0.0.1:9/prometheus", "k", "s", transport=transport) as client,
        pytest.raises(ForbiddenError) as caught,
    ):
        client.call("GET", PATH)
    diagnosis = caught.value.diagnosis
    assert client.sends == 3
    assert "no envelope" in diagnosis and "Remaining" in diagnosis
    assert "clock offset +100" in diagnosis.replace("+99", "+100").replace("+101", "+100")
    assert "scope" in diagnosis and "nonce" in diagnosis and "/web/v1" in diagnosis
