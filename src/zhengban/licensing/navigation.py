"""Menu entries and home-page panels of licensing and compliance."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhengban.core import home, navigation
from zhengban.core.scoping import user_scope

GROUP = gettext_lazy("授权与合规")


def _reader(user: Any) -> bool:
    from zhengban.licensing.views import can_read

    return can_read(user)


for label, url_name in (
    (gettext_lazy("合规状况"), "licensing:compliance"),
    (gettext_lazy("合规明细"), "licensing:result_list"),
    (gettext_lazy("采购合同"), "licensing:contract_list"),
    (gettext_lazy("软件授权"), "licensing:entitlement_list"),
    (gettext_lazy("授权分配"), "licensing:allocation_list"),
    (gettext_lazy("框架协议分配"), "licensing:share_list"),
    (gettext_lazy("台账与资产账卡"), "licensing:asset_cards"),
    (gettext_lazy("资产处置"), "licensing:disposal_list"),
    (gettext_lazy("授权与资产标准"), "licensing:policy"),
):
    navigation.register(GROUP, label, url_name, order=35, visible=_reader)


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


# Province-wide rates aggregate every position row: shared per scope for a few minutes.
@home.register(cache="scope")
def compliance_panel(user: Any) -> home.Panel | None:
    from zhengban.licensing import services
    from zhengban.licensing.models import CompliancePosition

    if not _reader(user):
        return None
    scope = user_scope(user)
    positions = CompliancePosition.objects.visible_to(user)
    rates = services.rates(positions)
    url = reverse("licensing:compliance")
    panel = home.Panel(title=_("正版化合规"), order=35, empty_text=_("暂无合规数据。"))
    if not rates.required.get("all"):
        return panel
    for key, label in (
        ("all", _("总体正版率")),
        ("os", _("操作系统")),
        ("office", _("办公软件")),
        ("antivirus", _("杀毒软件")),
    ):
        panel.figures.append((label, _percent(rates.rate(key)), url))
    shortfall = rates.required["all"] - rates.covered["all"]
    panel.figures.append(
        (_("未授权安装"), shortfall, reverse("licensing:result_list") + "?status=unlicensed")
    )
    if scope.kind != "unit":
        for row in services.rates_by_unit(positions, limit=5):
            panel.rows.append(
                (
                    _("%(name)s:正版率 %(rate)s,缺口 %(short)d")
                    % {
                        "name": row["name"],
                        "rate": _percent(row["rate"]),
                        "short": row["shortfall"],
                    },
                    reverse("licensing:compliance_unit", args=[row["unit_id"]]),
                )
            )
    return panel
