from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LicensingConfig(AppConfig):
    name = "zhengban.licensing"
    label = "licensing"
    verbose_name = _("授权与合规")
