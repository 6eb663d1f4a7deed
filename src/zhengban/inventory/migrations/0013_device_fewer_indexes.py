"""Fewer indexes on devices, and room on each page for in-place updates.

An unchanged repeat, most of what a fleet sends, only moves ``last_seen``. While that
column was indexed, PostgreSQL wrote each such update as a new row version with a new
entry in every one of the table's twelve indexes. Without the index, and with free room
on the page (fillfactor), the update is HOT: the row changes on its page and no index is
touched. Two more indexes duplicated others: ``(unit_id)`` leads every (unit, …) index,
and the plain (unit, agent id) index the partial unique one, as lookups are never by an
empty agent id. The fillfactor applies to pages written from now on.
"""

import django.db.models.deletion
from django.db import migrations, models

FILLFACTOR = 85


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE inventory_device SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE inventory_device RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0012_installation_references_checked_per_statement"),
        ("orgs", "0002_deploymentmeeting_meeting_unit_year_and_more"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="device",
            name="device_unit_agent_id",
        ),
        migrations.AlterField(
            model_name="device",
            name="last_seen",
            field=models.DateTimeField(verbose_name="最近上报"),
        ),
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
        migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False),
    ]
