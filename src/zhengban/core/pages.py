from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.generic import DetailView, ListView, TemplateView

from zhengban.core import notifications
from zhengban.core.filtersets import AuditLogEntryFilterSet
from zhengban.core.home import panels_for
from zhengban.core.models import AuditLogEntry, Notification
from zhengban.core.tables import AuditLogEntryTable
from zhengban.core.views import ObjectListView


class HomeView(LoginRequiredMixin, TemplateView):
    template_name = "core/home.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["panels"] = panels_for(self.request.user)
        ctx["today"] = timezone.localdate()
        return ctx


class AuditLogView(PermissionRequiredMixin, ObjectListView):
    """The audit log, for the 审计管理员 only (permission granted by role)."""

    permission_required = "core.view_auditlogentry"
    model = AuditLogEntry
    table_class = AuditLogEntryTable
    filterset_class = AuditLogEntryFilterSet
    title = _("审计日志")
    export_name = "audit-log"

    def get_queryset(self):
        # Readers of the log see all of it; the permission check above is the gate.
        return AuditLogEntry.objects.all()


class NotificationListView(LoginRequiredMixin, ListView):
    template_name = "core/notifications.html"
    paginate_by = 50

    def get_queryset(self):
        return Notification.objects.filter(recipient=self.request.user)

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        notifications.mark_all_read(user=request.user)
        return response


class AuditLogDetailView(PermissionRequiredMixin, DetailView):
    """One entry with its before/after side by side, for the 审计管理员."""

    permission_required = "core.view_auditlogentry"
    model = AuditLogEntry
    template_name = "core/audit_detail.html"
    context_object_name = "entry"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        entry = self.object
        before, after = entry.before or {}, entry.after or {}
        ctx["changes"] = [
            (key, before.get(key), after.get(key)) for key in sorted({*before, *after})
        ]
        ctx["title"] = _("审计日志详情")
        return ctx
