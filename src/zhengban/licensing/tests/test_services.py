"""Services on the real database: recompute, entitlements, contracts, scoping, money."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from zhengban.core.models import AuditLogEntry
from zhengban.inventory.models import Device, Installation
from zhengban.licensing import services
from zhengban.licensing.choices import FundingSource, Metric, ProcurementMethod, Term
from zhengban.licensing.models import (
    CompliancePosition,
    ComplianceResult,
    Contract,
    Entitlement,
)
from zhengban.licensing.testing import install, make_device, product

TODAY = datetime.date(2025, 6, 30)


def verdicts(unit=None) -> list[tuple]:
    qs = ComplianceResult.objects.all()
    if unit is not None:
        qs = qs.filter(unit=unit)
    return sorted(
        (r.device.hostname, r.product.key, r.version, r.status, r.reason, r.basis)
        for r in qs.select_related("device", "product")
    )


@pytest.fixture
def fleet(org):
    """unit_a: three PCs; unit_b: one."""
    a1 = make_device(org.unit_a, "a1", assigned_user=org.staff_a)
    a2 = make_device(org.unit_a, "a2")
    a3 = make_device(org.unit_a, "a3", device_type="server")
    b1 = make_device(org.unit_b, "b1")
    for d in (a1, a2):
        install(d, "windows-pro", "Microsoft Windows 10 专业版", "10.0.19045", kind="os")
        install(
            d, "microsoft-office-professional-plus", "Microsoft Office 专业增强版 2016", "16.0.4266"
        )
    install(a1, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    install(a1, "7zip", "7-Zip 23.01 (x64)", "23.01")
    install(a2, "wps-office-personal", "WPS Office 个人版", "12.1.0")
    install(a2, None, "内部报表工具", "1.0")
    install(a3, "windows-server-standard", "Windows Server 2019 Standard", "10.0.17763", kind="os")
    install(b1, "windows-pro", "Microsoft Windows 11 专业版", "10.0.22631", kind="os")
    return {"a1": a1, "a2": a2, "a3": a3, "b1": b1}


def test_recompute_unit_gives_every_assessed_install_a_verdict(org, fleet):
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("windows-pro"),
        versions=["10"],
        metric=Metric.OEM,
        term=Term.PERPETUAL,
        quantity=1,
        oem_device=fleet["a1"],
        source_type="preinstalled",
    )
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("microsoft-office-professional-plus"),
        versions=["2019"],
        downgrade=True,
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
    )
    assert verdicts(org.unit_a) == [
        ("a1", "microsoft-office-professional-plus", "2016", "covered", "per_device", "downgrade"),
        ("a1", "windows-pro", "10", "covered", "oem", ""),
        ("a1", "winrar", "6", "unlicensed", "no_entitlement", ""),
        ("a2", "microsoft-office-professional-plus", "2016", "unlicensed", "over_quantity", ""),
        ("a2", "windows-pro", "10", "unlicensed", "oem_other_device", ""),
        ("a2", "wps-office-personal", "12.1.0", "unlicensed", "home_edition", ""),
        ("a3", "windows-server-standard", "2019", "unlicensed", "no_entitlement", ""),
    ]
    # unit_b was never touched by unit_a's entitlements.
    assert verdicts(org.unit_b) == []
    positions = {
        p.product.key: (p.required, p.covered, p.shortfall, p.licensed, p.consumed, p.surplus)
        for p in CompliancePosition.objects.filter(unit=org.unit_a).select_related("product")
    }
    assert positions == {
        "microsoft-office-professional-plus": (2, 1, 1, 1, 1, 0),
        "windows-pro": (2, 1, 1, 1, 1, 0),
        "winrar": (1, 0, 1, 0, 0, 0),
        "wps-office-personal": (1, 0, 1, 0, 0, 0),
        "windows-server-standard": (1, 0, 1, 0, 0, 0),
    }
    r = services.rates(CompliancePosition.objects.filter(unit=org.unit_a))
    assert (r.required["os"], r.covered["os"], r.rate("os")) == (3, 1, 0.3333)
    assert (r.required["office"], r.covered["office"], r.rate("office")) == (3, 1, 0.3333)
    assert r.rate("antivirus") is None
    assert (r.required["all"], r.covered["all"], r.overall) == (7, 2, 0.2857)
    results = ComplianceResult.objects.filter(unit=org.unit_a)
    assert services.devices_without_genuine_os(results) == 2


def test_free_open_source_and_unrecognised_installs_get_no_row(org, fleet):
    services.recompute_units([org.unit_a.pk])
    assert not ComplianceResult.objects.filter(product__key="7zip").exists()
    seven = product("7zip")
    assert services.static_outcome(seven) == ("not_required", "open_source")
    assert services.static_outcome(product("foxit-reader")) == ("not_required", "free")
    assert services.static_outcome(None) == ("unknown", "unrecognised")
    assert services.static_outcome(product("winrar")) is None


def test_incremental_recompute_rewrites_only_changed_verdicts(org, fleet):
    assert services.recompute_units([org.unit_a.pk]) == 7
    assert services.recompute_units([org.unit_a.pk]) == 0
    install(fleet["a2"], "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    assert services.recompute_after_inventory(device_ids=[fleet["a2"].pk]) == 1
    assert ComplianceResult.objects.filter(unit=org.unit_a).count() == 8


def test_entitlement_change_recomputes_and_is_audited(org, fleet):
    services.recompute_units([org.unit_a.pk])
    ent = services.create_entitlement(
        actor=org.officer_a,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.CONCURRENT,
        term=Term.SUBSCRIPTION,
        start=datetime.date(2020, 1, 1),
        end=datetime.date(2099, 12, 31),
        quantity=5,
        serial="ABCD-EFGH-IJKL-12345",
    )
    row = ComplianceResult.objects.get(product__key="winrar")
    assert (row.status, row.reason, row.entitlement_id) == ("covered", "concurrent", ent.pk)
    entry = AuditLogEntry.objects.get(object_type="licensing.entitlement", action="create")
    assert entry.actor_name == "officer_a"
    assert "serial_encrypted" not in entry.after
    assert "ABCD" not in str(entry.after)
    services.update_entitlement(actor=org.officer_a, entitlement=ent, end=datetime.date(2021, 1, 1))
    row = ComplianceResult.objects.get(product__key="winrar")
    assert (row.status, row.reason) == ("unlicensed", "expired")
    services.delete_entitlement(actor=org.officer_a, entitlement=ent)
    row = ComplianceResult.objects.get(product__key="winrar")
    assert (row.status, row.reason) == ("unlicensed", "no_entitlement")


def test_serial_is_encrypted_and_masked(org, fleet):
    ent = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
        serial="RAR-0000-1111-98765",
    )
    ent.refresh_from_db()
    assert "98765" not in ent.serial_encrypted
    assert ent.masked_serial == "****-98765"
    assert services.reveal_serial(actor=org.officer_a, entitlement=ent) == "RAR-0000-1111-98765"
    with pytest.raises(PermissionDenied):
        services.reveal_serial(actor=org.officer_b, entitlement=ent)
    with pytest.raises(PermissionDenied):
        services.reveal_serial(actor=org.staff_a, entitlement=ent)


def test_officer_of_another_unit_cannot_add_entitlements(org):
    with pytest.raises(PermissionDenied):
        services.create_entitlement(
            actor=org.officer_b,
            unit=org.unit_a,
            product=product("winrar"),
            metric=Metric.SITE,
            term=Term.PERPETUAL,
        )
    assert not Entitlement.objects.exists()


def test_framework_agreement_shares_and_scoping(org, fleet):
    framework = services.create_entitlement(
        actor=None,
        unit=org.province_bureau,
        product=product("windows-pro"),
        versions=["11"],
        downgrade=True,
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=10,
        framework=True,
        shares={org.unit_a: 1, org.unit_b: 1},
    )
    services.recompute_units([org.unit_a.pk, org.unit_b.pk])
    assert [v for v in verdicts() if v[1] == "windows-pro"] == [
        ("a1", "windows-pro", "10", "covered", "per_device", "downgrade"),
        ("a2", "windows-pro", "10", "unlicensed", "over_quantity", ""),
        ("b1", "windows-pro", "11", "covered", "per_device", ""),
    ]
    # Units holding a share see the agreement; others do not.
    assert list(Entitlement.objects.visible_to(org.officer_b)) == [framework]
    assert list(Entitlement.objects.visible_to(org.officer_a)) == [framework]
    with pytest.raises(ValidationError):
        services.set_shares(actor=None, entitlement=framework, shares={org.unit_a: 11})
    owner = CompliancePosition.objects.get(unit=org.province_bureau, product__key="windows-pro")
    assert (owner.licensed, owner.surplus) == (8, 8)


def test_region_site_licence_covers_the_county_only(org, fleet):
    services.create_entitlement(
        actor=None,
        unit=org.bureau_a,
        product=product("windows-pro"),
        metric=Metric.SITE,
        term=Term.PERPETUAL,
        site_region=org.city_a,
    )
    services.recompute_units([org.unit_b.pk])
    assert [v[3:5] for v in verdicts() if v[1] == "windows-pro"] == [
        ("covered", "site"),
        ("covered", "site"),
        ("unlicensed", "no_entitlement"),
    ]


def test_allocation_reserves_a_seat(org, fleet):
    ent = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("microsoft-office-professional-plus"),
        versions=["2016"],
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
    )
    services.allocate(actor=org.officer_a, entitlement=ent, device=fleet["a2"])
    office = sorted(v[0:1] + v[3:5] for v in verdicts(org.unit_a) if v[1] == ent.product.key)
    assert office == [("a1", "unlicensed", "over_quantity"), ("a2", "covered", "allocation")]
    with pytest.raises(ValidationError):
        services.allocate(actor=org.officer_a, entitlement=ent, device=fleet["a1"])
    with pytest.raises(ValidationError):
        services.update_entitlement(actor=org.officer_a, entitlement=ent, quantity=None or 0)


def test_disposal_takes_seats_out(org, fleet):
    ent = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
        unit_price=Decimal("120.00"),
    )
    assert ComplianceResult.objects.get(product__key="winrar").status == "covered"
    services.dispose(actor=None, entitlement=ent, method="scrap", date=TODAY, quantity=1)
    row = ComplianceResult.objects.get(product__key="winrar")
    assert (row.status, row.reason) == ("unlicensed", "no_entitlement")
    with pytest.raises(ValidationError):
        services.dispose(actor=None, entitlement=ent, method="scrap", date=TODAY, quantity=1)


def test_recompute_all_matches_unit_by_unit(org, fleet):
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("microsoft-office-professional-plus"),
        versions=["2019"],
        downgrade=True,
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
    )
    services.recompute_units([org.unit_a.pk, org.unit_b.pk])
    by_unit = verdicts()
    calls = []
    stats = services.recompute_all(progress=lambda done, total: calls.append((done, total)))
    assert verdicts() == by_unit
    assert (stats.units, stats.installs, stats.covered, stats.unlicensed) == (2, 8, 1, 7)
    assert calls == [(2, 2)]
    assert AuditLogEntry.objects.filter(object_type="licensing.complianceresult").count() == 1


def test_contract_terms_missing_flag(org):
    contract = services.create_contract(
        actor=org.officer_a,
        unit=org.unit_a,
        number="HT-2025-001",
        title="正版办公软件采购",
        supplier="某某软件有限公司",
        signed_on=TODAY,
        amount=Decimal("12000.00"),
        funding_source=FundingSource.BUDGET,
        procurement_method=ProcurementMethod.CENTRALISED,
        term_version="2019 专业增强版",
        term_compatibility="兼容 Windows 10",
    )
    assert contract.terms_missing is True
    assert contract.missing_term_labels == ["安全标准", "授权方式与期限", "升级与技术支持"]
    services.update_contract(
        actor=org.officer_a,
        contract=contract,
        term_security="符合等保 2.0",
        term_authorisation="永久授权,单机",
        term_support="三年升级与技术支持",
    )
    assert contract.terms_missing is False
    assert list(Contract.objects.filter(terms_missing=True)) == []
    assert list(Contract.objects.visible_to(org.officer_b)) == []
    with pytest.raises(PermissionDenied):
        services.update_contract(actor=org.officer_b, contract=contract, note="x")


def test_policy_inherits_up_the_tree_and_prices_demand(org, fleet):
    default = services.policy_for(org.county_a1)
    assert (default.office_cap, default.antivirus_client_cap, default.asset_threshold) == (
        Decimal("600"),
        Decimal("100"),
        Decimal("500"),
    )
    assert default.service_life_years == 5
    services.set_policy(actor=None, region=org.city_a, office_cap=Decimal("550"))
    assert services.policy_for(org.county_a1).office_cap == Decimal("550")
    assert services.policy_for(org.city_b).office_cap == Decimal("600")
    services.recompute_units([org.unit_a.pk])
    lines, total = services.procurement_demand(
        ComplianceResult.objects.filter(unit=org.unit_a), org.county_a1
    )
    got = [(line.product, line.quantity, line.price_cap, line.estimate) for line in lines]
    assert got == [
        ("WinRAR", 1, None, None),
        ("Microsoft Office 专业增强版", 2, Decimal("550"), Decimal("1100")),
        ("WPS Office 个人版", 1, Decimal("550"), Decimal("550")),
        ("Microsoft Windows Server 标准版", 1, None, None),
        ("Microsoft Windows 专业版", 2, None, None),
    ]
    assert total == Decimal("1650")


def test_partial_disposal_leaves_the_rest_and_one_without_quantity_takes_all(org, fleet):
    install(fleet["a2"], "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    ent = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=2,
    )
    winrar = ComplianceResult.objects.filter(product__key="winrar").order_by("device__hostname")
    assert [(r.device.hostname, r.status) for r in winrar] == [
        ("a1", "covered"),
        ("a2", "covered"),
    ]
    services.dispose(actor=None, entitlement=ent, method="scrap", date=TODAY, quantity=1)
    assert [(r.device.hostname, r.status, r.reason) for r in winrar.all()] == [
        ("a1", "covered", "per_device"),
        ("a2", "unlicensed", "over_quantity"),
    ]
    services.dispose(
        actor=None, entitlement=ent, method="transfer", date=TODAY, recipient="市档案馆"
    )
    assert [(r.device.hostname, r.status, r.reason) for r in winrar.all()] == [
        ("a1", "unlicensed", "no_entitlement"),
        ("a2", "unlicensed", "no_entitlement"),
    ]


def test_recompute_drops_verdicts_no_longer_assessed_and_follows_a_moved_device(org, fleet):
    services.recompute_all()
    # The WinRAR install is recognised as 7-Zip now: free, so its verdict goes.
    Installation.objects.filter(product__key="winrar").update(product=product("7zip"))
    # a2 moves to unit B: its verdicts and positions follow it on the next full recompute.
    Device.objects.filter(pk=fleet["a2"].pk).update(unit=org.unit_b)
    stats = services.recompute_all()
    assert (stats.installs, stats.covered, stats.unlicensed) == (7, 0, 7)
    assert not ComplianceResult.objects.filter(product__key="winrar").exists()
    assert (
        sorted(
            ComplianceResult.objects.filter(device=fleet["a2"]).values_list("unit__name", flat=True)
        )
        == [org.unit_b.name] * 3
    )
    positions = {
        (p.unit_id, p.product.key): (p.required, p.shortfall)
        for p in CompliancePosition.objects.select_related("product")
    }
    assert positions == {
        (org.unit_a.pk, "microsoft-office-professional-plus"): (1, 1),
        (org.unit_a.pk, "windows-pro"): (1, 1),
        (org.unit_a.pk, "windows-server-standard"): (1, 1),
        (org.unit_b.pk, "microsoft-office-professional-plus"): (1, 1),
        (org.unit_b.pk, "windows-pro"): (2, 2),
        (org.unit_b.pk, "wps-office-personal"): (1, 1),
    }
    # Nothing changed since: a unit recompute writes no verdict.
    assert services.recompute_units([org.unit_a.pk, org.unit_b.pk]) == 0


def test_unit_recompute_updates_a_changed_verdict_in_place(org, fleet):
    services.recompute_units([org.unit_a.pk])
    before = CompliancePosition.objects.get(unit=org.unit_a, product__key="winrar").pk
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
    )
    row = ComplianceResult.objects.get(product__key="winrar")
    assert (row.status, row.reason, row.entitlement.product.key) == (
        "covered",
        "per_device",
        "winrar",
    )
    position = CompliancePosition.objects.get(unit=org.unit_a, product__key="winrar")
    assert (position.pk, position.covered, position.licensed, position.surplus) == (
        before,
        1,
        1,
        0,
    )
