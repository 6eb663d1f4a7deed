"""/api/v1/devices/ (with installations and the latest events) and
/api/v1/installation-events/ (every device's history, paged), scoped like every list."""

import django_filters
from django.urls import reverse
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from zhengban.core.api import ScopedReadOnlyViewSet
from zhengban.core.filtersets import FilterSet
from zhengban.core.pagination import BoundedLimitOffsetPagination
from zhengban.inventory.choices import DeviceStatus
from zhengban.inventory.filtersets import DeviceFilterSet
from zhengban.inventory.models import Device, Installation, InstallationEvent


class InstallationSerializer(serializers.ModelSerializer):
    product_key = serializers.CharField(source="product.key", read_only=True, default=None)

    class Meta:
        model = Installation
        fields = [
            "id",
            "device",
            "kind",
            "name",
            "publisher",
            "version",
            "arch",
            "install_date",
            "source",
            "guid",
            "owner",
            "category",
            "product",
            "product_key",
            "first_seen",
        ]


class InstallationEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = InstallationEvent
        fields = [
            "id",
            "device",
            "event_type",
            "kind",
            "name",
            "publisher",
            "arch",
            "owner",
            "old_version",
            "new_version",
            "product",
            "date",
        ]


class DeviceSerializer(serializers.ModelSerializer):
    unit_name = serializers.CharField(source="unit.name", read_only=True)

    class Meta:
        model = Device
        fields = [
            "id",
            "unit",
            "unit_name",
            "department",
            "assigned_name",
            "asset_number",
            "hostname",
            "device_type",
            "manufacturer",
            "model",
            "serial_number",
            "hardware_uuid",
            "agent_device_id",
            "cpu",
            "memory_mb",
            "os_name",
            "os_version",
            "os_edition",
            "os_arch",
            "os_product_id",
            "os_partial_key",
            "os_activation",
            "first_seen",
            "last_seen",
            "last_source",
            "last_agent",
            "retired",
            "retired_reason",
        ]
        read_only_fields = ["retired", "retired_reason"]


# A device's history grows with every inventory for as long as it lives (a year of daily
# updates is thousands of events): its page carries the latest ones, the events endpoint the
# rest, page by page.
DETAIL_EVENTS = 100


class DeviceDetailSerializer(DeviceSerializer):
    installations = InstallationSerializer(many=True, read_only=True)
    events = serializers.SerializerMethodField()
    events_count = serializers.SerializerMethodField()
    events_url = serializers.SerializerMethodField()
    installations_url = serializers.SerializerMethodField()

    class Meta(DeviceSerializer.Meta):
        fields = [
            *DeviceSerializer.Meta.fields,
            "installations",
            "installations_url",
            "events",
            "events_count",
            "events_url",
        ]

    def get_events(self, device: Device) -> list[dict]:
        latest = device.events.order_by("-date", "-pk")[:DETAIL_EVENTS]
        return InstallationEventSerializer(latest, many=True, context=self.context).data

    def get_events_count(self, device: Device) -> int:
        return device.events.count()

    def get_events_url(self, device: Device) -> str:
        return self._url("installation-event-list", device)

    def get_installations_url(self, device: Device) -> str:
        return self._url("installation-list", device)

    def _url(self, name: str, device: Device) -> str:
        url = f"{reverse(name)}?device={device.pk}"
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class DeviceApiFilterSet(DeviceFilterSet):
    """The device list page's filters (a unit with its affiliated bodies, "装有软件", …)
    and a few exact ones for scripts. Without ?status= it lists every device, retired ones
    too: scripts that page through devices keep the results they had."""

    default_status = DeviceStatus.ALL

    hostname__contains = django_filters.CharFilter(field_name="hostname", lookup_expr="icontains")
    last_seen__lt = django_filters.IsoDateTimeFilter(field_name="last_seen", lookup_expr="lt")
    last_seen__gte = django_filters.IsoDateTimeFilter(field_name="last_seen", lookup_expr="gte")

    class Meta(DeviceFilterSet.Meta):
        fields = [*DeviceFilterSet.Meta.fields, "serial_number", "os_name"]


class CappedCountPagination(BoundedLimitOffsetPagination):
    """LimitOffset pages with one bounded COUNT, like the web list's CappedCountPaginator:
    a province's 100,000 devices are not counted on every page. The count stops at
    ``count_cap`` rows (or at the end of the requested page, if deeper); past that, "count"
    is that bound and "count_exact" is false. "next" is right either way: the count reads
    one row past the bound."""

    count_cap = 10_000

    def get_count(self, queryset) -> int:
        bound = max(self.count_cap, self.offset + self.limit)
        self.count_bound = bound
        # COUNT(*) over a LIMIT: the scan stops one row past the bound; no ORDER BY needed.
        return queryset.order_by().values("pk")[: bound + 1].count()

    def paginate_queryset(self, queryset, request, view=None):
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        self.offset = self.get_offset(request)
        return super().paginate_queryset(queryset, request, view)

    @property
    def count_exact(self) -> bool:
        return self.count <= self.count_bound

    def get_paginated_response(self, data):
        return Response(
            {
                "count": min(self.count, self.count_bound),
                "count_exact": self.count_exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count_exact"] = {"type": "boolean", "example": True}
        return response


class DeviceViewSet(ScopedReadOnlyViewSet):
    """Devices; the detail view carries the installations and the change history."""

    queryset = Device.objects.select_related("unit")
    pagination_class = CappedCountPagination
    filterset_class = DeviceApiFilterSet
    ordering_fields = ["hostname", "last_seen", "first_seen"]

    def get_serializer_class(self):
        return DeviceDetailSerializer if self.action == "retrieve" else DeviceSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "retrieve":
            qs = qs.prefetch_related("installations__product")
        return qs


class InstallationApiFilterSet(FilterSet):
    class Meta:
        model = Installation
        fields = ["device", "product", "kind", "source"]


class InstallationViewSet(ScopedReadOnlyViewSet):
    """Installed software of every device in scope, in storage order (the cheap order for a
    province's millions of rows, and a stable one for paging through them)."""

    queryset = Installation.objects.select_related("product")
    serializer_class = InstallationSerializer
    pagination_class = CappedCountPagination
    filterset_class = InstallationApiFilterSet
    ordering_fields = ["id"]
    ordering = ["id"]


class InstallationEventApiFilterSet(FilterSet):
    date__gte = django_filters.IsoDateTimeFilter(field_name="date", lookup_expr="gte")
    date__lt = django_filters.IsoDateTimeFilter(field_name="date", lookup_expr="lt")

    class Meta:
        model = InstallationEvent
        fields = ["device", "event_type", "kind", "product"]


class InstallationEventViewSet(ScopedReadOnlyViewSet):
    """Every change found between two inventories (the ledger's 附表3), newest first."""

    queryset = InstallationEvent.objects.all()
    serializer_class = InstallationEventSerializer
    pagination_class = CappedCountPagination
    filterset_class = InstallationEventApiFilterSet
    ordering_fields = ["date"]
    ordering = ["-date", "-id"]


def register(router: BaseRouter) -> None:
    router.register("devices", DeviceViewSet, basename="device")
    router.register("installations", InstallationViewSet, basename="installation")
    router.register("installation-events", InstallationEventViewSet, basename="installation-event")
