from django.conf import settings
from django.http import HttpRequest

from zhengban.core.navigation import menu_for, menu_html
from zhengban.core.notifications import unread_count


def navigation(request: HttpRequest) -> dict:
    # Context processors run again for every template rendered with the request (each
    # {% render_table %}): the menu and the unread count are worked out once per request.
    cached = getattr(request, "_zhengban_navigation", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    menu = menu_for(user) if user is not None and user.is_authenticated else []
    cached = {
        "nav_menu": menu,
        "nav_html": menu_html(menu),
        "site_name": settings.ZHENGBAN["SITE_NAME"],
        "unread_notifications": unread_count(user) if menu else 0,
    }
    request._zhengban_navigation = cached
    return cached
