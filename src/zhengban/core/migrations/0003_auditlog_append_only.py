"""Make the audit log append-only in the database itself: UPDATE and DELETE are refused
by triggers on both SQLite and PostgreSQL."""

from django.db import migrations

SQLITE = [
    """CREATE TRIGGER core_auditlogentry_no_update BEFORE UPDATE ON core_auditlogentry
       BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;""",
    """CREATE TRIGGER core_auditlogentry_no_delete BEFORE DELETE ON core_auditlogentry
       BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS core_auditlogentry_no_update;",
    "DROP TRIGGER IF EXISTS core_auditlogentry_no_delete;",
]
POSTGRES = [
    """CREATE OR REPLACE FUNCTION core_auditlogentry_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit log is append-only'; END; $$ LANGUAGE plpgsql;""",
    """CREATE TRIGGER core_auditlogentry_no_change BEFORE UPDATE OR DELETE ON core_auditlogentry
       FOR EACH ROW EXECUTE FUNCTION core_auditlogentry_append_only();""",
    """CREATE TRIGGER core_auditlogentry_no_truncate BEFORE TRUNCATE ON core_auditlogentry
       FOR EACH STATEMENT EXECUTE FUNCTION core_auditlogentry_append_only();""",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS core_auditlogentry_no_change ON core_auditlogentry;",
    "DROP TRIGGER IF EXISTS core_auditlogentry_no_truncate ON core_auditlogentry;",
    "DROP FUNCTION IF EXISTS core_auditlogentry_append_only();",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"sqlite": SQLITE, "postgresql": POSTGRES}.get(vendor, []):
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}.get(vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("core", "0002_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
