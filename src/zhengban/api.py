"""The /api/v1/ router. Each app registers its viewsets in its own api.py; this module only
collects them, so adding an app is one line here."""

from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework.routers import DefaultRouter

from zhengban.catalog.api import register as register_catalog
from zhengban.governance.api import register as register_governance
from zhengban.inventory.api import register as register_inventory
from zhengban.licensing.api import register as register_licensing
from zhengban.orgs.api import register as register_orgs

router = DefaultRouter()
register_orgs(router)
register_catalog(router)
register_governance(router)
register_inventory(router)
register_licensing(router)

api_urlpatterns = [
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("", include(router.urls)),
]
