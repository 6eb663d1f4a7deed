"""FastRowsMixin writes the whole table body, row attributes included, exactly as
django-tables2 does."""

from __future__ import annotations

import datetime
import re

import pytest
from django.template.loader import render_to_string
from django.utils import dateformat

from zhengban.core.tables import numeric_date_pattern
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.models import Device, Installation
from zhengban.inventory.tables import DeviceTable, InstallationTable
from zhengban.inventory.views import DeviceListView
from zhengban.orgs.tables import UnitTable

NOW = datetime.datetime(2026, 11, 1, 8, 0, tzinfo=datetime.UTC)


def tbody(table, request, fast: bool, per_page: int = 50) -> str:
    """The body's rows, each with its <tr> attributes (the white space between rows, which
    differs, left out)."""
    table.fast_rows = fast
    table.paginate(per_page=per_page)
    html = render_to_string("core/table.html", {"table": table}, request=request)
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    return "\n".join(re.findall(r"<tr[^>]*>.*?</tr>", body, flags=re.S))


@pytest.fixture
def devices(org):
    for n, (kind, name) in enumerate(
        [("desktop", "张三 <b>"), ("laptop", ""), ("server", "O'Brien & co"), ("vm", "李四")]
    ):
        device = Device.objects.create(
            unit=org.unit_a if n % 2 else org.unit_b,
            hostname=f"pc-{n:02d}",
            device_type=kind,
            assigned_name=name,
            serial_number="SN&1" if n == 2 else "",
            first_seen=NOW - datetime.timedelta(days=10),
            last_seen=NOW - datetime.timedelta(days=n),
            last_source=InventorySource.GLPI_JSON,
        )
        for m in range(n + 1):
            Installation.objects.create(
                device=device,
                kind="os" if m == 0 else "application",
                name=f"软件<{m}>",
                version="1.0" if m % 2 else "",
                raw_key=f"{n}-{m}",
                first_seen=NOW,
                install_date=datetime.date(2025, 3, m + 1) if m % 2 else None,
            )
    return org


@pytest.mark.django_db
def test_device_rows_with_their_attributes(rf, devices):
    request = rf.get("/")
    request.user = devices.supervisor_province
    queryset = DeviceListView.queryset.all()
    fast = tbody(DeviceTable(queryset), request, True)
    slow = tbody(DeviceTable(queryset), request, False)
    assert fast == slow
    assert fast.count('<tr class="even">') == 2 and fast.count('<tr class="odd">') == 2
    assert "O&#x27;Brien &amp; co" in fast


@pytest.mark.django_db
def test_installation_rows_with_a_translated_default(rf, devices):
    request = rf.get("/")
    request.user = devices.supervisor_province
    queryset = Installation.objects.select_related("product").order_by("name", "id")
    fast = tbody(InstallationTable(queryset), request, True, per_page=7)
    slow = tbody(InstallationTable(queryset), request, False, per_page=7)
    assert fast == slow
    assert fast.count("未识别") == 7


@pytest.mark.django_db
def test_rows_with_row_attrs_use_them(rf, devices):
    class Marked(DeviceTable):
        class Meta(DeviceTable.Meta):
            row_attrs = {"data-id": lambda record: record.pk}

    request = rf.get("/")
    request.user = devices.supervisor_province
    queryset = DeviceListView.queryset.all()
    fast = tbody(Marked(queryset), request, True)
    assert fast == tbody(Marked(queryset), request, False)
    assert fast.count("data-id=") == 4


@pytest.mark.django_db
def test_unit_rows(rf, devices):
    request = rf.get("/")
    request.user = devices.supervisor_province
    units = devices.unit_a.__class__.objects.order_by("pk")
    assert tbody(UnitTable(units), request, True) == tbody(UnitTable(units), request, False)


def test_numeric_date_patterns_give_what_dateformat_gives():
    values = [
        datetime.datetime(2026, 1, 2, 3, 4, 5),
        datetime.datetime(2026, 12, 31, 23, 59, 59),
        datetime.datetime(987, 10, 10, 10, 10, 0),
        datetime.date(2026, 3, 7),
        datetime.date(2026, 11, 30),
    ]
    formats = ["Y年n月j日 H:i", "Y年n月j日", "Y-m-d H:i:s", "Y/m/d G:i", "d.m.Y", "j/n"]
    for date_format in formats:
        pattern, needs_time = numeric_date_pattern(date_format)
        for value in values:
            if needs_time and type(value) is datetime.date:
                continue  # dateformat refuses these; render_date leaves them to it
            assert pattern.format(value) == dateformat.format(value, date_format)
    assert numeric_date_pattern("Y年n月j日 H:i") == (
        "{0.year:04d}年{0.month}月{0.day}日 {0.hour:02d}:{0.minute:02d}",
        True,
    )
    assert numeric_date_pattern("Y-m-d") == ("{0.year:04d}-{0.month:02d}-{0.day:02d}", False)
    # Names, AM/PM, escapes and braces stay with dateformat.
    for other in ["D, j M Y", "N j, Y, P", r"Y \Y", "{Y}", "F"]:
        assert numeric_date_pattern(other) is None
