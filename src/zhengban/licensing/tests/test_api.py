"""Every licensing endpoint is scoped, and licence keys never leave the server."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from zhengban.licensing import services
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.testing import install, make_device, product

ENDPOINTS = [
    "/api/v1/contracts/",
    "/api/v1/entitlements/",
    "/api/v1/compliance/results/",
    "/api/v1/compliance/positions/",
]


@pytest.fixture
def data(org):
    for unit, host in ((org.unit_a, "a1"), (org.unit_b, "b1")):
        device = make_device(unit, host)
        install(device, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
        contract = services.create_contract(
            actor=None,
            unit=unit,
            number=f"HT-{host}",
            title="采购",
            supplier="供应商",
            signed_on=datetime.date(2025, 1, 1),
            amount=Decimal("100"),
            funding_source="budget",
            procurement_method="centralised",
        )
        services.create_entitlement(
            actor=None,
            unit=unit,
            contract=contract,
            product=product("winrar"),
            metric=Metric.PER_DEVICE,
            term=Term.PERPETUAL,
            quantity=1,
            serial=f"SECRET-{host}-77777",
        )
    return org


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("url", ENDPOINTS)
def test_each_endpoint_shows_only_the_callers_units(data, url):
    for user, expected in (
        (data.officer_a, {data.unit_a.pk}),
        (data.officer_b, {data.unit_b.pk}),
        (data.supervisor_province, {data.unit_a.pk, data.unit_b.pk}),
        (data.supervisor_a, {data.unit_a.pk}),
    ):
        response = client_for(user).get(url)
        assert response.status_code == 200, url
        assert {row["unit"] for row in response.json()["results"]} == expected, (url, user)
    assert APIClient().get(url).status_code in (401, 403)


def test_serials_are_masked(data):
    body = client_for(data.officer_a).get("/api/v1/entitlements/").content.decode()
    assert "SECRET" not in body
    assert "****-77777" in body


def test_result_of_another_unit_is_not_found(data):
    from zhengban.licensing.models import ComplianceResult

    other = ComplianceResult.objects.get(unit=data.unit_b)
    url = f"/api/v1/compliance/results/{other.pk}/"
    assert client_for(data.officer_a).get(url).status_code == 404
    assert client_for(data.officer_b).get(url).json()["status"] == "covered"
