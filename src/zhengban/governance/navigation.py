"""Menu entries and home-page panels of software use."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhengban.core import home, navigation
from zhengban.orgs.choices import Role

GROUP = gettext_lazy("软件使用")


def _in_unit(user: Any) -> bool:
    return user.unit_id is not None


def _approver(user: Any) -> bool:
    return user.has_role(Role.APPROVER, Role.SAM_OFFICER, Role.HEAD)


def _officer(user: Any) -> bool:
    return user.is_superuser or user.has_role(Role.SAM_OFFICER, Role.SUPERVISOR)


def _overseer(user: Any) -> bool:
    return user.is_superuser or user.has_role(
        Role.SAM_OFFICER, Role.APPROVER, Role.HEAD, Role.SUPERVISOR
    )


def _supervisor(user: Any) -> bool:
    return user.is_superuser or user.has_role(Role.SUPERVISOR, Role.SAM_OFFICER, Role.HEAD)


navigation.register(GROUP, gettext_lazy("我的软件"), "governance:mine", order=40, visible=_in_unit)
navigation.register(
    GROUP, gettext_lazy("待我审批"), "governance:request_queue", order=40, visible=_approver
)
navigation.register(
    GROUP, gettext_lazy("使用申请"), "governance:request_list", order=40, visible=_in_unit
)
navigation.register(
    GROUP, gettext_lazy("配置规范"), "governance:spec_list", order=40, visible=_officer
)
navigation.register(
    GROUP, gettext_lazy("违规"), "governance:violation_list", order=40, visible=_overseer
)
navigation.register(
    GROUP, gettext_lazy("自查上报"), "governance:campaign_list", order=40, visible=_in_unit
)
navigation.register(
    GROUP, gettext_lazy("违规统计"), "governance:rates", order=40, visible=_supervisor
)


def _queue_admin(user: Any) -> bool:
    from zhengban.governance.services import can_manage_inventory_queue

    return can_manage_inventory_queue(user)


# With the platform's other operator pages (账号管理, 审计日志), not under 软件使用: the
# 系统管理员 has no unit and sees none of software use's entries.
navigation.register(
    gettext_lazy("系统"),
    gettext_lazy("待处理清单队列"),
    "governance:inventory_queue",
    order=90,
    visible=_queue_admin,
)


@home.register
def governance_panel(user: Any) -> home.Panel | None:
    from zhengban.governance import services
    from zhengban.governance.choices import OPEN_STATUSES, RequestStatus

    if user.unit_id is None and not user.is_superuser:
        return None
    panel = home.Panel(title=_("软件使用"), order=40)
    if _approver(user):
        queue = services.awaiting_decision_by(user).count()
        panel.figures.append((_("待我审批"), queue, reverse("governance:request_queue")))
    if _overseer(user):
        # A count over the whole scope (a province's violations): reused like a scope-cached
        # panel, while the person's own queue and requests below stay exact.
        open_v = home.scope_figure(
            panel,
            user,
            "governance.open_violations",
            lambda: services.visible_violations(user).filter(status__in=OPEN_STATUSES).count(),
        )
        panel.figures.append((_("未解决违规"), open_v, reverse("governance:violation_list")))
    mine = services.visible_requests(user).filter(
        requester=user, status__in=[RequestStatus.PENDING, RequestStatus.APPROVED]
    )
    panel.figures.append((_("我的在办申请"), mine.count(), reverse("governance:mine")))
    return panel
