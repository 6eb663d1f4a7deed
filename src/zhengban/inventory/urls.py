from django.urls import path

from zhengban.inventory import ingest, views

app_name = "inventory"

urlpatterns = [
    # The URL agents are configured with (one per enrolment token), at the site root.
    path("ingest/<str:token>/", ingest.ingest, name="ingest"),
    path("ingest/", ingest.ingest, name="ingest_without_token"),  # answers 401
    path("inventory/devices/", views.DeviceListView.as_view(), name="device_list"),
    path("inventory/devices/<int:pk>/", views.DeviceDetailView.as_view(), name="device_detail"),
    path("inventory/devices/<int:pk>/edit/", views.DeviceEditView.as_view(), name="device_edit"),
    path("inventory/devices/<int:pk>/move/", views.DeviceMoveView.as_view(), name="device_move"),
    path(
        "inventory/devices/<int:pk>/retire/",
        views.DeviceRetireView.as_view(),
        name="device_retire",
    ),
    path(
        "inventory/devices/<int:pk>/reinstate/",
        views.DeviceReinstateView.as_view(),
        name="device_reinstate",
    ),
    path("inventory/import/", views.ImportView.as_view(), name="import"),
    path("inventory/enrollment/", views.EnrollmentTokenListView.as_view(), name="token_list"),
    path(
        "inventory/enrollment/new/",
        views.EnrollmentTokenCreateView.as_view(),
        name="token_create",
    ),
    path(
        "inventory/enrollment/<int:pk>/revoke/",
        views.EnrollmentTokenRevokeView.as_view(),
        name="token_revoke",
    ),
]
