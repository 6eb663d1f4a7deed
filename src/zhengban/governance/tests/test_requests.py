"""Requests: approval in steps with permissions, deadlines and reminders, matching the
install the agent then sees, and the after-the-fact approval of a private install."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from zhengban.core.models import AuditLogEntry, Notification
from zhengban.governance import services
from zhengban.governance import testing as t
from zhengban.governance.choices import (
    RequestAction,
    RequestStatus,
    Resolution,
    RuleKind,
    StepKind,
    ViolationKind,
    ViolationStatus,
)
from zhengban.governance.models import SoftwareRequest, Violation
from zhengban.inventory.models import Installation
from zhengban.orgs.choices import Role
from zhengban.orgs.testing import make_person

HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
T1 = t.T0 + DAY


def submit(gov, product_key="adobe-photoshop", action=RequestAction.INSTALL, now=T1):
    return services.submit_request(
        actor=gov.staff,
        device=gov.device,
        action=action,
        product=t.product(product_key),
        reason="处理宣传图片需要",
        now=now,
    )


def steps(request):
    return [
        (s.position, s.kind, s.decision, getattr(s.decided_by, "username", None))
        for s in request.steps.order_by("position")
    ]


@pytest.mark.django_db
def test_two_steps_department_head_then_officer(gov, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(gov)
    assert steps(request) == [
        (1, "department_head", "pending", None),
        (2, "sam_officer", "waiting", None),
    ]
    first = request.steps.get(position=1)
    assert (first.activated_at, first.due) == (T1, T1 + 3 * DAY)
    # The department head is told, in the app and by mail; the officer not yet.
    subject = "待审批：张三申请安装Adobe Photoshop"
    assert list(
        Notification.objects.filter(subject=subject).values_list("recipient__username", flat=True)
    ) == ["dept_head_a"]
    assert [m.to for m in mail.outbox] == [["head@a.example"]]

    # The officer cannot jump the queue; the requester cannot approve at all.
    assert services.can_decide(gov.org.officer_a, request) is False
    with pytest.raises(PermissionDenied):
        services.decide(actor=gov.org.officer_a, request=request, approve=True, now=T1)
    with pytest.raises(PermissionDenied):
        services.decide(actor=gov.staff, request=request, approve=True, now=T1)

    services.decide(
        actor=gov.dept_head, request=request, approve=True, comment="同意", now=T1 + HOUR
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert steps(request) == [
        (1, "department_head", "approved", "dept_head_a"),
        (2, "sam_officer", "pending", None),
    ]
    services.decide(actor=gov.org.officer_a, request=request, approve=True, now=T1 + 2 * HOUR)
    request.refresh_from_db()
    assert (request.status, request.decided_at, request.window_until) == (
        RequestStatus.APPROVED,
        T1 + 2 * HOUR,
        T1 + 2 * HOUR + 14 * DAY,
    )
    assert list(
        AuditLogEntry.objects.filter(object_type="governance.softwarerequest")
        .order_by("id")
        .values_list("action", "actor_name")
    ) == [("submit", "zhang_a"), ("approve", "dept_head_a"), ("approve", "officer_a")]
    assert Notification.objects.filter(
        recipient=gov.staff, subject="您的申请已批准：安装Adobe Photoshop"
    ).exists()


@pytest.mark.django_db
def test_rejection_needs_a_comment_and_ends_the_request(gov):
    request = submit(gov)
    with pytest.raises(ValidationError):
        services.decide(actor=gov.dept_head, request=request, approve=False, now=T1)
    services.decide(
        actor=gov.dept_head, request=request, approve=False, comment="可使用免费软件替代", now=T1
    )
    request.refresh_from_db()
    assert (request.status, steps(request)) == (
        RequestStatus.REJECTED,
        [(1, "department_head", "rejected", "dept_head_a"), (2, "sam_officer", "waiting", None)],
    )


@pytest.mark.django_db
def test_an_approver_of_another_unit_may_not_decide(gov):
    request = submit(gov)
    outsider = make_person("approver_b", gov.org.unit_b, Role.APPROVER, Role.SAM_OFFICER)
    with pytest.raises(PermissionDenied):
        services.decide(actor=outsider, request=request, approve=True, now=T1)
    assert services.visible_requests(outsider).count() == 0


@pytest.mark.django_db
def test_an_approver_who_requests_never_approves_their_own(gov):
    """Even when the requester holds the approver role of the step, someone else decides."""
    gov.device.assigned_user = gov.dept_head
    gov.device.save()
    request = services.submit_request(
        actor=gov.dept_head,
        device=gov.device,
        action=RequestAction.INSTALL,
        product=t.product("adobe-photoshop"),
        reason="需要",
        now=T1,
    )
    assert list(services.approvers_for(request.steps.get(position=1))) == [gov.org.officer_a]
    with pytest.raises(PermissionDenied):
        services.decide(actor=gov.dept_head, request=request, approve=True, now=T1)


@pytest.mark.django_db
def test_configurable_steps_per_unit(gov):
    services.set_workflow(
        actor=gov.org.officer_a,
        unit=gov.org.unit_a,
        steps=[StepKind.SAM_OFFICER, StepKind.UNIT_HEAD],
        step_days=2,
        window_days=7,
    )
    request = submit(gov)
    assert steps(request) == [
        (1, "sam_officer", "pending", None),
        (2, "unit_head", "waiting", None),
    ]
    services.decide(actor=gov.org.officer_a, request=request, approve=True, now=T1)
    with pytest.raises(PermissionDenied):
        services.decide(actor=gov.dept_head, request=request, approve=True, now=T1)
    services.decide(actor=gov.org.head_a, request=request, approve=True, now=T1)
    request.refresh_from_db()
    assert (request.status, request.window_until) == (RequestStatus.APPROVED, T1 + 7 * DAY)
    with pytest.raises(PermissionDenied):
        services.set_workflow(actor=gov.staff, unit=gov.org.unit_a, steps=[StepKind.UNIT_HEAD])


@pytest.mark.django_db
def test_only_for_own_devices(gov):
    with pytest.raises(PermissionDenied):
        services.submit_request(
            actor=gov.colleague,
            device=gov.device,
            action=RequestAction.INSTALL,
            product=t.product("adobe-photoshop"),
            reason="需要",
        )


@pytest.mark.django_db
def test_overdue_steps_are_reminded_once_a_day(gov, django_capture_on_commit_callbacks):
    request = submit(gov)
    assert services.send_reminders(now=T1 + 2 * DAY) == 0
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_reminders(now=T1 + 3 * DAY + HOUR) == 1
    assert services.send_reminders(now=T1 + 3 * DAY + 2 * HOUR) == 0
    assert services.send_reminders(now=T1 + 4 * DAY + HOUR) == 1
    subject = "催办：张三的软件申请已超过审批时限"
    assert Notification.objects.filter(recipient=gov.dept_head, subject=subject).count() == 2
    assert [m.to for m in mail.outbox] == [["head@a.example"]]
    assert request.steps.get(position=1).reminded_at == T1 + 4 * DAY + HOUR


def approve_all(gov, request, now):
    services.decide(actor=gov.dept_head, request=request, approve=True, now=now)
    services.decide(actor=gov.org.officer_a, request=request, approve=True, now=now)
    request.refresh_from_db()
    return request


@pytest.mark.django_db
def test_install_seen_inside_the_window_fulfils_the_request(gov):
    spec = services.create_spec(actor=None, unit=gov.org.unit_a, name="规范")
    services.add_rule(actor=None, spec=spec, kind=RuleKind.REQUIRED, category="antivirus")
    request = approve_all(gov, submit(gov), T1)
    result = t.ingest(
        gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1 + 2 * DAY
    )
    request.refresh_from_db()
    installation = Installation.objects.get(device=gov.device, name="Adobe Photoshop 2023")
    assert (
        request.status,
        request.fulfilled_at,
        request.installation,
        request.event.name,
    ) == (RequestStatus.FULFILLED, T1 + 2 * DAY, installation, "Adobe Photoshop 2023")
    # Approved, so not a private install; but no licence was bought yet, so licensing (run
    # by the same ingest) finds it unlicensed.
    assert list(Violation.objects.values_list("kind", "installation__name", "status")) == [
        ("unlicensed", "Adobe Photoshop 2023", "open")
    ]
    # The ingest's hook already processed this inventory (and `t.ingest` did once more):
    # processing it yet again changes nothing.
    again = services.process_inventory(device=result.device, report=result.report)
    assert (again.fulfilled, again.raised, again.resolved) == ([], [], [])
    assert (Violation.objects.count(), SoftwareRequest.objects.get().status) == (
        1,
        RequestStatus.FULFILLED,
    )

    # The SAM officer buys the licence: licensing's new verdicts settle the violation at
    # once, without a new inventory; processing the device again finds nothing to do.
    t.buy(gov.org.unit_a, "adobe-photoshop", quantity=1)
    assert list(Violation.objects.values_list("kind", "status", "resolution", "note")) == [
        ("unlicensed", "resolved", "licensed", "授权核算结果：单机授权")
    ]
    settled = services.process_inventory(device=gov.device, now=T1 + 3 * DAY)
    assert (settled.fulfilled, settled.raised, settled.resolved) == ([], [], [])


@pytest.mark.django_db
def test_install_after_the_window_is_not_matched_and_is_a_violation(gov):
    spec = services.create_spec(actor=None, unit=gov.org.unit_a, name="规范")
    services.add_rule(actor=None, spec=spec, kind=RuleKind.REQUIRED, category="antivirus")
    request = approve_all(gov, submit(gov), T1)
    assert services.send_reminders(now=T1 + 15 * DAY) == 0
    request.refresh_from_db()
    assert request.status == RequestStatus.EXPIRED
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1 + 16 * DAY)
    request.refresh_from_db()
    assert (request.status, request.installation) == (RequestStatus.EXPIRED, None)
    assert [(v.kind, v.product.key) for v in Violation.objects.order_by("kind")] == [
        ("unauthorised_install", "adobe-photoshop"),
        ("unlicensed", "adobe-photoshop"),
    ]


@pytest.mark.django_db
def test_uninstall_and_upgrade_requests_are_matched(gov):
    spec = services.create_spec(actor=None, unit=gov.org.unit_a, name="规范")
    services.add_rule(actor=None, spec=spec, kind=RuleKind.REQUIRED, category="antivirus")
    services.add_rule(
        actor=None, spec=spec, kind=RuleKind.ALLOWED, family=t.product("wps-office").family
    )
    uninstall = approve_all(gov, submit(gov, "qianxin-tianqing", RequestAction.UNINSTALL), T1)
    upgrade = approve_all(gov, submit(gov, "wps-office-professional", RequestAction.UPGRADE), T1)
    newer_wps = ("WPS Office 专业版", "12.2.0.17000", "Kingsoft Corp.")
    t.ingest(gov.org.unit_a, "dev-a1", [newer_wps, t.HUORONG], received=T1 + DAY)
    uninstall.refresh_from_db()
    upgrade.refresh_from_db()
    assert (uninstall.status, uninstall.event.event_type, uninstall.installation) == (
        RequestStatus.FULFILLED,
        "removed",
        None,
    )
    assert (upgrade.status, upgrade.event.event_type, upgrade.event.new_version) == (
        RequestStatus.FULFILLED,
        "version_changed",
        "12.2.0.17000",
    )
    assert Violation.objects.count() == 0


@pytest.mark.django_db
def test_after_the_fact_approval_settles_the_private_install(gov):
    spec = services.create_spec(actor=None, unit=gov.org.unit_a, name="规范")
    services.add_rule(actor=None, spec=spec, kind=RuleKind.REQUIRED, category="antivirus")
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    violation = Violation.objects.get(kind=ViolationKind.UNAUTHORISED_INSTALL)
    request = approve_all(gov, submit(gov, now=T1 + DAY), T1 + DAY)
    violation.refresh_from_db()
    assert (violation.status, violation.resolution, violation.request) == (
        ViolationStatus.RESOLVED,
        Resolution.APPROVED,
        request,
    )
    # Approval is not a licence: licensing's finding stays open.
    assert list(
        Violation.objects.filter(status=ViolationStatus.OPEN).values_list("kind", "product__key")
    ) == [("unlicensed", "adobe-photoshop")]
    assert (request.status, request.installation.name) == (
        RequestStatus.FULFILLED,
        "Adobe Photoshop 2023",
    )


@pytest.mark.django_db
def test_remind_command_runs(gov):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("governance_remind", stdout=out)
    assert out.getvalue() == "已发送催办 0 条。\n"
