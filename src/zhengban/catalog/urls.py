from django.urls import path

from zhengban.catalog import views

app_name = "catalog"

urlpatterns = [
    path("publishers/", views.PublisherListView.as_view(), name="publisher_list"),
    path("publishers/new/", views.PublisherEditView.as_view(), name="publisher_create"),
    path("publishers/<int:pk>/edit/", views.PublisherEditView.as_view(), name="publisher_edit"),
    path("products/", views.ProductListView.as_view(), name="product_list"),
    path("products/new/", views.ProductEditView.as_view(), name="product_create"),
    path("products/<int:pk>/", views.ProductDetailView.as_view(), name="product_detail"),
    path("products/<int:pk>/edit/", views.ProductEditView.as_view(), name="product_edit"),
    path("reapply/<int:pk>/", views.ReapplyProgressView.as_view(), name="reapply_progress"),
    path("rules/", views.RuleListView.as_view(), name="rule_list"),
    path("unrecognised/", views.UnrecognisedQueueView.as_view(), name="unrecognised"),
]
