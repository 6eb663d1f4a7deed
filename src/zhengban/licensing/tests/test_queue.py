"""The recompute queue: ingests and catalog changes queue units, a task drains them in
batches, and every recompute that stores verdicts fires LICENSING_RECOMPUTED."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test import override_settings

from zhengban.catalog import services as catalog
from zhengban.catalog.models import Product
from zhengban.core import hooks
from zhengban.inventory import services as inventory
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.document import InventoryDocument, Software
from zhengban.inventory.models import Device, Installation
from zhengban.licensing import services, tasks
from zhengban.licensing.choices import Metric, RecomputeReason, Term
from zhengban.licensing.models import CompliancePosition, ComplianceResult, RecomputeRequest
from zhengban.licensing.testing import install, make_device, product

OFFICE = ("Microsoft Office 专业增强版 2016", "16.0.4266", "Microsoft Corporation")
WINRAR = ("WinRAR 6.24 (64-bit)", "6.24.0", "win.rar GmbH")
UNKNOWN_CAD = ("极光制图大师 2024", "24.1", "极光软件")
RECEIVED = datetime.datetime(2025, 6, 1, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def recomputed():
    """Every LICENSING_RECOMPUTED as fired: its keyword arguments."""
    calls: list[dict] = []

    def record(**kwargs):
        calls.append(kwargs)

    hooks.register(hooks.LICENSING_RECOMPUTED, record)
    yield calls
    hooks._handlers[hooks.LICENSING_RECOMPUTED].remove(record)


def ingest(unit, agent_id, software, minutes=0):
    document = InventoryDocument(
        source=InventorySource.ZHENGBAN_AGENT,
        agent_device_id=agent_id,
        agent="zhengban-agent/test",
        hostname=f"PC-{agent_id}",
        software=[Software(name=n, version=v, publisher=p) for n, v, p in software],
    )
    return inventory.ingest_inventory(
        unit=unit, document=document, received=RECEIVED + datetime.timedelta(minutes=minutes)
    )


def verdicts(device) -> list[tuple[str, str, str]]:
    return sorted(
        ComplianceResult.objects.filter(device=device).values_list(
            "product__key", "status", "reason"
        )
    )


def test_ingest_queues_and_the_immediate_drain_stores_verdicts(org, recomputed):
    result = ingest(org.unit_a, "q1", [OFFICE, WINRAR])
    device = result.device
    assert verdicts(device) == [
        ("microsoft-office-professional-plus", "unlicensed", "no_entitlement"),
        ("winrar", "unlicensed", "no_entitlement"),
    ]
    assert RecomputeRequest.objects.count() == 0
    assert recomputed == [{"unit_ids": [org.unit_a.pk], "device_ids": [device.pk]}]
    assert services.unlicensed_results(device_ids=[device.pk]) == [
        (device.pk, i.pk, i.product_id, "no_entitlement")
        for i in Installation.objects.filter(device=device, product__isnull=False).order_by("pk")
    ]
    # Nothing left for a full recompute of the unit to change.
    assert services.recompute_units([org.unit_a.pk]) == 0


def test_removed_install_frees_its_seat_for_another_device(org, recomputed):
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("microsoft-office-professional-plus"),
        versions=["2016"],
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
    )
    first = ingest(org.unit_a, "q1", [OFFICE]).device
    second = ingest(org.unit_a, "q2", [OFFICE, WINRAR], minutes=1).device
    office = "microsoft-office-professional-plus"
    assert verdicts(second) == [
        (office, "unlicensed", "over_quantity"),
        ("winrar", "unlicensed", "no_entitlement"),
    ]
    recomputed.clear()
    # The first PC uninstalls Office: its verdict goes with the install, and the seat
    # passes to the second PC although that PC did not report.
    ingest(org.unit_a, "q1", [WINRAR], minutes=2)
    assert verdicts(first) == [("winrar", "unlicensed", "no_entitlement")]
    assert verdicts(second) == [
        (office, "covered", "per_device"),
        ("winrar", "unlicensed", "no_entitlement"),
    ]
    assert recomputed == [{"unit_ids": [org.unit_a.pk], "device_ids": [first.pk, second.pk]}]
    position = CompliancePosition.objects.get(unit=org.unit_a, product__key=office)
    assert (position.required, position.covered, position.consumed) == (1, 1, 1)
    assert services.recompute_units([org.unit_a.pk]) == 0


def test_drain_takes_each_unit_once_per_batch(org, recomputed):
    a1, a2, b1 = (
        make_device(org.unit_a, "a1"),
        make_device(org.unit_a, "a2"),
        make_device(org.unit_b, "b1"),
    )
    for device in (a1, a2, b1):
        install(device, "winrar", *WINRAR[:2])
    reason = RecomputeReason.INVENTORY
    RecomputeRequest.objects.bulk_create(
        [
            RecomputeRequest(unit=d.unit, device=d, reason=reason)
            for d in (a1, a2, a1, b1)  # a1 reported twice
        ]
    )
    stats = services.drain_recompute_queue()
    assert stats == services.DrainStats(
        requests=4, batches=1, units=2, devices=3, written=3, fast_units=2
    )
    assert recomputed == [
        {"unit_ids": [org.unit_a.pk, org.unit_b.pk], "device_ids": [a1.pk, a2.pk, b1.pk]}
    ]
    assert RecomputeRequest.objects.count() == 0
    # Smaller batches: one transaction (and one event) each; an empty queue is a no-op.
    RecomputeRequest.objects.bulk_create(
        [RecomputeRequest(unit=d.unit, device=d, reason=reason) for d in (a1, a2, b1)]
    )
    recomputed.clear()
    stats = services.drain_recompute_queue(batch_size=2)
    assert stats == services.DrainStats(
        requests=3, batches=2, units=2, devices=3, written=0, fast_units=2
    )
    assert recomputed == [
        {"unit_ids": [org.unit_a.pk], "device_ids": [a1.pk, a2.pk]},
        {"unit_ids": [org.unit_b.pk], "device_ids": [b1.pk]},
    ]
    assert services.drain_recompute_queue() == services.DrainStats()


def test_whole_unit_requests_and_entitlement_changes_fire_for_whole_units(org, recomputed):
    device = make_device(org.unit_a, "a1")
    install(device, "winrar", *WINRAR[:2])
    assert services.queue_recompute(reason=RecomputeReason.MANUAL, unit_ids=[org.unit_a.pk]) == 1
    assert verdicts(device) == [("winrar", "unlicensed", "no_entitlement")]
    assert recomputed == [{"unit_ids": [org.unit_a.pk], "device_ids": None}]
    recomputed.clear()
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.SITE,
        term=Term.PERPETUAL,
    )
    assert verdicts(device) == [("winrar", "covered", "site")]
    assert recomputed == [{"unit_ids": [org.unit_a.pk], "device_ids": None}]


def test_new_rule_recognising_a_commercial_install_gives_it_a_verdict(
    org, recomputed, django_capture_on_commit_callbacks
):
    device = ingest(org.unit_a, "q1", [UNKNOWN_CAD]).device
    cad = Installation.objects.get(device=device)
    assert cad.product_id is None and verdicts(device) == []
    recomputed.clear()
    with django_capture_on_commit_callbacks(execute=True):
        catalog.create_rule_from_unrecognised(
            actor=org.supervisor_province,
            name=UNKNOWN_CAD[0],
            rule_type="normalized",
            product=product("adobe-acrobat-pro"),
        )
    cad.refresh_from_db()
    assert cad.product_id == product("adobe-acrobat-pro").pk
    assert verdicts(device) == [("adobe-acrobat-pro", "unlicensed", "no_entitlement")]
    assert recomputed == [{"unit_ids": [org.unit_a.pk], "device_ids": [device.pk]}]
    assert RecomputeRequest.objects.count() == 0


def test_product_turning_free_makes_its_installs_not_required(org, recomputed):
    a = ingest(org.unit_a, "q1", [WINRAR, OFFICE]).device
    b = ingest(org.unit_b, "q2", [WINRAR], minutes=1).device
    # A fresh copy to edit: the testing helper's cached product is shared with later tests.
    winrar = Product.objects.get(pk=product("winrar").pk)
    assert CompliancePosition.objects.filter(product=winrar).count() == 2
    recomputed.clear()
    catalog.save_product(
        actor=org.supervisor_province, product=winrar, values={"license_model": "free"}
    )
    assert verdicts(a) == [("microsoft-office-professional-plus", "unlicensed", "no_entitlement")]
    assert verdicts(b) == []
    assert CompliancePosition.objects.filter(product=winrar).count() == 0
    assert services.static_outcome(Product.objects.get(pk=winrar.pk)) == ("not_required", "free")
    assert product("winrar").license_model != "free"
    assert recomputed == [{"unit_ids": [org.unit_a.pk, org.unit_b.pk], "device_ids": [a.pk, b.pk]}]
    # An edit that changes no licence fact queues nothing.
    recomputed.clear()
    catalog.save_product(actor=org.supervisor_province, product=winrar, values={"name": "WinRAR"})
    assert recomputed == [] and RecomputeRequest.objects.count() == 0


@override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}})
def test_a_waiting_drain_task_is_not_enqueued_twice(org):
    from django_tasks_db.models import DBTaskResult

    device = make_device(org.unit_a, "a1")
    services.queue_inventory_recompute(device=device)
    services.queue_inventory_recompute(device=device)
    assert RecomputeRequest.objects.count() == 2
    # PostgreSQL sees the waiting task (and share-locks it); elsewhere each asks for one
    # and the later tasks find an empty queue.
    expected = 1 if connection.vendor == "postgresql" else 2
    assert DBTaskResult.objects.filter(
        task_path=tasks.drain_recompute_queue.module_path
    ).count() == (expected)
    assert tasks.drain_recompute_queue.call() == {
        "requests": 2,
        "batches": 1,
        "units": 1,
        "devices": 1,
        "written": 0,
        "fast_units": 1,
        "group_units": 0,
    }
    assert tasks.drain_recompute_queue.call()["requests"] == 0


@override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}})
def test_a_full_recompute_answers_what_is_queued(org, recomputed):
    # No worker ran (database backend): the ingests' requests wait in the queue.
    a = ingest(org.unit_a, "q1", [WINRAR]).device
    ingest(org.unit_b, "q2", [WINRAR], minutes=1)
    assert RecomputeRequest.objects.count() == 2 and verdicts(a) == []
    stats = services.recompute_all()
    assert (stats.units, stats.unlicensed) == (2, 2)
    assert verdicts(a) == [("winrar", "unlicensed", "no_entitlement")]
    # Nothing is left for the worker to redo.
    assert RecomputeRequest.objects.count() == 0
    assert tasks.drain_recompute_queue.call()["requests"] == 0


def test_a_new_assigned_person_moves_per_user_seats(org, recomputed):
    a = make_device(org.unit_a, "a1", assigned_name="张三")
    b = make_device(org.unit_a, "b1", assigned_name="张三")
    install(a, "winrar", *WINRAR[:2])
    install(b, "winrar", *WINRAR[:2])
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_USER,
        term=Term.PERPETUAL,
        quantity=1,
    )
    # One person on two devices uses one per-user seat.
    assert verdicts(a) == verdicts(b) == [("winrar", "covered", "per_user")]
    recomputed.clear()
    inventory.update_device(actor=org.officer_a, device=b, asset_number="ZC-001")
    assert recomputed == []  # no seat can move: nothing queued
    inventory.update_device(actor=org.officer_a, device=b, assigned_name="李四")
    assert recomputed == [{"unit_ids": [org.unit_a.pk], "device_ids": None}]
    assert verdicts(a) == [("winrar", "covered", "per_user")]
    assert verdicts(b) == [("winrar", "unlicensed", "over_quantity")]


def test_a_device_moved_to_another_unit_leaves_its_old_units_positions(org, recomputed):
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
    )
    mover, stayer = make_device(org.unit_a, "a1"), make_device(org.unit_a, "a2")
    for device in (mover, stayer):
        install(device, "winrar", *WINRAR[:2])
    services.recompute_units([org.unit_a.pk])
    assert verdicts(stayer) == [("winrar", "unlicensed", "over_quantity")]
    recomputed.clear()
    # What inventory does when a device changes hands (the event names the field).
    Device.objects.filter(pk=mover.pk).update(unit=org.unit_b)
    mover.refresh_from_db()
    hooks.fire(hooks.DEVICE_CHANGED, device=mover, fields={"unit"})
    assert recomputed == [{"unit_ids": [org.unit_a.pk, org.unit_b.pk], "device_ids": None}]
    # The seat it held passes to the device that stayed; it is judged in its new unit.
    assert verdicts(stayer) == [("winrar", "covered", "per_device")]
    assert list(
        ComplianceResult.objects.filter(device=mover).values_list("unit_id", "status", "reason")
    ) == [(org.unit_b.pk, "unlicensed", "no_entitlement")]
    figures = sorted(
        CompliancePosition.objects.filter(product__key="winrar").values_list(
            "unit_id", "required", "covered", "shortfall", "licensed", "consumed"
        )
    )
    assert figures == [(org.unit_a.pk, 1, 1, 0, 1, 1), (org.unit_b.pk, 1, 0, 1, 0, 0)]
    assert services.recompute_units([org.unit_a.pk, org.unit_b.pk]) == 0
    # A device with no verdict anywhere: the unit the event names as the old one is
    # re-judged too.
    recomputed.clear()
    bare = make_device(org.unit_b, "b9")
    hooks.fire(hooks.DEVICE_CHANGED, device=bare, fields={"unit"}, old_unit_id=org.unit_a.pk)
    assert recomputed == [{"unit_ids": [org.unit_a.pk, org.unit_b.pk], "device_ids": None}]
