"""The device list's "装有软件" filter: raw name or recognised product's name contains the
term (case-insensitive, literally), over the devices the person may see."""

from __future__ import annotations

import datetime

import pytest
from django.test import RequestFactory

from zhengban.catalog.models import Product, ProductFamily
from zhengban.core.scoping import scope_queryset
from zhengban.inventory import filtersets
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.filtersets import DeviceFilterSet, installed_names_containing
from zhengban.inventory.models import Device, Installation

NOW = datetime.datetime(2026, 11, 1, 8, 0, tzinfo=datetime.UTC)


def product(key: str, name: str) -> Product:
    # Keys of our own: the seeded catalog has its own WinRAR and 7-Zip (no installs).
    key = f"zbt-{key}"
    family = ProductFamily.objects.create(key=key, name=name)
    return Product.objects.create(
        key=key, family=family, name=name, category="office", license_model="commercial"
    )


def device(unit, hostname: str, *installs: tuple[str, Product | None]) -> Device:
    row = Device.objects.create(
        unit=unit,
        hostname=hostname,
        first_seen=NOW,
        last_seen=NOW,
        last_source=InventorySource.GLPI_JSON,
    )
    for name, prod in installs:
        Installation.objects.create(
            device=row,
            kind="application",
            name=name,
            raw_key=name[:40],
            product=prod,
            first_seen=NOW,
        )
    return row


@pytest.fixture
def fleet(org):
    winrar = product("winrar", "WinRAR")
    rar_tool = product("rar-cn", "WinRAR 压缩工具")
    zip7 = product("7zip", "7-Zip")
    product("unused", "WinRAR 企业版")  # recognised nowhere
    device(org.unit_a, "a-raw-and-product", ("WinRAR 6.24 (64-bit)", winrar))
    device(org.unit_a, "b-product-only", ("RAR 解压", rar_tool))
    device(org.unit_a, "c-raw-only", ("7-Zip 23.01 (x64)", zip7), ("记事本", None))
    device(org.unit_a, "d-unrecognised", ("执法记录仪管理软件", None))
    device(org.unit_a, "e-percent", ("进度 100% 工具", None), ("under_score", None))
    device(org.unit_a, "f-nothing", ("画图", None))
    device(org.unit_b, "g-other-unit", ("winrar", None))
    return org


def hosts(user, term: str) -> list[str]:
    request = RequestFactory().get("/", {"software": term})
    request.user = user
    base = scope_queryset(Device.objects.all(), user)
    qs = DeviceFilterSet(request.GET, queryset=base, request=request).qs
    return list(qs.order_by("hostname").values_list("hostname", flat=True))


EXPECTED = {
    "winrar": ["a-raw-and-product", "b-product-only", "g-other-unit"],
    "WINRAR 压缩": ["b-product-only"],
    "x64": ["c-raw-only"],
    "7-zip": ["c-raw-only"],
    "执法": ["d-unrecognised"],
    "100%": ["e-percent"],
    "%": ["e-percent"],
    "_": ["e-percent"],
    "企业版": [],
    "不存在": [],
}


@pytest.mark.django_db
@pytest.mark.parametrize("broad", [False, True], ids=["by-names", "plain-predicate"])
def test_matches_raw_or_product_name_for_the_whole_province(fleet, monkeypatch, broad):
    if broad:
        # The fallback for terms matching too many names must give the same answer.
        monkeypatch.setattr(filtersets, "MAX_MATCHED_NAMES", 0)
    for term, expected in EXPECTED.items():
        assert (term, hosts(fleet.supervisor_province, term)) == (term, expected)


@pytest.mark.django_db
def test_an_officer_sees_only_own_units_devices(fleet):
    assert hosts(fleet.officer_a, "winrar") == ["a-raw-and-product", "b-product-only"]
    assert hosts(fleet.officer_a, "x64") == ["c-raw-only"]


@pytest.mark.django_db
def test_distinct_names_with_their_products(fleet):
    winrar = Product.objects.get(key="zbt-winrar").pk
    assert sorted(installed_names_containing("RAR"), key=str) == sorted(
        [(winrar, "WinRAR 6.24 (64-bit)"), (None, "winrar")]
        + [(Product.objects.get(key="zbt-rar-cn").pk, "RAR 解压")],
        key=str,
    )
    assert installed_names_containing("不存在") == []
