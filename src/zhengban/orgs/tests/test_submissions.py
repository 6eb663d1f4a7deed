import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from zhengban.core.models import AuditLogEntry, Notification
from zhengban.orgs import services
from zhengban.orgs.choices import Role
from zhengban.orgs.models import OfficerListSubmission
from zhengban.orgs.responsibility import responsible_bureau, units_reporting_to
from zhengban.orgs.submissions import (
    bureau_progress,
    create_or_update_draft,
    receive,
    remind_late_units,
    return_submission,
    submit,
)
from zhengban.orgs.testing import make_person, make_unit

YEAR = timezone.localdate().year
LIST = [{"name": "张伟", "post": "信息科科长", "phone": "0531-86000001", "department": "信息科"}]


def audit_actions(submission):
    return list(
        AuditLogEntry.objects.filter(
            object_type="orgs.officerlistsubmission", object_id=str(submission.pk)
        )
        .order_by("id")
        .values_list("action", "actor_name")
    )


@pytest.mark.django_db
def test_same_level_bureau(org):
    assert responsible_bureau(org.unit_a) == org.bureau_a  # county without a bureau → city's
    assert responsible_bureau(org.unit_b) == org.bureau_b
    assert responsible_bureau(org.province_bureau) == org.province_bureau
    assert sorted(u.name for u in units_reporting_to(org.bureau_a)) == [
        "历下区财政局",
        "历下区财政局国库支付中心",
        "济南市版权局",
    ]
    assert [u.name for u in units_reporting_to(org.province_bureau)] == ["山东省版权局"]
    # Once the county has its own bureau, its units report there instead.
    county_bureau = make_unit(org.county_a1, "历下区版权局", is_copyright_bureau=True)
    assert responsible_bureau(org.unit_a) == county_bureau
    assert [u.name for u in units_reporting_to(org.bureau_a)] == ["济南市版权局"]


@pytest.mark.django_db
def test_draft_submit_return_edit_resubmit_receive(org):
    s = create_or_update_draft(actor=org.officer_a, unit=org.unit_a, year=YEAR, officers=LIST)
    assert (s.status, s.officers, s.submitted_at) == ("draft", LIST, None)

    s = submit(actor=org.officer_a, submission=s)
    assert (s.status, s.submitted_by, s.decided_at) == ("submitted", org.officer_a, None)
    assert s.submitted_at is not None

    s = return_submission(actor=org.supervisor_a, submission=s, reason="缺少办公室负责人")
    assert (s.status, s.return_reason, s.decided_by) == (
        "returned",
        "缺少办公室负责人",
        org.supervisor_a,
    )
    # The officer hears about it.
    note = Notification.objects.get(recipient=org.officer_a)
    assert (note.subject, note.body) == (
        f"{YEAR}年度具体负责人名单已被退回",
        "退回原因：缺少办公室负责人",
    )

    second = [*LIST, {"name": "李娜", "post": "办公室主任", "phone": "0531-86000002"}]
    s = create_or_update_draft(actor=org.officer_a, unit=org.unit_a, year=YEAR, officers=second)
    assert (s.status, len(s.officers), s.officers[1]["department"]) == ("returned", 2, "")

    s = submit(actor=org.officer_a, submission=s)
    assert (s.status, s.return_reason, s.decided_at) == ("submitted", "", None)

    s = receive(actor=org.supervisor_a, submission=s)
    assert (s.status, s.decided_by) == ("received", org.supervisor_a)
    assert s.decided_at >= s.submitted_at
    assert audit_actions(s) == [
        ("create", "officer_a"),
        ("submit", "officer_a"),
        ("return", "supervisor_a"),
        ("update", "officer_a"),
        ("submit", "officer_a"),
        ("approve", "supervisor_a"),
    ]


@pytest.mark.django_db
def test_illegal_transitions_are_refused_and_change_nothing(org):
    s = create_or_update_draft(actor=org.officer_a, unit=org.unit_a, year=YEAR, officers=LIST)
    with pytest.raises(ValidationError, match="只能接收已报送的名单（当前状态：草稿）"):
        receive(actor=org.supervisor_a, submission=s)
    with pytest.raises(ValidationError, match="只能退回已报送的名单（当前状态：草稿）"):
        return_submission(actor=org.supervisor_a, submission=s, reason="x")
    s = submit(actor=org.officer_a, submission=s)
    with pytest.raises(ValidationError, match="名单已报送，不能再次报送"):
        submit(actor=org.officer_a, submission=s)
    with pytest.raises(ValidationError, match="名单已报送，不能再修改"):
        create_or_update_draft(actor=org.officer_a, unit=org.unit_a, year=YEAR, officers=[])
    with pytest.raises(ValidationError, match="请填写退回原因"):
        return_submission(actor=org.supervisor_a, submission=s, reason="  ")
    s = receive(actor=org.supervisor_a, submission=s)
    with pytest.raises(ValidationError, match="当前状态：已接收"):
        return_submission(actor=org.supervisor_a, submission=s, reason="再看看")
    with pytest.raises(ValidationError, match="名单已接收，不能再次报送"):
        submit(actor=org.officer_a, submission=s)
    s.refresh_from_db()
    assert (s.status, s.officers) == ("received", LIST)


@pytest.mark.django_db
def test_submitting_needs_a_complete_list(org):
    # The default draft comes from the unit's officers; officer_a has no phone number yet.
    s = create_or_update_draft(actor=org.officer_a, unit=org.unit_a, year=YEAR)
    assert s.officers == [{"name": "officer_a", "post": "", "phone": "", "department": ""}]
    with pytest.raises(ValidationError) as info:
        submit(actor=org.officer_a, submission=s)
    assert info.value.messages == ["第1行（officer_a）：请填写联系电话。"]
    empty = create_or_update_draft(actor=org.officer_b, unit=org.unit_b, year=YEAR, officers=[])
    with pytest.raises(ValidationError, match="名单为空"):
        submit(actor=org.officer_b, submission=empty)
    assert OfficerListSubmission.objects.filter(status="draft").count() == 2


@pytest.mark.django_db
def test_who_may_do_what(org):
    for outsider in (org.officer_b, org.staff_a, org.head_a, org.supervisor_a, org.sysadmin):
        with pytest.raises(PermissionDenied):
            create_or_update_draft(actor=outsider, unit=org.unit_a, year=YEAR, officers=LIST)
    s = create_or_update_draft(actor=org.officer_a, unit=org.unit_a, year=YEAR, officers=LIST)
    with pytest.raises(PermissionDenied):
        submit(actor=org.supervisor_a, submission=s)
    s = submit(actor=org.officer_a, submission=s)
    # Not the same-level bureau (the province's), the unit itself, or a unit-level role.
    for wrong in (org.supervisor_province, org.officer_a, org.head_a):
        with pytest.raises(PermissionDenied):
            receive(actor=wrong, submission=s)
        with pytest.raises(PermissionDenied):
            return_submission(actor=wrong, submission=s, reason="不对")
    # An officer of the bureau who is not a supervisor may not decide either.
    bureau_officer = make_person("bureau_officer", org.bureau_a, Role.SAM_OFFICER)
    with pytest.raises(PermissionDenied):
        receive(actor=bureau_officer, submission=s)
    s.refresh_from_db()
    assert s.status == "submitted"


@pytest.mark.django_db
def test_progress_and_reminders_go_exactly_to_late_units_officers(
    org, django_capture_on_commit_callbacks
):
    child_officer = make_person(
        "child_officer", org.unit_a_child, Role.SAM_OFFICER, email="child@example.cn"
    )
    bureau_officer = make_person(
        "bureau_officer", org.bureau_a, Role.SAM_OFFICER, email="bureau@example.cn"
    )
    make_person("child_staff", org.unit_a_child, Role.STAFF, email="staff@example.cn")
    quiet = make_person("quiet_officer", org.unit_a_child, Role.SAM_OFFICER)  # no e-mail
    services.update_unit(actor=org.officer_a, unit=org.unit_a_child, headcount=12)
    s = create_or_update_draft(actor=org.officer_a, unit=org.unit_a, year=YEAR, officers=LIST)
    submit(actor=org.officer_a, submission=s)
    create_or_update_draft(actor=bureau_officer, unit=org.bureau_a, year=YEAR, officers=LIST)

    progress = bureau_progress(bureau=org.bureau_a, year=YEAR)
    assert [(r.unit.name, r.status) for r in progress.rows] == [
        ("济南市版权局", "draft"),
        ("历下区财政局", "submitted"),
        ("历下区财政局国库支付中心", "not_started"),
    ]
    assert (progress.total, progress.done, progress.percent) == (3, 1, 33)
    assert progress.counts() == {
        "not_started": 1,
        "draft": 1,
        "submitted": 1,
        "received": 0,
        "returned": 0,
    }

    with django_capture_on_commit_callbacks(execute=True):
        result = remind_late_units(actor=org.supervisor_a, bureau=org.bureau_a, year=YEAR)
    assert [u.name for u in result.units] == ["济南市版权局", "历下区财政局国库支付中心"]
    assert sorted(p.username for p in result.recipients) == [
        "bureau_officer",
        "child_officer",
        "quiet_officer",
    ]
    assert sorted(Notification.objects.values_list("recipient__username", "subject")) == [
        ("bureau_officer", f"请报送{YEAR}年度软件正版化工作具体负责人名单"),
        ("child_officer", f"请报送{YEAR}年度软件正版化工作具体负责人名单"),
        ("quiet_officer", f"请报送{YEAR}年度软件正版化工作具体负责人名单"),
    ]
    assert Notification.objects.get(recipient=child_officer).link == (
        f"/orgs/units/{org.unit_a_child.pk}/submissions/{YEAR}/"
    )
    assert sorted(m.to[0] for m in mail.outbox) == ["bureau@example.cn", "child@example.cn"]
    assert mail.outbox[0].subject == f"请报送{YEAR}年度软件正版化工作具体负责人名单"
    # A mail client has no current host: the link names the site (settings.SITE_URL).
    child_mail = next(m for m in mail.outbox if m.to == ["child@example.cn"])
    assert child_mail.body.endswith(
        f"\n\nhttp://127.0.0.1:8000/orgs/units/{org.unit_a_child.pk}/submissions/{YEAR}/"
    )
    entry = AuditLogEntry.objects.get(action="remind")
    assert (entry.actor_name, entry.object_repr, entry.message) == (
        "supervisor_a",
        "济南市版权局",
        f"催报{YEAR}年度具体负责人名单：2个单位，3人",
    )
    assert entry.after["units"] == [org.bureau_a.pk, org.unit_a_child.pk]
    assert quiet.notifications.count() == 1


@pytest.mark.django_db
def test_only_the_bureaus_supervisor_reminds(org):
    for wrong in (org.supervisor_province, org.officer_a, org.sysadmin):
        with pytest.raises(PermissionDenied):
            remind_late_units(actor=wrong, bureau=org.bureau_a, year=YEAR)
    assert Notification.objects.count() == 0
    assert len(mail.outbox) == 0
