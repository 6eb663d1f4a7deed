"""Installed rows keep referring to an existing device and product, checked once per
statement instead of once per row.

A foreign key checks each inserted row on its own (one lookup and one row lock per row and
key): for a first inventory's ~900 rows that was ~30 % of PostgreSQL's time
(docs/ingest-storage.md, round 4). Triggers now do the same checks set-wise: after each
INSERT of installations (and UPDATE changing a reference), the distinct devices and
products the new rows name are locked FOR KEY SHARE (as a foreign key locks them, so they cannot be deleted before this
transaction ends) and counted; a missing one is refused with SQLSTATE 23503, which Django
raises as IntegrityError like a foreign key's. Deleting a device or product that installed
rows still name is refused too (the foreign keys' NO ACTION; Django's collector deletes the
rows or clears the product first, as before), and so are changing such a row's id and
truncating the table alone.

SQLite has no statement-level triggers; its row triggers do the same checks. They are not
created here but after every `migrate` (zhengban.inventory.triggers): SQLite rebuilds a
table to alter it, and a rebuild fails while triggers of other tables name it."""

from django.db import migrations, models
from django.db.models import deletion

POSTGRES = [
    # Insert/update side: the distinct ids the statement's rows name, checked and locked at once.
    """
    CREATE FUNCTION inventory_installation_check_refs(devices bigint[], products bigint[])
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        missing bigint;
    BEGIN
        IF cardinality(devices) > 0 AND (
            SELECT count(*) FROM (
                SELECT 1 FROM inventory_device WHERE id = ANY(devices) FOR KEY SHARE) AS locked
        ) <> cardinality(devices) THEN
            SELECT n INTO missing FROM unnest(devices) AS n
            WHERE NOT EXISTS (SELECT 1 FROM inventory_device d WHERE d.id = n) LIMIT 1;
            RAISE foreign_key_violation USING MESSAGE = format(
                'inventory_installation.device_id %s: no such inventory_device', missing);
        END IF;
        IF cardinality(products) > 0 AND (
            SELECT count(*) FROM (
                SELECT 1 FROM catalog_product WHERE id = ANY(products) FOR KEY SHARE) AS locked
        ) <> cardinality(products) THEN
            SELECT n INTO missing FROM unnest(products) AS n
            WHERE NOT EXISTS (SELECT 1 FROM catalog_product p WHERE p.id = n) LIMIT 1;
            RAISE foreign_key_violation USING MESSAGE = format(
                'inventory_installation.product_id %s: no such catalog_product', missing);
        END IF;
    END $$;
    """,
    """
    CREATE FUNCTION inventory_installation_refs_inserted() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        devices bigint[];
        products bigint[];
    BEGIN
        SELECT array_agg(DISTINCT device_id),
               array_agg(DISTINCT product_id) FILTER (WHERE product_id IS NOT NULL)
        INTO devices, products FROM new_rows;
        PERFORM inventory_installation_check_refs(devices, products);
        RETURN NULL;
    END $$;
    """,
    # As a foreign key does, an UPDATE checks (and locks) only the keys it changed: a
    # catalog re-apply setting products must not lock the devices of the rows it touches,
    # which an ingest holds FOR UPDATE while it rewrites their rows (a deadlock).
    """
    CREATE FUNCTION inventory_installation_refs_updated() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        devices bigint[];
        products bigint[];
    BEGIN
        SELECT array_agg(DISTINCT n.device_id) FILTER (WHERE n.device_id <> o.device_id),
               array_agg(DISTINCT n.product_id) FILTER (
                   WHERE n.product_id IS NOT NULL AND n.product_id IS DISTINCT FROM o.product_id)
        INTO devices, products
        FROM new_rows n JOIN old_rows o ON o.id = n.id;
        PERFORM inventory_installation_check_refs(devices, products);
        RETURN NULL;
    END $$;
    """,
    """
    CREATE TRIGGER inventory_installation_refs_insert AFTER INSERT ON inventory_installation
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_installation_refs_inserted();
    """,
    """
    CREATE TRIGGER inventory_installation_refs_update AFTER UPDATE ON inventory_installation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_installation_refs_updated();
    """,
    # Delete side. A statement run in a volatile PL/pgSQL function takes a fresh snapshot
    # at READ COMMITTED: a delete that waited for an inserting transaction's FOR KEY SHARE
    # lock sees its rows. An older snapshot (REPEATABLE READ, SERIALIZABLE) would not, so
    # such deletes are refused; the application always runs at READ COMMITTED.
    """
    CREATE FUNCTION inventory_installation_refs_kept() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        column_name text := TG_ARGV[0];
        still_named bigint;
    BEGIN
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE object_not_in_prerequisite_state USING MESSAGE = format(
                'rows of %s are deleted at READ COMMITTED only (inventory_installation.%s '
                'is checked with a fresh snapshot)', TG_TABLE_NAME, column_name);
        END IF;
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
    # TRUNCATE, as a foreign key: refused unless the rows naming the table go in the same
    # statement (Django's flush truncates every table at once). AFTER, so that such a
    # statement has already emptied inventory_installation when this looks.
    """
    CREATE FUNCTION inventory_installation_refs_truncated() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM inventory_installation
                   WHERE TG_ARGV[0] = 'device_id' OR product_id IS NOT NULL) THEN
            RAISE feature_not_supported USING MESSAGE = format(
                'cannot truncate %s: inventory_installation.%s names its rows',
                TG_TABLE_NAME, TG_ARGV[0]);
        END IF;
        RETURN NULL;
    END $$;
    """,
    """
    CREATE TRIGGER inventory_installation_device_truncated AFTER TRUNCATE ON inventory_device
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_installation_refs_truncated('device_id');
    """,
    """
    CREATE TRIGGER inventory_installation_product_truncated AFTER TRUNCATE ON catalog_product
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_installation_refs_truncated('product_id');
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
    "DROP TRIGGER IF EXISTS inventory_installation_device_truncated ON inventory_device;",
    "DROP TRIGGER IF EXISTS inventory_installation_product_truncated ON catalog_product;",
    "DROP FUNCTION IF EXISTS inventory_installation_refs_truncated();",
    "DROP FUNCTION IF EXISTS inventory_installation_refs_inserted();",
    "DROP FUNCTION IF EXISTS inventory_installation_refs_updated();",
    "DROP FUNCTION IF EXISTS inventory_installation_check_refs(bigint[], bigint[]);",
    "DROP FUNCTION IF EXISTS inventory_installation_refs_kept();",
    "DROP FUNCTION IF EXISTS inventory_installation_id_kept();",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES:
            # No parameters: the functions' format() strings hold "%s".
            schema_editor.execute(sql, None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES_REVERSE:
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
