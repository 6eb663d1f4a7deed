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
    return sorted(c["columns"] for c in constraints.values() if c["index"] and not c["unique"])


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
