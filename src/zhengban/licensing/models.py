"""Contracts, entitlements, allocations, the compliance results and the region's price caps.

Entitlements belong to one unit (the buyer). A region-wide framework agreement is an
entitlement of the signing unit with shares (``EntitlementShare``) for the units it serves;
a site (场地) licence may cover a whole region subtree. Quantity-limited seats are therefore
always counted inside one unit, which is what lets the engine recompute one unit alone.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhengban.core.models import TimeStampedModel
from zhengban.core.scoping import ScopedQuerySet, scope_q, user_scope
from zhengban.licensing.choices import (
    Basis,
    Disposal,
    FundingSource,
    Metric,
    ProcurementMethod,
    Reason,
    RecomputeReason,
    SourceType,
    Status,
    Term,
)

# §三 of the implementation opinions: what every procurement contract must state.
CONTRACT_TERM_FIELDS = (
    "term_version",
    "term_compatibility",
    "term_security",
    "term_authorisation",
    "term_support",
)


class Contract(TimeStampedModel):
    unit = models.ForeignKey(
        "orgs.Unit", on_delete=models.PROTECT, related_name="contracts", verbose_name=_("采购单位")
    )
    number = models.CharField(_("合同编号"), max_length=100)
    title = models.CharField(_("合同名称"), max_length=200)
    supplier = models.CharField(_("供应商"), max_length=200)
    signed_on = models.DateField(_("签订日期"))
    amount = models.DecimalField(
        _("合同金额(元)"), max_digits=14, decimal_places=2, validators=[MinValueValidator(0)]
    )
    funding_source = models.CharField(_("资金来源"), max_length=16, choices=FundingSource.choices)
    procurement_method = models.CharField(
        _("采购方式"), max_length=16, choices=ProcurementMethod.choices
    )
    # §三 terms.
    term_version = models.TextField(_("软件版本"), blank=True)
    term_compatibility = models.TextField(_("兼容性"), blank=True)
    term_security = models.TextField(_("安全标准"), blank=True)
    term_authorisation = models.TextField(_("授权方式与期限"), blank=True)
    term_support = models.TextField(_("升级与技术支持"), blank=True)
    # Stored by the database itself so lists can filter and count on it.
    terms_missing = models.GeneratedField(
        expression=models.Case(
            models.When(
                Q(term_version="")
                | Q(term_compatibility="")
                | Q(term_security="")
                | Q(term_authorisation="")
                | Q(term_support=""),
                then=models.Value(True),
            ),
            default=models.Value(False),
        ),
        output_field=models.BooleanField(),
        db_persist=True,
        verbose_name=_("条款缺失"),
    )
    note = models.TextField(_("备注"), blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"

    class Meta:
        ordering = ["-signed_on", "-id"]
        verbose_name = _("采购合同")
        verbose_name_plural = _("采购合同")
        constraints = [
            models.UniqueConstraint(fields=["unit", "number"], name="contract_number_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="contract_amount_positive"),
            models.CheckConstraint(
                condition=Q(funding_source__in=FundingSource.values),
                name="contract_funding_valid",
            ),
            models.CheckConstraint(
                condition=Q(procurement_method__in=ProcurementMethod.values),
                name="contract_method_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def missing_term_labels(self) -> list[str]:
        return [
            str(self._meta.get_field(name).verbose_name)
            for name in CONTRACT_TERM_FIELDS
            if not getattr(self, name).strip()
        ]


class ContractDocument(models.Model):
    """A scanned contract, licence certificate or other proof."""

    contract = models.ForeignKey(
        Contract, on_delete=models.CASCADE, related_name="documents", verbose_name=_("合同")
    )
    title = models.CharField(_("名称"), max_length=200)
    file = models.FileField(_("文件"), upload_to="contracts/%Y/")
    uploaded = models.DateTimeField(_("上传时间"), auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "contract__unit"

    class Meta:
        ordering = ["contract", "id"]
        verbose_name = _("合同附件")
        verbose_name_plural = _("合同附件")

    def __str__(self) -> str:
        return self.title


class EntitlementQuerySet(ScopedQuerySet):
    def visible_to(self, user: Any) -> EntitlementQuerySet:
        """The owner's scope, plus units that hold a share of a framework agreement."""
        q = scope_q(self.model, user_scope(user))
        if q is None:
            return self
        share_q = scope_q(EntitlementShare, user_scope(user))
        shared = EntitlementShare.objects.filter(share_q).values("entitlement_id")
        return self.filter(q | Q(pk__in=shared))


class Entitlement(TimeStampedModel):
    unit = models.ForeignKey(
        "orgs.Unit",
        on_delete=models.PROTECT,
        related_name="entitlements",
        verbose_name=_("所属单位"),
    )
    contract = models.ForeignKey(
        Contract,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entitlements",
        verbose_name=_("采购合同"),
    )
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entitlements",
        verbose_name=_("软件产品"),
    )
    family = models.ForeignKey(
        "catalog.ProductFamily",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entitlements",
        verbose_name=_("产品系列"),
        help_text=_("不指定产品时,授权覆盖该系列(可限定版本类型)"),
    )
    edition = models.CharField(
        _("版本类型"), max_length=100, blank=True, help_text=_("按系列授权时限定,空为全部")
    )
    versions = models.JSONField(_("授权版本"), default=list, blank=True)
    metric = models.CharField(_("许可形式"), max_length=16, choices=Metric.choices)
    term = models.CharField(_("期限类型"), max_length=16, choices=Term.choices)
    start = models.DateField(_("生效日期"), null=True, blank=True)
    end = models.DateField(_("截止日期"), null=True, blank=True)
    quantity = models.PositiveIntegerField(
        _("许可数"), null=True, blank=True, help_text=_("空表示不限数量")
    )
    downgrade = models.BooleanField(_("降级权"), default=False)
    downgrade_to = models.JSONField(
        _("可降级至"), default=list, blank=True, help_text=_("空表示所有更低版本")
    )
    upgrade_until = models.DateField(_("升级权截止"), null=True, blank=True)
    oem_device = models.ForeignKey(
        "inventory.Device",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="oem_entitlements",
        verbose_name=_("OEM 绑定终端"),
    )
    site_region = models.ForeignKey(
        "orgs.Region",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="site_entitlements",
        verbose_name=_("场地授权覆盖区划"),
        help_text=_("空表示只覆盖所属单位"),
    )
    framework = models.BooleanField(_("框架协议"), default=False)
    source_type = models.CharField(
        _("来源类型"), max_length=16, choices=SourceType.choices, default=SourceType.PURCHASED
    )
    purchased_on = models.DateField(_("购买日期"), null=True, blank=True)
    unit_price = models.DecimalField(
        _("单价(元)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    # Fernet token of the licence key / serial; only the hint is ever shown.
    serial_encrypted = models.TextField(blank=True, editable=False)
    serial_hint = models.CharField(_("许可证号"), max_length=16, blank=True, editable=False)
    proof = models.FileField(_("授权许可文件"), upload_to="entitlements/%Y/", blank=True)
    note = models.TextField(_("备注"), blank=True)

    objects = EntitlementQuerySet.as_manager()
    scope_unit_path = "unit"

    class Meta:
        ordering = ["unit", "-purchased_on", "-id"]
        verbose_name = _("软件授权")
        verbose_name_plural = _("软件授权")
        # Of a unit's products (the incremental recompute); the product alone has the
        # foreign key's own index.
        indexes = [models.Index(fields=["unit", "product"], name="entitlement_unit_product")]
        constraints = [
            models.CheckConstraint(
                condition=Q(product__isnull=False) | Q(family__isnull=False),
                name="entitlement_names_product_or_family",
            ),
            models.CheckConstraint(
                condition=Q(metric__in=Metric.values), name="entitlement_metric_valid"
            ),
            models.CheckConstraint(
                condition=Q(term__in=Term.values), name="entitlement_term_valid"
            ),
            models.CheckConstraint(
                condition=Q(source_type__in=SourceType.values), name="entitlement_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(quantity__isnull=True) | Q(quantity__gt=0),
                name="entitlement_quantity_positive",
            ),
            # OEM: bound to exactly one device, one seat.
            models.CheckConstraint(
                condition=(Q(metric=Metric.OEM) & Q(oem_device__isnull=False) & Q(quantity=1))
                | (~Q(metric=Metric.OEM) & Q(oem_device__isnull=True)),
                name="entitlement_oem_bound_to_device",
            ),
            models.CheckConstraint(
                condition=~Q(term=Term.SUBSCRIPTION) | Q(end__isnull=False),
                name="entitlement_subscription_has_end",
            ),
            models.CheckConstraint(
                condition=Q(start__isnull=True)
                | Q(end__isnull=True)
                | Q(end__gte=models.F("start")),
                name="entitlement_dates_ordered",
            ),
            # A region-wide site licence is unlimited: seats are only ever counted in a unit.
            models.CheckConstraint(
                condition=Q(site_region__isnull=True)
                | (Q(metric=Metric.SITE) & Q(quantity__isnull=True)),
                name="entitlement_region_only_for_site",
            ),
            # A framework agreement is a counted pool to share out.
            models.CheckConstraint(
                condition=~Q(framework=True)
                | (Q(quantity__isnull=False) & ~Q(metric__in=[Metric.OEM, Metric.SITE])),
                name="entitlement_framework_is_counted",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__isnull=True) | Q(unit_price__gte=0),
                name="entitlement_price_positive",
            ),
        ]

    def __str__(self) -> str:
        what = str(self.product) if self.product_id else f"{self.family} {self.edition}".strip()
        versions = "/".join(self.versions or [])
        return f"{what} {versions}".strip()

    @property
    def masked_serial(self) -> str:
        return f"****-{self.serial_hint}" if self.serial_hint else ""

    @property
    def value(self) -> Decimal | None:
        """Book value: unit price × quantity (a site licence: its price)."""
        if self.unit_price is None:
            return None
        return self.unit_price * (self.quantity or 1)


class EntitlementShare(models.Model):
    """The part of a framework agreement a unit may use."""

    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.CASCADE, related_name="shares", verbose_name=_("框架协议")
    )
    unit = models.ForeignKey(
        "orgs.Unit",
        on_delete=models.PROTECT,
        related_name="entitlement_shares",
        verbose_name=_("单位"),
    )
    quantity = models.PositiveIntegerField(_("分配数量"))

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"

    class Meta:
        ordering = ["entitlement", "unit"]
        verbose_name = _("框架协议分配")
        verbose_name_plural = _("框架协议分配")
        constraints = [
            models.UniqueConstraint(fields=["entitlement", "unit"], name="share_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="share_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.entitlement} → {self.unit} × {self.quantity}"


class Allocation(models.Model):
    """An entitlement given by hand to one device or one person."""

    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.CASCADE, related_name="allocations", verbose_name=_("授权")
    )
    unit = models.ForeignKey(
        "orgs.Unit", on_delete=models.CASCADE, related_name="+", verbose_name=_("单位")
    )
    device = models.ForeignKey(
        "inventory.Device",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="allocations",
        verbose_name=_("终端"),
    )
    person = models.ForeignKey(
        "orgs.User",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="allocations",
        verbose_name=_("人员"),
    )
    created = models.DateTimeField(_("分配时间"), auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"
    scope_person_path = ("device__assigned_user", "person")

    class Meta:
        ordering = ["entitlement", "id"]
        verbose_name = _("授权分配")
        verbose_name_plural = _("授权分配")
        constraints = [
            models.CheckConstraint(
                condition=Q(device__isnull=True) ^ Q(person__isnull=True),
                name="allocation_device_xor_person",
            ),
            models.UniqueConstraint(
                fields=["entitlement", "device"],
                condition=Q(device__isnull=False),
                name="allocation_device_unique",
            ),
            models.UniqueConstraint(
                fields=["entitlement", "person"],
                condition=Q(person__isnull=False),
                name="allocation_person_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entitlement} → {self.device or self.person}"


class AssetDisposal(TimeStampedModel):
    """A software asset leaving the books (转让, 捐赠, 调剂, 报废)."""

    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.PROTECT, related_name="disposals", verbose_name=_("授权")
    )
    method = models.CharField(_("处置方式"), max_length=16, choices=Disposal.choices)
    date = models.DateField(_("处置日期"))
    quantity = models.PositiveIntegerField(_("处置数量"), null=True, blank=True)
    # Who receives the licences: every kind but 报废 hands them to another body.
    recipient = models.CharField(_("接收单位"), max_length=200, blank=True)
    approval = models.CharField(_("批准文号"), max_length=100, blank=True)
    reason = models.TextField(_("处置原因"), blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "entitlement__unit"

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name = _("资产处置")
        verbose_name_plural = _("资产处置")
        constraints = [
            models.CheckConstraint(
                condition=Q(method__in=Disposal.values), name="disposal_method_valid"
            ),
            models.CheckConstraint(
                condition=Q(quantity__isnull=True) | Q(quantity__gt=0),
                name="disposal_quantity_positive",
            ),
            models.CheckConstraint(
                condition=Q(method=Disposal.SCRAP) | ~Q(recipient=""),
                name="disposal_recipient_named",
                violation_error_message=_("转让、捐赠和调剂须填写接收单位。"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.entitlement}"


class ComplianceResult(models.Model):
    """The engine's verdict on one install of commercial (or home-edition) software.

    Free, open-source and unrecognised installs get no row: their status follows from the
    catalog alone (``services.static_outcome``), and leaving them out keeps a province's
    full recompute to the installs that matter."""

    installation = models.OneToOneField(
        "inventory.Installation",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="compliance",
        verbose_name=_("软件安装"),
    )
    # No index of its own: the (unit, status) and (unit, product) indexes serve it.
    unit = models.ForeignKey(
        "orgs.Unit",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("单位"),
        db_index=False,
    )
    device = models.ForeignKey(
        "inventory.Device", on_delete=models.CASCADE, related_name="+", verbose_name=_("终端")
    )
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="+", verbose_name=_("软件产品")
    )
    version = models.CharField(_("版本"), max_length=64, blank=True)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices)
    reason = models.CharField(_("原因"), max_length=24, choices=Reason.choices)
    basis = models.CharField(_("依据"), max_length=16, choices=Basis.choices, blank=True)
    # CASCADE: a deleted entitlement takes its verdicts along, and the same service call
    # recomputes the units it covered (a covered row must always name its entitlement).
    entitlement = models.ForeignKey(
        Entitlement,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("使用的授权"),
    )
    detail = models.CharField(_("说明"), max_length=100, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"
    scope_person_path = "device__assigned_user"

    class Meta:
        ordering = ["unit", "device", "product"]
        verbose_name = _("合规结果")
        verbose_name_plural = _("合规结果")
        indexes = [
            models.Index(fields=["unit", "status"], name="compliance_unit_status"),
            # An inventory's recompute reads one unit's verdicts of a few products.
            models.Index(fields=["unit", "product"], name="compliance_unit_product"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="compliance_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(reason__in=Reason.values), name="compliance_reason_valid"
            ),
            models.CheckConstraint(
                condition=Q(status=Status.COVERED, entitlement__isnull=False)
                | (~Q(status=Status.COVERED) & Q(entitlement__isnull=True)),
                name="compliance_covered_names_entitlement",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} {self.get_status_display()}"


class CompliancePosition(models.Model):
    """Per unit × product: installs needing a licence, covered, short; seats bought/left."""

    unit = models.ForeignKey(
        "orgs.Unit", on_delete=models.CASCADE, related_name="+", verbose_name=_("单位")
    )
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="+", verbose_name=_("软件产品")
    )
    category = models.CharField(_("类别"), max_length=32)
    required = models.PositiveIntegerField(_("需授权"), default=0)
    covered = models.PositiveIntegerField(_("已授权"), default=0)
    shortfall = models.PositiveIntegerField(_("缺口"), default=0)
    licensed = models.PositiveIntegerField(_("许可数"), default=0)
    unlimited = models.BooleanField(_("不限数量"), default=False)
    consumed = models.PositiveIntegerField(_("已使用"), default=0)
    surplus = models.PositiveIntegerField(_("富余"), default=0)
    computed = models.DateTimeField(_("计算时间"))

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"

    class Meta:
        ordering = ["unit", "category", "product"]
        verbose_name = _("合规状况")
        verbose_name_plural = _("合规状况")
        indexes = [models.Index(fields=["category"], name="position_category")]
        constraints = [
            models.UniqueConstraint(fields=["unit", "product"], name="position_unique"),
            models.CheckConstraint(
                condition=Q(required=models.F("covered") + models.F("shortfall")),
                name="position_required_adds_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.unit_id}/{self.product_id}"


class RecomputeRequest(models.Model):
    """A durable note that a unit's verdicts are out of date, drained in batches by the
    background task (``licensing.tasks.drain_recompute_queue``).

    Written in the transaction that made them stale (an ingest, a catalog change), so no
    change is ever lost even if the task never runs; the drain deletes what it processed.
    ``device`` set: that device's products changed (``report``: its inventory, when it
    removed installs). ``product`` set: only that product's verdicts (with ``unit`` None:
    in every unit holding it). Neither: the whole unit."""

    unit = models.ForeignKey(
        "orgs.Unit",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("单位"),
    )
    # SET_NULL: a device deleted meanwhile leaves a request for its whole unit.
    device = models.ForeignKey(
        "inventory.Device",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("终端"),
    )
    report = models.ForeignKey(
        "inventory.InventoryReport",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("清单"),
    )
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("软件产品"),
    )
    reason = models.CharField(_("原因"), max_length=16, choices=RecomputeReason.choices)
    created = models.DateTimeField(_("登记时间"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("待重算请求")
        verbose_name_plural = _("待重算请求")
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=RecomputeReason.values), name="recompute_reason_valid"
            ),
            models.CheckConstraint(
                condition=Q(unit__isnull=False) | Q(product__isnull=False),
                name="recompute_names_unit_or_product",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} {self.unit_id}/{self.device_id}/{self.product_id}"


class LicensingPolicy(TimeStampedModel):
    """A region's price caps and asset rules; a region without one inherits its parent's,
    and the defaults come from 财行〔2013〕98号 and 财行〔2011〕7号."""

    region = models.OneToOneField(
        "orgs.Region",
        on_delete=models.CASCADE,
        related_name="licensing_policy",
        verbose_name=_("行政区划"),
    )
    office_cap = models.DecimalField(
        _("办公软件单价上限"), max_digits=10, decimal_places=2, default=Decimal("600")
    )
    office_special_cap = models.DecimalField(
        _("特殊需要办公软件单价上限"), max_digits=10, decimal_places=2, default=Decimal("1400")
    )
    antivirus_client_cap = models.DecimalField(
        _("杀毒软件客户端单价上限"), max_digits=10, decimal_places=2, default=Decimal("100")
    )
    antivirus_server_cap = models.DecimalField(
        _("杀毒软件服务器端单价上限"), max_digits=10, decimal_places=2, default=Decimal("1400")
    )
    # The OS comes with the hardware; a region may still set a figure for estimates.
    os_cap = models.DecimalField(
        _("操作系统估算单价"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    asset_threshold = models.DecimalField(
        _("资产入账标准"), max_digits=10, decimal_places=2, default=Decimal("500")
    )
    service_life_years = models.PositiveSmallIntegerField(_("最低使用年限"), default=5)

    objects = ScopedQuerySet.as_manager()
    scope_region_path = "region"

    class Meta:
        verbose_name = _("授权与资产标准")
        verbose_name_plural = _("授权与资产标准")
        constraints = [
            models.CheckConstraint(
                condition=Q(service_life_years__gte=1), name="policy_service_life_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region}"
