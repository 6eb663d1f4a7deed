"""Every list page (and the device page's software table) holds ?per_page= to 1..500, reads
a page number past any database integer as past the end, exports in the page's order with
local date cells, and orders ties by primary key so pages neither repeat nor skip rows."""

from __future__ import annotations

import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.exports import build_workbook
from zhengban.core.tables import MAX_PER_PAGE
from zhengban.inventory import services
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.models import Device, Installation
from zhengban.inventory.tables import InstallationTable

SEEN = datetime.datetime(2026, 11, 28, 8, 6, 47, 690921, tzinfo=datetime.UTC)
LATE = datetime.datetime(2098, 12, 31, 23, 30, 5, tzinfo=datetime.UTC)
HUGE_PAGE = "99999999999999999999"


@pytest.fixture
def five(org):
    # Created out of host-name order, all of one device type: sorting by type ties.
    for host in ("pc-05", "pc-02", "pc-04", "pc-01", "pc-03"):
        Device.objects.create(
            unit=org.unit_a,
            hostname=host,
            first_seen=SEEN,
            last_seen=SEEN,
            last_source=InventorySource.GLPI_JSON,
        )
    return org


def hosts(response) -> list[str]:
    assert response.status_code == 200
    return [row.record.hostname for row in response.context["table"].page.object_list]


def page_info(response) -> tuple[int, int, int]:
    assert response.status_code == 200
    page = response.context["table"].page
    return page.paginator.per_page, page.number, len(page.object_list)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("per_page", "expected"),
    [("-1", 1), ("0", 1), ("2", 2), ("100000000", MAX_PER_PAGE), ("lots", 50)],
)
def test_device_list_holds_per_page_to_its_bounds(client, five, per_page, expected):
    client.force_login(five.officer_a)
    response = client.get(reverse("inventory:device_list"), {"per_page": per_page})
    assert page_info(response) == (expected, 1, min(expected, 5))


@pytest.mark.django_db
@pytest.mark.parametrize(("per_page", "expected"), [("-1", 1), ("0", 1), ("100000000", 500)])
def test_unit_list_holds_per_page_to_its_bounds(client, org, per_page, expected):
    client.force_login(org.sysadmin)
    response = client.get(reverse("orgs:unit_list"), {"per_page": per_page})
    # Six units in the tree.
    assert page_info(response) == (expected, 1, min(expected, 6))


@pytest.mark.django_db
@pytest.mark.parametrize("number", ["4", HUGE_PAGE, "-" + HUGE_PAGE])
def test_device_list_page_past_the_end_shows_the_last_page(client, five, number):
    client.force_login(five.officer_a)
    response = client.get(reverse("inventory:device_list"), {"per_page": 2, "page": number})
    assert hosts(response) == ["pc-05"]
    assert response.context["table"].page.number == 3


@pytest.mark.django_db
@pytest.mark.parametrize("number", ["3", HUGE_PAGE])
def test_unit_list_page_past_the_end_shows_the_last_page(client, org, number):
    client.force_login(org.sysadmin)
    response = client.get(reverse("orgs:unit_list"), {"per_page": 4, "page": number})
    assert page_info(response) == (4, 2, 2)


@pytest.fixture
def device_501(org):
    device = Device.objects.create(
        unit=org.unit_a,
        hostname="pc-big",
        first_seen=SEEN,
        last_seen=SEEN,
        last_source=InventorySource.GLPI_JSON,
    )
    Installation.objects.bulk_create(
        Installation(
            device=device,
            kind="application",
            name=f"软件{n:03d}",
            raw_key=services.raw_key(f"软件{n:03d}", "", "", ""),
            first_seen=SEEN,
        )
        for n in range(501)
    )
    return device


def software_page(client, device, **params) -> tuple[int, int, list[str]]:
    query = {f"sw-{key}": value for key, value in params.items()}
    response = client.get(reverse("inventory:device_detail", args=[device.pk]), query)
    assert response.status_code == 200
    page = response.context["installations"].page
    names = [row.record.name for row in page.object_list]
    return page.paginator.per_page, page.number, names[:1] + names[-1:] + [str(len(names))]


@pytest.mark.django_db
def test_device_page_software_table_is_bounded(client, org, device_501):
    client.force_login(org.officer_a)
    assert software_page(client, device_501, per_page="-1") == (1, 1, ["软件000", "软件000", "1"])
    assert software_page(client, device_501, per_page="0") == (1, 1, ["软件000", "软件000", "1"])
    assert software_page(client, device_501, per_page="100000000") == (
        500,
        1,
        ["软件000", "软件499", "500"],
    )
    last = (100, 6, ["软件500", "软件500", "1"])
    assert software_page(client, device_501, page="7") == last
    assert software_page(client, device_501, page=HUGE_PAGE) == last


def exported(client, url: str, **params):
    response = client.get(url, {"export": "xlsx", **params})
    assert response.status_code == 200
    return load_workbook(io.BytesIO(response.content)).active


@pytest.mark.django_db
def test_export_follows_the_pages_sort(client, five):
    client.force_login(five.officer_a)
    sheet = exported(client, reverse("inventory:device_list"), sort="-hostname")
    assert [row[0].value for row in sheet.iter_rows(min_row=2)] == [
        "pc-05",
        "pc-04",
        "pc-03",
        "pc-02",
        "pc-01",
    ]
    # Ties on the device type: the order they were created in (primary key), reversed too.
    sheet = exported(client, reverse("inventory:device_list"), sort="-device_type")
    assert [row[0].value for row in sheet.iter_rows(min_row=2)] == [
        "pc-03",
        "pc-01",
        "pc-04",
        "pc-02",
        "pc-05",
    ]


@pytest.mark.django_db
def test_export_writes_local_date_cells(client, five):
    client.force_login(five.officer_a)
    sheet = exported(client, reverse("inventory:device_list"), hostname="pc-01")
    headers = [cell.value for cell in sheet[1]]
    cell = sheet.cell(row=2, column=headers.index("最近上报") + 1)
    # Asia/Shanghai: eight hours ahead of the stored UTC; a date cell, not text.
    assert cell.is_date
    assert cell.value == datetime.datetime(2026, 11, 28, 16, 6, 47)


@pytest.mark.django_db
def test_audit_log_export_writes_local_date_cells(client, org, monkeypatch):
    # The log is append-only and stamps its own time: the clock is set for one entry, late
    # enough to sort first.
    with monkeypatch.context() as patched:
        patched.setattr(timezone, "now", lambda: LATE)
        audit.record(actor=None, action=AuditAction.EXPORT, object_repr="late")
    client.force_login(org.audit_admin)
    sheet = exported(client, reverse("core:audit_log"), sort="-timestamp")
    assert sheet.cell(row=2, column=6).value == "late"
    cell = sheet.cell(row=2, column=1)
    assert cell.is_date
    assert cell.value == datetime.datetime(2099, 1, 1, 7, 30, 5)


@pytest.mark.django_db
def test_date_column_exports_a_date_cell(org, device_501):
    Installation.objects.filter(name="软件000").update(install_date=datetime.date(2026, 3, 9))
    table = InstallationTable(Installation.objects.filter(name="软件000"))
    values = table.as_values()
    headers = next(values)
    row = next(values)
    assert row[headers.index(str(table.columns["install_date"].header))] == datetime.date(
        2026, 3, 9
    )
    sheet = load_workbook(io.BytesIO(build_workbook([("s", headers, [row])]))).active
    cell = sheet.cell(row=2, column=headers.index(str(table.columns["install_date"].header)) + 1)
    assert cell.is_date
    assert cell.value == datetime.datetime(2026, 3, 9, 0, 0)


def order_by_clause(ctx, table: str) -> str:
    sql = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith("SELECT")
        and f'FROM "{table}"' in q["sql"]
        and "ORDER BY" in q["sql"]
    ]
    assert sql
    return sql[-1].split("ORDER BY")[-1].strip()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("device_type", ["pc-05", "pc-02", "pc-04", "pc-01", "pc-03"]),
        ("-device_type", ["pc-03", "pc-01", "pc-04", "pc-02", "pc-05"]),
    ],
)
def test_device_list_breaks_ties_by_primary_key(client, five, sort, expected):
    client.force_login(five.officer_a)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("inventory:device_list"), {"sort": sort})
    assert hosts(response) == expected
    direction = "DESC" if sort.startswith("-") else "ASC"
    # The page's ids are read first (values_list("pk")): column 1 is the id.
    assert order_by_clause(ctx, "inventory_device") == (
        f'"inventory_device"."device_type" {direction}, 1 {direction}'
    )


@pytest.mark.django_db
def test_sort_by_unit_ends_with_the_primary_key(client, five):
    client.force_login(five.officer_a)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("inventory:device_list"), {"sort": "unit"})
    assert hosts(response) == ["pc-05", "pc-02", "pc-04", "pc-01", "pc-03"]
    assert order_by_clause(ctx, "inventory_device") == (
        '"orgs_region"."path" ASC, "orgs_unit"."name" ASC, 1 ASC'
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("last_seen", ["pc-05", "pc-02", "pc-04", "pc-01", "pc-03"]),
        ("-last_seen", ["pc-03", "pc-01", "pc-04", "pc-02", "pc-05"]),
    ],
)
def test_api_ordering_breaks_ties_by_primary_key(client, five, ordering, expected):
    client.force_login(five.officer_a)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/api/v1/devices/", {"ordering": ordering})
    assert response.status_code == 200
    assert [row["hostname"] for row in response.json()["results"]] == expected
    direction = "DESC" if ordering.startswith("-") else "ASC"
    assert order_by_clause(ctx, "inventory_device").endswith(
        f'"inventory_device"."last_seen" {direction}, "inventory_device"."id" {direction} LIMIT 50'
    )
