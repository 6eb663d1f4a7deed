"""Software use (§四): configuration specs, install/uninstall requests with approval in steps,
violations raised from inventory changes, self-report campaigns and commitment letters."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from zhengban.catalog.choices import Category
from zhengban.core.models import TimeStampedModel
from zhengban.core.scoping import ScopedQuerySet, user_scope
from zhengban.governance.choices import (
    CampaignStatus,
    Difference,
    LineOrigin,
    RequestAction,
    RequestStatus,
    Resolution,
    RuleKind,
    SelfReportStatus,
    StepDecision,
    StepKind,
    ViolationKind,
    ViolationStatus,
)


def ancestor_paths(path: str) -> list[str]:
    """The path and every path above it: "/37/3701/" → ["/37/", "/37/3701/"]."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


class SpecQuerySet(models.QuerySet):
    """A unit's own specs follow the unit scope; a region template is visible to everyone
    in that region's subtree (its units adopt it) and to the bureaus above it."""

    def visible_to(self, user: Any) -> models.QuerySet:
        scope = user_scope(user)
        if scope.kind == "all":
            return self
        if scope.kind == "none":
            return self.none()
        if scope.kind == "region":
            own = Q(unit__region__path__startswith=scope.region_path)
            # A bureau sees the templates above it and those of the regions below it.
            templates = Q(region__path__in=ancestor_paths(scope.region_path)) | Q(
                region__path__startswith=scope.region_path
            )
        else:
            from zhengban.orgs.models import Region

            own = Q(unit__path__startswith=scope.unit_path)
            region_path = (
                Region.objects.filter(pk=scope.region_id).values_list("path", flat=True).first()
                or ""
            )
            # A unit sees the templates that apply to it: its region's and those above.
            templates = Q(region__path__in=ancestor_paths(region_path))
        return self.filter(own | (Q(unit__isnull=True) & templates))


class ConfigurationSpec(TimeStampedModel):
    """配置规范. Either a unit's own spec (unit-wide, or for one department or post) or a
    region template (region set, unit empty) published by the copyright bureau."""

    name = models.CharField(_("名称"), max_length=200)
    unit = models.ForeignKey(
        "orgs.Unit",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="configuration_specs",
        verbose_name=_("单位"),
    )
    region = models.ForeignKey(
        "orgs.Region",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="spec_templates",
        verbose_name=_("模板所属区划"),
    )
    department = models.ForeignKey(
        "orgs.Department",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="configuration_specs",
        verbose_name=_("适用部门"),
    )
    post = models.CharField(_("适用职务"), max_length=100, blank=True)
    description = models.TextField(_("说明"), blank=True)
    active = models.BooleanField(_("启用"), default=True)
    adopted_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="adoptions",
        verbose_name=_("采用的模板"),
    )

    objects = SpecQuerySet.as_manager()

    class Meta:
        ordering = ["unit", "department", "post", "name"]
        verbose_name = _("配置规范")
        verbose_name_plural = _("配置规范")
        constraints = [
            models.CheckConstraint(
                condition=(Q(unit__isnull=False) & Q(region__isnull=True))
                | (Q(unit__isnull=True) & Q(region__isnull=False)),
                name="spec_unit_xor_region",
            ),
            # A template applies to whole units; departments and posts are a unit's own.
            models.CheckConstraint(
                condition=Q(unit__isnull=False) | (Q(department__isnull=True) & Q(post="")),
                name="spec_template_unit_wide",
            ),
            models.CheckConstraint(
                condition=Q(department__isnull=True) | Q(post=""),
                name="spec_department_or_post",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_template(self) -> bool:
        return self.unit_id is None

    def get_absolute_url(self) -> str:
        return reverse("governance:spec_detail", args=[self.pk])


class SpecRule(models.Model):
    """One line of a spec: a product, a whole family or a whole category, and what it is."""

    spec = models.ForeignKey(
        ConfigurationSpec, on_delete=models.CASCADE, related_name="rules", verbose_name=_("规范")
    )
    kind = models.CharField(_("类型"), max_length=16, choices=RuleKind.choices)
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("产品"),
    )
    family = models.ForeignKey(
        "catalog.ProductFamily",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("产品系列"),
    )
    category = models.CharField(_("类别"), max_length=32, choices=Category.choices, blank=True)
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        ordering = ["spec", "kind", "id"]
        verbose_name = _("规范条目")
        verbose_name_plural = _("规范条目")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=RuleKind.values), name="rule_kind_valid"),
            models.CheckConstraint(
                condition=(Q(product__isnull=False) & Q(family__isnull=True) & Q(category=""))
                | (Q(product__isnull=True) & Q(family__isnull=False) & Q(category=""))
                | (Q(product__isnull=True) & Q(family__isnull=True) & ~Q(category="")),
                name="rule_one_target",
            ),
            # One line per target: a product cannot be both allowed and prohibited.
            models.UniqueConstraint(
                fields=["spec", "product"],
                condition=Q(product__isnull=False),
                name="rule_product_once",
            ),
            models.UniqueConstraint(
                fields=["spec", "family"],
                condition=Q(family__isnull=False),
                name="rule_family_once",
            ),
            models.UniqueConstraint(
                fields=["spec", "category"], condition=~Q(category=""), name="rule_category_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.target_label}"

    @property
    def target_label(self) -> str:
        if self.product_id:
            return str(self.product)
        if self.family_id:
            return str(self.family)
        return str(self.get_category_display())


class UnitWorkflow(models.Model):
    """A unit's approval settings; units without a row use the defaults."""

    unit = models.OneToOneField(
        "orgs.Unit", on_delete=models.CASCADE, related_name="request_workflow"
    )
    steps = models.JSONField(_("审批步骤"), default=list)
    step_days = models.PositiveSmallIntegerField(_("每步审批时限(天)"), default=3)
    window_days = models.PositiveSmallIntegerField(_("批准后执行期限(天)"), default=14)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"

    class Meta:
        verbose_name = _("审批流程")
        verbose_name_plural = _("审批流程")
        constraints = [
            models.CheckConstraint(condition=Q(step_days__gte=1), name="workflow_step_days"),
            models.CheckConstraint(condition=Q(window_days__gte=1), name="workflow_window_days"),
        ]

    def __str__(self) -> str:
        return f"{self.unit}"


class SoftwareRequest(TimeStampedModel):
    """软件使用需求申请表: install, uninstall or upgrade one product on one device."""

    unit = models.ForeignKey(
        "orgs.Unit", on_delete=models.PROTECT, related_name="software_requests"
    )
    department = models.ForeignKey(
        "orgs.Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("部门"),
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="software_requests",
        verbose_name=_("申请人"),
    )
    device = models.ForeignKey(
        "inventory.Device",
        on_delete=models.SET_NULL,
        null=True,
        related_name="software_requests",
        verbose_name=_("终端"),
    )
    action = models.CharField(_("申请事项"), max_length=16, choices=RequestAction.choices)
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.PROTECT, related_name="+", verbose_name=_("软件")
    )
    reason = models.TextField(_("申请理由"))
    status = models.CharField(
        _("状态"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    submitted_at = models.DateTimeField(_("提交时间"))
    decided_at = models.DateTimeField(_("审批完成时间"), null=True, blank=True)
    window_until = models.DateTimeField(_("执行截止"), null=True, blank=True)
    fulfilled_at = models.DateTimeField(_("执行时间"), null=True, blank=True)
    installation = models.ForeignKey(
        "inventory.Installation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("对应安装"),
    )
    event = models.ForeignKey(
        "inventory.InstallationEvent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("对应变更"),
    )

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"
    scope_person_path = "requester"

    class Meta:
        ordering = ["-submitted_at", "-id"]
        verbose_name = _("软件使用需求申请")
        verbose_name_plural = _("软件使用需求申请")
        indexes = [models.Index(fields=["device", "status"], name="request_device_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=RequestAction.values), name="request_action_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=RequestStatus.values), name="request_status_valid"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="request_has_reason"),
            models.CheckConstraint(
                condition=~Q(status__in=[RequestStatus.APPROVED, RequestStatus.FULFILLED])
                | (Q(window_until__isnull=False) & Q(decided_at__isnull=False)),
                name="approved_request_has_window",
            ),
            models.CheckConstraint(
                condition=~Q(status=RequestStatus.FULFILLED) | Q(fulfilled_at__isnull=False),
                name="fulfilled_request_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_action_display()} {self.product}"

    def get_absolute_url(self) -> str:
        return reverse("governance:request_detail", args=[self.pk])


class ApprovalStep(models.Model):
    request = models.ForeignKey(SoftwareRequest, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("顺序"))
    kind = models.CharField(_("审批环节"), max_length=20, choices=StepKind.choices)
    decision = models.CharField(
        _("审批结果"), max_length=16, choices=StepDecision.choices, default=StepDecision.WAITING
    )
    activated_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    due = models.DateTimeField(_("审批时限"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("最近催办"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("审批人"),
    )
    decided_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    comment = models.TextField(_("审批意见"), blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "request__unit"
    scope_person_path = "request__requester"

    class Meta:
        ordering = ["request", "position"]
        verbose_name = _("审批环节")
        verbose_name_plural = _("审批环节")
        constraints = [
            models.UniqueConstraint(fields=["request", "position"], name="step_position_unique"),
            models.CheckConstraint(condition=Q(kind__in=StepKind.values), name="step_kind_valid"),
            models.CheckConstraint(
                condition=Q(decision__in=StepDecision.values), name="step_decision_valid"
            ),
            models.CheckConstraint(
                condition=~Q(decision=StepDecision.PENDING) | Q(due__isnull=False),
                name="pending_step_has_due",
            ),
            models.CheckConstraint(
                condition=~Q(decision__in=[StepDecision.APPROVED, StepDecision.REJECTED])
                | (Q(decided_by__isnull=False) & Q(decided_at__isnull=False)),
                name="decided_step_has_decider",
            ),
            # At most one step of a request waits for a decision at a time.
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(decision=StepDecision.PENDING),
                name="one_pending_step_per_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}/{self.position} {self.get_kind_display()}"


class Violation(TimeStampedModel):
    """违规: found by comparing inventory changes with the spec, approvals and licences."""

    unit = models.ForeignKey("orgs.Unit", on_delete=models.PROTECT, related_name="violations")
    device = models.ForeignKey(
        "inventory.Device",
        on_delete=models.SET_NULL,
        null=True,
        related_name="violations",
        verbose_name=_("终端"),
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="violations",
        verbose_name=_("使用人"),
    )
    person_name = models.CharField(_("使用人姓名"), max_length=50, blank=True)
    kind = models.CharField(_("违规类型"), max_length=24, choices=ViolationKind.choices)
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("软件"),
    )
    software_name = models.CharField(_("软件名称"), max_length=512)
    software_version = models.CharField(_("版本"), max_length=128, blank=True)
    installation = models.ForeignKey(
        "inventory.Installation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # What makes two findings "the same": the product, or the raw name when unrecognised.
    key = models.CharField(_("去重键"), max_length=600)
    first_seen = models.DateTimeField(_("首次发现"))
    last_seen = models.DateTimeField(_("最近发现"))
    status = models.CharField(
        _("状态"), max_length=16, choices=ViolationStatus.choices, default=ViolationStatus.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_violations",
        verbose_name=_("处理人"),
    )
    explanation = models.TextField(_("情况说明"), blank=True)
    explained_at = models.DateTimeField(_("说明时间"), null=True, blank=True)
    resolution = models.CharField(
        _("处理结果"), max_length=16, choices=Resolution.choices, blank=True
    )
    resolved_at = models.DateTimeField(_("解决时间"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("处理人"),
    )
    request = models.ForeignKey(
        SoftwareRequest,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="violations",
        verbose_name=_("补办申请"),
    )
    note = models.TextField(_("处理说明"), blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"
    # The person it was found on, and whoever it was handed to for handling.
    scope_person_path = ("person", "assignee")

    class Meta:
        ordering = ["-first_seen", "-id"]
        verbose_name = _("违规")
        verbose_name_plural = _("违规")
        indexes = [models.Index(fields=["unit", "status"], name="violation_unit_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ViolationKind.values), name="violation_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ViolationStatus.values), name="violation_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(resolution__in=["", *Resolution.values]),
                name="violation_resolution_valid",
            ),
            # Resolved exactly when it carries a resolution and a time.
            models.CheckConstraint(
                condition=(
                    Q(status=ViolationStatus.RESOLVED)
                    & ~Q(resolution="")
                    & Q(resolved_at__isnull=False)
                )
                | (~Q(status=ViolationStatus.RESOLVED) & Q(resolution="")),
                name="violation_resolution_consistent",
            ),
            models.CheckConstraint(
                condition=~Q(status=ViolationStatus.EXPLAINED) | ~Q(explanation=""),
                name="explained_violation_has_text",
            ),
            # The same finding on the same device is raised once while it is unresolved.
            models.UniqueConstraint(
                fields=["device", "kind", "key"],
                condition=~Q(status=ViolationStatus.RESOLVED),
                name="violation_open_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.software_name}"

    def get_absolute_url(self) -> str:
        return reverse("governance:violation_detail", args=[self.pk])


class SelfReportCampaign(TimeStampedModel):
    """软件使用人定期自查上报: a round in which every person of a unit confirms their software."""

    unit = models.ForeignKey(
        "orgs.Unit", on_delete=models.CASCADE, related_name="self_report_campaigns"
    )
    title = models.CharField(_("名称"), max_length=200)
    opens = models.DateField(_("开始日期"))
    due = models.DateField(_("截止日期"))
    status = models.CharField(
        _("状态"), max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"

    class Meta:
        ordering = ["-opens", "-id"]
        verbose_name = _("自查上报")
        verbose_name_plural = _("自查上报")
        constraints = [
            models.CheckConstraint(condition=Q(due__gte=models.F("opens")), name="campaign_dates"),
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("governance:campaign_detail", args=[self.pk])


class SelfReport(models.Model):
    campaign = models.ForeignKey(
        SelfReportCampaign, on_delete=models.CASCADE, related_name="reports"
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="self_reports"
    )
    status = models.CharField(
        _("状态"), max_length=16, choices=SelfReportStatus.choices, default=SelfReportStatus.PENDING
    )
    submitted_at = models.DateTimeField(_("上报时间"), null=True, blank=True)
    differences = models.PositiveIntegerField(_("差异条数"), default=0)
    note = models.TextField(_("备注"), blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "campaign__unit"
    scope_person_path = "person"

    class Meta:
        ordering = ["campaign", "person"]
        verbose_name = _("个人自查表")
        verbose_name_plural = _("个人自查表")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "person"], name="self_report_once"),
            models.CheckConstraint(
                condition=~Q(status=SelfReportStatus.SUBMITTED) | Q(submitted_at__isnull=False),
                name="submitted_report_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.person}"

    def get_absolute_url(self) -> str:
        return reverse("governance:self_report", args=[self.pk])


class SelfReportLine(models.Model):
    report = models.ForeignKey(SelfReport, on_delete=models.CASCADE, related_name="lines")
    device = models.ForeignKey(
        "inventory.Device", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    origin = models.CharField(_("来源"), max_length=16, choices=LineOrigin.choices)
    installation = models.ForeignKey(
        "inventory.Installation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    name = models.CharField(_("软件名称"), max_length=512)
    version = models.CharField(_("版本"), max_length=128, blank=True)
    # None until the person answers; declared lines are confirmed by definition.
    confirmed = models.BooleanField(_("本人确认"), null=True)
    difference = models.CharField(
        _("差异"), max_length=20, choices=Difference.choices, blank=True, default=""
    )

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "report__campaign__unit"
    scope_person_path = "report__person"

    class Meta:
        ordering = ["report", "origin", "name", "id"]
        verbose_name = _("自查条目")
        verbose_name_plural = _("自查条目")
        constraints = [
            models.CheckConstraint(
                condition=Q(origin__in=LineOrigin.values), name="line_origin_valid"
            ),
            models.CheckConstraint(
                condition=Q(difference__in=Difference.values), name="line_difference_valid"
            ),
            models.CheckConstraint(
                condition=~Q(origin=LineOrigin.DECLARED) | Q(installation__isnull=True),
                name="declared_line_has_no_installation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()


class CommitmentLetter(models.Model):
    """使用正版软件承诺书, one per person and year."""

    unit = models.ForeignKey(
        "orgs.Unit", on_delete=models.PROTECT, related_name="commitment_letters"
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="commitment_letters"
    )
    year = models.PositiveSmallIntegerField(_("年度"))
    signed_at = models.DateTimeField(_("签署时间"))
    text = models.TextField(_("承诺内容"))

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"
    scope_person_path = "person"

    class Meta:
        ordering = ["-year", "person"]
        verbose_name = _("使用正版软件承诺书")
        verbose_name_plural = _("使用正版软件承诺书")
        constraints = [
            models.UniqueConstraint(fields=["person", "year"], name="commitment_once_a_year"),
            models.CheckConstraint(
                condition=Q(year__gte=2000, year__lte=2100), name="commitment_year_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} {self.year}"


class PendingInventory(models.Model):
    """A stored inventory governance has not reacted to yet (matching approved requests,
    raising and settling violations: ``services.process_inventory``).

    Written in the ingest's own transaction (one small row), so the reaction is never lost
    even if the background task never runs or the process dies before it; the drain
    (``tasks.process_pending_inventories``) deletes each row in the transaction that carries
    out its reaction."""

    device = models.ForeignKey(
        "inventory.Device", on_delete=models.CASCADE, related_name="+", verbose_name=_("终端")
    )
    # None: a reaction to the device as it stands (no change events to match).
    report = models.ForeignKey(
        "inventory.InventoryReport",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("清单"),
    )
    # When the inventory was received: windows and deadlines are judged at that time.
    received = models.DateTimeField(_("接收时间"))
    # A reaction that raised is set aside (kept, not retried), so the notes behind it still
    # drain; an administrator requeues it (``services.requeue_failed_inventories``).
    attempts = models.PositiveSmallIntegerField(_("处理次数"), default=0)
    failed_at = models.DateTimeField(_("处理失败时间"), null=True, blank=True)
    error = models.TextField(_("错误信息"), blank=True)

    # The queue page (views.InventoryQueueView) lists notes through the scoping mechanism,
    # like every other page, even though only platform-wide roles may open it.
    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "device__unit"
    scope_person_path = "device__assigned_user"

    class Meta:
        ordering = ["id"]
        verbose_name = _("待处理清单")
        verbose_name_plural = _("待处理清单")

    def __str__(self) -> str:
        return f"{self.device_id} {self.received:%Y-%m-%d %H:%M}"
