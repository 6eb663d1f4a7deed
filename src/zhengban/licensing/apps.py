from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LicensingConfig(AppConfig):
    name = "zhengban.licensing"
    label = "licensing"
    verbose_name = _("授权与合规")

    def ready(self) -> None:
        from zhengban.licensing import (  # noqa: F401
            demo,  # demo step
            hooks,  # recomputes after inventories
            navigation,  # menu entries and home panels
            simulate,  # simulator part
        )
