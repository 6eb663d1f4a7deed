"""The province simulator's frame: one generator, a part per app.

Each app registers a part in its `simulate.py` (imported from its AppConfig.ready()); the
`zhengban simulate` command runs the parts in layer order with one shared context, so later
apps (licensing, governance, oversight…) add their data on top of what the earlier ones made.
Everything is derived from the seed: the same seed and size give the same province.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class SimulationSize:
    cities: int = 12
    counties: int = 80
    units: int = 5_000
    devices: int = 100_000

    def scaled(self, scale: float) -> SimulationSize:
        return SimulationSize(
            cities=max(1, round(self.cities * min(1.0, scale))) if scale < 1 else self.cities,
            counties=max(1, round(self.counties * scale)),
            units=max(1, round(self.units * scale)),
            devices=max(1, round(self.devices * scale)),
        )


@dataclass
class SimulationContext:
    seed: int
    size: SimulationSize
    out: TextIO = sys.stderr
    # Parts leave what later parts need here (ids, lists), keyed by part name.
    shared: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def rng(self, part: str) -> random.Random:
        """A generator per part, so adding a part never changes what the others make."""
        return random.Random(f"{self.seed}:{part}")

    def progress(self, part: str, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        bar = "█" * filled + "·" * (width - filled)
        end = "\n" if done >= total else ""
        self.out.write(f"\r  {part:<12} [{bar}] {done:>9,}/{total:,}{end}")
        self.out.flush()


@dataclass(frozen=True)
class SimulationPart:
    name: str
    order: int
    run: Callable[[SimulationContext], None]


_parts: dict[str, SimulationPart] = {}


def register(name: str, *, order: int) -> Callable[[Callable], Callable]:
    def decorator(fn: Callable[[SimulationContext], None]) -> Callable:
        _parts[name] = SimulationPart(name=name, order=order, run=fn)
        return fn

    return decorator


def parts() -> list[SimulationPart]:
    return sorted(_parts.values(), key=lambda p: p.order)


def run_all(ctx: SimulationContext, only: set[str] | None = None) -> None:
    for part in parts():
        if only and part.name not in only:
            continue
        started = time.perf_counter()
        ctx.out.write(f"{part.name} …\n")
        part.run(ctx)
        ctx.timings[part.name] = round(time.perf_counter() - started, 2)
        ctx.out.write(f"{part.name}: {ctx.timings[part.name]:.1f} s\n")
