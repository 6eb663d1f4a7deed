"""The region policy page and asset disposal (pages, services, engine) on the real database."""

from __future__ import annotations

import datetime
import io
import re
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from openpyxl import load_workbook

from zhengban.core.models import AuditLogEntry
from zhengban.licensing import services
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.models import (
    AssetDisposal,
    CompliancePosition,
    ComplianceResult,
    Entitlement,
    LicensingPolicy,
)
from zhengban.licensing.testing import install, make_device, product
from zhengban.orgs.choices import Role
from zhengban.orgs.testing import make_person


def _rows(response) -> dict[str, tuple[str, str, str]]:
    """The policy table: field → (value, origin, fallback) as shown."""
    html = response.content.decode()
    out = {}
    for name, cells in re.findall(r'<tr data-field="(\w+)">(.*?)</tr>', html, re.S):
        texts = [
            " ".join(re.sub(r"<[^>]+>", "", c).split())
            for c in re.findall(r"<td>(.*?)</td>", cells, re.S)
        ]
        out[name] = tuple(texts[1:])
    return out


# ------------------------------------------------------------------------------ policy


def test_policy_page_shows_defaults_then_inherited_then_own(client, org):
    client.force_login(org.officer_a)
    url = reverse("licensing:policy")
    rows = _rows(client.get(url))
    assert rows["office_cap"] == ("600 元", "默认值", "600")
    assert rows["os_cap"] == ("—", "默认值", "—")
    assert rows["asset_threshold"] == ("500 元", "默认值", "500")
    assert rows["service_life_years"] == ("5 年", "默认值", "5")

    services.set_policy(actor=org.supervisor_a, region=org.city_a, office_cap=Decimal("550"))
    rows = _rows(client.get(url))
    assert rows["office_cap"] == ("550.00 元", "继承自济南市", "600")
    assert rows["asset_threshold"] == ("500.00 元", "继承自济南市", "500")

    services.set_policy(actor=None, region=org.county_a1, asset_threshold=Decimal("1000"))
    rows = _rows(client.get(url))
    assert rows["office_cap"] == ("550.00 元", "本区划设定", "550.00")
    assert rows["asset_threshold"] == ("1000.00 元", "本区划设定", "500.00")
    # The unit's officer sees the policy but may not change it.
    assert b'data-testid="policy-edit"' not in client.get(url).content
    edit = reverse("licensing:policy_edit", args=[org.county_a1.pk])
    assert client.get(edit).status_code == 403
    # Another region is not visible to a unit's people.
    other = reverse("licensing:policy_region", args=[org.city_b.pk])
    assert client.get(other).status_code == 404


def test_bureau_supervisor_edits_own_region_policy_and_it_is_audited(client, org):
    client.force_login(org.supervisor_a)
    page = client.get(reverse("licensing:policy_region", args=[org.city_a.pk]))
    assert b'data-testid="policy-edit"' in page.content
    url = reverse("licensing:policy_edit", args=[org.city_a.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "office_cap": "580",
            "office_special_cap": "1400",
            "antivirus_client_cap": "90",
            "antivirus_server_cap": "1400",
            "os_cap": "",
            "asset_threshold": "1000",
            "service_life_years": "6",
        },
    )
    assert response.status_code == 302
    policy = LicensingPolicy.objects.get(region=org.city_a)
    assert (
        policy.office_cap,
        policy.antivirus_client_cap,
        policy.os_cap,
        policy.asset_threshold,
        policy.service_life_years,
    ) == (Decimal("580"), Decimal("90"), None, Decimal("1000"), 6)
    entry = AuditLogEntry.objects.get(object_type="licensing.licensingpolicy")
    assert (entry.actor_name, entry.action, entry.after["office_cap"]) == (
        "supervisor_a",
        "create",
        "580",
    )
    # The county below inherits; the city bureau cannot edit the county or the province.
    assert services.policy_for(org.county_a1).service_life_years == 6
    county = reverse("licensing:policy_edit", args=[org.county_a1.pk])
    assert client.get(county).status_code == 403
    # The province is outside the city supervisor's view altogether.
    province = reverse("licensing:policy_edit", args=[org.province.pk])
    assert client.get(province).status_code == 404
    # A negative cap is refused on the form and nothing changes.
    bad = client.post(
        url,
        {
            "office_cap": "-1",
            "office_special_cap": "1400",
            "antivirus_client_cap": "90",
            "antivirus_server_cap": "1400",
            "asset_threshold": "1000",
            "service_life_years": "6",
        },
    )
    assert bad.status_code == 200
    assert LicensingPolicy.objects.get(region=org.city_a).office_cap == Decimal("580")


def test_set_policy_refuses_people_outside_the_regions_bureau(org):
    for actor in (org.officer_a, org.supervisor_a, org.head_a):
        with pytest.raises(PermissionDenied):
            services.set_policy(actor=actor, region=org.province, office_cap=Decimal("1"))
    bureau_officer = make_person("bureau_officer", org.province_bureau, Role.SAM_OFFICER)
    services.set_policy(actor=bureau_officer, region=org.province, office_cap=Decimal("500"))
    services.set_policy(actor=org.sysadmin, region=org.city_b, office_cap=Decimal("450"))
    assert services.policy_for(org.unit_a.region).office_cap == Decimal("500")
    assert services.policy_for(org.city_b).office_cap == Decimal("450")


def test_asset_cards_use_each_units_own_region_threshold(client, org):
    services.set_policy(actor=None, region=org.city_b, asset_threshold=Decimal("1000"))
    for unit, price in ((org.unit_a, "800"), (org.unit_b, "800"), (org.unit_b, "1200")):
        services.create_entitlement(
            actor=None,
            unit=unit,
            product=product("winrar"),
            metric=Metric.PER_DEVICE,
            term=Term.PERPETUAL,
            quantity=1,
            unit_price=Decimal(price),
            purchased_on=datetime.date(2024, 3, 1),
        )
    cards = services.asset_cards(Entitlement.objects.all())
    got = [(c.entitlement.unit.name, c.value, c.policy.asset_threshold, c.end_year) for c in cards]
    assert got == [
        ("历下区财政局", Decimal("800.00"), Decimal("500"), 2029),
        ("青岛市教育局", Decimal("1200.00"), Decimal("1000.00"), 2029),
    ]


# ------------------------------------------------------------------------------ disposal


@pytest.fixture
def asset(org):
    pc1 = make_device(org.unit_a, "pc1")
    pc2 = make_device(org.unit_a, "pc2")
    for pc in (pc1, pc2):
        install(pc, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    ent = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=2,
        unit_price=Decimal("300"),
        purchased_on=datetime.date(2020, 5, 1),
    )
    return ent


def _statuses(org) -> list[tuple[str, str, str]]:
    return [
        (r.device.hostname, r.status, r.reason)
        for r in ComplianceResult.objects.filter(unit=org.unit_a)
        .select_related("device")
        .order_by("device__hostname")
    ]


def test_disposal_from_the_asset_card_leaves_the_counts(client, org, asset):
    client.force_login(org.officer_a)
    cards = client.get(reverse("licensing:asset_cards")).content.decode()
    dispose_url = reverse("licensing:entitlement_dispose", args=[asset.pk])
    assert dispose_url in cards
    assert _statuses(org) == [("pc1", "covered", "per_device"), ("pc2", "covered", "per_device")]

    # One of two: the other seat still covers one install. A transfer names its recipient.
    transfer = {
        "method": "transfer",
        "date": "2026-03-02",
        "quantity": "1",
        "approval": "财资〔2026〕8号",
        "reason": "调出至区教育局",
    }
    response = client.post(dispose_url, {**transfer, "recipient": "  "})
    assert response.status_code == 200
    assert response.context["form"].errors == {"recipient": ["转让、捐赠和调剂须填写接收单位。"]}
    response = client.post(dispose_url, {**transfer, "recipient": "历下区教育局"})
    assert response.status_code == 302
    assert _statuses(org) == [
        ("pc1", "covered", "per_device"),
        ("pc2", "unlicensed", "over_quantity"),
    ]
    # More than what is left is refused on the form.
    response = client.post(
        dispose_url, {"method": "scrap", "date": "2026-03-03", "quantity": "2", "reason": "报废"}
    )
    assert response.status_code == 200
    assert "处置数量不能超过剩余许可数 1。" in response.content.decode()
    # The rest, without a quantity.
    response = client.post(
        dispose_url, {"method": "scrap", "date": "2026-03-04", "quantity": "", "reason": "技术落后"}
    )
    assert response.status_code == 302
    rows = list(
        AssetDisposal.objects.order_by("date").values_list(
            "method", "date", "quantity", "recipient", "approval", "reason"
        )
    )
    assert rows == [
        (
            "transfer",
            datetime.date(2026, 3, 2),
            1,
            "历下区教育局",
            "财资〔2026〕8号",
            "调出至区教育局",
        ),
        ("scrap", datetime.date(2026, 3, 4), None, "", "", "技术落后"),
    ]
    assert _statuses(org) == [
        ("pc1", "unlicensed", "no_entitlement"),
        ("pc2", "unlicensed", "no_entitlement"),
    ]
    position = CompliancePosition.objects.get(unit=org.unit_a, product__key="winrar")
    assert (position.required, position.covered, position.licensed) == (2, 0, 0)
    actions = list(
        AuditLogEntry.objects.filter(object_type="licensing.assetdisposal").values_list(
            "actor_name", "action"
        )
    )
    assert actions == [("officer_a", "create"), ("officer_a", "create")]
    # The card shows the disposal and offers no further one; the form itself says so.
    cards = client.get(reverse("licensing:asset_cards")).content.decode()
    assert 'data-disposed="1"' in cards and dispose_url not in cards
    assert "报废 2026-03-04 ×全部;转让 2026-03-02 ×1 接收单位:历下区教育局" in cards
    detail = client.get(reverse("licensing:entitlement_detail", args=[asset.pk]))
    assert "转让 2026-03-02 × 1 · 接收单位 历下区教育局 · 批准文号" in detail.content.decode()
    assert client.get(dispose_url).status_code == 302

    # The disposals list and its export.
    listing = client.get(reverse("licensing:disposal_list")).content.decode()
    assert "财资〔2026〕8号" in listing and "技术落后" in listing
    assert "<th" in listing and "接收单位" in listing and "历下区教育局" in listing
    assert ">全部</td>" in listing  # the scrapping of every licence left
    export = client.get(reverse("licensing:disposal_list") + "?export=xlsx")
    sheet = load_workbook(io.BytesIO(export.content), read_only=True).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == [
        "资产",
        "单位",
        "处置方式",
        "接收单位",
        "处置日期",
        "处置数量",
        "批准文号",
        "处置原因",
    ]
    assert values[1:] == [
        ["WinRAR", "历下区财政局", "报废", None, "2026-03-04", "全部", None, "技术落后"],
        [
            "WinRAR",
            "历下区财政局",
            "转让",
            "历下区教育局",
            "2026-03-02",
            "1",
            "财资〔2026〕8号",
            "调出至区教育局",
        ],
    ]


@pytest.mark.parametrize(
    ("method", "recipient", "error"),
    [
        ("transfer", "", "转让、捐赠和调剂须填写接收单位。"),
        ("donation", "", "转让、捐赠和调剂须填写接收单位。"),
        ("reallocation", "   ", "转让、捐赠和调剂须填写接收单位。"),
        ("reallocation", "市教育局", None),
        ("scrap", "", None),
    ],
)
def test_disposal_names_its_recipient_except_for_scrapping(org, asset, method, recipient, error):
    def dispose():
        return services.dispose(
            actor=org.officer_a,
            entitlement=asset,
            method=method,
            date=datetime.date(2026, 3, 2),
            quantity=1,
            recipient=recipient,
        )

    if error is None:
        assert dispose().recipient == recipient
        assert AssetDisposal.objects.count() == 1
    else:
        with pytest.raises(ValidationError) as caught:
            dispose()
        assert caught.value.messages == [error]
        assert AssetDisposal.objects.count() == 0


def test_disposal_is_for_the_units_officer_only(client, org, asset):
    url = reverse("licensing:entitlement_dispose", args=[asset.pk])
    data = {"method": "scrap", "date": "2026-03-04", "reason": "x"}
    client.force_login(org.officer_b)
    assert client.post(url, data).status_code == 404
    client.force_login(org.supervisor_a)
    assert client.get(url).status_code == 403
    assert client.post(url, data).status_code == 403
    assert AssetDisposal.objects.count() == 0
    # Below the threshold an entitlement is no asset: no disposal offered on its page.
    services.set_policy(actor=None, region=org.county_a1, asset_threshold=Decimal("1000"))
    client.force_login(org.officer_a)
    page = client.get(reverse("licensing:entitlement_detail", args=[asset.pk]))
    assert url not in page.content.decode()


def test_engine_ignores_disposed_site_and_oem_entitlements(org):
    pc1 = make_device(org.unit_a, "pc1")
    pc2 = make_device(org.unit_a, "pc2")
    for pc in (pc1, pc2):
        install(pc, "wps-office-professional", "WPS Office 专业版", "12.1.0")
        install(pc, "windows-pro", "Microsoft Windows 10 专业版", "10.0.19045", kind="os")
    site = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("wps-office-professional"),
        metric=Metric.SITE,
        term=Term.PERPETUAL,
    )
    oem = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("windows-pro"),
        metric=Metric.OEM,
        term=Term.PERPETUAL,
        quantity=1,
        oem_device=pc1,
    )
    verdicts = lambda: sorted(  # noqa: E731
        (r.device.hostname, r.product.key, r.status, r.reason)
        for r in ComplianceResult.objects.select_related("device", "product")
    )
    assert verdicts() == [
        ("pc1", "windows-pro", "covered", "oem"),
        ("pc1", "wps-office-professional", "covered", "site"),
        ("pc2", "windows-pro", "unlicensed", "oem_other_device"),
        ("pc2", "wps-office-professional", "covered", "site"),
    ]
    services.dispose(actor=None, entitlement=site, method="scrap", date=datetime.date(2026, 1, 5))
    services.dispose(actor=None, entitlement=oem, method="scrap", date=datetime.date(2026, 1, 5))
    assert verdicts() == [
        ("pc1", "windows-pro", "unlicensed", "no_entitlement"),
        ("pc1", "wps-office-professional", "unlicensed", "no_entitlement"),
        ("pc2", "windows-pro", "unlicensed", "no_entitlement"),
        ("pc2", "wps-office-professional", "unlicensed", "no_entitlement"),
    ]
    # A full recompute agrees.
    services.recompute_all()
    assert [v[2] for v in verdicts()] == ["unlicensed"] * 4
    assert services.remaining_quantity(site) == 0 and services.remaining_quantity(oem) == 0
