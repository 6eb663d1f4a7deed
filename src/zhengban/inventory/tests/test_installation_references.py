"""Installed rows name an existing device and product, enforced by the database's triggers
(migration 0012) rather than foreign keys: on every insert path, on updates, and against
deletes, including a delete racing an inventory that is being written."""

from __future__ import annotations

import psycopg
import pytest
from django.core.management import call_command
from django.db import (
    IntegrityError,
    NotSupportedError,
    OperationalError,
    connection,
    transaction,
)
from django.utils import timezone

from zhengban.catalog.testing import _matrix_product
from zhengban.inventory import services
from zhengban.inventory.choices import InstallationKind
from zhengban.inventory.models import Device, Installation
from zhengban.inventory.testing import make_device, other_connection
from zhengban.inventory.triggers import SQLITE_TRIGGERS, check_sqlite_triggers

MISSING = 987_654_321


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
    """Whether the database refuses ``operation`` as a broken reference (on PostgreSQL
    SQLSTATE 23503, foreign_key_violation, as a foreign key would)."""
    try:
        with transaction.atomic():
            operation()
    except IntegrityError as error:
        if connection.vendor == "postgresql":
            assert error.__cause__.sqlstate == "23503", error
        else:
            assert str(error) == "FOREIGN KEY constraint failed", error
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
        # SQLite applies the models' on_delete itself (see inventory/triggers.py).
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


def delete_elsewhere(table: str, pk: int) -> str:
    """Delete a row from another connection, waiting at most 200 ms for locks."""
    with other_connection() as other:
        other.execute("SET lock_timeout = '200ms'")
        try:
            other.execute(f"DELETE FROM {table} WHERE id = %s", [pk])
        except psycopg.errors.LockNotAvailable:
            return "waited"
        except psycopg.errors.ForeignKeyViolation:
            return "refused"
        return "deleted"


@pytest.mark.django_db(transaction=True)
def test_an_inventory_being_written_holds_its_device_and_products(org):
    """The rows' check locks what they name (FOR KEY SHARE) until the transaction ends, so a
    concurrent delete waits, and then finds the rows and is refused. An update that moves
    rows to another product (a catalog re-apply) holds that product the same way."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    device = make_device(org.unit_a)
    product, later = _matrix_product(org.unit_a), _matrix_product(org.unit_a)
    with transaction.atomic():
        services._insert_installations([row(device.pk, product.pk)])
        assert delete_elsewhere("inventory_device", device.pk) == "waited"
        assert delete_elsewhere("catalog_product", product.pk) == "waited"
        Installation.objects.filter(device=device).update(product=later)
        assert delete_elsewhere("catalog_product", later.pk) == "waited"
    assert delete_elsewhere("inventory_device", device.pk) == "refused"
    assert delete_elsewhere("catalog_product", later.pk) == "refused"
    # No row names the first product any more.
    assert delete_elsewhere("catalog_product", product.pk) == "deleted"
    assert list(Installation.objects.values_list("device_id", "product_id")) == [
        (device.pk, later.pk)
    ]


@pytest.mark.django_db(transaction=True)
def test_an_update_checks_and_locks_only_the_references_it_changes(org):
    """As a foreign key: setting products (a catalog re-apply job) must not wait for the
    devices of the rows it touches, which an ingest may hold FOR UPDATE; moving rows to
    another device locks that device."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    device, other = make_device(org.unit_a), make_device(org.unit_a, "PC-REF-2")
    product = _matrix_product(org.unit_a)
    services._insert_installations([row(device.pk, None)])
    with other_connection() as holder:
        holder.execute("BEGIN")
        holder.execute(
            "SELECT id FROM inventory_device WHERE id IN (%s, %s) FOR UPDATE", [device.pk, other.pk]
        )
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        try:
            Installation.objects.filter(device=device).update(product=product)
            with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
                Installation.objects.filter(device=device).update(device=other)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
        holder.execute("ROLLBACK")
    assert list(Installation.objects.values_list("device_id", "product_id")) == [
        (device.pk, product.pk)
    ]


@pytest.mark.django_db(transaction=True)
def test_deletes_outside_read_committed_are_refused(org):
    """At REPEATABLE READ the delete's check would not see rows committed after its
    snapshot, which a foreign key's check would."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's triggers only")
    device = make_device(org.unit_a)
    with other_connection() as other:
        other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="READ COMMITTED"):
            other.execute("DELETE FROM inventory_device WHERE id = %s", [device.pk])
        other.execute("ROLLBACK")
        other.execute("DELETE FROM inventory_device WHERE id = %s", [device.pk])
    assert not Device.objects.filter(pk=device.pk).exists()


def trigger_names() -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT DISTINCT tgname FROM pg_trigger WHERE NOT tgisinternal"
                " AND tgname LIKE 'inventory_installation%'"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                " AND name LIKE 'inventory_installation%'"
            )
        return sorted(name for (name,) in cursor.fetchall())


def installation_foreign_keys() -> int:
    with connection.cursor() as cursor:
        return len(
            [
                c
                for c in connection.introspection.get_constraints(
                    cursor, "inventory_installation"
                ).values()
                if c["foreign_key"]
            ]
        )


POSTGRES_TRIGGERS = sorted(
    [
        *SQLITE_TRIGGERS,
        "inventory_installation_device_truncated",
        "inventory_installation_product_truncated",
    ]
)


@pytest.mark.django_db(transaction=True)
def test_migrating_back_and_forth(org):
    """Back before migration 0012 the foreign keys return and the triggers go; forward again
    the triggers return. On SQLite both directions rebuild tables that the triggers name,
    which fails unless they are dropped around the migrate (inventory.triggers)."""
    expected = POSTGRES_TRIGGERS if connection.vendor == "postgresql" else sorted(SQLITE_TRIGGERS)
    assert trigger_names() == expected
    assert installation_foreign_keys() == 0
    try:
        call_command("migrate", "inventory", "0011", verbosity=0)
        assert trigger_names() == []
        assert installation_foreign_keys() == 2
    finally:
        call_command("migrate", verbosity=0)
    assert trigger_names() == expected
    assert installation_foreign_keys() == 0
    device = make_device(org.unit_a)
    assert refused(lambda: services._insert_installations([row(device.pk, MISSING)]))


@pytest.mark.django_db
def test_sqlite_warns_when_its_triggers_are_missing(org):
    assert check_sqlite_triggers(databases=["default"]) == []
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER inventory_installation_refs_insert")
    [warning] = check_sqlite_triggers(databases=["default"])
    assert (warning.id, warning.msg) == (
        "inventory.W001",
        "SQLite 数据库缺少软件安装记录的引用检查触发器：inventory_installation_refs_insert。",
    )


@pytest.mark.django_db(transaction=True)
def test_truncating_what_rows_name_is_refused(org):
    """As a foreign key: alone, TRUNCATE of devices or products that rows name is refused;
    with the installed rows in the same statement (Django's flush) it goes through."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    device = make_device(org.unit_a)
    product = _matrix_product(org.unit_a)
    services._insert_installations([row(device.pk, product.pk)])
    for table in ("inventory_device", "catalog_product"):
        with pytest.raises(NotSupportedError, match=f"cannot truncate {table}"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {table} CASCADE")
    assert Installation.objects.count() == 1
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE inventory_installation, inventory_device CASCADE")
    assert Installation.objects.count() == Device.objects.count() == 0
