from django.urls import path

from zhengban.governance import views

app_name = "governance"

urlpatterns = [
    path("mine/", views.mine, name="mine"),
    path("commitment/", views.commitment_sign, name="commitment_sign"),
    path("requests/", views.RequestListView.as_view(), name="request_list"),
    path("requests/new/", views.request_create, name="request_create"),
    path("requests/queue/", views.request_queue, name="request_queue"),
    path("requests/<int:pk>/", views.request_detail, name="request_detail"),
    path("requests/<int:pk>/decide/", views.request_decide, name="request_decide"),
    path("requests/<int:pk>/withdraw/", views.request_withdraw, name="request_withdraw"),
    path("workflow/", views.workflow_edit, name="workflow"),
    path("specs/", views.SpecListView.as_view(), name="spec_list"),
    path("specs/new/", views.spec_create, name="spec_create"),
    path("specs/<int:pk>/", views.spec_detail, name="spec_detail"),
    path("specs/<int:pk>/rules/", views.spec_rule_add, name="spec_rule_add"),
    path("specs/<int:pk>/adopt/", views.spec_adopt, name="spec_adopt"),
    path("rules/<int:pk>/delete/", views.spec_rule_delete, name="spec_rule_delete"),
    path("violations/", views.ViolationListView.as_view(), name="violation_list"),
    path("violations/<int:pk>/", views.violation_detail, name="violation_detail"),
    path("violations/<int:pk>/explain/", views.violation_explain, name="violation_explain"),
    path("violations/<int:pk>/assign/", views.violation_assign, name="violation_assign"),
    path("violations/<int:pk>/resolve/", views.violation_resolve, name="violation_resolve"),
    path("rates/", views.rates, name="rates"),
    path("self-reports/", views.campaign_list, name="campaign_list"),
    path("self-reports/new/", views.campaign_create, name="campaign_create"),
    path("self-reports/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("self-reports/<int:pk>/close/", views.campaign_close, name="campaign_close"),
    path("self-reports/forms/<int:pk>/", views.self_report, name="self_report"),
    path("inventory-queue/", views.InventoryQueueView.as_view(), name="inventory_queue"),
    path(
        "inventory-queue/requeue/",
        views.inventory_queue_requeue,
        name="inventory_queue_requeue",
    ),
    path(
        "inventory-queue/<int:pk>/requeue/",
        views.inventory_queue_requeue_one,
        name="inventory_queue_requeue_one",
    ),
]
