"""Installed rows keep referring to an existing device and product, checked once per
statement instead of once per row.

A foreign key checks each inserted row on its own (one lookup and one row lock per row and
key): for a first inventory's ~900 rows that was ~30 % of PostgreSQL's time
(docs/ingest-storage.md, round 4). Triggers now do the same checks set-wise: after each
INSERT or UPDATE of installations, the distinct devices and products the new rows name are
locked FOR KEY SHARE (as a foreign key locks them, so they cannot be deleted before this
transaction ends) and counted; a missing one is refused with SQLSTATE 23503, which Django
raises as IntegrityError like a foreign key's. Deleting a device or product that installed
rows still name is refused too (the foreign keys' NO ACTION; Django's collector deletes the
rows or clears the product first, as before), and so is changing such a row's id.

SQLite has no statement-level triggers; its row triggers do the same checks (it is the
embedded demo database, not the one a province runs). Its deletes keep the models'
on_delete instead of refusing (CASCADE for a device, SET NULL for a product), because
SQLite's triggers cannot wait for the end of the transaction as its deferred foreign keys
did, and Django's flush empties tables in any order.

A later migration that makes SQLite rebuild inventory_installation drops its triggers and
must create them again; test_installation_references fails until it does."""

from django.db import migrations, models
from django.db.models import deletion

POSTGRES = [
    # Insert/update side.
    """
    CREATE FUNCTION inventory_installation_refs_exist() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        missing bigint;
    BEGIN
        IF (SELECT count(*) FROM (
                SELECT 1 FROM inventory_device
                WHERE id IN (SELECT device_id FROM new_rows) FOR KEY SHARE) AS locked)
           <> (SELECT count(DISTINCT device_id) FROM new_rows) THEN
            SELECT n.device_id INTO missing FROM new_rows n
            WHERE NOT EXISTS (SELECT 1 FROM inventory_device d WHERE d.id = n.device_id)
            LIMIT 1;
            RAISE foreign_key_violation USING MESSAGE = format(
                'inventory_installation.device_id %s: no such inventory_device', missing);
        END IF;
        IF (SELECT count(*) FROM (
                SELECT 1 FROM catalog_product
                WHERE id IN (SELECT product_id FROM new_rows) FOR KEY SHARE) AS locked)
           <> (SELECT count(DISTINCT product_id) FROM new_rows) THEN
            SELECT n.product_id INTO missing FROM new_rows n
            WHERE n.product_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM catalog_product p WHERE p.id = n.product_id)
            LIMIT 1;
            RAISE foreign_key_violation USING MESSAGE = format(
                'inventory_installation.product_id %s: no such catalog_product', missing);
        END IF;
        RETURN NULL;
    END $$;
    """,
    """
    CREATE TRIGGER inventory_installation_refs_insert AFTER INSERT ON inventory_installation
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_installation_refs_exist();
    """,
    """
    CREATE TRIGGER inventory_installation_refs_update AFTER UPDATE ON inventory_installation
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_installation_refs_exist();
    """,
    # Delete side. A statement run in a volatile PL/pgSQL function takes a fresh snapshot:
    # a delete that waited for an inserting transaction's FOR KEY SHARE lock sees its rows.
    """
    CREATE FUNCTION inventory_installation_refs_kept() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        column_name text := TG_ARGV[0];
        still_named bigint;
    BEGIN
        EXECUTE format(
            'SELECT i.%I FROM inventory_installation i WHERE i.%I IN (SELECT id FROM old_rows) '
            'LIMIT 1', column_name, column_name)
        INTO still_named;
        IF still_named IS NOT NULL THEN
            RAISE foreign_key_violation USING MESSAGE = format(
                '%s %s is still named by inventory_installation.%s',
                TG_TABLE_NAME, still_named, column_name);
        END IF;
        RETURN NULL;
    END $$;
    """,
    """
    CREATE TRIGGER inventory_installation_device_kept AFTER DELETE ON inventory_device
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_installation_refs_kept('device_id');
    """,
    """
    CREATE TRIGGER inventory_installation_product_kept AFTER DELETE ON catalog_product
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_installation_refs_kept('product_id');
    """,
    # Nothing changes an id, but a foreign key would refuse it while rows name the old one.
    """
    CREATE FUNCTION inventory_installation_id_kept() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        named boolean;
    BEGIN
        IF TG_ARGV[0] = 'device_id' THEN
            named := EXISTS (SELECT 1 FROM inventory_installation WHERE device_id = OLD.id);
        ELSE
            named := EXISTS (SELECT 1 FROM inventory_installation WHERE product_id = OLD.id);
        END IF;
        IF named THEN
            RAISE foreign_key_violation USING MESSAGE = format(
                '%s %s is still named by inventory_installation', TG_TABLE_NAME, OLD.id);
        END IF;
        RETURN NEW;
    END $$;
    """,
    """
    CREATE TRIGGER inventory_installation_device_id_kept BEFORE UPDATE OF id ON inventory_device
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION inventory_installation_id_kept('device_id');
    """,
    """
    CREATE TRIGGER inventory_installation_product_id_kept BEFORE UPDATE OF id ON catalog_product
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION inventory_installation_id_kept('product_id');
    """,
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS inventory_installation_refs_insert ON inventory_installation;",
    "DROP TRIGGER IF EXISTS inventory_installation_refs_update ON inventory_installation;",
    "DROP TRIGGER IF EXISTS inventory_installation_device_kept ON inventory_device;",
    "DROP TRIGGER IF EXISTS inventory_installation_product_kept ON catalog_product;",
    "DROP TRIGGER IF EXISTS inventory_installation_device_id_kept ON inventory_device;",
    "DROP TRIGGER IF EXISTS inventory_installation_product_id_kept ON catalog_product;",
    "DROP FUNCTION IF EXISTS inventory_installation_refs_exist();",
    "DROP FUNCTION IF EXISTS inventory_installation_refs_kept();",
    "DROP FUNCTION IF EXISTS inventory_installation_id_kept();",
]

_SQLITE_MISSING = """
    NOT EXISTS (SELECT 1 FROM inventory_device WHERE id = NEW.device_id)
    OR (NEW.product_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM catalog_product WHERE id = NEW.product_id))
"""
SQLITE = [
    f"""
    CREATE TRIGGER inventory_installation_refs_insert BEFORE INSERT ON inventory_installation
    WHEN {_SQLITE_MISSING}
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END;
    """,
    f"""
    CREATE TRIGGER inventory_installation_refs_update
    BEFORE UPDATE OF device_id, product_id ON inventory_installation
    WHEN {_SQLITE_MISSING}
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END;
    """,
    """
    CREATE TRIGGER inventory_installation_device_kept AFTER DELETE ON inventory_device
    BEGIN DELETE FROM inventory_installation WHERE device_id = OLD.id; END;
    """,
    """
    CREATE TRIGGER inventory_installation_product_kept AFTER DELETE ON catalog_product
    BEGIN UPDATE inventory_installation SET product_id = NULL WHERE product_id = OLD.id; END;
    """,
    """
    CREATE TRIGGER inventory_installation_device_id_kept BEFORE UPDATE OF id ON inventory_device
    WHEN OLD.id IS NOT NEW.id
         AND EXISTS (SELECT 1 FROM inventory_installation WHERE device_id = OLD.id)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END;
    """,
    """
    CREATE TRIGGER inventory_installation_product_id_kept BEFORE UPDATE OF id ON catalog_product
    WHEN OLD.id IS NOT NEW.id
         AND EXISTS (SELECT 1 FROM inventory_installation WHERE product_id = OLD.id)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END;
    """,
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in (
        "inventory_installation_refs_insert",
        "inventory_installation_refs_update",
        "inventory_installation_device_kept",
        "inventory_installation_product_kept",
        "inventory_installation_device_id_kept",
        "inventory_installation_product_id_kept",
    )
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"sqlite": SQLITE, "postgresql": POSTGRES}.get(vendor, []):
        # No parameters: the functions' format() strings hold "%s".
        schema_editor.execute(sql, None)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}.get(vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_reapply_job"),
        ("inventory", "0011_installation_index_by_product_name_version"),
    ]

    operations = [
        migrations.AlterField(
            model_name="installation",
            name="device",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=deletion.CASCADE,
                related_name="installations",
                to="inventory.device",
            ),
        ),
        migrations.AlterField(
            model_name="installation",
            name="product",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=deletion.SET_NULL,
                related_name="installations",
                to="catalog.product",
                verbose_name="识别产品",
            ),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
