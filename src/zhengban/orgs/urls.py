from django.urls import path

from zhengban.orgs import views

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
]
