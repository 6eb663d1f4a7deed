"""Table-driven scenarios of the compliance engine: exact outcome for every install.

The engine is pure, so these tests need no database. Products mirror the shipped catalog.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field

import pytest

from zhengban.licensing import engine
from zhengban.licensing.choices import Basis, Metric, Reason, Status
from zhengban.licensing.engine import Allocation, Entitlement, Install, evaluate

TODAY = datetime.date(2025, 6, 30)
YESTERDAY = TODAY - datetime.timedelta(days=1)
TOMORROW = TODAY + datetime.timedelta(days=1)

OFFICE_VERSIONS = ("2003", "2007", "2010", "2013", "2016", "2019", "2021", "2024")
WORD_EXCEL = frozenset({"microsoft-office-professional-plus", "microsoft-office-standard"})

# key: (family, edition, category, license_model, home_edition, suites)
CATALOG: dict[str, tuple] = {
    "windows-pro": ("windows", "Pro", "os", "commercial", False, frozenset()),
    "windows-home": ("windows", "Home", "os", "commercial", True, frozenset()),
    "windows-enterprise": ("windows", "Enterprise", "os", "commercial", False, frozenset()),
    "kylin-desktop": ("kylin-os", "桌面版", "os", "commercial", False, frozenset()),
    "ubuntu": ("ubuntu", "", "os", "open_source", False, frozenset()),
    "microsoft-office": ("microsoft-office", "", "office", "commercial", False, frozenset()),
    "microsoft-office-professional-plus": (
        "microsoft-office",
        "Professional Plus",
        "office",
        "commercial",
        False,
        frozenset(),
    ),
    "microsoft-office-standard": (
        "microsoft-office",
        "Standard",
        "office",
        "commercial",
        False,
        frozenset(),
    ),
    "microsoft-word": ("microsoft-office", "Standalone", "office", "commercial", False, WORD_EXCEL),
    "microsoft-access": (
        "microsoft-office",
        "Standalone",
        "office",
        "commercial",
        False,
        frozenset({"microsoft-office-professional-plus"}),
    ),
    "wps-office-personal": ("wps-office", "个人版", "office", "commercial", True, frozenset()),
    "wps-office-professional": ("wps-office", "专业版", "office", "commercial", False, frozenset()),
    "winrar": ("winrar", "", "compression", "commercial", False, frozenset()),
    "7-zip": ("7-zip", "", "compression", "open_source", False, frozenset()),
    "foxit-reader": ("foxit-reader", "", "document_reader", "free", False, frozenset()),
    "libreoffice": ("libreoffice", "", "office", "open_source", False, frozenset()),
    "360-safe": ("360-safe", "个人版", "antivirus", "free", True, frozenset()),
    "qax-tianqing": ("qax-tianqing", "", "antivirus", "commercial", False, frozenset()),
}
VERSION_ORDER = {
    "microsoft-office-professional-plus": OFFICE_VERSIONS,
    "microsoft-office-standard": OFFICE_VERSIONS,
    "microsoft-office": OFFICE_VERSIONS,
    "microsoft-word": OFFICE_VERSIONS,
    "windows-pro": ("XP", "Vista", "7", "8", "8.1", "10", "11"),
    "kylin-desktop": ("V4", "V7", "V10", "V10 SP1", "V11"),
}


def I(  # noqa: E743 - short builder names keep the scenario table readable
    id: int,
    device: int,
    product: str | None,
    version: str | None = None,
    *,
    unit: int = 1,
    person: str | None = None,
) -> Install:
    if product is None:
        return Install(id=id, device=device, unit=unit, product=None, version=version)
    family, edition, category, model, home, suites = CATALOG[product]
    return Install(
        id=id,
        device=device,
        unit=unit,
        product=product,
        family=family,
        edition=edition,
        version=version,
        category=category,
        license_model=model,
        home_edition=home,
        person=person,
        suites=suites,
    )


def E(id: int, metric: str, product: str | None, *, units=(1,), **kw) -> Entitlement:
    family = kw.pop("family", CATALOG[product][0] if product else None)
    return Entitlement(
        id=id, metric=metric, units=frozenset(units), product=product, family=family, **kw
    )


C, N, U, X = Status.COVERED, Status.NOT_REQUIRED, Status.UNLICENSED, Status.UNKNOWN
PP = "microsoft-office-professional-plus"


@dataclass
class Scenario:
    name: str
    installs: list[Install]
    entitlements: list[Entitlement]
    # install id → (status, reason, entitlement id or None, basis)
    expected: dict[int, tuple]
    allocations: list[Allocation] = field(default_factory=list)
    # None: not checked; {}: no position at all
    positions: dict[tuple[int, str], dict] | None = None


SCENARIOS = [
    Scenario(
        "OEM Windows on its own device",
        [I(1, 10, "windows-pro", "10")],
        [E(1, Metric.OEM, "windows-pro", versions=("10",), quantity=1, oem_device=10)],
        {1: (C, Reason.OEM, 1, "")},
    ),
    Scenario(
        "OEM licence of another device legalises nothing",
        [I(1, 11, "windows-pro", "10")],
        [E(1, Metric.OEM, "windows-pro", versions=("10",), quantity=1, oem_device=10)],
        {1: (U, Reason.OEM_OTHER_DEVICE, None, "")},
    ),
    Scenario(
        "commercial OS without any OS entitlement is flagged",
        [I(1, 10, "windows-enterprise", "10")],
        [],
        {1: (U, Reason.NO_ENTITLEMENT, None, "")},
    ),
    Scenario(
        "Office 2019 with downgrade rights covers 2016",
        [I(1, 10, PP, "2016")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=5, downgrade=True)],
        {1: (C, Reason.PER_DEVICE, 1, Basis.DOWNGRADE)},
    ),
    Scenario(
        "Office 2019 does not cover 2021",
        [I(1, 10, PP, "2021")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=5, downgrade=True)],
        {1: (U, Reason.VERSION_ABOVE, None, "")},
    ),
    Scenario(
        "Office 2019 without downgrade rights does not cover 2016",
        [I(1, 10, PP, "2016")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=5)],
        {1: (U, Reason.VERSION_BELOW, None, "")},
    ),
    Scenario(
        "downgrade rights limited to the listed versions",
        [I(1, 10, PP, "2016"), I(2, 11, PP, "2013")],
        [
            E(
                1,
                Metric.PER_DEVICE,
                PP,
                versions=("2021",),
                quantity=5,
                downgrade=True,
                downgrade_to=("2019", "2016"),
            )
        ],
        {1: (C, Reason.PER_DEVICE, 1, Basis.DOWNGRADE), 2: (U, Reason.VERSION_BELOW, None, "")},
    ),
    Scenario(
        "upgrade rights still running cover the newer version",
        [I(1, 10, PP, "2021")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=1, upgrade_until=TODAY)],
        {1: (C, Reason.PER_DEVICE, 1, Basis.UPGRADE)},
    ),
    Scenario(
        "upgrade rights that ended yesterday do not",
        [I(1, 10, PP, "2021")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=1, upgrade_until=YESTERDAY)],
        {1: (U, Reason.VERSION_ABOVE, None, "")},
    ),
    Scenario(
        "subscription expired yesterday",
        [I(1, 10, "qax-tianqing", "10")],
        [
            E(
                1,
                Metric.PER_DEVICE,
                "qax-tianqing",
                quantity=10,
                start=datetime.date(2024, 6, 30),
                end=YESTERDAY,
            )
        ],
        {1: (U, Reason.EXPIRED, None, "")},
    ),
    Scenario(
        "subscription ending today still covers",
        [I(1, 10, "qax-tianqing")],
        [E(1, Metric.PER_DEVICE, "qax-tianqing", quantity=10, end=TODAY)],
        {1: (C, Reason.PER_DEVICE, 1, "")},
    ),
    Scenario(
        "subscription starting tomorrow does not cover yet",
        [I(1, 10, "qax-tianqing")],
        [E(1, Metric.PER_DEVICE, "qax-tianqing", quantity=10, start=TOMORROW)],
        {1: (U, Reason.NOT_YET_VALID, None, "")},
    ),
    Scenario(
        "site licence of the unit covers every install in it",
        [I(1, 10, "qax-tianqing"), I(2, 11, "qax-tianqing"), I(3, 12, "qax-tianqing")],
        [E(1, Metric.SITE, "qax-tianqing")],
        {i: (C, Reason.SITE, 1, "") for i in (1, 2, 3)},
        positions={
            (1, "qax-tianqing"): dict(required=3, covered=3, shortfall=0, unlimited=True),
        },
    ),
    Scenario(
        "region site licence covers its units and no other",
        [
            I(1, 10, "kylin-desktop", "V10", unit=1),
            I(2, 20, "kylin-desktop", "V10", unit=2),
            I(3, 30, "kylin-desktop", "V10", unit=3),
        ],
        [E(1, Metric.SITE, "kylin-desktop", units=(1, 2))],
        {
            1: (C, Reason.SITE, 1, ""),
            2: (C, Reason.SITE, 1, ""),
            3: (U, Reason.NO_ENTITLEMENT, None, ""),
        },
    ),
    Scenario(
        "family-wide site licence, any edition of the family",
        [I(1, 10, "kylin-desktop", "V11")],
        [E(1, Metric.SITE, None, family="kylin-os")],
        {1: (C, Reason.SITE, 1, "")},
    ),
    Scenario(
        "concurrent licence counts installs up to its number",
        [I(1, 10, "winrar"), I(2, 11, "winrar"), I(3, 12, "winrar")],
        [E(1, Metric.CONCURRENT, "winrar", quantity=2)],
        {
            1: (C, Reason.CONCURRENT, 1, ""),
            2: (C, Reason.CONCURRENT, 1, ""),
            3: (U, Reason.OVER_QUANTITY, None, ""),
        },
        positions={
            (1, "winrar"): dict(
                required=3, covered=2, shortfall=1, licensed=2, consumed=2, surplus=0
            ),
        },
    ),
    Scenario(
        "over quantity: per device first, then concurrent, then nothing left",
        [I(1, 10, PP, "2019"), I(2, 11, PP, "2019"), I(3, 12, PP, "2019")],
        [
            E(2, Metric.CONCURRENT, PP, versions=("2019",), quantity=1),
            E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=1),
        ],
        {
            1: (C, Reason.PER_DEVICE, 1, ""),
            2: (C, Reason.CONCURRENT, 2, ""),
            3: (U, Reason.OVER_QUANTITY, None, ""),
        },
    ),
    Scenario(
        "OEM is used before a per-device seat, which is then left for another device",
        [I(1, 10, "windows-pro", "10"), I(2, 11, "windows-pro", "10")],
        [
            E(1, Metric.PER_DEVICE, "windows-pro", versions=("10",), quantity=1),
            E(2, Metric.OEM, "windows-pro", versions=("10",), quantity=1, oem_device=11),
        ],
        {1: (C, Reason.PER_DEVICE, 1, ""), 2: (C, Reason.OEM, 2, "")},
    ),
    Scenario(
        "allocation takes precedence and reserves its seat",
        [I(1, 10, PP, "2019"), I(2, 11, PP, "2019")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=1)],
        {1: (U, Reason.OVER_QUANTITY, None, ""), 2: (C, Reason.ALLOCATION, 1, "")},
        allocations=[Allocation(entitlement=1, unit=1, device=11)],
    ),
    Scenario(
        "an allocated but unused seat is not free for others",
        [I(1, 10, PP, "2019")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=1)],
        {1: (U, Reason.OVER_QUANTITY, None, "")},
        allocations=[Allocation(entitlement=1, unit=1, device=99)],
        positions={
            (1, PP): dict(required=1, covered=0, shortfall=1, licensed=1, consumed=1, surplus=0)
        },
    ),
    Scenario(
        "allocation to a person covers the person's device",
        [I(1, 10, "winrar", person="zhang"), I(2, 11, "winrar", person="li")],
        [E(1, Metric.PER_USER, "winrar", quantity=1)],
        {1: (C, Reason.ALLOCATION, 1, ""), 2: (U, Reason.OVER_QUANTITY, None, "")},
        allocations=[Allocation(entitlement=1, unit=1, person="zhang")],
    ),
    Scenario(
        "per-user licence covers one person on two devices",
        [
            I(1, 10, PP, "2019", person="zhang"),
            I(2, 11, PP, "2019", person="zhang"),
            I(3, 12, PP, "2019", person="li"),
        ],
        [E(1, Metric.PER_USER, PP, versions=("2019",), quantity=1)],
        {
            1: (C, Reason.PER_USER, 1, ""),
            2: (C, Reason.PER_USER, 1, ""),
            3: (U, Reason.OVER_QUANTITY, None, ""),
        },
        positions={
            (1, PP): dict(required=3, covered=2, shortfall=1, licensed=1, consumed=1, surplus=0)
        },
    ),
    Scenario(
        "per-user licence cannot cover a device without a person",
        [I(1, 10, PP, "2019")],
        [E(1, Metric.PER_USER, PP, versions=("2019",), quantity=5)],
        {1: (U, Reason.NO_USER, None, "")},
    ),
    Scenario(
        "WinRAR is commercial: no entitlement, unlicensed",
        [I(1, 10, "winrar", "6.24")],
        [],
        {1: (U, Reason.NO_ENTITLEMENT, None, "")},
    ),
    Scenario(
        "WPS personal edition is never genuine, even beside a professional entitlement",
        [I(1, 10, "wps-office-personal", "2019"), I(2, 11, "wps-office-professional", "2019")],
        [E(1, Metric.SITE, "wps-office-professional")],
        {1: (U, Reason.HOME_EDITION, None, ""), 2: (C, Reason.SITE, 1, "")},
    ),
    Scenario(
        "Windows Home with an OEM licence is still not genuine for a unit",
        [I(1, 10, "windows-home", "10")],
        [E(1, Metric.OEM, "windows-home", versions=("10",), quantity=1, oem_device=10)],
        {1: (U, Reason.HOME_EDITION, None, "")},
    ),
    Scenario(
        "antivirus free only for personal use is not genuine for a unit",
        [I(1, 10, "360-safe")],
        [],
        {1: (U, Reason.HOME_EDITION, None, "")},
    ),
    Scenario(
        "free and open-source software need no licence",
        [I(1, 10, "foxit-reader"), I(2, 10, "7-zip"), I(3, 10, "libreoffice"), I(4, 10, "ubuntu")],
        [],
        {
            1: (N, Reason.FREE, None, ""),
            2: (N, Reason.OPEN_SOURCE, None, ""),
            3: (N, Reason.OPEN_SOURCE, None, ""),
            4: (N, Reason.OPEN_SOURCE, None, ""),
        },
        positions={},
    ),
    Scenario(
        "unrecognised software is unknown, neither genuine nor blamed",
        [I(1, 10, None, "1.0")],
        [],
        {1: (X, Reason.UNRECOGNISED, None, "")},
        positions={},
    ),
    Scenario(
        "a suite's component rides on the suite installed on the same device",
        [I(1, 10, PP, "2019"), I(2, 10, "microsoft-word", "2019")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=1)],
        {1: (C, Reason.PER_DEVICE, 1, ""), 2: (N, Reason.SUITE_COMPONENT, None, "")},
        positions={
            (1, PP): dict(required=1, covered=1, shortfall=0, licensed=1, consumed=1, surplus=0)
        },
    ),
    Scenario(
        "a component rides on its suite even when the suite is unlicensed",
        [I(1, 10, PP, "2019"), I(2, 10, "microsoft-access", "2019")],
        [],
        {1: (U, Reason.NO_ENTITLEMENT, None, ""), 2: (N, Reason.SUITE_COMPONENT, None, "")},
    ),
    Scenario(
        "a standalone component is covered by an entitlement for a suite containing it",
        [I(1, 10, "microsoft-word", "2016")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2016",), quantity=1)],
        {1: (C, Reason.PER_DEVICE, 1, Basis.SUITE)},
    ),
    Scenario(
        "Office Standard installed, Professional Plus bought: edition mismatch",
        [I(1, 10, "microsoft-office-standard", "2019")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=1)],
        {1: (U, Reason.EDITION_MISMATCH, None, "")},
    ),
    Scenario(
        "edition unknown: the family's entitlement covers it",
        [I(1, 10, "microsoft-office", "2019")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=1)],
        {1: (C, Reason.PER_DEVICE, 1, Basis.EDITION_UNKNOWN)},
    ),
    Scenario(
        "two installs of one product on one device take one seat",
        [I(1, 10, PP, "2016"), I(2, 10, PP, "2016")],
        [E(1, Metric.PER_DEVICE, PP, versions=("2016",), quantity=1)],
        {1: (C, Reason.PER_DEVICE, 1, ""), 2: (C, Reason.PER_DEVICE, 1, "")},
    ),
    Scenario(
        "the entitlement ending first is consumed first",
        [I(1, 10, "qax-tianqing")],
        [
            E(1, Metric.PER_DEVICE, "qax-tianqing", quantity=1),
            E(2, Metric.PER_DEVICE, "qax-tianqing", quantity=1, end=datetime.date(2025, 12, 31)),
        ],
        {1: (C, Reason.PER_DEVICE, 2, "")},
        positions={
            (1, "qax-tianqing"): dict(
                required=1, covered=1, shortfall=0, licensed=2, consumed=1, surplus=1
            )
        },
    ),
    Scenario(
        "framework agreement shares: each unit consumes only its own share",
        [I(1, 10, "qax-tianqing", unit=1), I(2, 11, "qax-tianqing", unit=1)]
        + [I(3, 20, "qax-tianqing", unit=2)],
        [
            E(7, Metric.PER_DEVICE, "qax-tianqing", units=(1,), quantity=1),
            E(7, Metric.PER_DEVICE, "qax-tianqing", units=(2,), quantity=3),
        ],
        {
            1: (C, Reason.PER_DEVICE, 7, ""),
            2: (U, Reason.OVER_QUANTITY, None, ""),
            3: (C, Reason.PER_DEVICE, 7, ""),
        },
        positions={
            (1, "qax-tianqing"): dict(required=2, covered=1, shortfall=1, licensed=1, surplus=0),
            (2, "qax-tianqing"): dict(required=1, covered=1, shortfall=0, licensed=3, surplus=2),
        },
    ),
    Scenario(
        "another unit's entitlement covers nothing here",
        [I(1, 20, "winrar", unit=2)],
        [E(1, Metric.PER_DEVICE, "winrar", units=(1,), quantity=10)],
        {1: (U, Reason.NO_ENTITLEMENT, None, "")},
        positions={
            (2, "winrar"): dict(required=1, covered=0, shortfall=1, licensed=0),
            (1, "winrar"): dict(required=0, covered=0, shortfall=0, licensed=10, surplus=10),
        },
    ),
    Scenario(
        "the reason is the furthest any entitlement got (expired beats edition mismatch)",
        [I(1, 10, PP, "2019")],
        [
            E(1, Metric.PER_DEVICE, "microsoft-office-standard", versions=("2019",), quantity=1),
            E(2, Metric.PER_DEVICE, PP, versions=("2019",), quantity=1, end=YESTERDAY),
        ],
        {1: (U, Reason.EXPIRED, None, "")},
    ),
    Scenario(
        "an install of unknown version is covered by its product's entitlement",
        [I(1, 10, PP, None)],
        [E(1, Metric.PER_DEVICE, PP, versions=("2019",), quantity=1)],
        {1: (C, Reason.PER_DEVICE, 1, "")},
    ),
    Scenario(
        "catalog order, not string order: Kylin V10 SP1 is above V10",
        [I(1, 10, "kylin-desktop", "V10 SP1"), I(2, 11, "kylin-desktop", "V7")],
        [E(1, Metric.PER_DEVICE, "kylin-desktop", versions=("V10",), quantity=5, downgrade=True)],
        {1: (U, Reason.VERSION_ABOVE, None, ""), 2: (C, Reason.PER_DEVICE, 1, Basis.DOWNGRADE)},
    ),
    Scenario(
        "OEM step cannot use a per-user seat of the same product",
        [I(1, 10, "windows-pro", "11", person="zhang")],
        [
            E(1, Metric.PER_USER, "windows-pro", versions=("11",), quantity=1),
            E(2, Metric.OEM, "windows-pro", versions=("11",), quantity=1, oem_device=10),
        ],
        {1: (C, Reason.OEM, 2, "")},
        positions={
            (1, "windows-pro"): dict(required=1, covered=1, licensed=2, consumed=1, surplus=1)
        },
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    result = evaluate(
        scenario.installs,
        scenario.entitlements,
        scenario.allocations,
        version_order=VERSION_ORDER,
        as_of=TODAY,
    )
    got = {
        i: (o.status, o.reason, o.entitlement, o.basis) for i, o in sorted(result.outcomes.items())
    }
    assert got == scenario.expected
    if scenario.positions == {}:
        assert result.positions == {}
    for key, figures in (scenario.positions or {}).items():
        position = result.positions[key]
        for name, value in figures.items():
            assert getattr(position, name) == value, (key, name)


def test_at_least_thirty_scenarios() -> None:
    assert len(SCENARIOS) >= 30


def test_outcome_does_not_depend_on_input_order() -> None:
    installs = [inst for s in SCENARIOS[:20] for inst in s.installs]
    # Renumber so the ids are unique across scenarios; keep units apart per scenario.
    flat = []
    ents = []
    allocs = []
    for n, s in enumerate(SCENARIOS):
        unit_base = 100 * (n + 1)
        for inst in s.installs:
            flat.append(
                Install(
                    **{
                        **{k: getattr(inst, k) for k in Install.__slots__},
                        "id": unit_base * 10 + inst.id,
                        "unit": unit_base + inst.unit,
                        "device": unit_base * 100 + inst.device,
                    }
                )
            )
        for ent in s.entitlements:
            fields = {k: getattr(ent, k) for k in Entitlement.__slots__}
            fields["id"] = unit_base * 10 + ent.id
            fields["units"] = frozenset(unit_base + u for u in ent.units)
            if ent.oem_device is not None:
                fields["oem_device"] = unit_base * 100 + ent.oem_device
            ents.append(Entitlement(**fields))
        for a in s.allocations:
            allocs.append(
                Allocation(
                    entitlement=unit_base * 10 + a.entitlement,
                    unit=unit_base + a.unit,
                    device=None if a.device is None else unit_base * 100 + a.device,
                    person=a.person,
                )
            )
    assert installs
    first = evaluate(flat, ents, allocs, version_order=VERSION_ORDER, as_of=TODAY)
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(flat)
        rng.shuffle(ents)
        rng.shuffle(allocs)
        again = evaluate(flat, ents, allocs, version_order=VERSION_ORDER, as_of=TODAY)
        assert again.outcomes == first.outcomes
        assert again.positions == first.positions
    # Each scenario, evaluated among all the others, keeps its own outcome.
    for n, s in enumerate(SCENARIOS):
        unit_base = 100 * (n + 1)
        for inst_id, (status, reason, ent, basis) in s.expected.items():
            out = first.outcomes[unit_base * 10 + inst_id]
            assert (out.status, out.reason, out.basis) == (status, reason, basis), s.name
            assert out.entitlement == (None if ent is None else unit_base * 10 + ent), s.name


def test_engine_values_are_the_choices() -> None:
    assert set(engine.STEPS) == set(Metric.values)
    assert {engine.COVERED, engine.NOT_REQUIRED, engine.UNLICENSED, engine.UNKNOWN} == set(
        Status.values
    )
    stages = {
        getattr(engine, name)[1]
        for name in dir(engine)
        if name.startswith("_")
        and isinstance(getattr(engine, name), tuple)
        and len(getattr(engine, name)) == 2
        and isinstance(getattr(engine, name)[0], int)
    }
    assert stages <= set(Reason.values)


@pytest.mark.parametrize(
    ("name", "raw", "labels", "expected"),
    [
        ("Microsoft Office Professional Plus 2016", "16.0.4266.1001", OFFICE_VERSIONS, "2016"),
        ("Microsoft Office 专业增强版 2019", "16.0.10827.20138", OFFICE_VERSIONS, "2019"),
        ("Microsoft Windows 11 Pro", "10.0.22631", VERSION_ORDER["windows-pro"], "11"),
        ("Microsoft Windows 10 Pro", "10.0.19045", VERSION_ORDER["windows-pro"], "10"),
        ("Windows", "10.0.19045", VERSION_ORDER["windows-pro"], "10"),
        ("Windows", "6.1.7601", VERSION_ORDER["windows-pro"], "6.1.7601"),
        ("WinRAR 6.24 (64-bit)", "6.24.0", (), "6.24.0"),
        ("Kylin V10 SP1", "", VERSION_ORDER["kylin-desktop"], "V10 SP1"),
        ("something", None, (), None),
    ],
)
def test_version_label(name, raw, labels, expected) -> None:
    assert engine.version_label(name, raw, labels) == expected


def test_genuine_rate() -> None:
    assert engine.genuine_rate(99, 100) == 0.99
    assert engine.genuine_rate(2, 3) == 0.6667
    assert engine.genuine_rate(0, 0) is None
