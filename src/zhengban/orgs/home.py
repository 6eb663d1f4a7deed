"""Home-page panels of the orgs app: real figures for each kind of person."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengban.core import home
from zhengban.core.home import Panel
from zhengban.orgs.choices import NOT_STARTED_LABEL, PLATFORM_ROLES, Role, UnitType
from zhengban.orgs.models import DeploymentMeeting, OfficerListSubmission, Unit, User
from zhengban.orgs.responsibility import is_bureau_supervisor
from zhengban.orgs.submissions import bureau_progress

UNIT_OVERVIEW_ROLES = (Role.SAM_OFFICER, Role.HEAD, Role.APPROVER)


@home.register
def unit_panel(user: User) -> Panel | None:
    """Officer, approver and head: their unit at a glance, with this year's list."""
    if user.unit_id is None or not user.has_role(*UNIT_OVERVIEW_ROLES):
        return None
    unit, year = user.unit, timezone.localdate().year
    submission = OfficerListSubmission.objects.filter(unit=unit, year=year).first()
    status = submission.get_status_display() if submission else NOT_STARTED_LABEL
    submission_url = reverse("orgs:submission_unit", args=[unit.pk, year])
    meetings = DeploymentMeeting.objects.filter(unit=unit, year=year).count()
    rows = [
        (
            _("%(year)d年度具体负责人名单：%(status)s") % {"year": year, "status": status},
            submission_url,
        ),
        (_("第一责任人：%(name)s") % {"name": unit.head_name or "—"}, ""),
        (_("具体负责人：%(name)s") % {"name": unit.officer_name or "—"}, ""),
    ]
    if submission and submission.return_reason:
        rows.append((_("退回原因：%(r)s") % {"r": submission.return_reason}, submission_url))
    return Panel(
        title=_("本单位：%(name)s") % {"name": unit.name},
        order=10,
        figures=[
            (_("人员"), unit.people.filter(is_active=True).count(), unit.get_absolute_url()),
            (_("部门"), unit.departments.count(), unit.get_absolute_url()),
            (_("编制人数"), unit.headcount, ""),
            (_("本年部署会议"), meetings, unit.get_absolute_url()),
        ],
        rows=rows,
    )


# Depends on the person's unit, scope and roles only, and walks every unit of the region
# (seconds for a province): cached per scope (see core.home).
@home.register(cache="scope")
def supervisor_panel(user: User) -> Panel | None:
    """Bureau supervisors and other region roles: the region's units and this year's lists."""
    if user.unit_id is None or not user.has_role(Role.SUPERVISOR, Role.FINANCE, Role.AUDITOR):
        return None
    units = Unit.objects.visible_to(user)
    by_type = dict(units.values_list("unit_type").annotate(n=Count("id")).order_by())
    unit_list = reverse("orgs:unit_list")
    figures = [(_("辖区单位"), sum(by_type.values()), unit_list)]
    for value, label in UnitType.choices:
        if by_type.get(value):
            figures.append((str(label), by_type[value], f"{unit_list}?unit_type={value}"))
    rows: list[tuple[str, str]] = []
    bureau = user.unit
    if is_bureau_supervisor(user, bureau):
        year = timezone.localdate().year
        progress = bureau_progress(bureau=bureau, year=year)
        url = f"{reverse('orgs:bureau_submissions', args=[bureau.pk])}?year={year}"
        figures.append((_("名单已报送"), progress.done, url))
        figures.append((_("名单未报送"), len(progress.late), f"{url}&status=not_started"))
        rows.append(
            (
                _(
                    "%(year)d年度具体负责人名单：应报%(total)d个，已报送%(done)d个（%(pct)d%%），待接收%(wait)d个"
                )
                % {
                    "year": year,
                    "total": progress.total,
                    "done": progress.done,
                    "pct": progress.percent,
                    "wait": progress.count("submitted"),
                },
                url,
            )
        )
    rows.append(
        (_("行政区划：%(r)s") % {"r": user.unit.region}, user.unit.region.get_absolute_url())
    )
    return Panel(title=_("辖区概况"), order=10, figures=figures, rows=rows)


def _locked_accounts() -> int | None:
    try:
        from axes.models import AccessAttempt
    except ImportError:  # pragma: no cover - axes is a pinned dependency
        return None
    limit = getattr(settings, "AXES_FAILURE_LIMIT", 5)
    return (
        AccessAttempt.objects.filter(failures_since_start__gte=limit)
        .values("username")
        .distinct()
        .count()
    )


@home.register
def platform_panel(user: User) -> Panel | None:
    """三员: account figures (none of them sees business data)."""
    if not (user.role_set & PLATFORM_ROLES):
        return None
    people = User.objects.all()
    figures = [
        (_("账号"), people.count(), ""),
        (_("启用"), people.filter(is_active=True).count(), ""),
        (_("停用"), people.filter(is_active=False).count(), ""),
    ]
    locked = _locked_accounts()
    if locked is not None:
        figures.append((_("锁定"), locked, ""))
    figures.append((_("单位"), Unit.objects.count(), reverse("orgs:unit_list")))
    return Panel(title=_("平台账号"), order=10, figures=figures)


@home.register
def me_panel(user: User) -> Panel | None:
    """Everyone in a unit: who the platform thinks they are."""
    if user.unit_id is None:
        return None
    roles = "、".join(str(Role(r).label) for r in sorted(user.role_set)) or "—"
    rows = [
        (_("单位：%(u)s") % {"u": user.unit}, user.unit.get_absolute_url()),
        (_("部门：%(d)s") % {"d": user.department or "—"}, ""),
        (_("角色：%(r)s") % {"r": roles}, ""),
    ]
    if user.unit.officer_name:
        rows.append(
            (
                _("本单位软件正版化具体负责人：%(n)s %(p)s")
                % {"n": user.unit.officer_name, "p": user.unit.officer_phone},
                "",
            )
        )
    return Panel(title=_("我的信息"), order=90, rows=rows)
