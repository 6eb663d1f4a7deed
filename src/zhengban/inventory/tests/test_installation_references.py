"""Installed rows name an existing device and product, enforced by the database's triggers
(migration 0012) rather than foreign keys: on every insert path, on updates, and against
deletes, including a delete racing an inventory that is being written."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from zhengban.catalog.testing import _matrix_product
from zhengban.inventory import services
from zhengban.inventory.choices import InstallationKind, InventorySource
from zhengban.inventory.models import Device, Installation

MISSING = 987_654_321


def make_device(unit, name="PC-REF"):
    now = timezone.now()
    return Device.objects.create(
        unit=unit,
        hostname=name,
        first_seen=now,
        last_seen=now,
        last_source=InventorySource.ZHENGBAN_AGENT,
    )


def row(device_id, product_id, name="WPS Office"):
    """One row in services._INSERT_FIELDS order."""
    return (
        device_id,
        InstallationKind.APPLICATION,
        name,
        "Kingsoft",
        "11.1",
        "x64",
        None,
        "registry",
        "",
        "",
        "",
        services.raw_key(name, "Kingsoft", "11.1", "windows"),
        product_id,
        timezone.now(),
    )


def refused(operation) -> bool:
    try:
        with transaction.atomic():
            operation()
    except IntegrityError:
        return True
    return False


@pytest.mark.django_db
def test_rows_naming_a_missing_device_or_product_are_refused(org):
    device = make_device(org.unit_a)
    product = _matrix_product(org.unit_a)
    # The inventory's bulk path (COPY on PostgreSQL), several rows per statement.
    services._insert_installations([row(device.pk, product.pk), row(device.pk, None, "7-Zip")])
    assert refused(
        lambda: services._insert_installations([row(device.pk, None), row(MISSING, None)])
    )
    assert refused(lambda: services._insert_installations([row(device.pk, MISSING)]))
    # The ORM's single-row path.
    assert refused(
        lambda: Installation.objects.create(
            device_id=MISSING, kind="application", name="x", raw_key="k", first_seen=timezone.now()
        )
    )
    # Updates.
    assert refused(lambda: Installation.objects.filter(device=device).update(product_id=MISSING))
    assert refused(lambda: Installation.objects.filter(device=device).update(device_id=MISSING))
    other = make_device(org.unit_a, "PC-REF-2")
    Installation.objects.filter(device=device, product__isnull=True).update(device=other)
    assert sorted(Installation.objects.values_list("device_id", "product_id")) == sorted(
        [(device.pk, product.pk), (other.pk, None)]
    )


@pytest.mark.django_db
def test_deleting_what_rows_name(org):
    device = make_device(org.unit_a)
    product = _matrix_product(org.unit_a)
    services._insert_installations([row(device.pk, product.pk), row(device.pk, None, "7-Zip")])
    raw_device_delete = f"DELETE FROM inventory_device WHERE id = {device.pk}"
    raw_product_delete = f"DELETE FROM catalog_product WHERE id = {product.pk}"

    def execute(sql):
        with connection.cursor() as cursor:
            cursor.execute(sql)

    # Changing an id that rows name is refused on both databases.
    assert refused(
        lambda: execute(f"UPDATE inventory_device SET id = {MISSING} WHERE id = {device.pk}")
    )
    assert refused(
        lambda: execute(f"UPDATE catalog_product SET id = {MISSING} WHERE id = {product.pk}")
    )
    if connection.vendor == "postgresql":
        # As the foreign keys did (NO ACTION): the database refuses, nothing changes.
        assert refused(lambda: execute(raw_product_delete))
        assert refused(lambda: execute(raw_device_delete))
        assert Installation.objects.filter(device=device, product=product).count() == 1
    else:
        # SQLite applies the models' on_delete itself (see the migration).
        execute(raw_product_delete)
        assert list(Installation.objects.values_list("product_id", flat=True)) == [None, None]
        execute(raw_device_delete)
        assert Installation.objects.count() == 0
        device = make_device(org.unit_a)
        product = _matrix_product(org.unit_a)
        services._insert_installations([row(device.pk, product.pk)])
    # Django's own deletes work on both: SET NULL for the product, CASCADE for the device.
    product.delete()
    assert list(Installation.objects.values_list("product_id", flat=True)) == [None] * (
        Installation.objects.count()
    )
    assert Installation.objects.filter(device=device).count() == (
        2 if connection.vendor == "postgresql" else 1
    )
    device.delete()
    assert Installation.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_inventory_being_written_holds_its_device_and_products(org):
    """The rows' check locks what they name (FOR KEY SHARE) until the transaction ends, so a
    concurrent delete waits, and then finds the rows and is refused."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    device = make_device(org.unit_a)
    product = _matrix_product(org.unit_a)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    outcome: dict[str, str] = {}

    def delete(table: str, pk: int) -> None:
        with psycopg.connect(**params, autocommit=True) as other:
            other.execute("SET lock_timeout = '200ms'")
            try:
                other.execute(f"DELETE FROM {table} WHERE id = %s", [pk])
                outcome[table] = "deleted"
            except psycopg.errors.LockNotAvailable:
                outcome[table] = "waited"
            except psycopg.errors.ForeignKeyViolation:
                outcome[table] = "refused"

    def race(table: str, pk: int) -> None:
        thread = threading.Thread(target=delete, args=(table, pk))
        thread.start()
        thread.join()

    with transaction.atomic():
        services._insert_installations([row(device.pk, product.pk)])
        race("inventory_device", device.pk)
        race("catalog_product", product.pk)
    assert outcome == {"inventory_device": "waited", "catalog_product": "waited"}
    race("inventory_device", device.pk)
    race("catalog_product", product.pk)
    assert outcome == {"inventory_device": "refused", "catalog_product": "refused"}
    assert Installation.objects.filter(device=device, product=product).count() == 1
