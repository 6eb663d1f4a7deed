import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from zhengban.core.filtersets import BooleanFilter, FilterSet
from zhengban.orgs.choices import RegionLevel, Role, UnitType
from zhengban.orgs.models import Region, Unit, User


class RegionFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label=_("搜索"))
    level = django_filters.ChoiceFilter(choices=RegionLevel.choices, label=_("层级"))

    class Meta:
        model = Region
        fields = ["q", "level", "parent"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(code__startswith=value))


class UnitFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label=_("搜索"))
    unit_type = django_filters.ChoiceFilter(choices=UnitType.choices, label=_("单位类型"))
    region = django_filters.ModelChoiceFilter(
        queryset=Region.objects.all(), method="in_region", label=_("行政区划")
    )
    is_copyright_bureau = BooleanFilter(label=_("著作权行政管理部门"))

    class Meta:
        model = Unit
        fields = ["q", "unit_type", "region", "is_copyright_bureau", "parent"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(credit_code__startswith=value.upper()))

    def in_region(self, queryset, name, value):
        # A region filter means the whole subtree, as a supervisor expects.
        return queryset.filter(region__path__startswith=value.path) if value else queryset


class UserFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label=_("搜索"))
    role = django_filters.ChoiceFilter(
        choices=Role.choices, field_name="role_grants__role", label=_("角色"), distinct=True
    )

    class Meta:
        model = User
        fields = ["q", "role", "unit", "department", "is_active"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(username__icontains=value) | Q(full_name__icontains=value) | Q(phone=value)
        )
