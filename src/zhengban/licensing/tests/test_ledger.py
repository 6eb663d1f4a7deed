"""The 2016 guide's ledger sheets and the asset cards, read back from the XLSX."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

from django.utils import timezone
from openpyxl import load_workbook

from zhengban.inventory.models import InstallationEvent, InventoryReport
from zhengban.licensing import ledger, services
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.testing import install, make_device, product
from zhengban.orgs.models import Unit


def test_ledger_workbook(org):
    device = make_device(org.unit_a, "a1", assigned_name="张三", asset_number="ZC-001")
    install(device, "windows-pro", "Microsoft Windows 10 专业版", "10.0.19045", kind="os")
    install(device, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    install(device, "7zip", "7-Zip 23.01 (x64)", "23.01")
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("windows-pro"),
        versions=["10"],
        metric=Metric.OEM,
        term=Term.PERPETUAL,
        quantity=1,
        oem_device=device,
        serial="XXXXX-XXXXX-XXXXX-XXXXX-ABCDE",
    )
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("microsoft-office-professional-plus"),
        versions=["2019"],
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=2,
        unit_price=Decimal("560.00"),
        purchased_on=datetime.date(2024, 3, 1),
    )
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.SUBSCRIPTION,
        end=datetime.date(2020, 12, 31),
        quantity=1,
        unit_price=Decimal("120.00"),
    )
    report = InventoryReport.objects.create(
        device=device, received=timezone.now(), source="zhengban_agent"
    )
    when = timezone.make_aware(datetime.datetime(2025, 3, 1, 9, 0))
    InstallationEvent.objects.create(
        device=device,
        report=report,
        event_type="version_changed",
        kind="application",
        name="WinRAR",
        old_version="6.23",
        new_version="6.24",
        date=when,
    )
    units = Unit.objects.filter(pk=org.unit_a.pk)
    content = ledger.ledger_workbook(units, year=2025)
    wb = load_workbook(io.BytesIO(content))
    assert wb.sheetnames == [
        "附表1 软件使用情况汇总表 2025",
        "附表2 软件使用情况明细表",
        "附表3 软件安装维护情况明细表",
        "资产账卡",
    ]
    values = lambda name: [list(r) for r in wb[name].iter_rows(min_row=2, values_only=True)]  # noqa: E731
    assert values("附表1 软件使用情况汇总表 2025") == [
        ["历下区财政局", 40, 1, 2, 1, 1, 1, "100.00%", None, None]
    ]
    assert values("附表2 软件使用情况明细表") == [
        ["历下区财政局", "张三", None, "a1", "ZC-001", "7-Zip", "23.01", "免费", None, None,
         "无需授权", "开源软件"],
        ["历下区财政局", "张三", None, "a1", "ZC-001", "Microsoft Windows 专业版", "10", "预装",
         "****-ABCDE", "永久", "已授权", "本机预装(OEM)授权"],
        ["历下区财政局", "张三", None, "a1", "ZC-001", "WinRAR", "6", None, None, None,
         "未授权", "授权已过期"],
    ]  # fmt: skip
    assert values("附表3 软件安装维护情况明细表") == [
        ["历下区财政局", "a1", "张三", "WinRAR", "6.23", "卸载", datetime.datetime(2025, 3, 1, 9)],
        ["历下区财政局", "a1", "张三", "WinRAR", "6.24", "安装", datetime.datetime(2025, 3, 1, 9)],
    ]
    # Only the Office batch (2 × 560 元) reaches the 500 元 threshold; WinRAR (120 元) does not.
    assert values("资产账卡") == [
        ["Microsoft Office 专业增强版 2019", "历下区财政局", "单机", 2, 560, 1120,
         datetime.datetime(2024, 3, 1), 5, 2029, None],
    ]  # fmt: skip


def test_asset_cards_sheet_uses_each_units_own_region_policy(org):
    """A ledger of units in two regions: each entitlement against its own unit's region's
    threshold and service life, as on the asset card page (not the viewer's region)."""
    services.set_policy(
        actor=None, region=org.city_b, asset_threshold=Decimal("1000"), service_life_years=8
    )
    for unit, price in ((org.unit_a, "800"), (org.unit_b, "800"), (org.unit_b, "1200")):
        ent = services.create_entitlement(
            actor=None,
            unit=unit,
            product=product("winrar"),
            metric=Metric.PER_DEVICE,
            term=Term.PERPETUAL,
            quantity=1,
            unit_price=Decimal(price),
            purchased_on=datetime.date(2024, 3, 1),
        )
    services.dispose(
        actor=None,
        entitlement=ent,
        method="donation",
        date=datetime.date(2026, 1, 5),
        recipient="青岛市实验小学",
    )
    units = Unit.objects.filter(pk__in=[org.unit_a.pk, org.unit_b.pk])
    wb = load_workbook(io.BytesIO(ledger.ledger_workbook(units, year=2026)))
    rows = [list(r) for r in wb["资产账卡"].iter_rows(min_row=2, values_only=True)]
    assert rows == [
        ["WinRAR", "历下区财政局", "单机", 1, 800, 800, datetime.datetime(2024, 3, 1), 5, 2029,
         None],
        ["WinRAR", "青岛市教育局", "单机", 1, 1200, 1200, datetime.datetime(2024, 3, 1), 8, 2032,
         "捐赠 2026-01-05 ×全部 接收单位:青岛市实验小学"],
    ]  # fmt: skip
