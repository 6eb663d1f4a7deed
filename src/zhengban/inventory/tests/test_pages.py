"""Device list and device page at scale: bounded counts, pages read by id, long sections cut."""

from __future__ import annotations

import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from zhengban.core.views import CappedCountPaginator
from zhengban.inventory import services
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.models import Device, Installation, InstallationEvent, InventoryReport
from zhengban.inventory.views import EVENTS_SHOWN

NOW = datetime.datetime(2026, 11, 1, 8, 0, tzinfo=datetime.UTC)


def make_device(unit, hostname: str, installs: int, *, days_silent: int = 0, os_name: str = ""):
    seen = NOW - datetime.timedelta(days=days_silent)
    device = Device.objects.create(
        unit=unit,
        hostname=hostname,
        os_name=os_name,
        first_seen=seen,
        last_seen=seen,
        last_source=InventorySource.GLPI_JSON,
    )
    for n in range(installs):
        name = f"{hostname}-软件{n}"
        Installation.objects.create(
            device=device,
            kind="application",
            name=name,
            raw_key=services.raw_key(name, "", "", ""),
            first_seen=seen,
        )
    return device


@pytest.fixture
def five(org):
    # Created out of order: the list sorts by host name.
    for host, installs in (("pc-05", 5), ("pc-02", 2), ("pc-04", 4), ("pc-01", 1), ("pc-03", 3)):
        make_device(org.unit_a, host, installs, os_name="Windows 10" if installs % 2 else "UOS")
    make_device(org.unit_b, "other-01", 7)
    return org


def rows(response) -> list[tuple[str, int]]:
    table = response.context["table"]
    return [(r.record.hostname, r.record.software_count) for r in table.page.object_list]


@pytest.mark.django_db
def test_device_list_pages_by_host_name_with_a_capped_count(client, five, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 3)
    client.force_login(five.officer_a)
    url = reverse("inventory:device_list")

    first = client.get(url, {"per_page": 2})
    assert rows(first) == [("pc-01", 1), ("pc-02", 2)]
    html = first.content.decode()
    assert "超过 3 条" in html
    assert "1 / 2+" in html

    second = client.get(url, {"per_page": 2, "page": 2})
    assert rows(second) == [("pc-03", 3), ("pc-04", 4)]
    assert "超过 4 条" in second.content.decode()
    assert "2 / 3+" in second.content.decode()

    # Past the cap the count becomes exact again once the end is in reach.
    last = client.get(url, {"per_page": 2, "page": 3})
    assert rows(last) == [("pc-05", 5)]
    assert "共 5 条" in last.content.decode()
    assert "3 / 3" in last.content.decode()


@pytest.mark.django_db
def test_device_list_counts_exactly_under_the_cap(client, five):
    client.force_login(five.supervisor_province)
    response = client.get(reverse("inventory:device_list"))
    assert rows(response) == [
        ("other-01", 7),
        ("pc-01", 1),
        ("pc-02", 2),
        ("pc-03", 3),
        ("pc-04", 4),
        ("pc-05", 5),
    ]
    assert "共 6 条" in response.content.decode()


@pytest.mark.django_db
def test_device_list_filters_still_apply_to_pages_read_by_id(client, five, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 1)
    client.force_login(five.supervisor_province)
    url = reverse("inventory:device_list")
    assert rows(client.get(url, {"unit": five.unit_b.pk})) == [("other-01", 7)]
    assert rows(client.get(url, {"os": "uos"})) == [("pc-02", 2), ("pc-04", 4)]
    assert rows(client.get(url, {"software": "pc-03-软件2"})) == [("pc-03", 3)]
    assert rows(client.get(url, {"unrecognised": "true", "per_page": 2, "page": 2})) == [
        ("pc-02", 2),
        ("pc-03", 3),
    ]
    Device.objects.filter(hostname="pc-04").update(
        first_seen=timezone.now() - datetime.timedelta(days=90),
        last_seen=timezone.now() - datetime.timedelta(days=60),
    )
    Device.objects.exclude(hostname="pc-04").update(last_seen=timezone.now())
    assert rows(client.get(url, {"stale_days": 30})) == [("pc-04", 4)]
    # Sorting by another column still works through the id step.
    assert [h for h, _ in rows(client.get(url, {"sort": "-hostname", "per_page": 3}))] == [
        "pc-05",
        "pc-04",
        "pc-03",
    ]


@pytest.mark.django_db
def test_device_export_is_complete_whatever_the_cap(client, five, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 1)
    client.force_login(five.officer_a)
    response = client.get(reverse("inventory:device_list"), {"export": "xlsx"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    hosts = [row[0].value for row in sheet.iter_rows(min_row=2)]
    assert hosts == ["pc-01", "pc-02", "pc-03", "pc-04", "pc-05"]


@pytest.mark.django_db
def test_device_page_shows_recent_history_and_links_to_all(client, org):
    device = make_device(org.unit_a, "pc-history", 3)
    report = InventoryReport.objects.create(
        device=device, received=NOW, source=InventorySource.GLPI_JSON
    )
    total = EVENTS_SHOWN + 7
    InstallationEvent.objects.bulk_create(
        InstallationEvent(
            device=device,
            report=report,
            event_type="installed",
            kind="application",
            name=f"事件软件{n:03d}",
            new_version="1.0",
            date=NOW - datetime.timedelta(hours=n),
        )
        for n in range(total)
    )
    client.force_login(org.officer_a)
    url = reverse("inventory:device_detail", args=[device.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert len(page.context["events"]) == EVENTS_SHOWN
    assert page.context["events"][0].name == "事件软件000"
    assert page.context["more_events"] is True
    assert page.context["installation_count"] == 3
    assert page.context["unrecognised_count"] == 3
    assert page.context["installations"].paginator.count == 3
    assert 'data-testid="all-events"' in page.content.decode()

    everything = client.get(url, {"events": "all"})
    assert len(everything.context["events"]) == total
    assert everything.context["events"][-1].name == f"事件软件{total - 1:03d}"
    assert 'data-testid="all-events"' not in everything.content.decode()


@pytest.mark.django_db
def test_fast_rows_render_exactly_what_django_tables2_renders(rf, five):
    import re

    from django.template.loader import render_to_string

    from zhengban.inventory.tables import DeviceTable
    from zhengban.inventory.views import DeviceListView

    Device.objects.filter(hostname="pc-02").update(
        device_type="laptop", assigned_name="张三 <b>", serial_number="SN&1"
    )
    request = rf.get("/")
    request.user = five.supervisor_province
    queryset = DeviceListView.queryset.all()

    def cells(fast: bool) -> list[str]:
        table = DeviceTable(queryset)
        table.fast_rows = fast
        table.paginate(per_page=50)
        html = render_to_string("core/table.html", {"table": table}, request=request)
        body = html[html.index("<tbody>") : html.index("</tbody>")]
        return re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)

    fast, slow = cells(True), cells(False)
    assert len(fast) == 6
    assert fast == slow
    assert "张三 &lt;b&gt;" in fast[2]
    assert "<td >笔记本</td>" in fast[2]


@pytest.mark.django_db
def test_fast_installation_rows_match_django_tables2(rf, org):
    import re

    from django.template.loader import render_to_string

    from zhengban.inventory.tables import InstallationTable

    device = make_device(org.unit_a, "pc-sw", 3)
    Installation.objects.filter(device=device, name="pc-sw-软件1").update(
        install_date=datetime.date(2025, 3, 4), version="1.<2>", kind="os"
    )
    request = rf.get("/")
    request.user = org.officer_a

    def cells(fast: bool) -> list[str]:
        table = InstallationTable(Installation.objects.filter(device=device).order_by("name"))
        table.fast_rows = fast
        table.paginate(per_page=100)
        html = render_to_string("core/table.html", {"table": table}, request=request)
        body = html[html.index("<tbody>") : html.index("</tbody>")]
        return re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)

    fast, slow = cells(True), cells(False)
    assert fast == slow
    assert len(fast) == 3
    assert "<td >未识别</td>" in fast[0]
    assert "1.&lt;2&gt;" in fast[1]


@pytest.mark.django_db
def test_a_capped_count_is_reused_for_a_while_and_an_exact_one_never(
    client, five, monkeypatch, settings
):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cache.clear()
    settings.LIST_COUNT_CACHE_SECONDS = 60
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 3)
    client.force_login(five.officer_a)
    url = reverse("inventory:device_list")

    def get(**params):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, params)
        return response, len(ctx.captured_queries)

    first, queries = get(per_page=2)
    again, queries_again = get(per_page=2)
    assert "超过 3 条" in first.content.decode() and "超过 3 条" in again.content.decode()
    assert queries_again == queries - 1  # the count came from the cache
    # Another filter is another query, counted on its own; below the cap it is exact, and
    # exact counts are counted every time.
    os_filtered, q_filtered = get(per_page=2, os="UOS")
    assert "共 2 条" in os_filtered.content.decode()
    exact_again, q_exact = get(per_page=2, os="UOS")
    assert "共 2 条" in exact_again.content.decode()
    assert q_exact == q_filtered
    cache.clear()


@pytest.mark.django_db
@pytest.mark.parametrize("cached", [0, 60])
def test_filters_that_match_nothing_give_an_empty_page(client, five, settings, cached):
    # As in production, where counts and the filters' kinds of input are cached: a filter
    # Django turns into "no SQL at all" must still answer with an empty list.
    from django.core.cache import cache

    cache.clear()
    settings.LIST_COUNT_CACHE_SECONDS = cached
    settings.FILTER_CHOICES_CACHE_SECONDS = cached * 5
    client.force_login(five.officer_a)
    url = reverse("inventory:device_list")
    for params in (
        {"software": "no such software"},
        {"unit": five.unit_b.pk},  # out of scope: refused as an unknown choice
        {"unit": 99999},
        {"stale_days": "abc"},
        {"stale_days": "1000000"},  # further back than a date can go
        {"stale_days": "1e12"},
        {"stale_days": "-1"},
    ):
        response = client.get(url, params)
        assert response.status_code == 200, params
        assert rows(response) == [], params
    assert client.get(reverse("inventory:token_list"), {"unit": five.unit_b.pk}).status_code == 200
    cache.clear()


@pytest.mark.django_db
@pytest.mark.parametrize("cached", [0, 300])
def test_an_account_with_an_empty_scope_sees_empty_lists(client, org, settings, cached):
    from django.core.cache import cache

    from zhengban.orgs.testing import make_person

    cache.clear()
    settings.FILTER_CHOICES_CACHE_SECONDS = cached
    settings.LIST_COUNT_CACHE_SECONDS = cached
    make_device(org.unit_a, "pc-01", 1)
    client.force_login(make_person("nobody", None))
    response = client.get(reverse("inventory:device_list"))
    assert response.status_code == 200
    assert rows(response) == []
    cache.clear()


@pytest.mark.django_db
def test_an_export_with_a_filter_the_page_refuses_is_empty_as_the_page(client, five):
    client.force_login(five.officer_a)
    url = reverse("inventory:device_list")
    params = {"q": "pc-01", "stale_days": "abc"}
    assert rows(client.get(url, params)) == []
    response = client.get(url, {**params, "export": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [row[0].value for row in sheet.iter_rows(min_row=2)] == []
    # A valid filter still narrows the export.
    response = client.get(url, {"q": "pc-01", "export": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [row[0].value for row in sheet.iter_rows(min_row=2)] == ["pc-01"]


@pytest.mark.django_db
def test_yes_no_filters_read_every_usual_spelling(client, five):
    from zhengban.inventory.models import Installation

    Installation.objects.filter(device__hostname="other-01", product__isnull=True).delete()
    client.force_login(five.supervisor_province)
    url = reverse("inventory:device_list")
    yes = rows(client.get(url, {"unrecognised": "true"}))
    no = rows(client.get(url, {"unrecognised": "false"}))
    everything = rows(client.get(url))
    assert [h for h, _ in no] == ["other-01"] and len(yes) == 5
    assert sorted(yes + no) == sorted(everything)
    for spelling in ("1", "yes", "True", "on"):
        assert rows(client.get(url, {"unrecognised": spelling})) == yes, spelling
    for spelling in ("0", "no", "FALSE", "off"):
        assert rows(client.get(url, {"unrecognised": spelling})) == no, spelling
    # Anything else means "either", as the select's empty choice does.
    assert rows(client.get(url, {"unrecognised": "maybe"})) == everything


def add_events(device, total: int, *, first: int = 0) -> None:
    """``total`` events, n hours before NOW for n from ``first``: the lowest n is newest."""
    report = InventoryReport.objects.create(
        device=device, received=NOW, source=InventorySource.GLPI_JSON
    )
    InstallationEvent.objects.bulk_create(
        InstallationEvent(
            device=device,
            report=report,
            event_type="installed",
            kind="application",
            name=f"事件软件{n:04d}",
            new_version="1.0",
            date=NOW - datetime.timedelta(hours=n),
        )
        for n in range(first, first + total)
    )


def history(response) -> list[str]:
    return [e.name for e in response.context["events"]]


@pytest.mark.django_db
def test_all_of_a_device_history_comes_in_pages_of_a_hundred_newest_first(client, org):
    import html

    device = make_device(org.unit_a, "pc-busy", 1)
    add_events(device, 250)
    client.force_login(org.officer_a)
    url = reverse("inventory:device_detail", args=[device.pk])

    latest = client.get(url)
    assert history(latest) == [f"事件软件{n:04d}" for n in range(50)]
    assert "events_page" not in latest.context

    first = client.get(url, {"events": "all"})
    assert history(first) == [f"事件软件{n:04d}" for n in range(100)]
    content = html.unescape(first.content.decode())
    assert '<span data-testid="events-count">共 250 条变更</span>' in content
    assert "<span>1 / 3</span>" in content
    assert 'data-testid="events-previous"' not in content
    assert first.context["events_next_url"] == "?events=all&events-page=2#history"
    assert first.context["events_recent_url"] == "?#history"

    # The software table's page stays as it was while the history pages on.
    second = client.get(url, {"sw-page": "1", "events": "all", "events-page": "2"})
    assert history(second) == [f"事件软件{n:04d}" for n in range(100, 200)]
    assert second.context["events_previous_url"] == "?sw-page=1&events=all&events-page=1#history"
    assert second.context["events_next_url"] == "?sw-page=1&events=all&events-page=3#history"
    assert second.context["events_recent_url"] == "?sw-page=1#history"

    last = client.get(url, {"events": "all", "events-page": "3"})
    assert history(last) == [f"事件软件{n:04d}" for n in range(200, 250)]
    assert last.context["events_next_url"] == ""
    assert "<span>3 / 3</span>" in last.content.decode()


@pytest.mark.django_db
def test_a_history_page_number_out_of_range_shows_the_first_or_last_page(client, org):
    device = make_device(org.unit_a, "pc-busy", 1)
    add_events(device, 150)
    client.force_login(org.officer_a)
    url = reverse("inventory:device_detail", args=[device.pk])
    first = [f"事件软件{n:04d}" for n in range(100)]
    last = [f"事件软件{n:04d}" for n in range(100, 150)]
    for number, expected in (
        ("abc", first),
        ("", first),
        ("1.5", first),
        ("9" * 5000, first),  # more digits than Python reads as a number
        ("3", last),
        ("99999999999999999999", last),
        ("0", last),
        ("-1", last),
    ):
        response = client.get(url, {"events": "all", "events-page": number})
        assert response.status_code == 200, number
        assert history(response) == expected, number[:20]


@pytest.mark.django_db
def test_a_device_without_history_shows_an_empty_first_page(client, org):
    device = make_device(org.unit_a, "pc-quiet", 1)
    client.force_login(org.officer_a)
    url = reverse("inventory:device_detail", args=[device.pk])
    response = client.get(url, {"events": "all", "events-page": "7"})
    assert response.status_code == 200
    assert history(response) == []
    content = response.content.decode()
    assert "暂无变更记录" in content
    assert '<span data-testid="events-count">共 0 条变更</span>' in content


@pytest.mark.django_db
def test_the_history_page_reads_the_same_number_of_rows_whatever_the_history(client, org):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    device = make_device(org.unit_a, "pc-busy", 1)
    add_events(device, 120)
    client.force_login(org.officer_a)
    url = reverse("inventory:device_detail", args=[device.pk])

    def measure(params) -> tuple[int, int]:
        client.get(url, params)  # warm per-process caches
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, params)
        return len(ctx.captured_queries), len(response.content)

    small = {p: measure({"events": "all", "events-page": p}) for p in ("1", "2")}
    add_events(device, 3000, first=120)
    big = {p: measure({"events": "all", "events-page": p}) for p in ("1", "2")}
    # Same queries; page 1 holds the same hundred rows; page 2 grows from 20 rows to 100.
    assert {p: q for p, (q, _size) in big.items()} == {p: q for p, (q, _size) in small.items()}
    assert history(client.get(url, {"events": "all", "events-page": "32"})) == [
        f"事件软件{n:04d}" for n in range(3100, 3120)
    ]
    assert big["1"][1] - small["1"][1] < 200  # only the count and page figures differ
