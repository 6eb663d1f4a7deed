from rest_framework import serializers
from rest_framework.routers import BaseRouter

from zhengban.core.api import ScopedReadOnlyViewSet
from zhengban.orgs.filtersets import RegionFilterSet, UnitFilterSet, UserFilterSet
from zhengban.orgs.models import Region, Unit, User


class RegionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Region
        fields = ["id", "code", "name", "level", "parent", "path"]


class UnitSerializer(serializers.ModelSerializer):
    region_code = serializers.CharField(source="region.code", read_only=True)

    class Meta:
        model = Unit
        fields = [
            "id",
            "name",
            "credit_code",
            "unit_type",
            "region",
            "region_code",
            "parent",
            "headcount",
            "is_copyright_bureau",
            "head_name",
            "head_post",
            "lead_department",
            "officer_name",
            "officer_post",
            "officer_phone",
        ]


class PersonSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "unit", "department", "post", "phone", "roles"]

    def get_roles(self, obj: User) -> list[str]:
        return sorted(grant.role for grant in obj.role_grants.all())


class RegionViewSet(ScopedReadOnlyViewSet):
    queryset = Region.objects.all()
    serializer_class = RegionSerializer
    filterset_class = RegionFilterSet
    ordering_fields = ["code", "name"]


class UnitViewSet(ScopedReadOnlyViewSet):
    queryset = Unit.objects.select_related("region")
    serializer_class = UnitSerializer
    filterset_class = UnitFilterSet
    ordering_fields = ["name", "credit_code", "headcount"]


class PersonViewSet(ScopedReadOnlyViewSet):
    queryset = User.objects.prefetch_related("role_grants")
    serializer_class = PersonSerializer
    filterset_class = UserFilterSet
    ordering_fields = ["username", "full_name"]


def register(router: BaseRouter) -> None:
    router.register("regions", RegionViewSet, basename="region")
    router.register("units", UnitViewSet, basename="unit")
    router.register("people", PersonViewSet, basename="person")
