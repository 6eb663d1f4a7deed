"""REST endpoints of software use; every list is scoped like the pages."""

from rest_framework import serializers
from rest_framework.routers import BaseRouter
from rest_framework.viewsets import ReadOnlyModelViewSet

from zhengban.governance import services
from zhengban.governance.filtersets import RequestFilterSet, ViolationFilterSet
from zhengban.governance.models import ConfigurationSpec, SoftwareRequest, SpecRule, Violation


class SpecRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = SpecRule
        fields = ["id", "kind", "product", "family", "category", "note"]


class SpecSerializer(serializers.ModelSerializer):
    rules = SpecRuleSerializer(many=True, read_only=True)

    class Meta:
        model = ConfigurationSpec
        fields = [
            "id",
            "name",
            "unit",
            "region",
            "department",
            "post",
            "active",
            "adopted_from",
            "rules",
        ]


class RequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = SoftwareRequest
        fields = [
            "id",
            "unit",
            "requester",
            "device",
            "action",
            "product",
            "reason",
            "status",
            "submitted_at",
            "decided_at",
            "window_until",
            "fulfilled_at",
            "installation",
        ]


class ViolationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Violation
        fields = [
            "id",
            "unit",
            "device",
            "person",
            "person_name",
            "kind",
            "product",
            "software_name",
            "software_version",
            "first_seen",
            "last_seen",
            "status",
            "resolution",
            "assignee",
            "resolved_at",
        ]


class SpecViewSet(ReadOnlyModelViewSet):
    # Declared for the schema and the scoping matrix; get_queryset() is what is served.
    queryset = ConfigurationSpec.objects.all()
    serializer_class = SpecSerializer
    ordering_fields = ["name"]

    def get_queryset(self):
        return ConfigurationSpec.objects.visible_to(self.request.user).prefetch_related("rules")


class RequestViewSet(ReadOnlyModelViewSet):
    queryset = SoftwareRequest.objects.all()
    serializer_class = RequestSerializer
    filterset_class = RequestFilterSet
    ordering_fields = ["submitted_at", "status"]

    def get_queryset(self):
        return services.visible_requests(self.request.user)


class ViolationViewSet(ReadOnlyModelViewSet):
    queryset = Violation.objects.all()
    serializer_class = ViolationSerializer
    filterset_class = ViolationFilterSet
    ordering_fields = ["first_seen", "status", "kind"]

    def get_queryset(self):
        return services.visible_violations(self.request.user)


def register(router: BaseRouter) -> None:
    router.register("governance/specs", SpecViewSet, basename="governance-spec")
    router.register("governance/requests", RequestViewSet, basename="governance-request")
    router.register("governance/violations", ViolationViewSet, basename="governance-violation")
