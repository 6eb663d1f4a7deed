from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.static import serve

from zhengban.api import api_urlpatterns
from zhengban.orgs.views_accounts import OwnPasswordChangeView

urlpatterns = [
    path("", include("zhengban.core.urls")),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", OwnPasswordChangeView.as_view(success_url="/"), name="password_change"),
    path("orgs/", include("zhengban.orgs.urls")),
    path("catalog/", include("zhengban.catalog.urls")),
    path("governance/", include("zhengban.governance.urls")),
    path("licensing/", include("zhengban.licensing.urls")),
    path("api/v1/", include(api_urlpatterns)),
    path("", include("zhengban.inventory.urls")),  # /inventory/… pages, /ingest/<token>/
]

if settings.DEBUG:
    # Uploaded files in development; production serves MEDIA_ROOT from the reverse proxy.
    urlpatterns += [path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT})]
