from django.urls import path

from zhengban.core import pages

app_name = "core"

urlpatterns = [
    path("", pages.HomeView.as_view(), name="home"),
    path("audit-log/", pages.AuditLogView.as_view(), name="audit_log"),
    path("audit-log/<int:pk>/", pages.AuditLogDetailView.as_view(), name="audit_detail"),
    path("notifications/", pages.NotificationListView.as_view(), name="notifications"),
]
