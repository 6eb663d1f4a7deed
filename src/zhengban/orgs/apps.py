from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgsConfig(AppConfig):
    name = "zhengban.orgs"
    label = "orgs"
    verbose_name = _("组织机构")

    def ready(self) -> None:
        from zhengban.orgs import (
            demo,  # noqa: F401  (registers the demo step)
            home,  # noqa: F401  (registers home-page panels)
            navigation,  # noqa: F401  (registers menu entries)
            signals,  # noqa: F401  (login audit records)
            simulate,  # noqa: F401  (simulator part)
        )
