"""Home-page panels: each app registers functions that return a panel for a person (or None),
so the home page shows real figures from every app without core importing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Panel:
    title: str
    order: int = 100
    # (label, value, url or "") figures shown large
    figures: list[tuple[str, Any, str]] = field(default_factory=list)
    # (text, url or "") rows listed under the figures
    rows: list[tuple[str, str]] = field(default_factory=list)
    empty_text: str = ""


_providers: list[Callable[[Any], Panel | None]] = []


def register(provider: Callable[[Any], Panel | None]) -> Callable[[Any], Panel | None]:
    if provider not in _providers:
        _providers.append(provider)
    return provider


def panels_for(user: Any) -> list[Panel]:
    panels = [p for p in (provider(user) for provider in _providers) if p is not None]
    return sorted(panels, key=lambda p: p.order)
