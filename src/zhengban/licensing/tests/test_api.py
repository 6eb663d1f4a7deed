"""Every licensing endpoint is scoped, and licence keys never leave the server."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from zhengban.licensing import services
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.models import AssetDisposal, Contract, Entitlement
from zhengban.licensing.testing import install, make_device, product
from zhengban.orgs.testing import make_person

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


# ------------------------------------------------------------------------- read right


@pytest.fixture
def read_data(data):
    """Adds a disposal in each unit, so every licensing list has a row of each unit."""
    for ent in Entitlement.objects.order_by("pk"):
        services.dispose(
            actor=None,
            entitlement=ent,
            method="scrap",
            date=datetime.date(2026, 1, 5),
            quantity=1,
            reason="随硬件报废",
        )
    return data


def licensing_urls(org) -> list[str]:
    """Every licensing API list, and the policy in effect of unit A's region (no list)."""
    return [*ENDPOINTS, "/api/v1/disposals/", f"/api/v1/policies/{org.unit_a.region_id}/"]


def test_api_refuses_exactly_where_the_pages_do(read_data):
    org = read_data
    nobody = make_person("nobody_a", org.unit_a)  # a member with no role at all
    pages = [
        reverse("licensing:contract_list"),
        reverse("licensing:entitlement_list"),
        reverse("licensing:result_list"),
        reverse("licensing:disposal_list"),
        reverse("licensing:policy_region", args=[org.unit_a.region_id]),
    ]
    for user in (org.staff_a, nobody):
        browser = Client()
        browser.force_login(user)
        assert [browser.get(url).status_code for url in pages] == [403] * 5, user
        client = client_for(user)
        api = [client.get(url).status_code for url in licensing_urls(org)]
        assert api == [403] * 6, user
        # Details of the person's own unit too, not only the lists.
        contract = Contract.objects.get(unit=org.unit_a)
        disposal = AssetDisposal.objects.get(entitlement__unit=org.unit_a)
        assert [
            client.get(f"/api/v1/contracts/{contract.pk}/").status_code,
            client.get(f"/api/v1/disposals/{disposal.pk}/").status_code,
        ] == [403, 403]


def test_readers_in_scope_get_the_licensing_api(read_data):
    org = read_data
    for user, units in (
        (org.officer_a, [org.unit_a.pk]),
        (org.head_a, [org.unit_a.pk]),
        (org.supervisor_a, [org.unit_a.pk]),
        (org.supervisor_province, [org.unit_a.pk, org.unit_b.pk]),
    ):
        client = client_for(user)
        *lists, policy = licensing_urls(org)
        for url in lists:
            response = client.get(url)
            assert response.status_code == 200, (url, user)
            assert sorted(row["unit"] for row in response.json()["results"]) == units, (url, user)
        response = client.get(policy)
        assert (response.status_code, response.json()["region"]) == (200, org.unit_a.region_id)


def test_every_licensing_viewset_checks_the_read_right():
    from rest_framework.routers import SimpleRouter

    from zhengban.licensing.api import IsLicensingReader, register

    router = SimpleRouter()
    register(router)
    assert len(router.registry) == 6
    for prefix, viewset, _basename in router.registry:
        assert viewset.permission_classes == [IsLicensingReader], prefix
