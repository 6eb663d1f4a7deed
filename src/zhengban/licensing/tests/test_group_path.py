"""The inventory recompute where seats of a limited licence are shared by a unit's devices
(Office bought per device, a concurrent pool): a changed device is judged alone while
nobody waits for a seat (before the change and after); otherwise the changed product
groups are evaluated over the whole unit from the other devices' stored verdicts. Each
case checks the exact verdicts, and that a full recompute of the unit afterwards finds
nothing to change (verdicts and positions)."""

from __future__ import annotations

import datetime
import random

import pytest
from django.utils import timezone

from zhengban.core import hooks
from zhengban.inventory.models import Installation, InstallationEvent, InventoryReport
from zhengban.licensing import services
from zhengban.licensing.choices import Metric, RecomputeReason, Term
from zhengban.licensing.models import ComplianceResult, RecomputeRequest
from zhengban.licensing.testing import install, make_device, product
from zhengban.licensing.tests.test_fast_path import (
    OFFICE_2016,
    WINDOWS_10,
    WINRAR,
    assert_full_recompute_agrees,
    entitlement,
    positions,
    snapshot,
)

PP = "microsoft-office-professional-plus"
OFFICE_2019 = ("Microsoft Office 专业增强版 2019", "16.0.10827")
OFFICE_2021 = ("Microsoft Office 专业增强版 2021", "16.0.14332")


def drain(*devices, reports=()) -> services.DrainStats:
    by_device = {r.device_id: r for r in reports}
    RecomputeRequest.objects.bulk_create(
        RecomputeRequest(
            unit=d.unit, device=d, report=by_device.get(d.pk), reason=RecomputeReason.INVENTORY
        )
        for d in devices
    )
    return services.drain_recompute_queue()


def remove(installation: Installation) -> InventoryReport:
    """What an ingest writes when an inventory no longer lists an install."""
    now = timezone.now()
    report = InventoryReport.objects.create(
        device=installation.device, received=now, source="zhengban_agent", removed=1
    )
    InstallationEvent.objects.create(
        device=installation.device,
        report=report,
        event_type="removed",
        kind=installation.kind,
        name=installation.name,
        old_version=installation.version,
        product=installation.product,
        date=now,
    )
    installation.delete()
    return report


def office(device) -> tuple:
    return tuple(
        ComplianceResult.objects.filter(device=device, product__key=PP)
        .order_by("installation_id")
        .values_list("status", "reason", "entitlement_id")
    )


def test_seat_passes_to_a_device_that_did_not_report(org, monkeypatch):
    """The engine table's "over quantity: per device first, then concurrent, then nothing
    left": three PCs, one per-device seat and one concurrent seat. The first PC drops
    Office: the second moves to the per-device seat, the third gets the concurrent one."""
    per_device = entitlement(org.unit_a, PP, Metric.PER_DEVICE, 1, versions=["2019"])
    concurrent = entitlement(org.unit_a, PP, Metric.CONCURRENT, 1, versions=["2019"])
    pcs = [make_device(org.unit_a, f"pc{i}") for i in range(3)]
    first = install(pcs[0], PP, *OFFICE_2019)
    for pc in pcs[1:]:
        install(pc, PP, *OFFICE_2019)
    services.recompute_units([org.unit_a.pk])
    assert [office(pc) for pc in pcs] == [
        (("covered", "per_device", per_device.pk),),
        (("covered", "concurrent", concurrent.pk),),
        (("unlicensed", "over_quantity", None),),
    ]
    fired = []
    monkeypatch.setitem(
        hooks._handlers, hooks.LICENSING_RECOMPUTED, [lambda **kw: fired.append(kw)]
    )
    stats = drain(pcs[0], reports=[remove(first)])
    assert (stats.fast_units, stats.group_units, stats.written) == (0, 1, 2)
    assert [office(pc) for pc in pcs] == [
        (),
        (("covered", "per_device", per_device.pk),),
        (("covered", "concurrent", concurrent.pk),),
    ]
    # The devices whose verdicts moved are reported with the one that reported.
    assert fired == [{"unit_ids": [org.unit_a.pk], "device_ids": [p.pk for p in pcs]}]
    assert positions(org.unit_a) == [(PP, 2, 2, 0, 2, False, 2, 0)]
    assert_full_recompute_agrees(org.unit_a)


def test_an_earlier_device_takes_the_last_seat(org):
    """Installs are served in device order: a new install on an earlier device takes the
    seat of a later one, which did not report."""
    ent = entitlement(org.unit_a, PP, Metric.PER_DEVICE, 1, versions=["2019"], downgrade=True)
    early, late = make_device(org.unit_a, "early"), make_device(org.unit_a, "late")
    install(late, PP, *OFFICE_2016)
    assert drain(late).fast_units == 1  # a free seat, nobody waiting: judged alone
    assert office(late) == (("covered", "per_device", ent.pk),)
    install(early, PP, *OFFICE_2019)
    stats = drain(early)
    assert (stats.fast_units, stats.group_units, stats.written) == (0, 1, 2)
    assert office(early) == (("covered", "per_device", ent.pk),)
    assert office(late) == (("unlicensed", "over_quantity", None),)
    assert positions(org.unit_a) == [(PP, 2, 1, 1, 1, False, 1, 0)]
    assert_full_recompute_agrees(org.unit_a)


def test_the_entitlement_ending_first_is_taken_first(org):
    """The engine table's "the entitlement ending first is consumed first": the ending
    one is full, so a new install ahead of its holder takes it and the holder moves on."""
    later = entitlement(org.unit_a, PP, Metric.PER_DEVICE, 5, versions=["2019"])
    sooner = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product(PP),
        metric=Metric.PER_DEVICE,
        term=Term.SUBSCRIPTION,
        quantity=1,
        versions=["2019"],
        start=datetime.date(2020, 1, 1),
        end=datetime.date(2099, 12, 31),
    )
    early, late = make_device(org.unit_a, "early"), make_device(org.unit_a, "late")
    install(late, PP, *OFFICE_2019)
    services.recompute_units([org.unit_a.pk])
    assert office(late) == (("covered", "per_device", sooner.pk),)
    install(early, PP, *OFFICE_2019)
    stats = drain(early)
    assert (stats.fast_units, stats.group_units) == (0, 1)
    assert office(early) == (("covered", "per_device", sooner.pk),)
    assert office(late) == (("covered", "per_device", later.pk),)
    assert positions(org.unit_a) == [(PP, 2, 2, 0, 6, False, 2, 4)]
    assert_full_recompute_agrees(org.unit_a)


def test_free_seats_judge_the_changed_device_alone(org):
    """Seats to spare before and after: only the changed device is read and the positions
    move by the difference (the seats the others hold are counted, not read)."""
    ent = entitlement(org.unit_a, PP, Metric.PER_DEVICE, 3, versions=["2019"], downgrade=True)
    pcs = [make_device(org.unit_a, f"pc{i}") for i in range(3)]
    install(pcs[1], PP, *OFFICE_2016)
    services.recompute_units([org.unit_a.pk])
    install(pcs[0], PP, *OFFICE_2019)
    install(pcs[2], PP, *OFFICE_2021)  # above the bought version: no seat
    stats = drain(pcs[0], pcs[2])
    assert (stats.fast_units, stats.group_units, stats.written) == (1, 0, 2)
    assert office(pcs[0]) == (("covered", "per_device", ent.pk),)
    assert office(pcs[2]) == (("unlicensed", "version_above", None),)
    assert positions(org.unit_a) == [(PP, 3, 2, 1, 3, False, 2, 1)]
    assert_full_recompute_agrees(org.unit_a)
    # A seat holder upgrades: its own seat is not counted as another device's.
    Installation.objects.filter(device=pcs[1]).update(name=OFFICE_2019[0])
    stats = drain(pcs[1])
    assert (stats.fast_units, stats.written) == (1, 1)
    assert office(pcs[1]) == (("covered", "per_device", ent.pk),)
    assert positions(org.unit_a) == [(PP, 3, 2, 1, 3, False, 2, 1)]
    assert_full_recompute_agrees(org.unit_a)
    # The last free seat taken: nobody waits yet, still alone.
    Installation.objects.filter(device=pcs[2]).update(name=OFFICE_2019[0])
    assert drain(pcs[2]).fast_units == 1
    assert positions(org.unit_a) == [(PP, 3, 3, 0, 3, False, 3, 0)]
    assert_full_recompute_agrees(org.unit_a)
    # Now full: a seat given back may go to somebody waiting, so the unit's group is read.
    extra = make_device(org.unit_a, "pc3")
    install(extra, PP, *OFFICE_2019)
    assert drain(extra).group_units == 1
    assert office(extra) == (("unlicensed", "over_quantity", None),)
    Installation.objects.filter(device=pcs[1]).update(kind="update")
    stats = drain(pcs[1])
    assert (stats.fast_units, stats.group_units, stats.written) == (0, 1, 1)
    assert office(extra) == (("covered", "per_device", ent.pk),)
    assert_full_recompute_agrees(org.unit_a)


def test_removed_installs_with_seats_to_spare_recount_the_positions(org):
    """Removed installs under a limited licence with seats to spare, and under a site
    licence: judged alone, the positions counted afresh (the removed verdicts are gone)."""
    per_device = entitlement(org.unit_a, PP, Metric.PER_DEVICE, 5, versions=["2019"])
    entitlement(org.unit_a, "winrar", Metric.SITE)
    pcs = [make_device(org.unit_a, f"pc{i}") for i in range(3)]
    for pc in pcs:
        install(pc, PP, *OFFICE_2019)
        install(pc, "winrar", *WINRAR)
    install(pcs[2], PP, *OFFICE_2021)  # above the bought version
    services.recompute_units([org.unit_a.pk])
    assert positions(org.unit_a) == [
        (PP, 4, 3, 1, 5, False, 3, 2),
        ("winrar", 3, 3, 0, 0, True, 0, 0),
    ]
    office_1 = Installation.objects.get(device=pcs[1], product__key=PP)
    winrar_2 = Installation.objects.get(device=pcs[2], product__key="winrar")
    stats = drain(pcs[1], pcs[2], reports=[remove(office_1), remove(winrar_2)])
    assert (stats.fast_units, stats.group_units, stats.written) == (1, 0, 0)
    assert positions(org.unit_a) == [
        (PP, 3, 2, 1, 5, False, 2, 3),
        ("winrar", 2, 2, 0, 0, True, 0, 0),
    ]
    assert_full_recompute_agrees(org.unit_a)
    # Removed and installed again in one inventory (an upgrade under a new name).
    office_2021 = Installation.objects.get(device=pcs[2], product__key=PP, name=OFFICE_2021[0])
    report = remove(office_2021)
    install(pcs[2], PP, "Microsoft Office 专业增强版 2019 (x64)", "16.0.10827")
    stats = drain(pcs[2], reports=[report])
    assert (stats.fast_units, stats.written) == (1, 1)
    assert office(pcs[2]) == (
        ("covered", "per_device", per_device.pk),
        ("covered", "per_device", per_device.pk),
    )
    assert positions(org.unit_a) == [
        (PP, 3, 3, 0, 5, False, 2, 3),
        ("winrar", 2, 2, 0, 0, True, 0, 0),
    ]
    assert_full_recompute_agrees(org.unit_a)
    # The last installs of a product go: its position goes, the licensed one stays.
    reports = [remove(i) for i in Installation.objects.filter(product__key="winrar").order_by("pk")]
    stats = drain(pcs[0], pcs[1], reports=reports)
    assert (stats.fast_units, stats.written) == (1, 0)
    assert positions(org.unit_a) == [(PP, 3, 3, 0, 5, False, 2, 3)]
    assert_full_recompute_agrees(org.unit_a)


def test_two_reports_wanting_the_last_free_seat(org):
    """One seat free, two PCs reporting at once each want it: judged alone both would get
    it, so the group is evaluated over the unit and device order decides."""
    ent = entitlement(org.unit_a, PP, Metric.PER_DEVICE, 2, versions=["2019"])
    pcs = [make_device(org.unit_a, f"pc{i}") for i in range(3)]
    install(pcs[1], PP, *OFFICE_2019)
    services.recompute_units([org.unit_a.pk])
    install(pcs[0], PP, *OFFICE_2019)
    install(pcs[2], PP, *OFFICE_2019)
    stats = drain(pcs[0], pcs[2])
    assert (stats.fast_units, stats.group_units, stats.written) == (0, 1, 2)
    assert [office(pc) for pc in pcs] == [
        (("covered", "per_device", ent.pk),),
        (("covered", "per_device", ent.pk),),
        (("unlicensed", "over_quantity", None),),
    ]
    assert positions(org.unit_a) == [(PP, 3, 2, 1, 2, False, 2, 0)]
    assert_full_recompute_agrees(org.unit_a)


def test_per_user_licence_reads_the_people_of_the_unit(org):
    """A limited per-user licence: one seat per person, whatever device; the group path
    reads the unit's people."""
    ent = entitlement(org.unit_a, PP, Metric.PER_USER, 1, versions=["2019"])
    a = make_device(org.unit_a, "a", assigned_name="张三")
    b = make_device(org.unit_a, "b", assigned_name="张三")
    c = make_device(org.unit_a, "c", assigned_name="李四")
    install(c, PP, *OFFICE_2019)
    services.recompute_units([org.unit_a.pk])
    install(a, PP, *OFFICE_2019)
    install(b, PP, *OFFICE_2019)
    stats = drain(a, b)
    assert stats.group_units == 1
    assert [office(d) for d in (a, b, c)] == [
        (("covered", "per_user", ent.pk),),
        (("covered", "per_user", ent.pk),),
        (("unlicensed", "over_quantity", None),),
    ]
    assert_full_recompute_agrees(org.unit_a)


def test_other_groups_and_units_are_not_touched(org):
    """Only the changed groups of the changed unit are read and written."""
    entitlement(org.unit_a, PP, Metric.PER_DEVICE, 1, versions=["2019"])
    entitlement(org.unit_b, PP, Metric.PER_DEVICE, 1, versions=["2019"])
    a1, a2 = make_device(org.unit_a, "a1"), make_device(org.unit_a, "a2")
    b1 = make_device(org.unit_b, "b1")
    for d in (a1, a2, b1):
        install(d, PP, *OFFICE_2019)
        install(d, "winrar", *WINRAR)
    services.recompute_units([org.unit_a.pk, org.unit_b.pk])
    before_b = snapshot(org.unit_b)
    winrar_rows = sorted(
        ComplianceResult.objects.filter(product__key="winrar").values_list("pk", "reason")
    )
    office_a1 = Installation.objects.get(device=a1, product__key=PP)
    stats = drain(a1, reports=[remove(office_a1)])
    assert (stats.units, stats.group_units, stats.written) == (1, 1, 1)
    assert office(a2) == (
        (
            "covered",
            "per_device",
            ComplianceResult.objects.get(device=a2, product__key=PP).entitlement_id,
        ),
    )
    assert snapshot(org.unit_b) == before_b
    assert (
        sorted(ComplianceResult.objects.filter(product__key="winrar").values_list("pk", "reason"))
        == winrar_rows
    )
    assert_full_recompute_agrees(org.unit_a, org.unit_b)


@pytest.mark.parametrize(
    ("seed", "scarce"), [(1, True), (2, True), (3, True), (4, False), (5, False)]
)
def test_random_office_changes_agree_with_full_recomputes(org, seed, scarce):
    """Office, Windows and WinRAR come and go on a unit's PCs under limited licences (per
    device, concurrent, and where ``scarce`` OEM licences and few seats; an unlimited site
    licence behind them): after each drain a full recompute of the unit changes nothing."""
    rng = random.Random(seed)
    pcs = [make_device(org.unit_a, f"r{i}") for i in range(7)]
    n = 1 if scarce else 4
    entitlement(org.unit_a, PP, Metric.PER_DEVICE, 2 * n, versions=["2019"], downgrade=True)
    entitlement(org.unit_a, PP, Metric.CONCURRENT, n, versions=["2016"])
    entitlement(org.unit_a, "winrar", Metric.PER_DEVICE, 3 * n)
    entitlement(org.unit_a, "windows-pro", Metric.PER_DEVICE, 2 * n, versions=["10"])
    entitlement(org.unit_a, "wps-office-professional", Metric.SITE)
    for pc in pcs[:3] if scarce else ():
        entitlement(
            org.unit_a, "windows-pro", Metric.OEM, quantity=1, versions=["10"], oem_device=pc
        )
    software = [
        (PP, *OFFICE_2016, "application"),
        (PP, *OFFICE_2019, "application"),
        (PP, *OFFICE_2021, "application"),
        ("winrar", *WINRAR, "application"),
        ("windows-pro", *WINDOWS_10, "os"),
        ("wps-office-professional", "WPS Office 专业版", "12.1.0", "application"),
    ]
    ways = {"alone": 0, "group": 0}
    removals = 0
    reasons: set[str] = set()
    for _step in range(30):
        changed = rng.sample(pcs, rng.choice((1, 1, 2)))
        reports = []
        for pc in changed:
            held = list(Installation.objects.filter(device=pc))
            action = rng.random()
            if held and action < 0.3:
                reports.append(remove(rng.choice(held)))
                removals += 1
                break  # one report per device: one removal
            if held and action < 0.5:
                key, name, version, _kind = rng.choice(software)
                Installation.objects.filter(pk=rng.choice(held).pk).update(
                    product=product(key), name=name, version=version
                )
            else:
                key, name, version, kind = rng.choice(software)
                install(pc, key, name, version, kind=kind)
        stats = drain(*changed, reports=reports)
        assert stats.fast_units + stats.group_units == 1
        ways["alone"] += stats.fast_units
        ways["group"] += stats.group_units
        reasons |= set(
            ComplianceResult.objects.filter(unit=org.unit_a).values_list("reason", flat=True)
        )
        assert_full_recompute_agrees(org.unit_a)
    # With seats to spare nobody waits: every change, removals too, is judged alone.
    assert ways["alone"] and bool(ways["group"]) == scarce and removals
    assert {"per_device", "site"} <= reasons
    assert {"concurrent", "over_quantity"} <= reasons if scarce else "over_quantity" not in reasons
