import json
from typing import Any

import django_tables2 as tables
from django.utils import timezone

from zhengban.core.models import AuditLogEntry


def _json_text(value: Any) -> str:
    # Chinese stays readable in the page and in the export (no \u escapes).
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


class AuditLogEntryTable(tables.Table):
    timestamp = tables.DateTimeColumn(
        format="Y-m-d H:i:s", linkify=("core:audit_detail", [tables.A("pk")])
    )

    class Meta:
        model = AuditLogEntry
        fields = [
            "timestamp",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "ip_address",
            "message",
        ]

    def value_timestamp(self, value: Any) -> str:
        # Local time as the page shows it; as_values() would give the raw UTC datetime.
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")

    def render_before(self, value: Any) -> str:
        return _json_text(value)

    def render_after(self, value: Any) -> str:
        return _json_text(value)

    def value_before(self, value: Any) -> str:
        return _json_text(value)

    def value_after(self, value: Any) -> str:
        return _json_text(value)
