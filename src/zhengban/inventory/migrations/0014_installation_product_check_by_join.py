"""The per-statement reference check (migration 0012) finds the products an insert names
by a join to the unnested array, not by ``id = ANY(array)``.

After its first five calls in a session, PL/pgSQL may keep one generic plan of the check,
with the array as a parameter. For that plan ``id = ANY($1)`` can neither use a hash of
the array nor count its elements, so PostgreSQL read every product and compared it with
each of the array's, more with every product a catalog gains. The join probes the primary
key once per element of the array (or hashes it), whatever the catalog's size. One check
of an inventory naming 53 of 1,236 products took 0.76 ms; now 0.33 ms (about 2 % of a
first inventory's PostgreSQL CPU). Devices are checked the same way; an insert names one
device (an import, a few).
"""

from importlib import import_module

from django.db import migrations

CHECK = """
CREATE OR REPLACE FUNCTION inventory_installation_check_refs(devices bigint[], products bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    IF cardinality(devices) > 0 AND (
        SELECT count(*) FROM (
            SELECT 1 FROM inventory_device d JOIN unnest(devices) AS n(id) ON d.id = n.id
            FOR KEY SHARE OF d) AS locked
    ) <> cardinality(devices) THEN
        SELECT n INTO missing FROM unnest(devices) AS n
        WHERE NOT EXISTS (SELECT 1 FROM inventory_device d WHERE d.id = n) LIMIT 1;
        RAISE foreign_key_violation USING MESSAGE = format(
            'inventory_installation.device_id %s: no such inventory_device', missing);
    END IF;
    IF cardinality(products) > 0 AND (
        SELECT count(*) FROM (
            SELECT 1 FROM catalog_product p JOIN unnest(products) AS n(id) ON p.id = n.id
            FOR KEY SHARE OF p) AS locked
    ) <> cardinality(products) THEN
        SELECT n INTO missing FROM unnest(products) AS n
        WHERE NOT EXISTS (SELECT 1 FROM catalog_product p WHERE p.id = n) LIMIT 1;
        RAISE foreign_key_violation USING MESSAGE = format(
            'inventory_installation.product_id %s: no such catalog_product', missing);
    END IF;
END $$;
"""


def _check_0012() -> str:
    """Migration 0012's text of the function, for going back: its first statement."""
    module = import_module(
        "zhengban.inventory.migrations.0012_installation_references_checked_per_statement"
    )
    return module.POSTGRES[0].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CHECK, None)  # no parameters: format() strings hold "%s"


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_check_0012(), None)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0013_device_and_mac_indexes")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
