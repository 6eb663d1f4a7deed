import django_tables2 as tables

from zhengban.core.models import AuditLogEntry


class AuditLogEntryTable(tables.Table):
    timestamp = tables.DateTimeColumn(format="Y-m-d H:i:s")

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
