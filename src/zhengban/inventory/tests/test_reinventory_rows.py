"""A changed re-inventory leaves exactly the new inventory's rows: the whole-row shortcut of
the diff and the one-statement rewrite of changed rows (dates, NULLs, raw keys)."""

from __future__ import annotations

import dataclasses
import datetime
from collections import Counter

import pytest
from django.utils import timezone

from zhengban.inventory import document as d
from zhengban.inventory import parsers, services
from zhengban.inventory.choices import EventType, InventorySource
from zhengban.inventory.models import Installation, InstallationEvent
from zhengban.inventory.testing import GLPI_EXAMPLES, ingest_file

FIELDS = (
    "kind",
    "name",
    "publisher",
    "version",
    "arch",
    "install_date",
    "source",
    "guid",
    "owner",
    "category",
)


def stored(device) -> Counter:
    return Counter(Installation.objects.filter(device=device).values_list(*FIELDS))


@pytest.mark.django_db
def test_updated_inventory_is_stored_row_for_row(org):
    t0 = timezone.now() - datetime.timedelta(days=120)
    device = ingest_file(GLPI_EXAMPLES / "computer_3.json", unit=org.unit_a, received=t0).device
    ids_before = set(Installation.objects.filter(device=device).values_list("pk", flat=True))
    ingest_file(GLPI_EXAMPLES / "computer_3_updated.json", unit=org.unit_a, received=t0)
    doc = parsers.parse_inventory((GLPI_EXAMPLES / "computer_3_updated.json").read_bytes(), None)
    assert stored(device) == Counter(s.fields() for s in doc.installations())
    rows = Installation.objects.filter(device=device)
    platform = services.platform_of(device.os_name)
    assert [
        r.pk
        for r in rows
        if r.raw_key != services.raw_key(r.name, r.publisher, r.version, platform)
    ] == []
    # 3033 + 1 rows before; 6 removed; the 859 upgrades and the unchanged rows kept their ids.
    ids_after = set(rows.values_list("pk", flat=True))
    assert len(ids_before - ids_after) == 6
    assert len(ids_after - ids_before) == 157


def _doc(*software: d.Software) -> d.InventoryDocument:
    return d.InventoryDocument(
        source=InventorySource.GLPI_JSON,
        agent_device_id="agent-refresh-1",
        hostname="pc-refresh",
        software=list(software),
    )


@pytest.mark.django_db
def test_changed_rows_are_rewritten_exactly_with_nulls_and_new_keys(org):
    t0 = timezone.now() - datetime.timedelta(days=10)
    a = d.Software(
        name="甲软件", version="1.0", publisher="甲公司", install_date=datetime.date(2026, 1, 2)
    )
    b = d.Software(name="乙软件", version="2.0", publisher="乙公司", source="registry")
    c = d.Software(name="丙软件", version="3.0")
    first = services.ingest_inventory(unit=org.unit_a, document=_doc(a, b, c), received=t0)
    device = first.device
    ids = dict(Installation.objects.filter(device=device).values_list("name", "pk"))
    # a: same version, date gone and publisher changed (no event, new raw key);
    # b: upgraded with a date (an event); c: unchanged.
    a2 = dataclasses.replace(a, install_date=None, publisher="甲集团", category="办公")
    b2 = dataclasses.replace(b, version="2.1", install_date=datetime.date(2026, 3, 4))
    second = services.ingest_inventory(
        unit=org.unit_a, document=_doc(a2, b2, c), received=t0 + datetime.timedelta(days=1)
    )
    assert (second.installed, second.removed, second.version_changed) == (0, 0, 1)
    assert stored(device) == Counter([a2.fields(), b2.fields(), c.fields()])
    assert dict(Installation.objects.filter(device=device).values_list("name", "pk")) == ids
    keys = dict(Installation.objects.filter(device=device).values_list("name", "raw_key"))
    assert keys == {
        "甲软件": services.raw_key("甲软件", "甲集团", "1.0", ""),
        "乙软件": services.raw_key("乙软件", "乙公司", "2.1", ""),
        "丙软件": services.raw_key("丙软件", "", "3.0", ""),
    }
    assert list(
        InstallationEvent.objects.filter(device=device).values_list(
            "event_type", "name", "old_version", "new_version"
        )
    ) == [(EventType.VERSION_CHANGED, "乙软件", "2.0", "2.1")]


@pytest.mark.django_db
def test_identical_entries_side_by_side_pair_one_for_one(org):
    t0 = timezone.now() - datetime.timedelta(days=10)
    k1 = d.Software(name="kernel", version="4.9.7", arch="x86_64")
    k2 = d.Software(name="kernel", version="4.9.8", arch="x86_64")
    device = services.ingest_inventory(
        unit=org.unit_a, document=_doc(k1, k1, k2), received=t0
    ).device
    k3 = d.Software(name="kernel", version="4.10.1", arch="x86_64")
    result = services.ingest_inventory(
        unit=org.unit_a, document=_doc(k1, k3), received=t0 + datetime.timedelta(days=1)
    )
    # One 4.9.7 stays, the other pairs (oldest first) with 4.10.1; 4.9.8 is removed.
    assert (result.installed, result.removed, result.version_changed) == (0, 1, 1)
    assert sorted(
        InstallationEvent.objects.filter(device=device).values_list(
            "event_type", "old_version", "new_version"
        )
    ) == [(EventType.REMOVED, "4.9.8", ""), (EventType.VERSION_CHANGED, "4.9.7", "4.10.1")]
    assert stored(device) == Counter([k1.fields(), k3.fields()])
