import django_tables2 as tables
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from zhengban.licensing.models import (
    Allocation,
    AssetDisposal,
    ComplianceResult,
    Contract,
    Entitlement,
    EntitlementShare,
)


class ContractTable(tables.Table):
    number = tables.Column(linkify=("licensing:contract_detail", [tables.A("pk")]))
    terms_missing = tables.BooleanColumn(verbose_name=_("条款缺失"), yesno="⚠,")

    class Meta:
        model = Contract
        fields = [
            "number",
            "title",
            "unit",
            "supplier",
            "signed_on",
            "amount",
            "procurement_method",
            "terms_missing",
        ]

    def value_terms_missing(self, value: bool) -> str:
        return str(_("是")) if value else ""


class EntitlementTable(tables.Table):
    name = tables.Column(
        verbose_name=_("授权"),
        accessor="pk",
        linkify=("licensing:entitlement_detail", [tables.A("pk")]),
        order_by=("product__name",),
    )
    serial = tables.Column(verbose_name=_("许可证号"), accessor="serial_hint", orderable=False)

    class Meta:
        model = Entitlement
        fields = [
            "name",
            "unit",
            "metric",
            "term",
            "quantity",
            "end",
            "downgrade",
            "framework",
            "contract",
            "serial",
        ]

    def render_name(self, record: Entitlement) -> str:
        return str(record)

    def value_name(self, record: Entitlement) -> str:
        return str(record)

    def render_serial(self, record: Entitlement) -> str:
        # Masked everywhere, the export too: the clear key is an audited action on its own.
        return record.masked_serial

    def value_serial(self, record: Entitlement) -> str:
        return record.masked_serial


class AllocationTable(tables.Table):
    entitlement = tables.Column(
        linkify=("licensing:entitlement_detail", [tables.A("entitlement_id")])
    )

    class Meta:
        model = Allocation
        fields = ["entitlement", "unit", "device", "person", "created"]


class ShareTable(tables.Table):
    entitlement = tables.Column(
        linkify=("licensing:entitlement_detail", [tables.A("entitlement_id")])
    )
    owner = tables.Column(verbose_name=_("签约单位"), accessor="entitlement__unit")

    class Meta:
        model = EntitlementShare
        fields = ["entitlement", "owner", "unit", "quantity"]


class ResultTable(tables.Table):
    device = tables.Column(linkify=("inventory:device_detail", [tables.A("device_id")]))
    entitlement = tables.Column(
        linkify=lambda record: (
            reverse("licensing:entitlement_detail", args=[record.entitlement_id])
            if record.entitlement_id
            else None
        )
    )

    class Meta:
        model = ComplianceResult
        fields = [
            "unit",
            "device",
            "product",
            "version",
            "status",
            "reason",
            "basis",
            "entitlement",
        ]


class DisposalTable(tables.Table):
    entitlement = tables.Column(
        verbose_name=_("资产"),
        linkify=("licensing:entitlement_detail", [tables.A("entitlement_id")]),
        order_by=("entitlement__product__name",),
    )
    unit = tables.Column(verbose_name=_("单位"), accessor="entitlement__unit")
    # None: every licence left; empty_values=() so that the page and the export both say so.
    quantity = tables.Column(verbose_name=_("处置数量"), empty_values=())

    class Meta:
        model = AssetDisposal
        fields = [
            "entitlement",
            "unit",
            "method",
            "recipient",
            "date",
            "quantity",
            "approval",
            "reason",
        ]

    def render_quantity(self, value: int | None) -> str:
        return str(value) if value is not None else str(_("全部"))

    def value_quantity(self, value: int | None) -> str:
        return str(value) if value is not None else str(_("全部"))
