"""SQLite's half of migration 0012: installed rows name an existing device and product.

PostgreSQL checks the references with statement-level triggers the migration creates.
SQLite has only row triggers, and they cannot live in a migration: SQLite alters a table by
rebuilding it (create a copy, drop, rename), and the rename fails while a trigger of another
table names the table being rebuilt. So these are dropped before every `migrate` and created
again after it (Django's pre_migrate/post_migrate signals: schema upkeep, not domain logic).

Deletes apply the models' on_delete (CASCADE for a device, SET NULL for a product) instead
of refusing as PostgreSQL does: SQLite's triggers cannot wait for the end of the
transaction as its deferred foreign keys did, and Django's flush empties tables in any order.
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import connections, router
from django.utils.translation import gettext_lazy as _

_MISSING = """
    NOT EXISTS (SELECT 1 FROM inventory_device WHERE id = NEW.device_id)
    OR (NEW.product_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM catalog_product WHERE id = NEW.product_id))
"""
_REFUSE = "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END"

SQLITE_TRIGGERS: dict[str, str] = {
    "inventory_installation_refs_insert": f"""
        BEFORE INSERT ON inventory_installation WHEN {_MISSING} {_REFUSE}""",
    "inventory_installation_refs_update": f"""
        BEFORE UPDATE OF device_id, product_id ON inventory_installation
        WHEN {_MISSING} {_REFUSE}""",
    "inventory_installation_device_kept": """
        AFTER DELETE ON inventory_device
        BEGIN DELETE FROM inventory_installation WHERE device_id = OLD.id; END""",
    "inventory_installation_product_kept": """
        AFTER DELETE ON catalog_product
        BEGIN UPDATE inventory_installation SET product_id = NULL WHERE product_id = OLD.id; END""",
    "inventory_installation_device_id_kept": f"""
        BEFORE UPDATE OF id ON inventory_device
        WHEN OLD.id IS NOT NEW.id
             AND EXISTS (SELECT 1 FROM inventory_installation WHERE device_id = OLD.id)
        {_REFUSE}""",
    "inventory_installation_product_id_kept": f"""
        BEFORE UPDATE OF id ON catalog_product
        WHEN OLD.id IS NOT NEW.id
             AND EXISTS (SELECT 1 FROM inventory_installation WHERE product_id = OLD.id)
        {_REFUSE}""",
}


def _sqlite(using: str) -> Any:
    """The connection ``using`` names if it is SQLite and holds inventory's tables."""
    connection = connections[using]
    if connection.vendor != "sqlite" or not router.allow_migrate(using, "inventory"):
        return None
    return connection


def drop_sqlite_triggers(*, using: str = "default", **kwargs: Any) -> None:
    connection = _sqlite(using)
    if connection is None:
        return
    with connection.cursor() as cursor:
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def create_sqlite_triggers(*, using: str = "default", apps: Any = None, **kwargs: Any) -> None:
    """After a migrate that leaves migration 0012 applied (the references without foreign
    keys); a database migrated back before it has its foreign keys again."""
    connection = _sqlite(using)
    if connection is None or apps is None:
        return
    try:
        installation = apps.get_model("inventory", "Installation")
    except LookupError:
        return
    if installation._meta.get_field("device").db_constraint:
        return
    with connection.cursor() as cursor:
        for name, body in SQLITE_TRIGGERS.items():
            cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")


def missing_sqlite_triggers(using: str = "default") -> list[str]:
    """The triggers a migrated SQLite database lacks: a migrate that failed before its
    post_migrate left the references unchecked until the next one succeeds."""
    from django.db.migrations.recorder import MigrationRecorder

    connection = _sqlite(using)
    if connection is None:
        return []
    applied = MigrationRecorder(connection).applied_migrations()
    if ("inventory", "0012_installation_references_checked_per_statement") not in applied:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {name for (name,) in cursor.fetchall()}
    return [name for name in SQLITE_TRIGGERS if name not in present]


@checks.register(checks.Tags.database)
def check_sqlite_triggers(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """`check --database default`, and `migrate` before it runs. A warning, not an error:
    the migrate it asks for is what creates the triggers again."""
    return [
        checks.Warning(
            _("SQLite 数据库缺少软件安装记录的引用检查触发器：%(names)s。")
            % {"names": ", ".join(missing)},
            hint=_("再运行一次 zhengban migrate 即可重建。"),
            id="inventory.W001",
        )
        for alias in databases or ()
        if (missing := missing_sqlite_triggers(alias))
    ]
