import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from zhengban.catalog.choices import Category
from zhengban.catalog.models import Product
from zhengban.core.filtersets import BooleanFilter, FilterSet
from zhengban.licensing.choices import Disposal, Metric, Reason, Status, Term
from zhengban.licensing.models import (
    Allocation,
    AssetDisposal,
    ComplianceResult,
    Contract,
    Entitlement,
    EntitlementShare,
)
from zhengban.orgs.models import Unit


class ContractFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label=_("搜索"))
    unit = django_filters.ModelChoiceFilter(queryset=Unit.objects.all(), label=_("单位"))
    terms_missing = BooleanFilter(label=_("条款缺失"))
    signed_after = django_filters.DateFilter(
        field_name="signed_on", lookup_expr="gte", label=_("签订日期起")
    )

    class Meta:
        model = Contract
        fields = ["q", "unit", "terms_missing", "signed_after"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(number__icontains=value) | Q(title__icontains=value) | Q(supplier__icontains=value)
        )


class EntitlementFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label=_("搜索"))
    unit = django_filters.ModelChoiceFilter(queryset=Unit.objects.all(), label=_("单位"))
    metric = django_filters.ChoiceFilter(choices=Metric.choices, label=_("许可形式"))
    term = django_filters.ChoiceFilter(choices=Term.choices, label=_("期限类型"))
    category = django_filters.ChoiceFilter(
        field_name="product__category", choices=Category.choices, label=_("类别")
    )
    framework = BooleanFilter(label=_("框架协议"))

    class Meta:
        model = Entitlement
        fields = ["q", "unit", "metric", "term", "category", "framework"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(product__name__icontains=value)
            | Q(family__name__icontains=value)
            | Q(contract__number__icontains=value)
        )


class AllocationFilterSet(FilterSet):
    unit = django_filters.ModelChoiceFilter(queryset=Unit.objects.all(), label=_("单位"))
    q = django_filters.CharFilter(method="search", label=_("搜索"))

    class Meta:
        model = Allocation
        fields = ["unit", "q"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(device__hostname__icontains=value)
            | Q(person__full_name__icontains=value)
            | Q(entitlement__product__name__icontains=value)
        )


class ShareFilterSet(FilterSet):
    unit = django_filters.ModelChoiceFilter(queryset=Unit.objects.all(), label=_("单位"))

    class Meta:
        model = EntitlementShare
        fields = ["unit"]


class ResultFilterSet(FilterSet):
    """The drill-down: every assessed install with its status and reason."""

    unit = django_filters.ModelChoiceFilter(queryset=Unit.objects.all(), label=_("单位"))
    product = django_filters.ModelChoiceFilter(
        queryset=Product.objects.filter(license_model="commercial"), label=_("软件产品")
    )
    category = django_filters.ChoiceFilter(
        field_name="product__category", choices=Category.choices, label=_("类别")
    )
    status = django_filters.ChoiceFilter(choices=Status.choices, label=_("状态"))
    reason = django_filters.ChoiceFilter(choices=Reason.choices, label=_("原因"))
    q = django_filters.CharFilter(
        field_name="device__hostname", lookup_expr="icontains", label=_("终端")
    )

    class Meta:
        model = ComplianceResult
        fields = ["unit", "product", "category", "status", "reason", "q"]


class DisposalFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label=_("搜索"))
    unit = django_filters.ModelChoiceFilter(
        field_name="entitlement__unit", queryset=Unit.objects.all(), label=_("单位")
    )
    method = django_filters.ChoiceFilter(choices=Disposal.choices, label=_("处置方式"))
    date_after = django_filters.DateFilter(
        field_name="date", lookup_expr="gte", label=_("处置日期起")
    )
    date_before = django_filters.DateFilter(
        field_name="date", lookup_expr="lte", label=_("处置日期止")
    )

    class Meta:
        model = AssetDisposal
        fields = ["q", "unit", "method", "date_after", "date_before"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(entitlement__product__name__icontains=value)
            | Q(entitlement__family__name__icontains=value)
            | Q(approval__icontains=value)
            | Q(reason__icontains=value)
        )
