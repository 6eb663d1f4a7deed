"""The compliance engine: which installs are genuine, which are not, and why.

A pure, deterministic function over plain data (no Django, no database): the same facts give
the same outcome, whatever order they arrive in. ``services.py`` reads the facts from the
database, calls :func:`evaluate`, and writes the results.

Rules (FACTS.md, "What counts as genuine"):

1. Software not recognised by the catalog is ``unknown``: it can be neither proved genuine
   nor blamed.
2. A home or personal edition is never genuine for a unit (even if the catalog calls it free:
   software free only for personal use is commercial for a unit).
3. Free and open-source software needs no licence; nor does a component of a suite that is
   installed on the same device (the suite carries the licence).
4. Everything else needs an entitlement of the same product (edition level), or of a suite
   containing it, or of its family when the install's edition is unknown, whose version
   rights cover the installed version (bought version; lower versions only under downgrade
   rights, to the listed versions if any; higher versions only while upgrade rights last),
   whose term includes the evaluation date, and which has a seat left.

Consumption order, per unit, each step over all still uncovered installs before the next:

    0. allocations: an entitlement allocated by hand to the device or its person
       (allocated seats are reserved, whether or not the software is installed);
    1. OEM, only on the device it is bound to;
    2. per device (单机);
    3. per user: one seat per person covers that person's installs on all their devices;
    4. concurrent (网络): counted as installs up to its number, until usage data exists;
    5. site (场地): every install in the units it covers.

Within a step, installs go in (unit, device, product, install id) order and entitlements in
(end date, id) order (the one expiring first is used first). A seat is a device (a person
for per-user entitlements): a second install of the same product on one device takes no
second seat.

An install left uncovered gets the reason of the furthest any candidate entitlement got:
no entitlement < edition mismatch < OEM of another device < version < term < no user for a
per-user licence < over quantity.

Quantity-limited entitlements are expected to belong to one unit (a framework agreement is
split into one entitlement fact per unit share), so each unit can be computed on its own;
unlimited ones (site) may cover many units.
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# Plain values of choices.Metric / Status / Reason / Basis (kept in sync by a test).
OEM, PER_DEVICE, PER_USER, CONCURRENT, SITE = "oem", "per_device", "per_user", "concurrent", "site"
METRIC_STEP = {OEM: 1, PER_DEVICE: 2, PER_USER: 3, CONCURRENT: 4, SITE: 5}
STEPS = (OEM, PER_DEVICE, PER_USER, CONCURRENT, SITE)

COVERED, NOT_REQUIRED, UNLICENSED, UNKNOWN = "covered", "not_required", "unlicensed", "unknown"

# Failure stages, in the order an entitlement gets further (higher wins the reason).
_NO_ENTITLEMENT = (0, "no_entitlement")
_EDITION = (1, "edition_mismatch")
_OEM_OTHER = (2, "oem_other_device")
_VERSION_BELOW = (3, "version_below")
_VERSION_ABOVE = (3, "version_above")
_NOT_YET_VALID = (4, "not_yet_valid")
_EXPIRED = (4, "expired")
_NO_USER = (5, "no_user")
_OVER_QUANTITY = (6, "over_quantity")

COMMERCIAL = "commercial"


@dataclass(frozen=True, slots=True)
class Install:
    """One installed product as the catalog recognised it."""

    id: int
    device: int
    unit: int
    product: str | None  # catalog product key (edition level); None = not recognised
    family: str | None = None
    edition: str = ""  # "" = the family's generic product: edition unknown
    version: str | None = None  # a catalog version label ("2016"), or a raw version
    category: str = ""
    license_model: str = COMMERCIAL  # "commercial" | "free" | "open_source"
    home_edition: bool = False
    person: str | None = None  # the device's 使用人, any stable key
    suites: frozenset[str] = frozenset()  # catalog suites that include this product


@dataclass(frozen=True, slots=True)
class Entitlement:
    """What was bought. ``product`` names an edition; or ``family`` with ``edition`` (None:
    any edition of the family)."""

    id: int
    metric: str
    units: frozenset[int]
    product: str | None = None
    family: str | None = None
    edition: str | None = None
    versions: tuple[str, ...] = ()  # versions bought; () = any version
    quantity: int | None = None  # None = unlimited
    start: datetime.date | None = None
    end: datetime.date | None = None  # None = perpetual
    downgrade: bool = False
    downgrade_to: tuple[str, ...] = ()  # () with downgrade = every lower version
    upgrade_until: datetime.date | None = None
    oem_device: int | None = None


@dataclass(frozen=True, slots=True)
class Allocation:
    """An entitlement given by hand to a device or a person of a unit."""

    entitlement: int
    unit: int
    device: int | None = None
    person: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    reason: str
    entitlement: int | None = None
    basis: str = ""  # "", "downgrade", "upgrade", "suite", "edition_unknown"
    detail: str = ""  # the suite for a component


@dataclass
class Position:
    """Per unit × product: installs needing a licence, covered, shortfall; seats bought,
    used and left (finite quantities only)."""

    unit: int
    product: str
    category: str = ""
    required: int = 0
    covered: int = 0
    shortfall: int = 0
    licensed: int = 0
    unlimited: bool = False
    consumed: int = 0
    surplus: int = 0


@dataclass
class Usage:
    """Seats of one entitlement fact used in one evaluation."""

    entitlement: int
    units: frozenset[int]
    quantity: int | None
    used: int


@dataclass
class Result:
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    positions: dict[tuple[int, str], Position] = field(default_factory=dict)
    usage: list[Usage] = field(default_factory=list)


# ----------------------------------------------------------------------------- versions

_NUM_RE = re.compile(r"\d+")
_WORD_SPLIT_RE = re.compile(r"[\s()（）,/_-]+")


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in _NUM_RE.findall(version)[:8])


def compare_versions(a: str, b: str, order: Sequence[str] | None) -> int:
    """-1, 0 or 1: by the catalog's order when it knows both, else numerically."""
    if a == b:
        return 0
    if order and a in order and b in order:
        ia, ib = order.index(a), order.index(b)
        return (ia > ib) - (ia < ib)
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)


def version_label(name: str, raw_version: str | None, labels: Sequence[str]) -> str | None:
    """The catalog version label of an install: a label that is a word of its name
    ("Microsoft Office Professional Plus 2016" → "2016", "Windows 11 Pro" → "11"), else the
    longest label its raw version starts with ("10.0.19045" → "10"), else the raw version.

    The name comes first because vendors reuse version numbers across releases (Office
    2016, 2019 and 2021 all report 16.0, Windows 11 reports 10.0)."""
    if labels:
        words = " " + " ".join(_WORD_SPLIT_RE.split(name.lower())) + " "
        by_length = sorted(labels, key=len, reverse=True)
        for label in by_length:
            if f" {label.lower()} " in words:
                return label
        if raw_version:
            raw = raw_version.lower()
            for label in by_length:
                low = label.lower()
                if raw == low or raw.startswith(low + "."):
                    return label
    return raw_version or None


# ----------------------------------------------------------------------------- engine


class _Fact:
    __slots__ = ("ent", "seats", "alloc_devices", "alloc_people", "sort_key")

    def __init__(self, ent: Entitlement) -> None:
        self.ent = ent
        self.seats: set[tuple[str, object]] = set()
        self.alloc_devices: set[int] = set()
        self.alloc_people: set[str] = set()
        self.sort_key = (ent.end or datetime.date.max, ent.id, min(ent.units, default=0))

    def has_seat(self, key: tuple[str, object]) -> bool:
        q = self.ent.quantity
        return q is None or key in self.seats or len(self.seats) < q


def _product_match(ent: Entitlement, inst: Install) -> tuple[int, str] | None:
    """(0, basis) when the entitlement is for this product; (1, "") for the same family
    but another edition; None when unrelated."""
    if ent.product is not None:
        if ent.product == inst.product:
            return (0, "")
        if ent.product in inst.suites:
            return (0, "suite")
        if ent.family is not None and ent.family == inst.family:
            return (0, "edition_unknown") if inst.edition == "" else (1, "")
        return None
    if ent.family is not None and ent.family == inst.family:
        if ent.edition is None or ent.edition == inst.edition:
            return (0, "")
        return (0, "edition_unknown") if inst.edition == "" else (1, "")
    return None


def _version_check(
    ent: Entitlement, inst: Install, order: Sequence[str] | None, as_of: datetime.date
) -> tuple[str | None, tuple[int, str] | None]:
    """(basis, None) when the version rights cover the install, else (None, failure)."""
    v = inst.version
    if not ent.versions or v is None or v in ent.versions:
        return "", None
    top = ent.versions[0]
    for other in ent.versions[1:]:
        if compare_versions(other, top, order) > 0:
            top = other
    c = compare_versions(v, top, order)
    if c == 0:
        return "", None
    if c < 0:
        if ent.downgrade and (not ent.downgrade_to or v in ent.downgrade_to):
            return "downgrade", None
        return None, _VERSION_BELOW
    if ent.upgrade_until is not None and as_of <= ent.upgrade_until:
        return "upgrade", None
    return None, _VERSION_ABOVE


def _eligible(
    fact: _Fact, inst: Install, order: Sequence[str] | None, as_of: datetime.date
) -> tuple[str | None, tuple[int, str]]:
    """(basis, stage): basis is not None when the fact may cover the install apart from
    seats; otherwise stage says how far it got."""
    ent = fact.ent
    match = _product_match(ent, inst)
    if match is None:
        return None, _NO_ENTITLEMENT
    if match[0] == 1:
        return None, _EDITION
    if ent.metric == OEM and ent.oem_device != inst.device:
        return None, _OEM_OTHER
    basis, failure = _version_check(ent, inst, order, as_of)
    if failure is not None:
        return None, failure
    if ent.start is not None and as_of < ent.start:
        return None, _NOT_YET_VALID
    if ent.end is not None and as_of > ent.end:
        return None, _EXPIRED
    if match[1]:
        basis = match[1] if not basis else basis
    return basis, _OVER_QUANTITY


def _sort_key(fact: _Fact) -> tuple:
    return fact.sort_key


def _note(best: dict[int, tuple[int, str]], inst_id: int, stage: tuple[int, str]) -> None:
    if stage > best.get(inst_id, _NO_ENTITLEMENT):
        best[inst_id] = stage


def _seat_key(ent: Entitlement, inst: Install) -> tuple[str, object] | None:
    if ent.metric == PER_USER:
        return ("p", inst.person) if inst.person else None
    return ("d", inst.device)


def evaluate(
    installs: Iterable[Install],
    entitlements: Iterable[Entitlement],
    allocations: Iterable[Allocation] = (),
    *,
    version_order: Mapping[str, Sequence[str]] | None = None,
    categories: Mapping[str, str] | None = None,
    as_of: datetime.date,
) -> Result:
    """Outcome of every install, positions per unit × product and seats used.

    ``version_order`` maps a product key to its versions oldest → newest (the catalog's
    order); ``categories`` gives the category of products that appear only in entitlements.
    """
    version_order = version_order or {}
    categories = categories or {}
    result = Result()

    facts = [_Fact(e) for e in entitlements]
    facts.sort(key=lambda f: f.sort_key)
    by_unit: dict[int, list[_Fact]] = defaultdict(list)
    for fact in facts:
        for unit in fact.ent.units:
            by_unit[unit].append(fact)
    for alloc in allocations:
        for fact in by_unit.get(alloc.unit, ()):
            if fact.ent.id != alloc.entitlement:
                continue
            if alloc.device is not None:
                fact.alloc_devices.add(alloc.device)
                fact.seats.add(("d", alloc.device))
            if alloc.person is not None:
                fact.alloc_people.add(alloc.person)
                fact.seats.add(("p", alloc.person))
            break

    units: dict[int, list[Install]] = defaultdict(list)
    for inst in installs:
        units[inst.unit].append(inst)

    # A province has many identical installs: an entitlement's eligibility depends only on the
    # install's product and version (and device, for OEM), so it is decided once per shape.
    memo: dict[tuple, tuple[str | None, tuple[int, str]]] = {}

    def eligible(fact: _Fact, inst: Install) -> tuple[str | None, tuple[int, str]]:
        key = (
            id(fact),
            inst.product,
            inst.family,
            inst.edition,
            inst.suites,
            inst.version,
            inst.device if fact.ent.metric == OEM else None,
        )
        hit = memo.get(key)
        if hit is None:
            order = version_order.get(inst.product or "") or version_order.get(
                fact.ent.product or ""
            )
            hit = memo[key] = _eligible(fact, inst, order, as_of)
        return hit

    positions = result.positions
    outcomes = result.outcomes
    for unit in sorted(units):
        items = sorted(units[unit], key=lambda i: (i.device, i.product or "", i.id))
        on_device: dict[int, set[str]] = defaultdict(set)
        for inst in items:
            if inst.product:
                on_device[inst.device].add(inst.product)
        pool = by_unit.get(unit, [])
        by_family: dict[str, list[_Fact]] = defaultdict(list)
        by_product: dict[str, list[_Fact]] = defaultdict(list)
        # OEM facts are indexed by their device: a unit with a thousand OEM PCs must not
        # try every OEM licence on every PC. One representative per product shape is kept
        # to tell "OEM of another device" apart from "no entitlement".
        oem_by_device: dict[int, list[_Fact]] = defaultdict(list)
        oem_shapes: dict[str, dict[tuple, Entitlement]] = defaultdict(dict)
        for fact in pool:
            ent = fact.ent
            if ent.metric == OEM:
                if ent.oem_device is not None:
                    oem_by_device[ent.oem_device].append(fact)
                if ent.family:
                    oem_shapes[ent.family].setdefault((ent.product, ent.edition), ent)
                continue
            if ent.family:
                by_family[ent.family].append(fact)
            if ent.product:
                by_product[ent.product].append(fact)

        pending: list[tuple[Install, list[_Fact]]] = []
        shapes: dict[tuple, list[_Fact]] = {}
        for inst in items:
            if inst.product is None:
                outcomes[inst.id] = Outcome(UNKNOWN, "unrecognised")
                continue
            if inst.home_edition:
                outcomes[inst.id] = Outcome(UNLICENSED, "home_edition")
            elif inst.license_model != COMMERCIAL:
                reason = "open_source" if inst.license_model == "open_source" else "free"
                outcomes[inst.id] = Outcome(NOT_REQUIRED, reason)
                continue
            else:
                if inst.suites:
                    suite = min((s for s in inst.suites if s in on_device[inst.device]), default="")
                    if suite:
                        outcomes[inst.id] = Outcome(NOT_REQUIRED, "suite_component", detail=suite)
                        continue
                # Candidates depend on the install's product, suites and family (the same
                # for many installs of a unit), plus the OEM licences of its device.
                shape = (inst.product, inst.suites, inst.family)
                shared = shapes.get(shape)
                if shared is None:
                    seen: set[int] = set()
                    shared = []
                    for key in (inst.product, *sorted(inst.suites)):
                        for fact in by_product.get(key, ()):
                            if id(fact) not in seen:
                                seen.add(id(fact))
                                shared.append(fact)
                    if inst.family:
                        for fact in by_family.get(inst.family, ()):
                            if id(fact) not in seen:
                                seen.add(id(fact))
                                shared.append(fact)
                    shared.sort(key=_sort_key)
                    shapes[shape] = shared
                oem = oem_by_device.get(inst.device)
                if oem:
                    candidates = sorted([*shared, *oem], key=_sort_key)
                else:
                    candidates = shared
                pending.append((inst, candidates))
            pos = positions.get((unit, inst.product))
            if pos is None:
                pos = positions[(unit, inst.product)] = Position(unit, inst.product, inst.category)
            pos.required += 1

        # install id → the furthest failure stage seen, for the reason of an uncovered one
        best: dict[int, tuple[int, str]] = {}

        # Step 0: allocations.
        left: list[tuple[Install, list[_Fact]]] = []
        for inst, candidates in pending:
            done = False
            for fact in candidates:
                allocated = inst.device in fact.alloc_devices or (
                    inst.person is not None and inst.person in fact.alloc_people
                )
                if not allocated:
                    continue
                basis, stage = eligible(fact, inst)
                if basis is None:
                    _note(best, inst.id, stage)
                    continue
                outcomes[inst.id] = Outcome(COVERED, "allocation", fact.ent.id, basis)
                done = True
                break
            if not done:
                left.append((inst, candidates))

        # Steps 1-5: OEM, per device, per user, concurrent, site.
        for metric in STEPS:
            still: list[tuple[Install, list[_Fact]]] = []
            for inst, candidates in left:
                done = False
                for fact in candidates:
                    if fact.ent.metric != metric:
                        continue
                    basis, stage = eligible(fact, inst)
                    if basis is None:
                        _note(best, inst.id, stage)
                        continue
                    key = _seat_key(fact.ent, inst)
                    if key is None:
                        _note(best, inst.id, _NO_USER)
                        continue
                    if not fact.has_seat(key):
                        _note(best, inst.id, _OVER_QUANTITY)
                        continue
                    fact.seats.add(key)
                    outcomes[inst.id] = Outcome(COVERED, metric, fact.ent.id, basis)
                    done = True
                    break
                if not done:
                    still.append((inst, candidates))
            left = still
        for inst, _candidates in left:
            for shape in oem_shapes.get(inst.family or "", {}).values():
                match = _product_match(shape, inst)
                if match is not None and match[0] == 0 and shape.oem_device != inst.device:
                    _note(best, inst.id, _OEM_OTHER)
            outcomes[inst.id] = Outcome(UNLICENSED, best.get(inst.id, _NO_ENTITLEMENT)[1])

        for inst in items:
            out = outcomes[inst.id]
            if out.status == COVERED:
                positions[(unit, inst.product)].covered += 1
            elif out.status == UNLICENSED:
                positions[(unit, inst.product)].shortfall += 1

    # Seats bought, used and left, per unit × product of the entitlement.
    for fact in facts:
        ent = fact.ent
        result.usage.append(Usage(ent.id, ent.units, ent.quantity, len(fact.seats)))
        if ent.product is None:
            continue
        if ent.quantity is None:
            for unit in ent.units:
                pos = positions.get((unit, ent.product))
                if pos is not None:
                    pos.unlimited = True
            continue
        if len(ent.units) != 1:
            continue
        (unit,) = ent.units
        pos = positions.get((unit, ent.product))
        if pos is None:
            category = categories.get(ent.product, "")
            pos = positions[(unit, ent.product)] = Position(unit, ent.product, category)
        pos.licensed += ent.quantity
        pos.consumed += len(fact.seats)
        pos.surplus += max(0, ent.quantity - len(fact.seats))
    return result


def genuine_rate(covered: int, required: int) -> float | None:
    """Share of licence-needing installs that are covered; None when nothing needs one."""
    return round(covered / required, 4) if required else None
