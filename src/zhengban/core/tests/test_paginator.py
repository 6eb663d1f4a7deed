"""CappedCountPaginator reads the ids of a short list whole (no LIMIT, which can lead the
planner to walk the ordering index of the whole table) and pages it all the same."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from zhengban.core.views import CappedCountPaginator
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.models import Device

NOW = datetime.datetime(2026, 11, 1, 8, 0, tzinfo=datetime.UTC)


@pytest.fixture
def seven(org):
    for n in (5, 2, 7, 4, 1, 3, 6):
        Device.objects.create(
            unit=org.unit_a,
            hostname=f"pc-{n:02d}",
            first_seen=NOW,
            last_seen=NOW,
            last_source=InventorySource.GLPI_JSON,
        )
    return org


def page(client, number: int) -> tuple[list[str], list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("inventory:device_list"), {"page": number, "per_page": 3})
    assert response.status_code == 200
    hosts = [row.record.hostname for row in response.context["table"].page.object_list]
    id_queries = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith('SELECT "inventory_device"."id" AS "pk"')
    ]
    return hosts, id_queries


@pytest.mark.django_db
@pytest.mark.parametrize("read_whole_below", [1_000, 0])
def test_short_and_long_lists_page_alike(client, seven, monkeypatch, read_whole_below):
    monkeypatch.setattr(CappedCountPaginator, "read_whole_below", read_whole_below)
    client.force_login(seven.officer_a)
    pages = {}
    for number in (1, 2, 3):
        hosts, id_queries = page(client, number)
        pages[number] = hosts
        assert len(id_queries) == 1
        assert ("LIMIT" in id_queries[0]) is (read_whole_below == 0)
    assert pages == {
        1: ["pc-01", "pc-02", "pc-03"],
        2: ["pc-04", "pc-05", "pc-06"],
        3: ["pc-07"],
    }
