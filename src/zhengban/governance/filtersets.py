import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from zhengban.core.filtersets import BooleanFilter, FilterSet
from zhengban.governance.choices import (
    RequestAction,
    RequestStatus,
    ViolationKind,
    ViolationStatus,
)
from zhengban.governance.models import (
    ConfigurationSpec,
    PendingInventory,
    SoftwareRequest,
    Violation,
)


class RequestFilterSet(FilterSet):
    status = django_filters.ChoiceFilter(choices=RequestStatus.choices, label=_("状态"))
    action = django_filters.ChoiceFilter(choices=RequestAction.choices, label=_("申请事项"))
    q = django_filters.CharFilter(method="search", label=_("搜索"))

    class Meta:
        model = SoftwareRequest
        fields = ["status", "action", "q"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(product__name__icontains=value)
            | Q(requester__full_name__icontains=value)
            | Q(device__hostname__icontains=value)
        )


class ViolationFilterSet(FilterSet):
    kind = django_filters.ChoiceFilter(choices=ViolationKind.choices, label=_("违规类型"))
    status = django_filters.ChoiceFilter(choices=ViolationStatus.choices, label=_("状态"))
    q = django_filters.CharFilter(method="search", label=_("搜索"))

    class Meta:
        model = Violation
        fields = ["kind", "status", "q"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(software_name__icontains=value)
            | Q(person_name__icontains=value)
            | Q(device__hostname__icontains=value)
        )


class SpecFilterSet(FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label=_("名称"))
    template = BooleanFilter(field_name="unit", lookup_expr="isnull", label=_("区划模板"))

    class Meta:
        model = ConfigurationSpec
        fields = ["q", "template"]


class PendingInventoryFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label=_("搜索"))

    class Meta:
        model = PendingInventory
        fields = ["q"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(device__hostname__icontains=value) | Q(error__icontains=value))
