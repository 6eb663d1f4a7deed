"""Read-only licensing API, scoped like every list: contracts, entitlements (keys masked),
compliance verdicts per install and positions per unit × product."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.routers import BaseRouter

from zhengban.core.api import ScopedReadOnlyViewSet
from zhengban.core.filtersets import BooleanFilter, FilterSet
from zhengban.licensing import services
from zhengban.licensing.models import (
    CompliancePosition,
    ComplianceResult,
    Contract,
    Entitlement,
)


class IsLicensingReader(IsAuthenticated):
    """The pages' read rule (``services.can_read_licensing``): a person without a licensing
    role gets 403 here exactly where the pages refuse; scoping then limits what is seen."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return super().has_permission(request, view) and services.can_read_licensing(request.user)


class ContractSerializer(serializers.ModelSerializer):
    missing_terms = serializers.ListField(source="missing_term_labels", read_only=True)

    class Meta:
        model = Contract
        fields = [
            "id",
            "unit",
            "number",
            "title",
            "supplier",
            "signed_on",
            "amount",
            "funding_source",
            "procurement_method",
            "term_version",
            "term_compatibility",
            "term_security",
            "term_authorisation",
            "term_support",
            "terms_missing",
            "missing_terms",
        ]


class EntitlementSerializer(serializers.ModelSerializer):
    product_key = serializers.CharField(source="product.key", read_only=True, default=None)
    family_key = serializers.CharField(source="family.key", read_only=True, default=None)
    serial = serializers.CharField(source="masked_serial", read_only=True)

    class Meta:
        model = Entitlement
        fields = [
            "id",
            "unit",
            "contract",
            "product",
            "product_key",
            "family_key",
            "edition",
            "versions",
            "metric",
            "term",
            "start",
            "end",
            "quantity",
            "downgrade",
            "downgrade_to",
            "upgrade_until",
            "oem_device",
            "site_region",
            "framework",
            "source_type",
            "purchased_on",
            "unit_price",
            "serial",
        ]


class ComplianceResultSerializer(serializers.ModelSerializer):
    product_key = serializers.CharField(source="product.key", read_only=True)

    class Meta:
        model = ComplianceResult
        fields = [
            "installation",
            "unit",
            "device",
            "product",
            "product_key",
            "version",
            "status",
            "reason",
            "basis",
            "entitlement",
            "detail",
        ]


class CompliancePositionSerializer(serializers.ModelSerializer):
    product_key = serializers.CharField(source="product.key", read_only=True)

    class Meta:
        model = CompliancePosition
        fields = [
            "unit",
            "product",
            "product_key",
            "category",
            "required",
            "covered",
            "shortfall",
            "licensed",
            "unlimited",
            "consumed",
            "surplus",
            "computed",
        ]


class ContractFilterSet(FilterSet):
    # A GeneratedField: django-filter cannot derive its filter by itself.
    terms_missing = BooleanFilter()

    class Meta:
        model = Contract
        fields = ["unit", "procurement_method", "funding_source"]


class ContractViewSet(ScopedReadOnlyViewSet):
    permission_classes = [IsLicensingReader]
    queryset = Contract.objects.all()
    serializer_class = ContractSerializer
    filterset_class = ContractFilterSet
    ordering_fields = ["signed_on", "amount", "number"]


class EntitlementViewSet(ScopedReadOnlyViewSet):
    permission_classes = [IsLicensingReader]
    queryset = Entitlement.objects.select_related("product", "family")
    serializer_class = EntitlementSerializer
    filterset_fields = ["unit", "metric", "term", "product", "contract", "framework"]
    ordering_fields = ["purchased_on", "end", "quantity"]

    def get_queryset(self):
        # Units holding a share of a framework agreement see it too.
        return Entitlement.objects.select_related("product", "family").visible_to(self.request.user)


class ComplianceResultViewSet(ScopedReadOnlyViewSet):
    permission_classes = [IsLicensingReader]
    queryset = ComplianceResult.objects.select_related("product")
    serializer_class = ComplianceResultSerializer
    filterset_fields = ["unit", "device", "product", "status", "reason"]
    ordering_fields = ["installation"]


class CompliancePositionViewSet(ScopedReadOnlyViewSet):
    permission_classes = [IsLicensingReader]
    queryset = CompliancePosition.objects.select_related("product")
    serializer_class = CompliancePositionSerializer
    filterset_fields = ["unit", "product", "category"]
    ordering_fields = ["shortfall", "required", "surplus"]


def register(router: BaseRouter) -> None:
    router.register("contracts", ContractViewSet, basename="contract")
    router.register("entitlements", EntitlementViewSet, basename="entitlement")
    router.register("compliance/results", ComplianceResultViewSet, basename="compliance-result")
    router.register(
        "compliance/positions", CompliancePositionViewSet, basename="compliance-position"
    )
    # The effective policy of a region and asset disposals (policy page, disposals pages).
    from zhengban.licensing.asset_api import register as register_assets

    register_assets(router)
