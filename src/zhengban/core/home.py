"""Home-page panels: each app registers functions that return a panel for a person (or None),
so the home page shows real figures from every app without core importing them.

A provider registered with ``cache="scope"`` promises that its panel depends only on what
the person may see (their scope), their unit and their roles: the panel is then kept in Django's cache
for ``HOME_CACHE_SECONDS`` and shared by everyone with the same scope and roles, because a
province-wide panel aggregates over every device and installation of the province. The page
says when such figures were computed.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone, translation

from zhengban.core.scoping import user_scope


@dataclass
class Panel:
    title: str
    order: int = 100
    # (label, value, url or "") figures shown large
    figures: list[tuple[str, Any, str]] = field(default_factory=list)
    # (text, url or "") rows listed under the figures
    rows: list[tuple[str, str]] = field(default_factory=list)
    empty_text: str = ""
    # When a cached panel's figures were computed (None: computed for this request).
    computed_at: datetime.datetime | None = None


Provider = Callable[[Any], Panel | None]

_providers: list[Provider] = []
_cached: set[Provider] = set()

CACHE_PREFIX = "zhengban:home:"
_MISSING = object()


def register(provider: Provider | None = None, *, cache: str | None = None):
    """Registers a panel provider; use as ``@register`` or ``@register(cache="scope")``."""
    if cache not in (None, "scope"):
        raise ValueError(f"unknown home-panel cache mode: {cache!r}")

    def add(fn: Provider) -> Provider:
        if fn not in _providers:
            _providers.append(fn)
        if cache == "scope":
            _cached.add(fn)
        return fn

    return add(provider) if provider is not None else add


def cache_seconds() -> int:
    return int(getattr(settings, "HOME_CACHE_SECONDS", 0))


def scope_cache_key(provider: Provider | str, user: Any) -> str:
    scope = user_scope(user)
    roles = ",".join(sorted(str(r) for r in getattr(user, "role_set", ()) or ()))
    name = (
        f"figure:{provider}"
        if isinstance(provider, str)
        else f"{provider.__module__}.{provider.__qualname__}"
    )
    parts = (
        name,
        scope.kind,
        scope.region_path,
        scope.unit_path,
        str(scope.region_id or ""),
        str(scope.unit_id or ""),
        # A 软件使用人's figures count their own devices: never shared with a colleague.
        str(scope.person_id or ""),
        # Panels may name the person's own unit (a bureau's progress) even for region scopes.
        str(getattr(user, "unit_id", "") or ""),
        roles,
        "su" if getattr(user, "is_superuser", False) else "",
        "op" if getattr(user, "is_platform_operator", False) else "",
        translation.get_language() or "",
    )
    # Paths can be long and hold characters some cache backends refuse: hash them.
    return CACHE_PREFIX + hashlib.sha256("|".join(parts).encode()).hexdigest()


def _panel(provider: Provider, user: Any) -> Panel | None:
    seconds = cache_seconds()
    if provider not in _cached or seconds <= 0:
        return provider(user)
    key = scope_cache_key(provider, user)
    hit = cache.get(key, _MISSING)
    if hit is not _MISSING:
        return hit
    panel = provider(user)
    if panel is not None:
        panel.computed_at = timezone.now()
    cache.set(key, panel, seconds)
    return panel


def scope_figure(panel: Panel, user: Any, name: str, compute: Callable[[], Any]) -> Any:
    """One figure over the person's whole scope, in a panel that is otherwise per person (and
    so not cached as a whole): the figure alone is reused like a scope-cached panel, keyed by
    `name` (one per figure, e.g. "governance.open_violations"), and the panel says since when.
    For counts over a province's rows; a person's own queue stays exact."""
    seconds = cache_seconds()
    if seconds <= 0:
        return compute()
    key = scope_cache_key(name, user)
    hit = cache.get(key)
    if hit is None:
        hit = (compute(), timezone.now())
        cache.set(key, hit, seconds)
    value, computed_at = hit
    if panel.computed_at is None or computed_at < panel.computed_at:
        panel.computed_at = computed_at
    return value


def panels_for(user: Any) -> list[Panel]:
    panels = [p for p in (_panel(provider, user) for provider in _providers) if p is not None]
    return sorted(panels, key=lambda p: p.order)


def figures_as_of(panels: list[Panel]) -> datetime.datetime | None:
    """The oldest computation time among cached panels, for "数据更新于 HH:MM"."""
    times = [p.computed_at for p in panels if p.computed_at is not None]
    return min(times) if times else None
