from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "zhengban.catalog"
    label = "catalog"
    verbose_name = _("软件目录")

    def ready(self) -> None:
        from zhengban.catalog import navigation  # noqa: F401  (registers menu entries)
        from zhengban.catalog.services import load_shipped_catalog_after_migrate

        # A freshly migrated database must already hold the shipped catalog, so that
        # `zhengban recognize` works right after `zhengban migrate`.
        post_migrate.connect(
            load_shipped_catalog_after_migrate, sender=self, dispatch_uid="catalog-shipped"
        )
