import datetime

from django.utils.translation import gettext_lazy as _

from zhengban.core import home, navigation
from zhengban.inventory.views import can_enroll

navigation.register(_("终端与软件"), _("终端"), "inventory:device_list", order=20)
navigation.register(
    _("终端与软件"), _("客户端注册令牌"), "inventory:token_list", order=20, visible=can_enroll
)
navigation.register(
    _("终端与软件"), _("导入软件清单"), "inventory:import", order=20, visible=can_enroll
)


STALE_DAYS = 30


@home.register
def devices_panel(user) -> home.Panel | None:
    """Devices the person can see: how many, how many silent for a month, how many carry
    software the catalog does not know."""
    if not user.is_authenticated or user.is_platform_operator:
        return None
    from django.db.models import Exists, OuterRef
    from django.urls import reverse
    from django.utils import timezone

    from zhengban.inventory.models import Device, Installation

    devices = Device.objects.visible_to(user)
    total = devices.count()
    if not total:
        return None
    cutoff = timezone.now() - datetime.timedelta(days=STALE_DAYS)
    unrecognised = Installation.objects.filter(
        device=OuterRef("pk"), product__isnull=True, kind__in=["application", "os"]
    )
    url = reverse("inventory:device_list")
    return home.Panel(
        title=_("终端"),
        order=30,
        figures=[
            (_("终端总数"), total, url),
            (
                _("超过%(d)d天未上报") % {"d": STALE_DAYS},
                devices.filter(last_seen__lt=cutoff).count(),
                f"{url}?stale_days={STALE_DAYS}",
            ),
            (
                _("含未识别软件"),
                devices.filter(Exists(unrecognised)).count(),
                f"{url}?unrecognised=true",
            ),
        ],
    )
