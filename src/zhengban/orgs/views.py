from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from django.views.generic import DetailView

from zhengban.core.views import ObjectListView, ScopedQuerysetMixin
from zhengban.orgs.filtersets import RegionFilterSet, UnitFilterSet, UserFilterSet
from zhengban.orgs.models import Region, Unit, User
from zhengban.orgs.tables import RegionTable, UnitTable, UserTable


class RegionListView(ObjectListView):
    model = Region
    queryset = Region.objects.select_related("parent").annotate(unit_count=Count("units"))
    table_class = RegionTable
    filterset_class = RegionFilterSet
    title = _("行政区划")
    export_name = "regions"


class UnitListView(ObjectListView):
    model = Unit
    queryset = Unit.objects.select_related("region")
    table_class = UnitTable
    filterset_class = UnitFilterSet
    title = _("单位")
    export_name = "units"


class UnitDetailView(ScopedQuerysetMixin, DetailView):
    model = Unit
    queryset = Unit.objects.select_related("region", "parent", "lead_department")
    template_name = "orgs/unit_detail.html"


class PersonListView(ObjectListView):
    model = User
    queryset = User.objects.select_related("unit", "department").prefetch_related("role_grants")
    table_class = UserTable
    filterset_class = UserFilterSet
    title = _("人员")
    export_name = "people"


class PersonDetailView(ScopedQuerysetMixin, DetailView):
    model = User
    queryset = User.objects.select_related("unit", "department").prefetch_related("role_grants")
    template_name = "orgs/person_detail.html"
    context_object_name = "person"
