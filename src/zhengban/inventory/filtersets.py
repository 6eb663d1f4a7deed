import datetime

import django_filters
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhengban.inventory.choices import DeviceType
from zhengban.inventory.models import Device, EnrollmentToken, Installation
from zhengban.orgs.models import Unit


class DeviceFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("搜索"))
    unit = django_filters.ModelChoiceFilter(
        queryset=Unit.objects.all(), method="in_unit", label=_("单位")
    )
    device_type = django_filters.ChoiceFilter(choices=DeviceType.choices, label=_("类型"))
    os = django_filters.CharFilter(
        field_name="os_name", lookup_expr="icontains", label=_("操作系统")
    )
    stale_days = django_filters.NumberFilter(method="stale", label=_("超过N天未上报"))
    software = django_filters.CharFilter(method="has_software", label=_("装有软件"))
    unrecognised = django_filters.BooleanFilter(method="has_unrecognised", label=_("有未识别软件"))
    hostname = django_filters.CharFilter(lookup_expr="iexact", label=_("计算机名"))

    class Meta:
        model = Device
        fields = ["q", "unit", "department", "device_type", "os", "stale_days", "software"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        user = getattr(request, "user", None)
        if user is not None:
            # Choices never list units (or departments) the person may not see.
            self.filters["unit"].queryset = Unit.objects.visible_to(user)
            self.filters["department"].queryset = self.filters["department"].queryset.visible_to(
                user
            )

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(hostname__icontains=value)
            | Q(serial_number__iexact=value)
            | Q(asset_number__iexact=value)
            | Q(assigned_name__icontains=value)
        )

    def in_unit(self, queryset, name, value):
        # A unit filter covers its affiliated bodies too, as the org tree does elsewhere.
        return queryset.filter(unit__path__startswith=value.path) if value else queryset

    def stale(self, queryset, name, value):
        if value is None:
            return queryset
        cutoff = timezone.now() - datetime.timedelta(days=int(value))
        return queryset.filter(last_seen__lt=cutoff)

    def has_software(self, queryset, name, value):
        match = Installation.objects.filter(device=OuterRef("pk")).filter(
            Q(name__icontains=value) | Q(product__name__icontains=value)
        )
        return queryset.filter(Exists(match))

    def has_unrecognised(self, queryset, name, value):
        if value is None:
            return queryset
        match = Exists(
            Installation.objects.filter(
                device=OuterRef("pk"), product__isnull=True, kind__in=["application", "os"]
            )
        )
        return queryset.filter(match if value else ~match)


class EnrollmentTokenFilterSet(django_filters.FilterSet):
    class Meta:
        model = EnrollmentToken
        fields = ["unit"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        user = getattr(request, "user", None)
        if user is not None:
            self.filters["unit"].queryset = Unit.objects.visible_to(user)
