"""The ingest service on the real GLPI example inventories, with exact expected figures.

computer_3.json → computer_3_updated.json (the same Fedora laptop four months apart), worked
out by diffing the two software lists by identity (name, arch, owner, registry key) and
version, outside this code: 3,033 then 3,184 entries; 2,168 unchanged, 859 changed version
(kernel, kernel-core and kernel-modules hold three versions each and pair oldest with
oldest), 157 installed, 6 removed; 6 unchanged entries got a new install date.
"""

import datetime

import pytest
from django.utils import timezone

from zhengban.inventory import parsers, services
from zhengban.inventory.choices import EventType, InstallationKind, InventorySource
from zhengban.inventory.models import (
    Device,
    DeviceMAC,
    Installation,
    InstallationEvent,
    InventoryReport,
)
from zhengban.inventory.testing import GLPI_EXAMPLES, ingest_file


def _counts(device):
    events = InstallationEvent.objects.filter(device=device)
    return {
        t: events.filter(event_type=t).count()
        for t in (EventType.INSTALLED, EventType.REMOVED, EventType.VERSION_CHANGED)
    }


@pytest.mark.django_db
def test_computer_3_then_updated_gives_exact_events(org):
    t0 = timezone.now() - datetime.timedelta(days=120)
    first = ingest_file(GLPI_EXAMPLES / "computer_3.json", unit=org.unit_a, received=t0)
    device = first.device
    assert first.created and not first.unchanged
    # Baseline: every entry stored, the OS as one more installation, no events.
    assert Installation.objects.filter(device=device).count() == 3033 + 1
    assert Installation.objects.filter(device=device, kind=InstallationKind.OS).get().name == (
        "Fedora release 25 (Twenty Five)"
    )
    assert InstallationEvent.objects.count() == 0
    assert (device.hostname, device.device_type, device.serial_number) == (
        "LF014",
        "laptop",
        "8C554721F",
    )
    assert device.hardware_uuid == "0055ADC9-1D3A-E411-8043-B05D95113232"
    assert device.agent_device_id == "LF014-2017-02-20-12-19-56"
    assert device.last_source == InventorySource.GLPI_JSON
    assert sorted(DeviceMAC.objects.filter(device=device).values_list("mac", flat=True)) == [
        "30:3a:64:ee:65:88",
        "b8:6b:23:e0:5c:81",
    ]

    t1 = t0 + datetime.timedelta(days=108)
    second = ingest_file(GLPI_EXAMPLES / "computer_3_updated.json", unit=org.unit_a, received=t1)
    assert second.device.pk == device.pk
    assert not second.created and second.match_rank == services.RANK_AGENT_ID
    assert (second.installed, second.removed, second.version_changed) == (157, 6, 859)
    assert _counts(device) == {
        EventType.INSTALLED: 157,
        EventType.REMOVED: 6,
        EventType.VERSION_CHANGED: 859,
    }
    assert Installation.objects.filter(device=device).count() == 3184 + 1
    kernel = InstallationEvent.objects.filter(device=device, name="kernel").order_by("old_version")
    assert [(e.old_version, e.new_version) for e in kernel] == [
        ("4.9.7-201.fc25", "4.10.15-200.fc25"),
        ("4.9.8-201.fc25", "4.10.17-200.fc25"),
        ("4.9.9-200.fc25", "4.11.3-200.fc25"),
    ]
    assert set(InstallationEvent.objects.values_list("date", flat=True)) == {t1}
    report = InventoryReport.objects.get(device=device, received=t1)
    assert (report.installed, report.removed, report.version_changed) == (157, 6, 859)
    assert report.software_count == 3184
    device.refresh_from_db()
    assert (device.first_seen, device.last_seen) == (t0, t1)

    # The very same inventory again: no events and nothing written but last_seen.
    reports_before = InventoryReport.objects.count()
    t2 = t1 + datetime.timedelta(days=1)
    third = ingest_file(GLPI_EXAMPLES / "computer_3_updated.json", unit=org.unit_a, received=t2)
    assert third.unchanged and third.device.pk == device.pk
    assert InstallationEvent.objects.count() == 157 + 6 + 859
    assert InventoryReport.objects.count() == reports_before
    device.refresh_from_db()
    assert device.last_seen == t2


@pytest.mark.django_db
def test_partial_inventory_only_replaces_what_it_contains(org):
    full = ingest_file(GLPI_EXAMPLES / "computer_1.json", unit=org.unit_a)
    device = full.device
    assert Installation.objects.filter(device=device).exclude(kind="os").count() == 6
    macs = set(DeviceMAC.objects.filter(device=device).values_list("mac", flat=True))
    assert len(macs) == 3

    partial = ingest_file(GLPI_EXAMPLES / "computer_1_partial_softs.json", unit=org.unit_a)
    assert partial.device.pk == device.pk
    # The partial document holds no networks section: the MACs stay.
    assert set(DeviceMAC.objects.filter(device=device).values_list("mac", flat=True)) == macs
    names_full = sorted(
        Installation.objects.filter(device=device).exclude(kind="os").values_list("name", "version")
    )
    assert len(names_full) == 6


@pytest.mark.django_db
def test_reimaged_machine_is_the_same_device(org):
    """1.xml is LF014 reported by an older FusionInventory install (another device id, other
    BIOS serial noise): same hardware UUID, so the same device."""
    first = ingest_file(GLPI_EXAMPLES / "computer_3.json", unit=org.unit_a)
    doc = parsers.document_from_json(
        parsers.parse_json((GLPI_EXAMPLES / "computer_3.json").read_bytes())
    )
    doc.agent_device_id = "LF014-2030-01-01-00-00-00"  # agent re-installed after re-imaging
    doc.hostname = "LF014-NEW"
    again = services.ingest_inventory(unit=org.unit_a, document=doc)
    assert again.device.pk == first.device.pk
    assert again.match_rank == services.RANK_UUID_AND_SERIAL
    assert Device.objects.count() == 1
    again.device.refresh_from_db()
    assert again.device.agent_device_id == "LF014-2030-01-01-00-00-00"
    assert again.device.hostname == "LF014-NEW"


@pytest.mark.django_db
def test_conflicting_serial_makes_a_new_device_and_units_never_mix(org):
    first = ingest_file(GLPI_EXAMPLES / "computer_3.json", unit=org.unit_a)
    doc = parsers.document_from_json(
        parsers.parse_json((GLPI_EXAMPLES / "computer_3.json").read_bytes())
    )
    # A cloned disk image: the agent id came along, the hardware did not.
    doc.serial_number = "OTHERSERIAL1"
    doc.hardware_uuid = "11111111-2222-3333-4444-555555555555"
    clone = services.ingest_inventory(unit=org.unit_a, document=doc)
    assert clone.created and clone.device.pk != first.device.pk
    # The agent id stays with the first device (unique per unit).
    clone.device.refresh_from_db()
    assert clone.device.agent_device_id == ""
    # The same inventory through another unit's token is another unit's device.
    other = ingest_file(GLPI_EXAMPLES / "computer_3.json", unit=org.unit_b)
    assert other.created and other.device.unit == org.unit_b
    assert Device.objects.filter(unit=org.unit_a).count() == 2


@pytest.mark.django_db
def test_locally_administered_mac_needs_the_hostname(org):
    base = parsers.document_from_json(
        parsers.parse_json((GLPI_EXAMPLES / "computer_2.json").read_bytes())
    )
    base.serial_number = base.hardware_uuid = None
    base.agent_device_id = "container-a"
    base.macs = ["02:42:ac:11:00:02"]
    a = services.ingest_inventory(unit=org.unit_a, document=base)
    base.agent_device_id = "container-b"
    base.hostname = "another"
    b = services.ingest_inventory(unit=org.unit_a, document=base)
    assert b.created and b.device.pk != a.device.pk
    base.agent_device_id = "container-c"
    base.hostname = "COMP1"
    c = services.ingest_inventory(unit=org.unit_a, document=base)
    assert c.device.pk == a.device.pk
    assert c.match_rank == services.RANK_LOCAL_MAC_AND_HOSTNAME
