"""The `zhengban demo` frame: a believable demo built by one step per app.

Each app registers a step (from a module imported in its AppConfig.ready()); the command runs
them in order with one shared context, so later apps (inventory, catalog, licensing…) build on
what orgs made. Every step must be idempotent: running the demo twice adds nothing.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

# The one password of every listed demo account (also in README.md).
DEMO_PASSWORD = "Demo-Passw0rd!"


@dataclass
class DemoContext:
    out: TextIO = sys.stdout
    today: datetime.date = field(default_factory=timezone.localdate)
    password: str = DEMO_PASSWORD
    # Steps leave what later steps need here (units, people…), keyed by step name.
    shared: dict[str, Any] = field(default_factory=dict)
    # (username, role, unit or scope) rows for the table printed at the end.
    accounts: list[tuple[str, str, str]] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.out.write(f"{text}\n")


@dataclass(frozen=True)
class DemoStep:
    name: str
    order: int
    run: Callable[[DemoContext], None]


_steps: dict[str, DemoStep] = {}


def register(name: str, *, order: int = 100) -> Callable[[Callable], Callable]:
    """Decorator: `@demo.register("orgs", order=10)` on a function taking a DemoContext."""

    def decorate(fn: Callable[[DemoContext], None]) -> Callable[[DemoContext], None]:
        _steps[name] = DemoStep(name=name, order=order, run=fn)
        return fn

    return decorate


def steps() -> list[DemoStep]:
    return sorted(_steps.values(), key=lambda s: (s.order, s.name))


def run(*, out: TextIO = sys.stdout, only: list[str] | None = None) -> DemoContext:
    ctx = DemoContext(out=out)
    # Demo people have made-up addresses: workflow e-mails are dropped, whatever the
    # deployment's mail settings (in-app notifications are still written).
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
        for step in steps():
            if only and step.name not in only:
                continue
            ctx.say(f"demo: {step.name} …")
            # One transaction per step: a failing step leaves earlier steps' data intact.
            with transaction.atomic():
                step.run(ctx)
    return ctx
