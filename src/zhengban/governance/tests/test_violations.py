"""Each violation type, raised from real inventories fed through inventory's ingest."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied

from zhengban.core import hooks
from zhengban.core.models import AuditLogEntry, Notification
from zhengban.governance import services
from zhengban.governance import testing as t
from zhengban.governance.choices import Resolution, RuleKind, ViolationKind, ViolationStatus
from zhengban.governance.models import Violation
from zhengban.inventory.models import Installation
from zhengban.licensing import services as licensing
from zhengban.licensing.models import ComplianceResult

T1 = t.T0 + datetime.timedelta(days=1)
T2 = t.T0 + datetime.timedelta(days=2)
T3 = t.T0 + datetime.timedelta(days=3)


@pytest.fixture
def spec(gov):
    spec = services.create_spec(actor=gov.org.officer_a, unit=gov.org.unit_a, name="本单位配置规范")
    officer = gov.org.officer_a
    services.add_rule(actor=officer, spec=spec, kind=RuleKind.REQUIRED, category="antivirus")
    family = t.product("wps-office").family
    services.add_rule(actor=officer, spec=spec, kind=RuleKind.ALLOWED, family=family)
    services.add_rule(actor=officer, spec=spec, kind=RuleKind.FREE, product=t.product("7zip"))
    services.add_rule(
        actor=officer, spec=spec, kind=RuleKind.PROHIBITED, family=t.product("360-safe").family
    )
    return spec


def rows(unit):
    # By kind: licensing's verdicts may be stored (and its findings raised) before or after
    # governance judges the same inventory, depending on the task backend.
    return [
        (v.kind, v.product.key if v.product else None, v.person_name, v.status, v.resolution)
        for v in Violation.objects.filter(unit=unit).order_by("kind", "id")
    ]


@pytest.mark.django_db
def test_private_install_raises_one_violation_with_person_and_notifications(
    gov, spec, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    # A private install of commercial software nobody bought is two findings: the spec's
    # and licensing's (the baseline is licensed, so nothing else).
    assert rows(gov.org.unit_a) == [
        ("unauthorised_install", "adobe-photoshop", "张三", "open", ""),
        ("unlicensed", "adobe-photoshop", "张三", "open", ""),
    ]
    violation = Violation.objects.get(kind=ViolationKind.UNAUTHORISED_INSTALL)
    assert (
        violation.kind,
        violation.product.key,
        violation.software_name,
        violation.software_version,
        violation.device_id,
        violation.person_id,
        violation.person_name,
        violation.first_seen,
        violation.status,
    ) == (
        ViolationKind.UNAUTHORISED_INSTALL,
        "adobe-photoshop",
        "Adobe Photoshop 2023",
        "24.0",
        gov.device.pk,
        gov.staff.pk,
        "张三",
        T1,
        ViolationStatus.OPEN,
    )
    assert violation.installation == Installation.objects.get(
        device=gov.device, name="Adobe Photoshop 2023"
    )
    subject = "发现违规：私自安装 Adobe Photoshop 2023（PC-dev-a1）"
    assert sorted(
        Notification.objects.filter(subject=subject).values_list("recipient__username", flat=True)
    ) == ["officer_a", "zhang_a"]
    assert sorted(m.to[0] for m in mail.outbox if m.subject == subject) == [
        "officer@a.example",
        "zhang@a.example",
    ]


@pytest.mark.django_db
def test_same_install_is_not_raised_twice(gov, spec):
    result = t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    # The same report processed again, then a later inventory with an allowed free tool.
    services.process_inventory(device=result.device, report=result.report, now=T2)
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP, t.SEVEN_ZIP], received=T2)
    assert rows(gov.org.unit_a) == [
        ("unauthorised_install", "adobe-photoshop", "张三", "open", ""),
        ("unlicensed", "adobe-photoshop", "张三", "open", ""),
    ]
    assert list(Violation.objects.order_by("kind").values_list("first_seen", "last_seen")) == [
        (T1, T1),
        (T1, T2),
    ]


@pytest.mark.django_db
def test_allowed_free_and_exempt_installs_raise_nothing(gov, spec):
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.SEVEN_ZIP], received=T1)
    assert rows(gov.org.unit_a) == []


@pytest.mark.django_db
def test_without_a_spec_installs_are_not_judged(gov):
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    # No spec, so no private install; licensing judges commercial software regardless.
    assert rows(gov.org.unit_a) == [("unlicensed", "adobe-photoshop", "张三", "open", "")]


@pytest.mark.django_db
def test_private_removal_of_required_antivirus(gov, spec):
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS], received=T1)
    violation = Violation.objects.get()
    assert (
        violation.kind,
        violation.product.key,
        violation.key,
        violation.software_version,
        violation.first_seen,
    ) == (ViolationKind.UNAUTHORISED_REMOVAL, "qianxin-tianqing", "category:antivirus", "10.0", T1)
    # Putting an antivirus back settles it.
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.HUORONG], received=T2)
    violation.refresh_from_db()
    assert (violation.status, violation.resolution, violation.resolved_at) == (
        ViolationStatus.RESOLVED,
        Resolution.REINSTALLED,
        T2,
    )
    assert rows(gov.org.unit_a) == [
        ("unauthorised_removal", "qianxin-tianqing", "张三", "resolved", "reinstalled")
    ]


@pytest.mark.django_db
def test_swapping_one_antivirus_for_another_is_no_removal(gov, spec):
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.HUORONG], received=T1)
    assert rows(gov.org.unit_a) == []


@pytest.mark.django_db
def test_prohibited_software_wins_over_required_category_and_is_found_on_baseline(gov, spec):
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.SAFE_360], received=T1)
    # A device never seen before: its first inventory has no events, yet 360 is there.
    t.ingest(gov.org.unit_a, "dev-a2", [t.WPS, t.TIANQING, t.SAFE_360], received=T1)
    assert [
        (v.kind, v.product.key, v.device.agent_device_id, v.person_name)
        for v in Violation.objects.order_by("id")
    ] == [
        ("prohibited", "360-safe", "dev-a1", "张三"),
        ("prohibited", "360-safe", "dev-a2", ""),
    ]
    # Uninstalling it settles the first; the second stays.
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING], received=T2)
    assert rows(gov.org.unit_a) == [
        ("prohibited", "360-safe", "张三", "resolved", "removed"),
        ("prohibited", "360-safe", "", "open", ""),
    ]


@pytest.mark.django_db
def test_unlicensed_commercial_software_from_licensing(gov):
    """Licensing judges every commercial install; governance raises one violation per
    unlicensed product on a device from licensing's verdicts, and settles it as soon as
    licensing covers it: buying the licence is enough, no further inventory is needed."""
    result = t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    photoshop = Installation.objects.get(device=gov.device, product__key="adobe-photoshop")
    assert rows(gov.org.unit_a) == [("unlicensed", "adobe-photoshop", "张三", "open", "")]
    violation = Violation.objects.get()
    assert (
        violation.first_seen,
        violation.last_seen,
        violation.key,
        violation.installation,
        violation.software_version,
    ) == (T1, T1, f"product:{photoshop.product_id}", photoshop, "24.0")
    # The same inventory processed again and a later one: still one violation, seen again.
    again = services.process_inventory(device=result.device, report=result.report, now=T1)
    assert (again.fulfilled, again.raised, again.resolved) == ([], [], [])
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP, t.SEVEN_ZIP], received=T2)
    violation.refresh_from_db()
    assert (Violation.objects.count(), violation.last_seen) == (1, T2)

    # The unit buys a licence through licensing's service: its verdicts are stored, and
    # their event settles the violation at once (the device sends nothing).
    audit_before = AuditLogEntry.objects.count()
    t.buy(gov.org.unit_a, "adobe-photoshop", quantity=1)
    assert ComplianceResult.objects.get(installation=photoshop).status == "covered"
    violation.refresh_from_db()
    assert (
        violation.status,
        violation.resolution,
        violation.resolved_by,
        violation.note,
        violation.resolved_at is not None,
    ) == (ViolationStatus.RESOLVED, Resolution.LICENSED, None, "授权核算结果：单机授权", True)
    assert list(
        AuditLogEntry.objects.filter(
            pk__gt=AuditLogEntry.objects.order_by("pk")[audit_before - 1].pk,
            object_type="governance.violation",
        ).values_list("object_id", "actor_id", "message")
    ) == [(str(violation.pk), None, "resolved: licensed")]

    # A later inventory changes nothing about it.
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T3)
    assert rows(gov.org.unit_a) == [
        ("unlicensed", "adobe-photoshop", "张三", "resolved", "licensed"),
    ]


@pytest.mark.django_db
def test_a_retired_devices_findings_end_as_retired_and_come_back_with_it(gov):
    from django.core.exceptions import ValidationError

    from zhengban.inventory import services as inventory

    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    assert rows(gov.org.unit_a) == [("unlicensed", "adobe-photoshop", "张三", "open", "")]
    # Nobody closes a finding as "retired" by hand.
    with pytest.raises(ValidationError):
        services.resolve_violation(
            actor=gov.org.officer_a,
            violation=Violation.objects.get(),
            resolution=Resolution.RETIRED,
        )
    device = inventory.retire_device(actor=gov.org.officer_a, device=gov.device, reason="报废")
    licensing.drain_recompute_queue()
    # Not "licensed": the install is still there and nothing covers it.
    violation = Violation.objects.get()
    assert (violation.status, violation.resolution, violation.resolved_at) == (
        ViolationStatus.RESOLVED,
        Resolution.RETIRED,
        device.retired,
    )
    # Back in service: licensing judges it again and a new finding is raised.
    inventory.reinstate_device(actor=gov.org.officer_a, device=device)
    licensing.drain_recompute_queue()
    assert rows(gov.org.unit_a) == [
        ("unlicensed", "adobe-photoshop", "张三", "resolved", "retired"),
        ("unlicensed", "adobe-photoshop", "张三", "open", ""),
    ]


@pytest.mark.django_db
def test_retiring_a_device_ends_every_finding_and_its_queued_inventory_raises_none(gov, spec):
    from zhengban.inventory import services as inventory
    from zhengban.inventory.models import Device

    # Two devices with the prohibited 360 (one also with unlicensed Photoshop), one clean.
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.SAFE_360, t.PHOTOSHOP], received=T1)
    t.ingest(gov.org.unit_a, "dev-a2", [t.WPS, t.TIANQING, t.SAFE_360], received=T1)
    t.ingest(gov.org.unit_a, "dev-a3", [t.WPS, t.TIANQING], received=T1)
    a1, a2 = (Device.objects.get(agent_device_id=a) for a in ("dev-a1", "dev-a2"))
    kinds = ["prohibited", "unauthorised_install", "unlicensed"]
    assert sorted(Violation.objects.filter(device=a1).values_list("kind", "status")) == [
        (kind, "open") for kind in kinds
    ]
    retired = inventory.retire_device(actor=gov.org.officer_a, device=a1, reason="报废")
    # At once, in the retirement's transaction, whatever their kind.
    assert sorted(
        Violation.objects.filter(device=a1).values_list("kind", "status", "resolution")
    ) == [(kind, "resolved", "retired") for kind in kinds]
    assert set(Violation.objects.filter(device=a1).values_list("resolved_at", flat=True)) == {
        retired.retired
    }
    # An inventory of it queued before the retirement raises nothing when processed.
    again = services.process_inventory(device=retired, now=T2)
    assert (again.raised, again.resolved) == ([], [])
    # Rates: devices in service and their findings (a2's one of three, not 2 of 2).
    rate = {r.unit_id: r for r in services.violation_rates(gov.org.officer_a)}[gov.org.unit_a.pk]
    in_service = Device.objects.filter(unit=gov.org.unit_a, retired__isnull=True).count()
    assert (rate.devices, rate.devices_with_violations, rate.open_violations) == (
        in_service,
        1,
        1,
    )
    assert a2.pk in Violation.objects.filter(status="open").values_list("device", flat=True)


@pytest.mark.django_db
@pytest.mark.parametrize("back_by", ["officer", "agent"])
def test_a_device_back_in_service_gets_its_findings_back(gov, spec, back_by):
    """Findings raised from change events (an unauthorised install) are not raised again by
    software still there: reinstating (by hand, or by the agent's next report) reopens
    what the retirement closed."""
    from zhengban.inventory import services as inventory
    from zhengban.inventory.models import Device

    def open_kinds(device) -> list[str]:
        return sorted(
            Violation.objects.filter(device=device, status="open").values_list("kind", flat=True)
        )

    software = [t.WPS, t.TIANQING, t.SAFE_360, t.PHOTOSHOP]
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING], received=T1)
    t.ingest(gov.org.unit_a, "dev-a1", software, received=T2)
    device = Device.objects.get(agent_device_id="dev-a1")
    kinds = ["prohibited", "unauthorised_install", "unlicensed"]
    assert open_kinds(device) == kinds
    opened = dict(Violation.objects.filter(device=device).values_list("kind", "pk"))
    device = inventory.retire_device(actor=gov.org.officer_a, device=device, reason="误操作")
    licensing.drain_recompute_queue()
    assert open_kinds(device) == []
    if back_by == "officer":
        inventory.reinstate_device(actor=gov.org.officer_a, device=device)
    else:
        t.ingest(gov.org.unit_a, "dev-a1", software, received=T3)
    licensing.drain_recompute_queue()
    # The same findings, reopened (not new ones), and they stay through the next report.
    # Licensing may judge the device again first and raise "unlicensed" anew: then that
    # one stays and the old one stays closed.
    assert open_kinds(device) == kinds
    now_open = dict(
        Violation.objects.filter(device=device, status="open").values_list("kind", "pk")
    )
    assert [now_open[k] == opened[k] for k in ("prohibited", "unauthorised_install")] == [
        True,
        True,
    ]
    t.ingest(gov.org.unit_a, "dev-a1", software, received=T3 + datetime.timedelta(days=1))
    licensing.drain_recompute_queue()
    assert open_kinds(device) == kinds


@pytest.mark.django_db
def test_licence_withdrawn_raises_again_and_removal_settles(gov):
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    entitlement = t.buy(gov.org.unit_a, "adobe-photoshop", quantity=1)
    assert rows(gov.org.unit_a) == [
        ("unlicensed", "adobe-photoshop", "张三", "resolved", "licensed"),
    ]
    # The licence deleted: licensing finds the install unlicensed again, a new finding is
    # raised (the old one stays resolved), dated by the device's last inventory.
    licensing.delete_entitlement(actor=None, entitlement=entitlement)
    assert rows(gov.org.unit_a) == [
        ("unlicensed", "adobe-photoshop", "张三", "resolved", "licensed"),
        ("unlicensed", "adobe-photoshop", "张三", "open", ""),
    ]
    reopened = Violation.objects.get(status=ViolationStatus.OPEN)
    assert (reopened.first_seen, reopened.last_seen) == (T1, T1)
    # Uninstalled: settled as removed, at the inventory that showed it gone.
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING], received=T2)
    reopened.refresh_from_db()
    assert (reopened.status, reopened.resolution, reopened.resolved_at) == (
        ViolationStatus.RESOLVED,
        Resolution.REMOVED,
        T2,
    )


@pytest.mark.django_db
def test_sync_unlicensed_from_stored_verdicts_with_exact_times(gov):
    """The "licensing.recomputed" reaction on its own, with the time given."""
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    violation = Violation.objects.get()
    # Nothing new in the verdicts: nothing raised or settled, for the device or its unit.
    for device_ids in ([gov.device.pk], None):
        outcome = services.sync_unlicensed(
            unit_ids=[gov.org.unit_a.pk], device_ids=device_ids, now=T2
        )
        assert (outcome.raised, outcome.resolved) == ([], [])
    assert services.sync_unlicensed(unit_ids=[gov.org.unit_a.pk], device_ids=[]).raised == []
    # Licensing covers it (its verdict changed underneath, as a recompute does): settled.
    ComplianceResult.objects.filter(device=gov.device, status="unlicensed").update(
        status="covered",
        reason="site",
        entitlement=t.buy(gov.org.unit_b, "adobe-photoshop"),
    )
    outcome = services.sync_unlicensed(unit_ids=[gov.org.unit_a.pk], device_ids=None, now=T3)
    violation.refresh_from_db()
    assert (outcome.raised, outcome.resolved) == ([], [violation])
    assert (violation.status, violation.resolution, violation.resolved_at, violation.note) == (
        ViolationStatus.RESOLVED,
        Resolution.LICENSED,
        T3,
        "授权核算结果：场地授权",
    )


@pytest.mark.django_db
def test_unlicensed_verdicts_fired_again_and_resolved_by_an_officer(gov):
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    violation = Violation.objects.get()
    # Licensing's event fired again for the device raises nothing new.
    [outcome] = [
        o
        for o in hooks.fire(
            hooks.LICENSING_RECOMPUTED,
            unit_ids=[gov.org.unit_a.pk],
            device_ids=[gov.device.pk],
        )
        if isinstance(o, services.IngestOutcome)
    ]
    assert (outcome.raised, outcome.resolved) == ([], [])
    # An officer records that a licence has been bought.
    services.resolve_violation(
        actor=gov.org.officer_a, violation=violation, resolution=Resolution.LICENSED, now=T3
    )
    assert rows(gov.org.unit_a) == [
        ("unlicensed", "adobe-photoshop", "张三", "resolved", "licensed"),
    ]


@pytest.mark.django_db
def test_processing_costs_the_same_few_queries_however_many_installs(
    gov, spec, django_assert_num_queries
):
    """Set-based: judging an inventory reads the installs only through what the rules ask
    for, so a device of 3 installs and one of 63 cost the same queries."""
    many = [(f"内部工具 {i}", "1.0", "某公司") for i in range(60)]
    small = t.ingest(gov.org.unit_a, "dev-a3", [t.WPS, t.TIANQING, t.SAFE_360], received=T1)
    large = t.ingest(gov.org.unit_a, "dev-a4", [t.WPS, t.TIANQING, t.SAFE_360, *many], received=T1)
    assert large.device.installations.count() == small.device.installations.count() + 60
    assert sorted(Violation.objects.values_list("kind", "device__agent_device_id")) == [
        ("prohibited", "dev-a3"),
        ("prohibited", "dev-a4"),
    ]
    for result in (small, large):
        # Events, the spec's rules, open violations, prohibited installs, the found one's
        # open violation, presence of the open ones' products.
        with django_assert_num_queries(6):
            outcome = services.process_inventory(device=result.device, report=result.report, now=T1)
        assert (outcome.fulfilled, outcome.raised, outcome.resolved) == ([], [], [])
    with django_assert_num_queries(2):
        services.sync_unlicensed(unit_ids=[gov.org.unit_a.pk], device_ids=None)


@pytest.mark.django_db
def test_life_cycle_explain_assign_resolve_with_permissions(gov, spec):
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    violation = Violation.objects.get(kind=ViolationKind.UNAUTHORISED_INSTALL)
    with pytest.raises(PermissionDenied):
        services.explain_violation(actor=gov.colleague, violation=violation, explanation="x")
    with pytest.raises(PermissionDenied):
        services.assign_violation(actor=gov.staff, violation=violation, assignee=gov.staff)
    services.assign_violation(actor=gov.org.officer_a, violation=violation, assignee=gov.dept_head)
    services.explain_violation(
        actor=gov.staff, violation=violation, explanation="制图需要，已补办申请", now=T2
    )
    violation.refresh_from_db()
    assert (violation.status, violation.explained_at, violation.assignee) == (
        ViolationStatus.EXPLAINED,
        T2,
        gov.dept_head,
    )
    with pytest.raises(PermissionDenied):
        services.resolve_violation(
            actor=gov.org.officer_b, violation=violation, resolution=Resolution.REMOVED
        )
    # Uninstalling resolves it automatically, and licensing's finding with it.
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING], received=T3)
    assert rows(gov.org.unit_a) == [
        ("unauthorised_install", "adobe-photoshop", "张三", "resolved", "removed"),
        ("unlicensed", "adobe-photoshop", "张三", "resolved", "removed"),
    ]


@pytest.mark.django_db
def test_database_refuses_a_second_open_violation_for_the_same_finding(gov, spec):
    from django.db import IntegrityError, transaction

    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    first = Violation.objects.get(kind=ViolationKind.UNAUTHORISED_INSTALL)
    with pytest.raises(IntegrityError), transaction.atomic():
        Violation.objects.create(
            unit=first.unit,
            device=first.device,
            kind=first.kind,
            key=first.key,
            software_name="x",
            first_seen=T2,
            last_seen=T2,
        )


@pytest.mark.django_db
def test_many_new_violations_for_one_person_become_one_digest_message(gov):
    from zhengban.core.notifications import Note

    officer, staff = gov.org.officer_a, gov.staff
    notes = [Note(recipient=officer, subject=f"发现违规：{i}", link=f"/v/{i}/") for i in range(6)]
    notes += [Note(recipient=staff, subject=f"发现违规：{i}", link=f"/v/{i}/") for i in range(5)]
    out = services._digest(notes)
    # Five or fewer stay one by one; six or more become one message pointing at the list.
    assert [(n.recipient.username, n.subject, n.link) for n in out] == [
        ("officer_a", "发现6项新违规", "/governance/violations/"),
        *[("zhang_a", f"发现违规：{i}", f"/v/{i}/") for i in range(5)],
    ]
