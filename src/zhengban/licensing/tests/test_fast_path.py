"""The inventory recompute's fast path: where no seat of the changed products can move
between a unit's devices, only the changed devices are evaluated and the unit's positions
move by the difference. Each case checks that a full recompute of the unit afterwards finds
nothing to change (verdicts and positions), and that the fast path was (or was not) taken."""

from __future__ import annotations

import datetime

import pytest
from django.test import override_settings

from zhengban.inventory import services as inventory
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.document import InventoryDocument, Software
from zhengban.inventory.models import Installation
from zhengban.licensing import services
from zhengban.licensing.choices import Metric, RecomputeReason, Term
from zhengban.licensing.models import CompliancePosition, ComplianceResult, RecomputeRequest
from zhengban.licensing.testing import install, make_device, product

WINRAR = ("WinRAR 6.24 (64-bit)", "6.24.0")
WINRAR_7 = ("WinRAR 7.01 (64-bit)", "7.01.0")
WINDOWS_10 = ("Microsoft Windows 10 专业版", "10.0.19045")
OFFICE_2016 = ("Microsoft Office 专业增强版 2016", "16.0.4266")
WPS = ("WPS Office 专业版", "12.1.0")
RECEIVED = datetime.datetime(2025, 6, 1, 9, 0, tzinfo=datetime.UTC)


def snapshot(unit) -> tuple[list[tuple], list[tuple]]:
    results = sorted(
        ComplianceResult.objects.filter(unit=unit).values_list(
            "installation_id",
            "device_id",
            "product__key",
            "version",
            "status",
            "reason",
            "basis",
            "entitlement_id",
            "detail",
        )
    )
    positions = sorted(
        CompliancePosition.objects.filter(unit=unit).values_list(
            "product__key",
            "required",
            "covered",
            "shortfall",
            "licensed",
            "unlimited",
            "consumed",
            "surplus",
        )
    )
    return results, positions


def positions(unit) -> list[tuple]:
    return snapshot(unit)[1]


def verdicts(device) -> list[tuple[str, str, str]]:
    return sorted(
        ComplianceResult.objects.filter(device=device).values_list(
            "product__key", "status", "reason"
        )
    )


def drain(*devices) -> services.DrainStats:
    RecomputeRequest.objects.bulk_create(
        RecomputeRequest(unit=d.unit, device=d, reason=RecomputeReason.INVENTORY) for d in devices
    )
    return services.drain_recompute_queue()


def assert_full_recompute_agrees(*units) -> None:
    before = [snapshot(u) for u in units]
    assert services.recompute_units([u.pk for u in units]) == 0
    assert [snapshot(u) for u in units] == before


def entitlement(unit, key, metric, quantity=None, **fields):
    return services.create_entitlement(
        actor=None,
        unit=unit,
        product=product(key),
        metric=metric,
        term=Term.PERPETUAL,
        quantity=quantity,
        **fields,
    )


def test_product_without_entitlement(org):
    a1, a2 = make_device(org.unit_a, "a1"), make_device(org.unit_a, "a2")
    install(a1, "winrar", *WINRAR)
    services.recompute_units([org.unit_a.pk])
    assert positions(org.unit_a) == [("winrar", 1, 0, 1, 0, False, 0, 0)]
    # A second device gets WinRAR, the first upgrades it: only those devices are read.
    install(a2, "winrar", *WINRAR)
    Installation.objects.filter(device=a1).update(name=WINRAR_7[0], version=WINRAR_7[1])
    stats = drain(a1, a2)
    assert (stats.fast_units, stats.written) == (1, 2)
    assert ComplianceResult.objects.get(device=a1).version == "7"
    assert verdicts(a2) == [("winrar", "unlicensed", "no_entitlement")]
    assert positions(org.unit_a) == [("winrar", 2, 0, 2, 0, False, 0, 0)]
    assert_full_recompute_agrees(org.unit_a)
    # A device that changed nothing writes nothing.
    assert drain(a2) == services.DrainStats(
        requests=1, batches=1, units=1, devices=1, written=0, fast_units=1
    )
    assert_full_recompute_agrees(org.unit_a)


def test_site_licence_first_install_of_a_product_makes_its_position(org):
    site = entitlement(org.unit_a, "wps-office-professional", Metric.SITE, versions=["2019"])
    a1, a2 = make_device(org.unit_a, "a1"), make_device(org.unit_a, "a2")
    assert positions(org.unit_a) == []
    install(a1, "wps-office-professional", "WPS Office 2019 专业版", "11.8.2")
    install(a2, "wps-office-professional", "WPS Office 2023 专业版", "12.1.0")
    stats = drain(a1, a2)
    assert stats.fast_units == 1
    assert sorted(
        ComplianceResult.objects.filter(unit=org.unit_a).values_list(
            "device__hostname", "status", "reason", "entitlement_id"
        )
    ) == [("a1", "covered", "site", site.pk), ("a2", "unlicensed", "version_above", None)]
    assert positions(org.unit_a) == [("wps-office-professional", 2, 1, 1, 0, True, 0, 0)]
    assert_full_recompute_agrees(org.unit_a)


def test_oem_licence_follows_its_own_device_only(org):
    oem_pc, other_pc = make_device(org.unit_a, "oem"), make_device(org.unit_a, "other")
    oem = entitlement(
        org.unit_a, "windows-pro", Metric.OEM, quantity=1, versions=["10"], oem_device=oem_pc
    )
    assert positions(org.unit_a) == [("windows-pro", 0, 0, 0, 1, False, 0, 1)]
    install(other_pc, "windows-pro", *WINDOWS_10, kind="os")
    assert drain(other_pc).fast_units == 1
    assert verdicts(other_pc) == [("windows-pro", "unlicensed", "oem_other_device")]
    assert positions(org.unit_a) == [("windows-pro", 1, 0, 1, 1, False, 0, 1)]
    assert_full_recompute_agrees(org.unit_a)
    windows = install(oem_pc, "windows-pro", *WINDOWS_10, kind="os")
    assert drain(oem_pc).fast_units == 1
    assert ComplianceResult.objects.get(installation=windows).entitlement_id == oem.pk
    assert positions(org.unit_a) == [("windows-pro", 2, 1, 1, 1, False, 1, 0)]
    assert_full_recompute_agrees(org.unit_a)
    # The OEM PC's Windows turns into a patch (not assessed): its seat is free again.
    windows.kind = "update"
    windows.save()
    assert drain(oem_pc).fast_units == 1
    assert verdicts(oem_pc) == []
    assert positions(org.unit_a) == [("windows-pro", 1, 0, 1, 1, False, 0, 1)]
    assert_full_recompute_agrees(org.unit_a)


def test_last_install_gone_takes_the_position_away(org):
    a1 = make_device(org.unit_a, "a1")
    winrar = install(a1, "winrar", *WINRAR)
    services.recompute_units([org.unit_a.pk])
    assert positions(org.unit_a) == [("winrar", 1, 0, 1, 0, False, 0, 0)]
    winrar.kind = "update"
    winrar.save()
    assert drain(a1).fast_units == 1
    assert snapshot(org.unit_a) == ([], [])
    assert_full_recompute_agrees(org.unit_a)


def test_suite_component_on_the_same_device(org):
    entitlement(org.unit_a, "microsoft-office-professional-plus", Metric.SITE)
    a1 = make_device(org.unit_a, "a1")
    install(a1, "microsoft-office-professional-plus", *OFFICE_2016)
    install(a1, "microsoft-excel", "Microsoft Excel 2016", "16.0.4266")
    assert drain(a1).fast_units == 1
    assert verdicts(a1) == [
        ("microsoft-excel", "not_required", "suite_component"),
        ("microsoft-office-professional-plus", "covered", "site"),
    ]
    assert positions(org.unit_a) == [("microsoft-office-professional-plus", 1, 1, 0, 0, True, 0, 0)]
    assert_full_recompute_agrees(org.unit_a)


def test_limited_licence_takes_the_unit_recompute(org):
    """A per-device licence's seat can pass to another device: the whole unit is read."""
    entitlement(
        org.unit_a, "microsoft-office-professional-plus", Metric.PER_DEVICE, 1, versions=["2016"]
    )
    first, second = make_device(org.unit_a, "a1"), make_device(org.unit_a, "a2")
    office = install(first, "microsoft-office-professional-plus", *OFFICE_2016)
    install(second, "microsoft-office-professional-plus", *OFFICE_2016)
    assert drain(first, second).fast_units == 0
    assert verdicts(second) == [
        ("microsoft-office-professional-plus", "unlicensed", "over_quantity")
    ]
    # The first PC's Office becomes a patch: its seat passes to the second PC, which did not
    # report (the fast path would have left it unlicensed).
    office.kind = "update"
    office.save()
    stats = drain(first)
    assert (stats.fast_units, stats.written) == (0, 1)
    assert verdicts(second) == [("microsoft-office-professional-plus", "covered", "per_device")]
    assert positions(org.unit_a) == [
        ("microsoft-office-professional-plus", 1, 1, 0, 1, False, 1, 0)
    ]
    assert_full_recompute_agrees(org.unit_a)


@pytest.mark.parametrize("by", ["device", "person"])
def test_allocated_licence_takes_the_unit_recompute(org, by):
    site = entitlement(org.unit_a, "winrar", Metric.SITE)
    a1 = make_device(org.unit_a, "a1")
    if by == "device":
        services.allocate(actor=None, entitlement=site, device=a1)
    else:
        services.allocate(actor=None, entitlement=site, person=org.staff_a)
    install(a1, "winrar", *WINRAR)
    assert drain(a1).fast_units == 0
    assert verdicts(a1) == [("winrar", "covered", "site" if by == "person" else "allocation")]
    assert_full_recompute_agrees(org.unit_a)


def test_other_units_groups_and_mixed_batches(org):
    """One batch: a unit with only unlimited licences takes the fast path, a unit whose
    changed group has a limited licence does not; products of other groups are untouched."""
    entitlement(org.unit_b, "winrar", Metric.PER_DEVICE, 1)
    a1, b1, b2 = (
        make_device(org.unit_a, "a1"),
        make_device(org.unit_b, "b1"),
        make_device(org.unit_b, "b2"),
    )
    install(b2, "winrar", *WINRAR)
    install(b2, "wps-office-professional", *WPS)
    services.recompute_units([org.unit_b.pk])
    install(a1, "winrar", *WINRAR)
    install(b1, "winrar", *WINRAR)
    stats = drain(a1, b1)
    # Devices go in id order: b1's new install takes b2's seat (three verdicts written).
    assert (stats.units, stats.fast_units, stats.written) == (2, 1, 3)
    assert verdicts(a1) == [("winrar", "unlicensed", "no_entitlement")]
    assert verdicts(b1) == [("winrar", "covered", "per_device")]
    assert verdicts(b2) == [
        ("winrar", "unlicensed", "over_quantity"),
        ("wps-office-professional", "unlicensed", "no_entitlement"),
    ]
    assert positions(org.unit_b) == [
        ("winrar", 2, 1, 1, 1, False, 1, 0),
        ("wps-office-professional", 1, 0, 1, 0, False, 0, 0),
    ]
    assert_full_recompute_agrees(org.unit_a, org.unit_b)


@override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}})
def test_removed_install_recounts_the_positions(org):
    """An inventory that removed an install: its verdict went with it, so the positions
    cannot move by difference; they are counted afresh from the other devices' verdicts."""

    def ingest(software, minutes):
        document = InventoryDocument(
            source=InventorySource.ZHENGBAN_AGENT,
            agent_device_id="fp1",
            agent="zhengban-agent/test",
            hostname="PC-fp1",
            software=[Software(name=n, version=v, publisher="") for n, v in software],
        )
        return inventory.ingest_inventory(
            unit=org.unit_a,
            document=document,
            received=RECEIVED + datetime.timedelta(minutes=minutes),
        )

    device = ingest([WINRAR, WPS], 0).device
    first = services.drain_recompute_queue()
    assert (first.fast_units, first.written) == (1, 2)
    ingest([WPS], 1)
    second = services.drain_recompute_queue()
    assert (second.fast_units, second.written) == (1, 0)
    assert verdicts(device) == [("wps-office-professional", "unlicensed", "no_entitlement")]
    assert positions(org.unit_a) == [("wps-office-professional", 1, 0, 1, 0, False, 0, 0)]
    assert_full_recompute_agrees(org.unit_a)


def test_sync_recompute_after_inventory_takes_the_fast_path_too(org):
    a1 = make_device(org.unit_a, "a1")
    install(a1, "winrar", *WINRAR)
    assert services.recompute_after_inventory(device_ids=[a1.pk]) == 1
    assert positions(org.unit_a) == [("winrar", 1, 0, 1, 0, False, 0, 0)]
    assert_full_recompute_agrees(org.unit_a)


def test_random_changes_agree_with_full_recomputes(org):
    """Many small changes on a unit with only unlimited and OEM licences (every one takes
    the fast path): after each, a full recompute of the unit changes nothing."""
    import random

    rng = random.Random(6)
    devices = [
        make_device(org.unit_a, f"r{i}", assigned_name="张三" if i % 3 else "") for i in range(6)
    ]
    entitlement(org.unit_a, "wps-office-professional", Metric.SITE, versions=["2019"])
    entitlement(
        org.unit_a,
        "microsoft-office-professional-plus",
        Metric.SITE,
        versions=["2019"],
        downgrade=True,
    )
    entitlement(org.unit_a, "winrar", Metric.PER_USER)
    for device in devices[:2]:
        entitlement(
            org.unit_a, "windows-pro", Metric.OEM, quantity=1, versions=["10"], oem_device=device
        )
    software = [
        ("winrar", *WINRAR, "application"),
        ("winrar", *WINRAR_7, "application"),
        ("windows-pro", *WINDOWS_10, "os"),
        ("windows-pro", "Microsoft Windows 11 专业版", "10.0.22631", "os"),
        ("microsoft-office-professional-plus", *OFFICE_2016, "application"),
        (
            "microsoft-office-professional-plus",
            "Microsoft Office 专业增强版 2021",
            "16.0",
            "application",
        ),
        ("microsoft-excel", "Microsoft Excel 2016", "16.0.4266", "application"),
        ("wps-office-professional", "WPS Office 2019 专业版", "11.8.2", "application"),
        ("wps-office-professional", *WPS, "application"),
    ]
    install(devices[0], "windows-pro", *WINDOWS_10, kind="os")
    assert drain(devices[0]).fast_units == 1
    assert verdicts(devices[0]) == [("windows-pro", "covered", "oem")]
    statuses = {"oem"}
    for _step in range(40):
        changed = rng.sample(devices, rng.choice((1, 2)))
        for device in changed:
            held = list(Installation.objects.filter(device=device).exclude(kind="update"))
            action = rng.random()
            if held and action < 0.3:
                Installation.objects.filter(pk=rng.choice(held).pk).update(kind="update")
            elif held and action < 0.5:
                key, name, version, _kind = rng.choice(software)
                Installation.objects.filter(pk=rng.choice(held).pk).update(
                    product=product(key), name=name, version=version
                )
            else:
                key, name, version, kind = rng.choice(software)
                install(device, key, name, version, kind=kind)
        assert drain(*changed).fast_units == 1
        statuses |= set(
            ComplianceResult.objects.filter(unit=org.unit_a).values_list("reason", flat=True)
        )
        assert_full_recompute_agrees(org.unit_a)
    # The walk met every kind of verdict these licences give.
    assert statuses == {
        "no_user",
        "oem",
        "oem_other_device",
        "per_user",
        "site",
        "suite_component",
        "version_above",
        "version_below",
    }
