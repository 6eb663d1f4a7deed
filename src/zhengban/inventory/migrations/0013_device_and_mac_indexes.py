"""Indexes that serve how devices are matched, and none that duplicate another.

- ``inventory_devicemac`` gets the device's unit, and one (unit, MAC) index in place of the
  (MAC) ones: an inventory is matched within its unit, and some MACs are the same on
  thousands of machines (VPN and host-only virtual adapters), so a lookup by MAC alone
  read every device of the province holding one of them.
- Dropped as duplicates: ``inventory_device (unit_id)``, which every (unit, …) index leads
  with; the plain (unit, agent id) index, as the partial unique one serves every lookup
  (never by an empty agent id); ``inventory_devicemac (device_id)``, led by the unique
  (device, MAC) index. Their foreign keys stay: only the indexes are dropped, so the
  constraints are not checked again over every row.
"""

import django.db.models.deletion
from django.db import migrations, models

FILL_UNITS = """
    UPDATE inventory_devicemac SET unit_id = (
        SELECT unit_id FROM inventory_device WHERE inventory_device.id = inventory_devicemac.device_id
    )
"""


def drop_index(name: str, table: str, column: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"DROP INDEX IF EXISTS {name}", f"CREATE INDEX {name} ON {table} ({column})"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0012_installation_references_checked_per_statement"),
        ("orgs", "0002_deploymentmeeting_meeting_unit_year_and_more"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="device", name="device_unit_agent_id"),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                drop_index("inventory_device_unit_id_a3f1ed77", "inventory_device", "unit_id"),
                drop_index(
                    "inventory_devicemac_device_id_5e4d4810", "inventory_devicemac", "device_id"
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="device",
                    name="unit",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="devices",
                        to="orgs.unit",
                        verbose_name="单位",
                    ),
                ),
                migrations.AlterField(
                    model_name="devicemac",
                    name="device",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="macs",
                        to="inventory.device",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="devicemac",
            name="unit",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="orgs.unit",
                verbose_name="单位",
            ),
        ),
        migrations.RunSQL(FILL_UNITS, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="devicemac",
            name="unit",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="orgs.unit",
                verbose_name="单位",
            ),
        ),
        migrations.AlterField(
            model_name="devicemac",
            name="mac",
            field=models.CharField(max_length=17, verbose_name="MAC地址"),
        ),
        migrations.AddIndex(
            model_name="devicemac",
            index=models.Index(fields=["unit", "mac"], name="devicemac_unit_mac"),
        ),
    ]
