"""The software catalog: publishers, product families, products at edition level, versions,
suites, SWID tags and the recognition rules.

The catalog is shared reference data: everyone signed in may read the shared part. A unit's
own in-house software (``owner_unit`` set) is visible only within that unit's scope and never
leaves it in an export.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from zhengban.catalog.choices import (
    Category,
    DomesticFrom,
    FamilyFrom,
    LicenseModel,
    Platform,
    ReapplyStatus,
    RuleType,
)
from zhengban.core.models import TimeStampedModel
from zhengban.core.scoping import scope_q, user_scope

KEY_HELP = _("稳定的英文小写标识,只含 a-z、0-9 和连字符")


class SharedQuerySet(models.QuerySet):
    """Shared catalog rows are visible to every signed-in person."""

    def visible_to(self, user: Any) -> models.QuerySet:
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        return self


class OwnedQuerySet(models.QuerySet):
    """Rows of the shared catalog, plus in-house rows of units within the person's scope."""

    owner_path = "owner_unit"

    def visible_to(self, user: Any) -> models.QuerySet:
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        q = scope_q(self.model, user_scope(user))
        if q is None:
            return self
        return self.filter(Q(**{f"{self.owner_path}__isnull": True}) | q)


class RuleQuerySet(OwnedQuerySet):
    owner_path = "product__owner_unit"


class Publisher(TimeStampedModel):
    key = models.SlugField(_("标识"), max_length=100, unique=True, help_text=KEY_HELP)
    name = models.CharField(_("名称"), max_length=200)
    name_zh = models.CharField(_("中文名称"), max_length=200, blank=True)
    aliases = models.JSONField(_("别名"), default=list, blank=True)
    domestic = models.BooleanField(_("国产"), default=False)
    local = models.BooleanField(_("本地添加"), default=False)

    objects = SharedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("发行商")
        verbose_name_plural = _("发行商")

    def __str__(self) -> str:
        return self.name_zh or self.name


class ProductFamily(TimeStampedModel):
    """A product line: every version, edition, language and bitness of it share the key."""

    key = models.SlugField(_("标识"), max_length=100, unique=True, help_text=KEY_HELP)
    name = models.CharField(_("名称"), max_length=200)
    publisher = models.ForeignKey(
        Publisher,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="families",
        verbose_name=_("发行商"),
    )

    objects = SharedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("产品系列")
        verbose_name_plural = _("产品系列")

    def __str__(self) -> str:
        return self.name


class Product(TimeStampedModel):
    """A product at edition level (Office Standard vs Professional Plus)."""

    key = models.SlugField(_("标识"), max_length=100, unique=True, help_text=KEY_HELP)
    family = models.ForeignKey(
        ProductFamily, on_delete=models.PROTECT, related_name="products", verbose_name=_("系列")
    )
    publisher = models.ForeignKey(
        Publisher,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
        verbose_name=_("发行商"),
    )
    name = models.CharField(_("名称"), max_length=200)
    edition = models.CharField(_("版本类型"), max_length=100, blank=True)
    category = models.CharField(_("类别"), max_length=32, choices=Category.choices)
    license_model = models.CharField(_("许可模式"), max_length=32, choices=LicenseModel.choices)
    domestic = models.BooleanField(_("国产"), default=False)
    home_edition = models.BooleanField(
        _("家庭/个人版"), default=False, help_text=_("家庭版、个人版对单位而言不属于正版")
    )
    description = models.TextField(_("说明"), blank=True)
    components = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="suites", verbose_name=_("套件组件")
    )
    # Region-added products: catalog updates never overwrite or remove them.
    local = models.BooleanField(_("本地添加"), default=False)
    # A unit's in-house software: visible to that unit only, never in the shared catalog.
    owner_unit = models.ForeignKey(
        "orgs.Unit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="own_products",
        verbose_name=_("自有软件所属单位"),
    )

    objects = OwnedQuerySet.as_manager()
    scope_unit_path = "owner_unit"

    class Meta:
        ordering = ["family__name", "name"]
        verbose_name = _("软件产品")
        verbose_name_plural = _("软件产品")
        constraints = [
            models.CheckConstraint(
                condition=Q(category__in=Category.values), name="product_category_valid"
            ),
            models.CheckConstraint(
                condition=Q(license_model__in=LicenseModel.values),
                name="product_license_model_valid",
            ),
            # In-house software is by definition local: an import must never touch it.
            models.CheckConstraint(
                condition=Q(owner_unit__isnull=True) | Q(local=True),
                name="product_owned_is_local",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ProductVersion(models.Model):
    """Known versions of a product, ordered oldest → newest (drives downgrade rights)."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="versions", verbose_name=_("产品")
    )
    version = models.CharField(_("版本"), max_length=64)
    position = models.PositiveIntegerField(_("顺序"))

    class Meta:
        ordering = ["product", "position", "id"]
        verbose_name = _("软件版本")
        verbose_name_plural = _("软件版本")
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="product_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.product} {self.version}"


class SwidTag(models.Model):
    """ISO/IEC 19770-2 / GB/T 36328-2018 tag ids that identify a product exactly."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="swid_tags", verbose_name=_("产品")
    )
    tag_id = models.CharField(_("SWID 标签"), max_length=255, unique=True)

    class Meta:
        ordering = ["tag_id"]
        verbose_name = _("SWID 标签")
        verbose_name_plural = _("SWID 标签")

    def __str__(self) -> str:
        return self.tag_id


class RecognitionRule(TimeStampedModel):
    """One ordered, typed rule that maps raw install records to a product."""

    key = models.CharField(_("规则标识"), max_length=200, unique=True)
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="rules", verbose_name=_("产品")
    )
    rule_type = models.CharField(_("规则类型"), max_length=16, choices=RuleType.choices)
    pattern = models.CharField(_("匹配内容"), max_length=500)
    platform = models.CharField(_("平台"), max_length=16, choices=Platform.choices, blank=True)
    publisher_pattern = models.CharField(_("发行商正则"), max_length=300, blank=True)
    priority = models.IntegerField(_("优先级"), default=100)
    min_version = models.CharField(_("最低版本"), max_length=64, blank=True)
    max_version = models.CharField(_("最高版本(不含)"), max_length=64, blank=True)
    family_from = models.CharField(
        _("系列派生"), max_length=16, choices=FamilyFrom.choices, blank=True
    )
    family_prefix = models.CharField(_("派生系列前缀"), max_length=50, blank=True)
    family_strip = models.CharField(_("派生时去除(正则)"), max_length=300, blank=True)
    domestic_from = models.CharField(
        _("国产标志来源"), max_length=16, choices=DomesticFrom.choices, blank=True
    )
    # Order within the catalog: the last tie-breaker between rules of equal rank.
    position = models.PositiveIntegerField(_("顺序"), default=0)
    local = models.BooleanField(_("本地添加"), default=False)
    comment = models.CharField(_("备注"), max_length=300, blank=True)

    objects = RuleQuerySet.as_manager()
    scope_unit_path = "product__owner_unit"

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("识别规则")
        verbose_name_plural = _("识别规则")
        constraints = [
            models.CheckConstraint(
                condition=Q(rule_type__in=RuleType.values), name="rule_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(platform__in=["", *Platform.values]), name="rule_platform_valid"
            ),
            models.CheckConstraint(
                condition=Q(family_from__in=["", *FamilyFrom.values]),
                name="rule_family_from_valid",
            ),
            models.CheckConstraint(
                condition=Q(domestic_from__in=["", *DomesticFrom.values]),
                name="rule_domestic_from_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_rule_type_display()}: {self.pattern}"

    def as_spec(self) -> dict[str, Any]:
        """The rule in the exchange format."""
        spec: dict[str, Any] = {"id": self.key, "type": self.rule_type, "name": self.pattern}
        optional = {
            "platform": self.platform,
            "publisher": self.publisher_pattern,
            "min_version": self.min_version,
            "max_version": self.max_version,
            "family_from": self.family_from,
            "family_prefix": self.family_prefix,
            "family_strip": self.family_strip,
            "domestic_from": self.domestic_from,
            "comment": self.comment,
        }
        spec.update({k: v for k, v in optional.items() if v})
        if self.priority != 100:
            spec["priority"] = self.priority
        if self.local:
            spec["local"] = True
        return spec


class CatalogState(models.Model):
    """One row: a revision number bumped by every change to products or rules (so every
    process rebuilds its cached recogniser) and the digest of the shipped catalog last
    loaded (so a new release's catalog is loaded at the next migrate)."""

    revision = models.PositiveBigIntegerField(default=0)
    # Changes with every revision: a restored or rolled-back database may repeat a revision
    # number with different content, never a token.
    token = models.CharField(max_length=32, blank=True)
    shipped_digest = models.CharField(max_length=64, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("目录状态")
        verbose_name_plural = _("目录状态")

    def __str__(self) -> str:
        return f"catalog revision {self.revision}"


class ReapplyJob(models.Model):
    """A background re-recognition of existing installs after the catalog changed.

    Progress lives here (not only in the task backend) so every web worker can show it: the
    task updates ``done`` and ``changed`` after each batch; the product page polls it.
    """

    created = models.DateTimeField(_("创建时间"), auto_now_add=True)
    created_by = models.ForeignKey(
        "orgs.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("发起人"),
    )
    # The product whose page started the job (its rule changed); the page shows the progress.
    product = models.ForeignKey(
        Product,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reapply_jobs",
        verbose_name=_("产品"),
    )
    reason = models.CharField(_("原因"), max_length=300, blank=True)
    unrecognised_only = models.BooleanField(_("仅未识别记录"), default=False)
    status = models.CharField(
        _("状态"), max_length=16, choices=ReapplyStatus.choices, default=ReapplyStatus.QUEUED
    )
    total = models.PositiveIntegerField(_("记录组总数"), default=0)
    done = models.PositiveIntegerField(_("已处理"), default=0)
    changed = models.PositiveIntegerField(_("识别结果改变的安装数"), default=0)
    error = models.TextField(_("错误"), blank=True)
    finished = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = _("重新识别任务")
        verbose_name_plural = _("重新识别任务")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ReapplyStatus.values), name="reapply_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return _("重新识别任务 #%(pk)s") % {"pk": self.pk}

    @property
    def percent(self) -> int:
        if self.status == ReapplyStatus.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def active(self) -> bool:
        return self.status in (ReapplyStatus.QUEUED, ReapplyStatus.RUNNING)
