from django.urls import path

from zhengban.orgs import views, views_accounts

app_name = "orgs"

urlpatterns = [
    path("regions/", views.RegionListView.as_view(), name="region_list"),
    path("units/", views.UnitListView.as_view(), name="unit_list"),
    path("units/<int:pk>/", views.UnitDetailView.as_view(), name="unit_detail"),
    path("people/", views.PersonListView.as_view(), name="person_list"),
    path("people/<int:pk>/", views.PersonDetailView.as_view(), name="person_detail"),
    # §一 responsibility (units, departments, mechanism, meetings, year-end lists)
    path("units/new/", views.unit_create, name="unit_create"),
    path("units/<int:pk>/edit/", views.unit_edit, name="unit_edit"),
    path("units/<int:pk>/departments/", views.department_add, name="department_add"),
    path("departments/<int:pk>/rename/", views.department_rename, name="department_rename"),
    path("units/<int:pk>/meetings/new/", views.meeting_create, name="meeting_create"),
    path("meetings/<int:pk>/minutes/", views.meeting_minutes, name="meeting_minutes"),
    path("meetings/<int:pk>/delete/", views.meeting_delete, name="meeting_delete"),
    path("regions/<int:pk>/", views.RegionDetailView.as_view(), name="region_detail"),
    path("regions/<int:pk>/mechanism/new/", views.mechanism_add, name="mechanism_add"),
    path("mechanism/<int:pk>/edit/", views.mechanism_edit, name="mechanism_edit"),
    path("mechanism/<int:pk>/delete/", views.mechanism_delete, name="mechanism_delete"),
    path("submissions/", views.submission_home, name="submission_home"),
    path(
        "units/<int:pk>/submissions/<int:year>/",
        views.submission_unit,
        name="submission_unit",
    ),
    path("submissions/<int:pk>/receive/", views.submission_receive, name="submission_receive"),
    path("submissions/<int:pk>/return/", views.submission_return, name="submission_return"),
    path("bureaus/<int:pk>/submissions/", views.bureau_submissions, name="bureau_submissions"),
    path("bureaus/<int:pk>/remind/", views.bureau_remind, name="bureau_remind"),
    path("import/", views.import_page, name="import"),
    path("import/template.xlsx", views.import_template, name="import_template"),
    path("import/reports/<str:report_id>.xlsx", views.import_report, name="import_report"),
]

# Platform operators (三员): accounts (系统管理员) and roles (安全管理员).
urlpatterns += [
    path("accounts/", views_accounts.AccountListView.as_view(), name="account_list"),
    path("accounts/new/", views_accounts.AccountCreateView.as_view(), name="account_create"),
    path("accounts/<int:pk>/", views_accounts.AccountEditView.as_view(), name="account_edit"),
    path(
        "accounts/<int:pk>/password/",
        views_accounts.AccountPasswordView.as_view(),
        name="account_password",
    ),
    path(
        "accounts/<int:pk>/deactivate/",
        views_accounts.AccountDeactivateView.as_view(),
        name="account_deactivate",
    ),
    path(
        "accounts/<int:pk>/activate/",
        views_accounts.AccountActivateView.as_view(),
        name="account_activate",
    ),
    path(
        "accounts/<int:pk>/unlock/",
        views_accounts.AccountUnlockView.as_view(),
        name="account_unlock",
    ),
    path("roles/", views_accounts.RoleAccountListView.as_view(), name="role_list"),
    path("roles/<int:pk>/", views_accounts.RoleManageView.as_view(), name="role_manage"),
    path("roles/<int:pk>/revoke/", views_accounts.RoleRevokeView.as_view(), name="role_revoke"),
]
