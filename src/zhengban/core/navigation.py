"""Menu registry: each app registers its entries in AppConfig.ready(), so the base template
shows them without core importing any higher app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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


def menu_for(user: Any) -> list[dict[str, Any]]:
    out = []
    for menu in sorted(_groups.values(), key=lambda g: g.order):
        items = [i for i in menu.items if i.visible is None or i.visible(user)]
        if items:
            out.append({"label": menu.label, "items": items})
    return out
