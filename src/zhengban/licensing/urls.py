from django.urls import path

from zhengban.licensing import views

app_name = "licensing"

urlpatterns = [
    path("", views.compliance, name="compliance"),
    path("units/<int:pk>/", views.compliance_unit, name="compliance_unit"),
    path("regions/<int:pk>/", views.compliance_region, name="compliance_region"),
    path("installs/", views.ResultListView.as_view(), name="result_list"),
    path("contracts/", views.ContractListView.as_view(), name="contract_list"),
    path("contracts/new/", views.contract_create, name="contract_create"),
    path("contracts/<int:pk>/", views.contract_detail, name="contract_detail"),
    path("contracts/<int:pk>/edit/", views.contract_edit, name="contract_edit"),
    path("contracts/<int:pk>/documents/", views.document_upload, name="document_upload"),
    path("documents/<int:pk>/", views.document_download, name="document_download"),
    path("entitlements/", views.EntitlementListView.as_view(), name="entitlement_list"),
    path("entitlements/new/", views.entitlement_create, name="entitlement_create"),
    path("entitlements/<int:pk>/", views.entitlement_detail, name="entitlement_detail"),
    path("entitlements/<int:pk>/edit/", views.entitlement_edit, name="entitlement_edit"),
    path("entitlements/<int:pk>/reveal/", views.entitlement_reveal, name="entitlement_reveal"),
    path(
        "entitlements/<int:pk>/allocate/", views.entitlement_allocate, name="entitlement_allocate"
    ),
    path("entitlements/<int:pk>/shares/", views.entitlement_share, name="entitlement_share"),
    path("allocations/", views.AllocationListView.as_view(), name="allocation_list"),
    path("allocations/<int:pk>/delete/", views.allocation_delete, name="allocation_delete"),
    path("shares/", views.ShareListView.as_view(), name="share_list"),
    path("ledger/units/<int:pk>/", views.ledger_unit, name="ledger_unit"),
    path("assets/", views.asset_cards, name="asset_cards"),
    path("entitlements/<int:pk>/dispose/", views.entitlement_dispose, name="entitlement_dispose"),
    path("disposals/", views.DisposalListView.as_view(), name="disposal_list"),
    path("policy/", views.policy, name="policy"),
    path("policy/regions/<int:pk>/", views.policy_region, name="policy_region"),
    path("policy/regions/<int:pk>/edit/", views.policy_edit, name="policy_edit"),
    path("policy/regions/<int:pk>/inherit/", views.policy_inherit, name="policy_inherit"),
]
