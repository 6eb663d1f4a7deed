import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from zhengban.governance.models import ConfigurationSpec, SoftwareRequest, Violation


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
