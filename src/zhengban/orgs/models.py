from __future__ import annotations

from functools import cached_property

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from zhengban.core.models import TimeStampedModel
from zhengban.core.scoping import Scope, ScopedQuerySet
from zhengban.orgs.choices import (
    PLATFORM_ROLES,
    REGION_ROLES,
    UNIT_VIEW_ROLES,
    MechanismRole,
    RegionLevel,
    Role,
    SubmissionStatus,
    UnitType,
)
from zhengban.orgs.validators import validate_credit_code, validate_region_code


class Region(TimeStampedModel):
    """An administrative division (GB/T 2260)."""

    code = models.CharField(
        _("行政区划代码"), max_length=6, unique=True, validators=[validate_region_code]
    )
    name = models.CharField(_("名称"), max_length=100)
    level = models.CharField(_("层级"), max_length=16, choices=RegionLevel.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("上级区划"),
    )
    # Materialised path of codes ("/370000/370100/"): subtree queries are one prefix match.
    path = models.CharField(_("路径"), max_length=200, unique=True, editable=False)

    objects = ScopedQuerySet.as_manager()
    scope_region_path = ""

    class Meta:
        ordering = ["path"]
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        constraints = [
            models.CheckConstraint(
                condition=Q(level__in=RegionLevel.values), name="region_level_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("orgs:region_detail", args=[self.pk])

    @property
    def depth(self) -> int:
        return self.path.count("/") - 1


class Unit(TimeStampedModel):
    """A body under the legalisation rules (§十一): agency, institution, organisation."""

    name = models.CharField(_("单位名称"), max_length=200)
    credit_code = models.CharField(
        _("统一社会信用代码"), max_length=18, unique=True, validators=[validate_credit_code]
    )
    unit_type = models.CharField(_("单位类型"), max_length=32, choices=UnitType.choices)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="units", verbose_name=_("行政区划")
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="affiliates",
        verbose_name=_("上级单位"),
    )
    # Materialised path of ids ("/12/40/"), so a unit's affiliated bodies are a prefix match.
    path = models.CharField(_("路径"), max_length=255, blank=True, db_index=True, editable=False)
    headcount = models.PositiveIntegerField(_("编制人数"), default=0)
    is_copyright_bureau = models.BooleanField(_("著作权行政管理部门"), default=False)
    address = models.CharField(_("地址"), max_length=200, blank=True)

    # §一: responsibility.
    head_name = models.CharField(_("第一责任人"), max_length=50, blank=True)
    head_post = models.CharField(_("第一责任人职务"), max_length=100, blank=True)
    lead_department = models.ForeignKey(
        "Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("牵头部门"),
    )
    officer_name = models.CharField(_("具体负责人"), max_length=50, blank=True)
    officer_post = models.CharField(_("具体负责人职务"), max_length=100, blank=True)
    officer_phone = models.CharField(_("具体负责人电话"), max_length=30, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = ""

    class Meta:
        ordering = ["region__path", "name"]
        verbose_name = _("单位")
        verbose_name_plural = _("单位")
        constraints = [
            models.UniqueConstraint(
                fields=["region"],
                condition=Q(is_copyright_bureau=True),
                name="one_copyright_bureau_per_region",
            ),
            models.CheckConstraint(
                condition=Q(unit_type__in=UnitType.values), name="unit_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("orgs:unit_detail", args=[self.pk])


class Department(TimeStampedModel):
    unit = models.ForeignKey(
        Unit, on_delete=models.CASCADE, related_name="departments", verbose_name=_("单位")
    )
    name = models.CharField(_("部门名称"), max_length=100)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"

    class Meta:
        ordering = ["unit", "name"]
        verbose_name = _("部门")
        verbose_name_plural = _("部门")
        constraints = [
            models.UniqueConstraint(fields=["unit", "name"], name="department_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class ScopedUserManager(UserManager.from_queryset(ScopedQuerySet)):
    pass


class User(AbstractUser):
    """A person: staff member, officer, supervisor or platform operator."""

    full_name = models.CharField(_("姓名"), max_length=50, blank=True)
    unit = models.ForeignKey(
        Unit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="people",
        verbose_name=_("单位"),
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="people",
        verbose_name=_("部门"),
    )
    post = models.CharField(_("职务"), max_length=100, blank=True)
    phone = models.CharField(_("电话"), max_length=30, blank=True)

    objects = ScopedUserManager()
    scope_unit_path = "unit"

    class Meta:
        ordering = ["username"]
        verbose_name = _("人员")
        verbose_name_plural = _("人员")

    def __str__(self) -> str:
        return self.full_name or self.username

    @cached_property
    def role_set(self) -> frozenset[str]:
        if not self.pk:
            return frozenset()
        return frozenset(self.role_grants.values_list("role", flat=True))

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_set.intersection(roles))

    @property
    def is_platform_operator(self) -> bool:
        return bool(self.role_set & PLATFORM_ROLES)

    @cached_property
    def scope(self) -> Scope:
        if not self.is_active:
            return Scope.nothing()
        if self.is_superuser or self.is_platform_operator:
            return Scope.everything()
        unit = self.unit
        if unit is None:
            return Scope.nothing()
        if self.role_set & REGION_ROLES:
            region = unit.region
            return Scope("region", region_path=region.path, region_id=region.pk)
        # Without a unit-wide role only the person's own rows (``scope_person_path``): a
        # role-less account too, so that revoking 软件使用人 never widens what one sees.
        own = None if self.role_set & UNIT_VIEW_ROLES else self.pk
        return Scope(
            "unit", unit_path=unit.path, unit_id=unit.pk, region_id=unit.region_id, person_id=own
        )


class RoleGrant(models.Model):
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="role_grants", verbose_name=_("人员")
    )
    role = models.CharField(_("角色"), max_length=32, choices=Role.choices)
    granted = models.DateTimeField(_("授予时间"), auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "user__unit"

    class Meta:
        ordering = ["user", "role"]
        verbose_name = _("角色授予")
        verbose_name_plural = _("角色授予")
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="role_grant_unique"),
            # Separation of duties (三员分立): at most one platform-operator role per account.
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(role__in=sorted(PLATFORM_ROLES)),
                name="one_platform_role_per_user",
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class MechanismMember(TimeStampedModel):
    """A member of a region's working mechanism: leading body members and member units."""

    region = models.ForeignKey(
        Region, on_delete=models.CASCADE, related_name="mechanism", verbose_name=_("行政区划")
    )
    role = models.CharField(_("职责类别"), max_length=16, choices=MechanismRole.choices)
    person_name = models.CharField(_("姓名"), max_length=50, blank=True)
    post = models.CharField(_("职务"), max_length=100, blank=True)
    unit = models.ForeignKey(
        Unit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="mechanism_roles",
        verbose_name=_("所在/成员单位"),
    )
    duties = models.TextField(_("工作职责"), blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_region_path = "region"

    class Meta:
        ordering = ["region", "role", "id"]
        verbose_name = _("工作机制成员")
        verbose_name_plural = _("工作机制成员")
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=MechanismRole.values), name="mechanism_role_valid"
            ),
            # A member unit names a unit; a leading-body member names a person.
            models.CheckConstraint(
                condition=(Q(role=MechanismRole.MEMBER_UNIT) & Q(unit__isnull=False))
                | (~Q(role=MechanismRole.MEMBER_UNIT) & ~Q(person_name="")),
                name="mechanism_member_complete",
            ),
        ]

    def __str__(self) -> str:
        return self.person_name or str(self.unit)


class DeploymentMeeting(TimeStampedModel):
    """A yearly deployment (部署) meeting of a unit (§一)."""

    unit = models.ForeignKey(
        Unit, on_delete=models.CASCADE, related_name="meetings", verbose_name=_("单位")
    )
    year = models.PositiveSmallIntegerField(_("年度"))
    date = models.DateField(_("日期"))
    title = models.CharField(_("会议名称"), max_length=200)
    attendees = models.TextField(_("参会人员"), blank=True)
    minutes = models.FileField(_("会议纪要"), upload_to="meetings/%Y/", blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name = _("部署会议")
        verbose_name_plural = _("部署会议")
        indexes = [models.Index(fields=["unit", "year"], name="meeting_unit_year")]
        constraints = [
            models.CheckConstraint(
                condition=Q(year__gte=2000, year__lte=2100), name="meeting_year_range"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class OfficerListSubmission(TimeStampedModel):
    """The year-end list of 具体负责人 a unit sends to its same-level copyright bureau."""

    unit = models.ForeignKey(
        Unit, on_delete=models.CASCADE, related_name="officer_submissions", verbose_name=_("单位")
    )
    year = models.PositiveSmallIntegerField(_("年度"))
    status = models.CharField(
        _("状态"), max_length=16, choices=SubmissionStatus.choices, default=SubmissionStatus.DRAFT
    )
    # [{"name", "post", "phone", "department"}], frozen at submission.
    officers = models.JSONField(_("负责人名单"), default=list)
    submitted_at = models.DateTimeField(_("报送时间"), null=True, blank=True)
    submitted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    decided_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    return_reason = models.TextField(_("退回原因"), blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"

    class Meta:
        ordering = ["-year", "unit"]
        verbose_name = _("具体负责人名单报送")
        verbose_name_plural = _("具体负责人名单报送")
        constraints = [
            models.UniqueConstraint(fields=["unit", "year"], name="officer_submission_unique"),
            models.CheckConstraint(
                condition=Q(status__in=SubmissionStatus.values), name="submission_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="returned") | ~Q(return_reason=""),
                name="returned_submission_has_reason",
            ),
            # Anything past a draft was submitted by someone at some time.
            models.CheckConstraint(
                condition=Q(status=SubmissionStatus.DRAFT) | Q(submitted_at__isnull=False),
                name="submission_has_submitted_at",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[SubmissionStatus.RECEIVED, SubmissionStatus.RETURNED])
                | Q(decided_at__isnull=False),
                name="decided_submission_has_decided_at",
            ),
            models.CheckConstraint(
                condition=Q(year__gte=2000, year__lte=2100), name="submission_year_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.unit} {self.year}"
