from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InventoryConfig(AppConfig):
    name = "zhengban.inventory"
    label = "inventory"
    verbose_name = _("终端与软件清单")

    def ready(self) -> None:
        from zhengban.inventory import (  # noqa: F401  (menu entries, simulator part)
            catalog_provider,
            demo,
            home,
            navigation,
            simulate,
        )

        # The catalog's unrecognised queue, product pages and re-apply jobs read installs
        # through this (the catalog never imports inventory).
        catalog_provider.register()

        # SQLite's reference triggers (see triggers.py) around every migrate.
        from django.db.models.signals import post_migrate, pre_migrate

        # (Importing triggers also registers its system check.)
        from zhengban.inventory.triggers import create_sqlite_triggers, drop_sqlite_triggers

        pre_migrate.connect(drop_sqlite_triggers, sender=self)
        post_migrate.connect(create_sqlite_triggers, sender=self)
