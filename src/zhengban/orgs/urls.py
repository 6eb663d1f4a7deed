from django.urls import path

from zhengban.orgs import views

app_name = "orgs"

urlpatterns = [
    path("regions/", views.RegionListView.as_view(), name="region_list"),
    path("units/", views.UnitListView.as_view(), name="unit_list"),
    path("units/<int:pk>/", views.UnitDetailView.as_view(), name="unit_detail"),
    path("people/", views.PersonListView.as_view(), name="person_list"),
    path("people/<int:pk>/", views.PersonDetailView.as_view(), name="person_detail"),
]
