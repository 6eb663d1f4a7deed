from django.conf import settings
from django.http import HttpRequest

from zhengban.core.navigation import menu_for


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    menu = menu_for(user) if user is not None and user.is_authenticated else []
    unread = user.notifications.filter(read_at__isnull=True).count() if menu else 0
    return {
        "nav_menu": menu,
        "site_name": settings.ZHENGBAN["SITE_NAME"],
        "unread_notifications": unread,
    }
