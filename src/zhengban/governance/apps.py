from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GovernanceConfig(AppConfig):
    name = "zhengban.governance"
    label = "governance"
    verbose_name = _("软件使用管理")

    def ready(self) -> None:
        from zhengban.governance import (  # noqa: F401
            hooks,  # reacts to inventory ingests and licensing verdicts
            navigation,  # menu entries and home panels
            simulate,  # simulator part
        )
