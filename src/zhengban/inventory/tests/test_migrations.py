"""Migrations that move data: run back and forth on a database holding rows."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from zhengban.inventory.models import DeviceMAC
from zhengban.inventory.testing import make_device


def index_columns(table: str) -> list[list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    # An expression's place in an index reads as None (PostgreSQL): named here.
    return sorted(
        [column or "<expression>" for column in c["columns"]]
        for c in constraints.values()
        if c["index"] and not c["unique"]
    )


@pytest.mark.django_db(transaction=True)
def test_migration_0013_gives_each_mac_its_devices_unit(org):
    device = make_device(org.unit_b, "PC-MIG")
    try:
        call_command("migrate", "inventory", "0012", verbosity=0)
        assert ["mac"] in index_columns("inventory_devicemac")
        assert ["device_id"] in index_columns("inventory_devicemac")
        assert ["unit_id"] in index_columns("inventory_device")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO inventory_devicemac (device_id, mac) VALUES (%s, %s)",
                [device.pk, "00:05:9a:3c:7a:00"],
            )
    finally:
        call_command("migrate", verbosity=0)
    assert list(DeviceMAC.objects.values_list("mac", "unit_id")) == [
        ("00:05:9a:3c:7a:00", org.unit_b.pk)
    ]
    mac_indexes = index_columns("inventory_devicemac")
    assert ["unit_id", "mac"] in mac_indexes
    assert ["mac"] not in mac_indexes and ["device_id"] not in mac_indexes
    assert ["unit_id"] not in index_columns("inventory_device")


@pytest.mark.django_db(transaction=True)
def test_migration_0015_forgets_identifiers_now_taken_for_placeholders(org):
    from zhengban.inventory.models import Device

    junk = make_device(org.unit_a, "PC-JUNK")
    real = make_device(org.unit_a, "PC-REAL")
    Device.objects.filter(pk=junk.pk).update(
        serial_number="OEM_SERIAL", hardware_uuid="00020003-0004-0005-0006-000700080009"
    )
    Device.objects.filter(pk=real.pk).update(
        serial_number="PF0ABCDE", hardware_uuid="4C4C4544-0051-3510-8052-B4C04F4E5632"
    )
    try:
        call_command("migrate", "inventory", "0014", verbosity=0)
        for device, mac in ((junk, "00:50:56:c0:00:08"), (junk, "d4:3d:7e:00:00:0a")):
            DeviceMAC.objects.create(device=device, unit=device.unit, mac=mac)
    finally:
        call_command("migrate", verbosity=0)
    assert sorted(Device.objects.values_list("hostname", "serial_number", "hardware_uuid")) == [
        ("PC-JUNK", "", ""),
        ("PC-REAL", "PF0ABCDE", "4C4C4544-0051-3510-8052-B4C04F4E5632"),
    ]
    assert list(DeviceMAC.objects.values_list("mac", flat=True)) == ["d4:3d:7e:00:00:0a"]
