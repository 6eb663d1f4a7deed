"""Menu registry: each app registers its entries in AppConfig.ready(), so the base template
shows them without core importing any higher app."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class MenuItem:
    label: str
    url_name: str
    # Who sees the entry; None means every signed-in person.
    visible: Callable[[Any], bool] | None = None


@dataclass
class MenuGroup:
    label: str
    order: int
    items: list[MenuItem] = field(default_factory=list)


_groups: dict[str, MenuGroup] = {}


def register(group: str, label: str, url_name: str, *, order: int = 100, visible=None) -> None:
    menu = _groups.setdefault(str(group), MenuGroup(label=group, order=order))
    if any(item.url_name == url_name for item in menu.items):
        return
    menu.items.append(MenuItem(label=label, url_name=url_name, visible=visible))


def _menu(user: Any, shown: Callable[[MenuItem], bool]) -> list[dict[str, Any]]:
    out = []
    for menu in sorted(_groups.values(), key=lambda g: g.order):
        items = [i for i in menu.items if shown(i)]
        if items:
            out.append({"label": menu.label, "items": items})
    return out


def menu_key(user: Any) -> str:
    """What a person's menu depends on: who they are and their roles, unit and flags. A role
    granted or withdrawn changes the key (the roles are read afresh on every request), so
    no stale menu outlives a role change, in any process."""
    roles = ",".join(sorted(getattr(user, "role_set", ()) or ()))
    facts = f"{user.pk}|{roles}|{user.unit_id}|{user.is_superuser}|{user.is_active}"
    return "menu:" + hashlib.sha256(facts.encode()).hexdigest()[:32]


def menu_for(user: Any) -> list[dict[str, Any]]:
    """The menu entries `user` may see, by group.

    The menu only shows links (every view checks its own permission), so it is reused per
    person for MENU_CACHE_SECONDS: the visibility checks cost queries (Django's per-person
    permission tables) on every page otherwise."""
    seconds = int(getattr(settings, "MENU_CACHE_SECONDS", 0))
    if not seconds:
        return _menu(user, lambda i: i.visible is None or i.visible(user))
    key = menu_key(user)
    names = cache.get(key)
    if names is None:
        names = [
            i.url_name
            for group in _groups.values()
            for i in group.items
            if i.visible is None or i.visible(user)
        ]
        cache.set(key, names, seconds)
    allowed = set(names)
    return _menu(user, lambda i: i.url_name in allowed)


# Rendered menus by what their HTML depends on; a handful per process (one per set of
# entries people have), the bound only guards against the unexpected.
_html: dict[tuple, SafeString] = {}
_HTML_KEPT = 256


def menu_html(menu: list[dict[str, Any]]) -> SafeString:
    """The base layout's menu (core/_menu.html) for `menu`, rendered once per process for
    each set of entries, language and URL prefix: the same for everyone with the same
    entries, and reversing two dozen URLs in the template on every page costs more than
    the rest of the layout."""
    if not menu:
        return mark_safe("")
    key = (
        translation.get_language(),
        get_script_prefix(),
        get_urlconf(),
        # An entry's label follows from its group and URL name (register() keeps the first).
        tuple((str(g["label"]), *(i.url_name for i in g["items"])) for g in menu),
    )
    html = _html.get(key)
    if html is None:
        html = mark_safe(render_to_string("core/_menu.html", {"nav_menu": menu}).rstrip("\n"))
        if len(_html) >= _HTML_KEPT:
            _html.clear()
        _html[key] = html
    return html
