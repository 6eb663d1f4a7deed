import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from zhengban.governance.models import (
    ConfigurationSpec,
    PendingInventory,
    SoftwareRequest,
    Violation,
)


class RequestTable(tables.Table):
    id = tables.Column(
        verbose_name=_("编号"), linkify=("governance:request_detail", [tables.A("pk")])
    )
    submitted_at = tables.DateTimeColumn(format="Y-m-d H:i")

    class Meta:
        model = SoftwareRequest
        fields = [
            "id",
            "submitted_at",
            "unit",
            "requester",
            "device",
            "action",
            "product",
            "status",
            "window_until",
        ]


class ViolationTable(tables.Table):
    kind = tables.Column(linkify=("governance:violation_detail", [tables.A("pk")]))
    first_seen = tables.DateTimeColumn(format="Y-m-d H:i")

    class Meta:
        model = Violation
        fields = [
            "kind",
            "software_name",
            "software_version",
            "unit",
            "device",
            "person_name",
            "first_seen",
            "status",
            "resolution",
            "assignee",
        ]


class SpecTable(tables.Table):
    name = tables.Column(linkify=("governance:spec_detail", [tables.A("pk")]))
    rule_count = tables.Column(verbose_name=_("条目数"))

    class Meta:
        model = ConfigurationSpec
        fields = ["name", "unit", "region", "department", "post", "active", "adopted_from"]


class PendingInventoryTable(tables.Table):
    """Set-aside notes of the inventory queue (the 系统管理员's page)."""

    id = tables.Column(verbose_name=_("编号"))
    device = tables.Column(linkify=("inventory:device_detail", [tables.A("device_id")]))
    unit = tables.Column(accessor="device__unit", verbose_name=_("单位"))
    received = tables.DateTimeColumn(format="Y-m-d H:i:s")
    failed_at = tables.DateTimeColumn(format="Y-m-d H:i:s")
    # The report's number only: reading the reports themselves would load their documents.
    report_id = tables.Column(verbose_name=_("清单编号"), default="—")
    actions = tables.TemplateColumn(
        template_name="governance/_inventory_queue_actions.html",
        verbose_name="",
        orderable=False,
        exclude_from_export=True,
    )

    class Meta:
        model = PendingInventory
        fields = ["id", "device", "unit", "received", "attempts", "failed_at", "error"]
        sequence = [
            "id",
            "device",
            "unit",
            "report_id",
            "received",
            "attempts",
            "failed_at",
            "error",
            "actions",
        ]
