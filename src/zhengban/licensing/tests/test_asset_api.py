"""The asset API: a region's policy in effect, and asset disposals (list scoped like every
licensing list, and recording one with the disposal page's checks)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from zhengban.core.models import AuditLogEntry
from zhengban.licensing import services
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.models import AssetDisposal
from zhengban.licensing.testing import product


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# ------------------------------------------------------------------------------ policy


def value(name, label, val, origin, region, fallback) -> dict:
    return {
        "name": name,
        "label": label,
        "value": val,
        "origin": origin,
        "source_region": region.pk if region is not None else None,
        "source_region_name": region.name if region is not None else None,
        "fallback": fallback,
    }


def test_policy_in_effect_says_where_each_value_comes_from(org):
    url = f"/api/v1/policies/{org.county_a1.pk}/"
    officer = client_for(org.officer_a)
    body = officer.get(url).json()
    assert (body["region"], body["region_name"], body["own"]) == (org.county_a1.pk, "历下区", False)
    assert body["values"][0] == value(
        "office_cap", "办公软件单价上限", "600.00", "default", None, "600.00"
    )

    services.set_policy(actor=None, region=org.province, office_cap=Decimal("500"))
    services.set_policy(actor=None, region=org.city_a, asset_threshold=Decimal("1000"))
    city = org.city_a
    assert officer.get(url).json() == {
        "region": org.county_a1.pk,
        "region_name": "历下区",
        "own": False,
        "values": [
            value("office_cap", "办公软件单价上限", "500.00", "inherited", city, "600.00"),
            value(
                "office_special_cap",
                "特殊需要办公软件单价上限",
                "1400.00",
                "inherited",
                city,
                "1400.00",
            ),
            value(
                "antivirus_client_cap",
                "杀毒软件客户端单价上限",
                "100.00",
                "inherited",
                city,
                "100.00",
            ),
            value(
                "antivirus_server_cap",
                "杀毒软件服务器端单价上限",
                "1400.00",
                "inherited",
                city,
                "1400.00",
            ),
            value("os_cap", "操作系统估算单价", None, "inherited", city, None),
            value("asset_threshold", "资产入账标准", "1000.00", "inherited", city, "500.00"),
            value("service_life_years", "最低使用年限", 5, "inherited", city, 5),
        ],
    }
    # The city's own values, with the province's as what it would fall back to.
    body = client_for(org.supervisor_a).get(f"/api/v1/policies/{city.pk}/").json()
    assert body["own"] is True
    assert [
        (v["name"], v["value"], v["origin"], v["source_region"], v["fallback"])
        for v in body["values"]
    ][::5] == [
        ("office_cap", "500.00", "own", city.pk, "500.00"),
        ("asset_threshold", "1000.00", "own", city.pk, "500.00"),
    ]


def test_policy_of_a_region_out_of_scope_is_404(org):
    officer = client_for(org.officer_a)
    assert officer.get(f"/api/v1/policies/{org.city_b.pk}/").status_code == 404
    assert officer.get("/api/v1/policies/987654321/").status_code == 404
    # Read only, and no list of every region's policy.
    mine = f"/api/v1/policies/{org.county_a1.pk}/"
    assert [
        officer.post(mine, {}).status_code,
        officer.put(mine, {}).status_code,
        officer.delete(mine).status_code,
        officer.get("/api/v1/policies/").status_code,
    ] == [405, 405, 405, 404]
    assert APIClient().get(mine).status_code in (401, 403)


# ---------------------------------------------------------------------------- disposals


@pytest.fixture
def assets(org):
    """An entitlement of 3 seats in unit A and of 2 in unit B; B gave both away."""
    made = {}
    for unit, seats in ((org.unit_a, 3), (org.unit_b, 2)):
        made[unit.pk] = services.create_entitlement(
            actor=None,
            unit=unit,
            product=product("winrar"),
            metric=Metric.PER_DEVICE,
            term=Term.PERPETUAL,
            quantity=seats,
            unit_price=Decimal("300"),
            purchased_on=datetime.date(2020, 5, 1),
        )
    a, b = made[org.unit_a.pk], made[org.unit_b.pk]
    scrapped = services.dispose(
        actor=None,
        entitlement=a,
        method="scrap",
        date=datetime.date(2026, 1, 5),
        quantity=1,
        approval="历财资〔2026〕1号",
        reason="随硬件报废",
    )
    given = services.dispose(
        actor=None,
        entitlement=b,
        method="donation",
        date=datetime.date(2026, 2, 1),
        recipient="青岛市第一中学",
        reason="调出",
    )
    return a, b, scrapped, given


def listed(response) -> list[tuple]:
    assert response.status_code == 200, response.content
    return [
        (r["id"], r["unit"], r["method"], r["quantity"], r["recipient"])
        for r in response.json()["results"]
    ]


def test_disposals_list_is_scoped_and_filtered(org, assets):
    a, b, scrapped, given = assets
    body = client_for(org.officer_a).get("/api/v1/disposals/").json()
    assert body["count"] == 1
    got = dict(body["results"][0])
    assert got.pop("created")
    assert got == {
        "id": scrapped.pk,
        "entitlement": a.pk,
        "unit": org.unit_a.pk,
        "product_key": "winrar",
        "family_key": None,
        "method": "scrap",
        "date": "2026-01-05",
        "quantity": 1,
        "recipient": "",
        "approval": "历财资〔2026〕1号",
        "reason": "随硬件报废",
    }
    assert listed(client_for(org.officer_b).get("/api/v1/disposals/")) == [
        (given.pk, org.unit_b.pk, "donation", None, "青岛市第一中学")
    ]
    province = client_for(org.supervisor_province)
    assert listed(province.get("/api/v1/disposals/")) == [
        (given.pk, org.unit_b.pk, "donation", None, "青岛市第一中学"),
        (scrapped.pk, org.unit_a.pk, "scrap", 1, ""),
    ]
    assert listed(province.get(f"/api/v1/disposals/?unit={org.unit_a.pk}")) == [
        (scrapped.pk, org.unit_a.pk, "scrap", 1, "")
    ]
    assert listed(province.get("/api/v1/disposals/?method=donation")) == [
        (given.pk, org.unit_b.pk, "donation", None, "青岛市第一中学")
    ]
    officer = client_for(org.officer_a)
    assert listed(officer.get("/api/v1/disposals/?method=donation")) == []
    # Another unit's disposal: not found; filtering by another unit: refused like a bad id.
    assert officer.get(f"/api/v1/disposals/{given.pk}/").status_code == 404
    assert officer.get(f"/api/v1/disposals/?unit={org.unit_b.pk}").status_code == 400


POST = {
    "method": "transfer",
    "date": "2026-03-04",
    "quantity": 1,
    "recipient": "历下区教育局",
    "approval": "历财资〔2026〕3号",
    "reason": "调出至教育局",
}


def test_officer_records_a_disposal(org, assets):
    a, _b, _scrapped, _given = assets
    officer = client_for(org.officer_a)
    response = officer.post("/api/v1/disposals/", {"entitlement": a.pk, **POST}, format="json")
    assert response.status_code == 201, response.content
    made = AssetDisposal.objects.latest("pk")
    got = response.json()
    assert got.pop("created")
    assert got == {
        "id": made.pk,
        "entitlement": a.pk,
        "unit": org.unit_a.pk,
        "product_key": "winrar",
        "family_key": None,
        **POST,
    }
    assert services.remaining_quantity(a) == 1
    entry = AuditLogEntry.objects.filter(object_type="licensing.assetdisposal").latest("pk")
    assert (entry.actor_name, entry.action, entry.unit_id, entry.after["recipient"]) == (
        "officer_a",
        "create",
        org.unit_a.pk,
        "历下区教育局",
    )

    # The page's checks, with its messages.
    def refused(**changes) -> dict:
        data = {"entitlement": a.pk, **POST, **changes}
        data = {k: v for k, v in data.items() if v is not ...}
        response = officer.post("/api/v1/disposals/", data, format="json")
        assert response.status_code == 400
        return response.json()

    assert refused(quantity=2) == {"quantity": ["处置数量不能超过剩余许可数 1。"]}
    assert refused(quantity=0) == {"quantity": ["请确保该值大于或者等于 1。"]}
    assert refused(recipient="  ") == {"recipient": ["转让、捐赠和调剂须填写接收单位。"]}
    assert refused(reason=...) == {"reason": ["该字段是必填项。"]}
    assert refused(method="sell") == {"method": ["“sell” 不是合法选项。"]}
    assert AssetDisposal.objects.filter(entitlement=a).count() == 2

    # Scrapping what is left (no quantity: all of it), then nothing is left to dispose of.
    response = officer.post(
        "/api/v1/disposals/",
        {"entitlement": a.pk, "method": "scrap", "date": "2026-03-05", "reason": "无法使用"},
        format="json",
    )
    assert (response.status_code, response.json()["quantity"]) == (201, None)
    assert services.remaining_quantity(a) == 0
    assert refused(quantity=...) == {"entitlement": ["该授权已全部处置。"]}


def test_disposal_by_people_outside_the_unit_or_without_the_right(org, assets):
    a, _b, scrapped, _given = assets
    body = {"entitlement": a.pk, **POST}
    # Another unit's officer: as if the entitlement did not exist.
    assert (
        client_for(org.officer_b).post("/api/v1/disposals/", body, format="json").status_code == 404
    )
    missing = {**body, "entitlement": 987654321}
    assert (
        client_for(org.officer_a).post("/api/v1/disposals/", missing, format="json").status_code
        == 404
    )
    # People who see the unit but do not manage its assets.
    for user in (org.staff_a, org.head_a, org.supervisor_a):
        assert client_for(user).post("/api/v1/disposals/", body, format="json").status_code == 403
    assert APIClient().post("/api/v1/disposals/", body, format="json").status_code in (401, 403)
    # Read only once recorded.
    url = f"/api/v1/disposals/{scrapped.pk}/"
    officer = client_for(org.officer_a)
    assert [officer.put(url, body).status_code, officer.delete(url).status_code] == [405, 405]
    assert AssetDisposal.objects.count() == 2
