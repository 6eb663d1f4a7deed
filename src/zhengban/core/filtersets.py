import django_filters
from django.utils.translation import gettext_lazy as _

from zhengban.core.choices import AuditAction
from zhengban.core.models import AuditLogEntry


class AuditLogEntryFilterSet(django_filters.FilterSet):
    actor_name = django_filters.CharFilter(lookup_expr="icontains", label=_("操作人"))
    action = django_filters.ChoiceFilter(choices=AuditAction.choices, label=_("操作"))
    object_type = django_filters.CharFilter(label=_("对象类型"))
    since = django_filters.DateFilter(
        field_name="timestamp", lookup_expr="date__gte", label=_("起始日期")
    )
    until = django_filters.DateFilter(
        field_name="timestamp", lookup_expr="date__lte", label=_("截止日期")
    )

    class Meta:
        model = AuditLogEntry
        fields = ["actor_name", "action", "object_type", "since", "until"]
