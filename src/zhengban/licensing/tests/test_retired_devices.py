"""Retired devices (终端退役) are out of licensing: their installs are not judged, their
verdicts go on the next recompute, and they come back when the device is reinstated."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from zhengban.core.models import AuditLogEntry
from zhengban.inventory import services as inventory
from zhengban.inventory.models import Device
from zhengban.inventory.testing import GLPI_EXAMPLES
from zhengban.licensing import ledger, services
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.models import CompliancePosition, ComplianceResult, RecomputeRequest
from zhengban.licensing.testing import install, make_device, product
from zhengban.orgs.models import Unit

pytestmark = pytest.mark.django_db

OFFICE = "microsoft-office-professional-plus"


@pytest.fixture
def office(org):
    """Two PCs of unit_a with Office 2019 and one per-device licence: one is unlicensed."""
    devices = [make_device(org.unit_a, name) for name in ("a1", "a2")]
    for d in devices:
        install(d, OFFICE, "Microsoft Office 专业增强版 2019", "16.0.10827")
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product(OFFICE),
        versions=["2019"],
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
    )
    services.drain_recompute_queue()
    return devices


def position(unit) -> tuple | None:
    return (
        CompliancePosition.objects.filter(unit=unit, product__key=OFFICE)
        .values_list("required", "covered", "shortfall", "licensed", "consumed", "surplus")
        .first()
    )


def verdicts(unit) -> list[tuple[str, str]]:
    return sorted(
        ComplianceResult.objects.filter(unit=unit).values_list("device__hostname", "status")
    )


def test_a_retired_devices_unlicensed_install_stops_counting(org, office):
    assert position(org.unit_a) == (2, 1, 1, 1, 1, 0)
    judged = verdicts(org.unit_a)
    assert sorted(status for _host, status in judged) == ["covered", "unlicensed"]
    unlicensed = next(host for host, status in judged if status == "unlicensed")
    covered = next(host for host, status in judged if status == "covered")
    device = Device.objects.get(hostname=unlicensed)

    inventory.retire_device(actor=org.officer_a, device=device, reason="报废")
    services.drain_recompute_queue()
    assert RecomputeRequest.objects.count() == 0
    assert position(org.unit_a) == (1, 1, 0, 1, 1, 0)
    assert verdicts(org.unit_a) == [(covered, "covered")]
    # Nothing left for a full recompute to change, nor for the whole province's.
    assert services.recompute_units([org.unit_a.pk]) == 0
    services.recompute_all()
    assert (position(org.unit_a), verdicts(org.unit_a)) == (
        (1, 1, 0, 1, 1, 0),
        [(covered, "covered")],
    )

    inventory.reinstate_device(actor=org.officer_a, device=device)
    services.drain_recompute_queue()
    assert position(org.unit_a) == (2, 1, 1, 1, 1, 0)
    assert verdicts(org.unit_a) == judged


def test_retiring_the_licensed_device_frees_its_seat(org, office):
    covered = next(host for host, status in verdicts(org.unit_a) if status == "covered")
    other = next(host for host, _status in verdicts(org.unit_a) if host != covered)
    inventory.retire_device(
        actor=org.sysadmin, device=Device.objects.get(hostname=covered), reason="丢失"
    )
    services.drain_recompute_queue()
    assert position(org.unit_a) == (1, 1, 0, 1, 1, 0)
    assert verdicts(org.unit_a) == [(other, "covered")]


def test_a_unit_whose_devices_are_all_retired_keeps_no_verdicts(org, office):
    for device in office:
        inventory.retire_device(actor=org.officer_a, device=device, reason="整体报废")
    services.drain_recompute_queue()
    assert verdicts(org.unit_a) == []
    # The licence stays: bought, unused.
    assert position(org.unit_a) == (0, 0, 0, 1, 0, 1)
    services.recompute_all()
    assert (verdicts(org.unit_a), position(org.unit_a)) == ([], (0, 0, 0, 1, 0, 1))


def test_an_inventory_queued_before_the_retirement_does_not_judge_it(org, office):
    # An agent's report that brought a new install is queued (not drained yet), then the
    # device is retired: the drain of the report must not judge the retired device's
    # installs (the retirement's own whole-unit recompute, queued after it, removes the
    # verdicts it had).
    unlicensed = next(host for host, status in verdicts(org.unit_a) if status == "unlicensed")
    device = Device.objects.get(hostname=unlicensed)
    install(device, "windows-pro", "Microsoft Windows 10 专业版", "10.0.19045", kind="os")
    RecomputeRequest.objects.create(unit=org.unit_a, device=device, reason="inventory")
    Device.objects.filter(pk=device.pk).update(retired=device.first_seen, retired_reason="报废")
    services.drain_recompute_queue()
    assert list(
        ComplianceResult.objects.filter(device=device).values_list("product__key", flat=True)
    ) == [OFFICE]
    assert position(org.unit_a) == (2, 1, 1, 1, 1, 0)
    services.queue_recompute(reason="device", unit_ids=[org.unit_a.pk])
    services.drain_recompute_queue()
    assert [host for host, _status in verdicts(org.unit_a)] == [
        host for host in ("a1", "a2") if host != unlicensed
    ]
    assert position(org.unit_a) == (1, 1, 0, 1, 1, 0)


def test_an_agent_report_brings_a_retired_device_back_into_compliance(org, client):
    _row, token = inventory.create_enrollment_token(actor=None, unit=org.unit_a)
    body = (GLPI_EXAMPLES / "computer_3.json").read_bytes()
    url = reverse("inventory:ingest", args=[token])

    def post() -> None:
        assert client.generic("POST", url, body, content_type="application/json").status_code == 200
        services.drain_recompute_queue()

    def figures() -> list[tuple]:
        return sorted(
            CompliancePosition.objects.filter(unit=org.unit_a, required__gt=0).values_list(
                "product__key", "required", "shortfall"
            )
        )

    post()
    # The example computer's one product that needs a licence, counted per install.
    assert figures() == [("anaconda", 6, 6)]
    device = Device.objects.get()
    inventory.retire_device(actor=org.officer_a, device=device, reason="报废")
    services.drain_recompute_queue()
    assert (figures(), ComplianceResult.objects.count()) == ([], 0)
    post()  # byte-identical to the last one: the full path all the same
    assert figures() == [("anaconda", 6, 6)]
    assert ComplianceResult.objects.filter(device=device).count() == 6
    assert services.recompute_units([org.unit_a.pk]) == 0


def test_the_ledger_leaves_retired_devices_out(org, office):
    install(office[1], "7zip", "7-Zip 23.01 (x64)", "23.01")
    inventory.retire_device(actor=org.officer_a, device=office[1], reason="报废")
    services.drain_recompute_queue()
    wb = load_workbook(
        io.BytesIO(ledger.ledger_workbook(Unit.objects.filter(pk=org.unit_a.pk), year=2025))
    )
    summary = [list(r) for r in wb.worksheets[0].iter_rows(min_row=2, values_only=True)]
    detail = [list(r) for r in wb.worksheets[1].iter_rows(min_row=2, values_only=True)]
    # One computer, one commercial install (covered), none preinstalled, no free one.
    assert [row[2:7] for row in summary] == [[1, 1, 1, 0, 0]]
    assert [(row[3], row[5]) for row in detail] == [("a1", "Microsoft Office 专业增强版")]


def test_allocations_offer_devices_in_service_only(org, office):
    from zhengban.licensing.forms import AllocationForm

    inventory.retire_device(actor=org.officer_a, device=office[1], reason="报废")
    form = AllocationForm(user=org.officer_a, unit=org.unit_a)
    assert [d.hostname for d in form.fields["device"].queryset.order_by("hostname")] == ["a1"]


def test_a_seat_allocated_to_a_retired_device_is_free_again(org):
    from django.core.exceptions import ValidationError

    from zhengban.licensing.choices import Status as ComplianceStatus

    a1, a2 = make_device(org.unit_a, "a1"), make_device(org.unit_a, "a2")
    for device in (a1, a2):
        install(device, OFFICE, "Microsoft Office 专业增强版 2019", "16.0.10827")
    entitlement = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product(OFFICE),
        versions=["2019"],
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
    )
    services.allocate(actor=org.officer_a, entitlement=entitlement, device=a1)
    services.drain_recompute_queue()
    assert ComplianceResult.objects.get(device=a2).status == ComplianceStatus.UNLICENSED

    inventory.retire_device(actor=org.officer_a, device=a1, reason="报废")
    services.drain_recompute_queue()
    # The scrapped machine's hand-allocated seat covers the other one now.
    assert list(ComplianceResult.objects.values_list("device__hostname", "status")) == [
        ("a2", ComplianceStatus.COVERED)
    ]
    a1.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        services.allocate(actor=org.officer_a, entitlement=entitlement, device=a1)
    assert refused.value.messages == ["该终端已退役，不能分配授权。"]
    # The allocation was released with the retirement (and audited); the seat goes to a2.
    assert list(entitlement.allocations.values_list("device__hostname", flat=True)) == []
    assert (
        AuditLogEntry.objects.filter(
            object_type="licensing.allocation", message="终端退役，释放其分配的授权"
        ).count()
        == 1
    )
    services.allocate(actor=org.officer_a, entitlement=entitlement, device=a2)
    # Back in service, a1 holds no seat: one licence never covers two machines.
    inventory.reinstate_device(actor=org.officer_a, device=a1)
    services.drain_recompute_queue()
    assert sorted(ComplianceResult.objects.values_list("device__hostname", "status")) == [
        ("a1", ComplianceStatus.UNLICENSED),
        ("a2", ComplianceStatus.COVERED),
    ]
    assert position(org.unit_a) == (2, 1, 1, 1, 1, 0)
