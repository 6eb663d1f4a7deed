"""Home-page panel of the inventory app: the devices a person can see."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengban.core import home
from zhengban.inventory.models import Device, Installation

STALE_DAYS = 30


# Depends on the person's scope only, and a province-wide scope scans every device and its
# installations: cached per scope (see core.home).
@home.register(cache="scope")
def devices_panel(user: Any) -> home.Panel | None:
    """Devices in service the person can see: how many, how many silent for a month, how many carry
    software the catalog does not know."""
    if not user.is_authenticated or user.is_platform_operator:
        return None
    # Retired machines are out of every figure, as out of the list these link to.
    devices = Device.objects.in_service().visible_to(user)
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
