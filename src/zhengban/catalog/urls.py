from django.urls import path

from zhengban.catalog import views

app_name = "catalog"

urlpatterns = [
    path("publishers/", views.PublisherListView.as_view(), name="publisher_list"),
    path("products/", views.ProductListView.as_view(), name="product_list"),
    path("products/<int:pk>/", views.ProductDetailView.as_view(), name="product_detail"),
    path("rules/", views.RuleListView.as_view(), name="rule_list"),
    path("unrecognised/", views.UnrecognisedQueueView.as_view(), name="unrecognised"),
]
