"""The API of the asset side of licensing: a region's policy in effect (price caps, asset
threshold, service life, each with the region it comes from) and asset disposals (list,
detail, and recording one through ``services.dispose`` with the page's checks).

Registered from ``licensing/api.py``; like every API view, querysets pass through the scoping
mechanism, so another unit's or region's object is a 404."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from zhengban.core.api import ScopedViewSetMixin
from zhengban.licensing import services
from zhengban.licensing.api import IsLicensingReader
from zhengban.licensing.choices import Disposal
from zhengban.licensing.filtersets import DisposalFilterSet
from zhengban.licensing.models import AssetDisposal, Entitlement, LicensingPolicy
from zhengban.orgs.models import Region
from zhengban.orgs.services import can_manage_unit

# ------------------------------------------------------------------------------ policy


def _policy_value(name: str, value: Any) -> Any:
    """Money as DRF writes decimals (a string with the field's places); years as a number."""
    field = LicensingPolicy._meta.get_field(name)
    if value is None or not isinstance(field, models.DecimalField):
        return value
    return serializers.DecimalField(
        max_digits=field.max_digits, decimal_places=field.decimal_places
    ).to_representation(value)


class PolicyValueSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    value = serializers.JSONField(help_text="金额为字符串(元),使用年限为整数;未设上限为 null")
    origin = serializers.ChoiceField(choices=["own", "inherited", "default"])
    source_region = serializers.IntegerField(allow_null=True)
    source_region_name = serializers.CharField(allow_null=True)
    fallback = serializers.JSONField(help_text="没有本区划设定时的值(上级区划或默认值)")


class EffectivePolicySerializer(serializers.Serializer):
    region = serializers.IntegerField()
    region_name = serializers.CharField()
    own = serializers.BooleanField(help_text="本区划是否设定了自己的标准")
    values = PolicyValueSerializer(many=True)


class EffectivePolicyViewSet(
    ScopedViewSetMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """``GET policies/<region id>/``: the policy in effect in a region the user may see."""

    permission_classes = [IsLicensingReader]
    queryset = Region.objects.all()
    serializer_class = EffectivePolicySerializer

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        region = self.get_object()
        own, values = services.policy_values(region)
        data = {
            "region": region.pk,
            "region_name": region.name,
            "own": own is not None,
            "values": [
                {
                    "name": v.name,
                    "label": v.label,
                    "value": _policy_value(v.name, v.value),
                    "origin": v.origin,
                    "source_region": v.source.pk if v.source is not None else None,
                    "source_region_name": v.source.name if v.source is not None else None,
                    "fallback": _policy_value(v.name, v.fallback),
                }
                for v in values
            ],
        }
        return Response(self.get_serializer(data).data)


# ---------------------------------------------------------------------------- disposals


class DisposalSerializer(serializers.ModelSerializer):
    # A plain id: the view finds the entitlement within the user's scope (404 otherwise).
    entitlement = serializers.IntegerField(source="entitlement_id")
    unit = serializers.IntegerField(source="entitlement.unit_id", read_only=True)
    product_key = serializers.CharField(
        source="entitlement.product.key", read_only=True, default=None
    )
    family_key = serializers.CharField(
        source="entitlement.family.key", read_only=True, default=None
    )

    class Meta:
        model = AssetDisposal
        fields = [
            "id",
            "entitlement",
            "unit",
            "product_key",
            "family_key",
            "method",
            "date",
            "quantity",
            "recipient",
            "approval",
            "reason",
            "created",
        ]
        read_only_fields = ["id", "created"]
        extra_kwargs = {
            "quantity": {"min_value": 1, "help_text": "空表示处置全部剩余许可"},
            # As on the page: 报废 needs its circumstances, every disposal a reason.
            "reason": {"required": True, "allow_blank": False},
        }


def _check_against_remaining(data: dict[str, Any], remaining: int | None) -> None:
    """The disposal page's checks (views.entitlement_dispose and forms.DisposalForm), with
    the same messages."""
    if remaining == 0:
        raise ValidationError({"entitlement": [_("该授权已全部处置。")]})
    quantity = data.get("quantity")
    if quantity is not None and remaining is not None and quantity > remaining:
        raise ValidationError(
            {"quantity": [_("处置数量不能超过剩余许可数 %(n)d。") % {"n": remaining}]}
        )
    if data["method"] != Disposal.SCRAP and not (data.get("recipient") or "").strip():
        raise ValidationError({"recipient": [_("转让、捐赠和调剂须填写接收单位。")]})


class DisposalViewSet(
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Asset disposals the user may see; POST records one (SAM officers of the unit)."""

    permission_classes = [IsLicensingReader]
    queryset = AssetDisposal.objects.select_related(
        "entitlement__product", "entitlement__family"
    ).order_by("-date", "-id")
    serializer_class = DisposalSerializer
    filterset_class = DisposalFilterSet
    ordering_fields = ["date", "quantity"]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # As the page: another unit's entitlement is a 404, one the user may not manage a 403.
        visible = Entitlement.objects.select_related("unit").visible_to(request.user)
        entitlement = visible.filter(pk=data["entitlement_id"]).first()
        if entitlement is None:
            raise Http404
        # Reading licensing at all is checked by IsLicensingReader, before this.
        if not can_manage_unit(request.user, entitlement.unit):
            raise PermissionDenied
        _check_against_remaining(data, services.remaining_quantity(entitlement))
        try:
            row = services.dispose(
                actor=request.user,
                entitlement=entitlement,
                method=data["method"],
                date=data["date"],
                quantity=data.get("quantity"),
                recipient=data.get("recipient") or "",
                approval=data.get("approval") or "",
                reason=data["reason"],
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.messages) from exc
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)


def register(router: BaseRouter) -> None:
    router.register("policies", EffectivePolicyViewSet, basename="licensing-policy")
    router.register("disposals", DisposalViewSet, basename="disposal")
