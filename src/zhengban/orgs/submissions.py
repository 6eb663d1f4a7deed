"""The year-end list of 具体负责人 each unit sends to its same-level copyright bureau (§一).

    draft ──submit──▶ submitted ──receive──▶ received
      ▲                   │
      └── (edit) returned ◀┘ return_submission(reason)

Only the unit's own SAM officer edits and submits; only a supervisor of the unit's
same-level bureau receives or returns. Each transition is one transaction with its audit
record, and locks the row so two people cannot act on the same submission at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.notifications import Note, deliver
from zhengban.core.urls_absolute import absolute_url
from zhengban.orgs.choices import (
    NOT_STARTED,
    NOT_STARTED_LABEL,
    SUBMISSION_DONE,
    Role,
    SubmissionStatus,
)
from zhengban.orgs.models import OfficerListSubmission, Unit, User
from zhengban.orgs.responsibility import (
    is_bureau_supervisor,
    responsible_bureau,
    units_reporting_to,
)

OFFICER_FIELDS = ("name", "post", "phone", "department")
EDITABLE_STATUSES = frozenset({SubmissionStatus.DRAFT, SubmissionStatus.RETURNED})
MAX_OFFICERS = 50


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise PermissionDenied(message)


def can_submit_for(user: User, unit: Unit) -> bool:
    """Only the unit's own 具体负责人 files its year-end list."""
    return user.is_active and user.unit_id == unit.pk and user.has_role(Role.SAM_OFFICER)


def can_decide_submission(user: User, submission: OfficerListSubmission) -> bool:
    """Only a supervisor of the unit's same-level bureau receives or returns its list."""
    return is_bureau_supervisor(user, responsible_bureau(submission.unit))


def default_officer_list(unit: Unit) -> list[dict[str, str]]:
    """A first draft: the unit's recorded 具体负责人, then its people holding the officer role."""
    rows: list[dict[str, str]] = []
    lead = unit.lead_department.name if unit.lead_department_id else ""
    if unit.officer_name:
        rows.append(
            {
                "name": unit.officer_name,
                "post": unit.officer_post,
                "phone": unit.officer_phone,
                "department": lead,
            }
        )
    officers = (
        User.objects.filter(unit=unit, is_active=True, role_grants__role=Role.SAM_OFFICER)
        .select_related("department")
        .order_by("username")
    )
    for person in officers:
        name = person.full_name or person.username
        if any(row["name"] == name for row in rows):
            continue
        rows.append(
            {
                "name": name,
                "post": person.post,
                "phone": person.phone,
                "department": person.department.name if person.department_id else "",
            }
        )
    return rows


def clean_officers(officers: list[dict[str, Any]], *, complete: bool) -> list[dict[str, str]]:
    """Blank rows are dropped. A draft may be incomplete; a list being submitted needs a name
    and a phone number in every row (the bureau has to be able to call them)."""
    cleaned: list[dict[str, str]] = []
    for index, row in enumerate(officers, start=1):
        values = {key: " ".join(str(row.get(key) or "").split()) for key in OFFICER_FIELDS}
        if not any(values.values()):
            continue
        if complete and not values["name"]:
            raise ValidationError(_("第%(n)d行：请填写姓名。") % {"n": index})
        if complete and not values["phone"]:
            raise ValidationError(
                _("第%(n)d行（%(name)s）：请填写联系电话。") % {"n": index, "name": values["name"]}
            )
        for key, limit in (("name", 50), ("post", 100), ("phone", 30), ("department", 100)):
            if len(values[key]) > limit:
                raise ValidationError(_("第%(n)d行：内容过长。") % {"n": index})
        cleaned.append(values)
    if len(cleaned) > MAX_OFFICERS:
        raise ValidationError(_("名单最多%(n)d人。") % {"n": MAX_OFFICERS})
    return cleaned


def _check_year(year: int) -> None:
    this_year = timezone.localdate().year
    if not 2000 <= year <= this_year:
        raise ValidationError(_("年度应在2000年至%(y)d年之间。") % {"y": this_year}, code="year")


def _locked(submission: OfficerListSubmission) -> OfficerListSubmission:
    return (
        OfficerListSubmission.objects.select_for_update()
        .select_related("unit__region")
        .get(pk=submission.pk)
    )


@transaction.atomic
def create_or_update_draft(
    *,
    actor: User,
    unit: Unit,
    year: int,
    officers: list[dict[str, Any]] | None = None,
) -> OfficerListSubmission:
    """The unit's list for `year`, created as a draft (filled from the unit's records when
    `officers` is None) or, while still a draft or returned, replaced by `officers`."""
    _require(can_submit_for(actor, unit), _("只有本单位的具体负责人可以填报名单。"))
    _check_year(year)
    submission = (
        OfficerListSubmission.objects.select_for_update().filter(unit=unit, year=year).first()
    )
    if submission is None:
        rows = clean_officers(
            default_officer_list(unit) if officers is None else officers, complete=False
        )
        submission = OfficerListSubmission.objects.create(unit=unit, year=year, officers=rows)
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            obj=submission,
            after=audit.snapshot(submission),
        )
        return submission
    if submission.status not in EDITABLE_STATUSES:
        raise ValidationError(
            _("名单%(status)s，不能再修改。") % {"status": submission.get_status_display()}
        )
    if officers is None:
        return submission
    before = audit.snapshot(submission)
    submission.officers = clean_officers(officers, complete=False)
    submission.save(update_fields=["officers", "updated"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=submission,
        before=before,
        after=audit.snapshot(submission),
    )
    return submission


@transaction.atomic
def submit(*, actor: User, submission: OfficerListSubmission) -> OfficerListSubmission:
    submission = _locked(submission)
    _require(can_submit_for(actor, submission.unit), _("只有本单位的具体负责人可以报送名单。"))
    if submission.status not in EDITABLE_STATUSES:
        raise ValidationError(
            _("名单%(status)s，不能再次报送。") % {"status": submission.get_status_display()}
        )
    if not submission.officers:
        raise ValidationError(_("名单为空，请至少填写一名具体负责人。"))
    clean_officers(submission.officers, complete=True)
    if responsible_bureau(submission.unit) is None:
        raise ValidationError(_("本级及上级行政区划均未设著作权行政管理部门，无法报送。"))
    before = audit.snapshot(submission)
    submission.status = SubmissionStatus.SUBMITTED
    submission.submitted_at = timezone.now()
    submission.submitted_by = actor
    # The reason for an earlier return stays in the audit log; the live row shows the new state.
    submission.return_reason = ""
    submission.decided_at = None
    submission.decided_by = None
    submission.save()
    audit.record(
        actor=actor,
        action=AuditAction.SUBMIT,
        obj=submission,
        before=before,
        after=audit.snapshot(submission),
    )
    return submission


@transaction.atomic
def receive(*, actor: User, submission: OfficerListSubmission) -> OfficerListSubmission:
    submission = _locked(submission)
    _require(
        can_decide_submission(actor, submission),
        _("只有该单位本级著作权行政管理部门的监管人员可以接收名单。"),
    )
    if submission.status != SubmissionStatus.SUBMITTED:
        raise ValidationError(
            _("只能接收已报送的名单（当前状态：%(status)s）。")
            % {"status": submission.get_status_display()}
        )
    before = audit.snapshot(submission)
    submission.status = SubmissionStatus.RECEIVED
    submission.decided_at = timezone.now()
    submission.decided_by = actor
    submission.save()
    audit.record(
        actor=actor,
        action=AuditAction.APPROVE,
        obj=submission,
        before=before,
        after=audit.snapshot(submission),
    )
    return submission


@transaction.atomic
def return_submission(
    *, actor: User, submission: OfficerListSubmission, reason: str
) -> OfficerListSubmission:
    submission = _locked(submission)
    _require(
        can_decide_submission(actor, submission),
        _("只有该单位本级著作权行政管理部门的监管人员可以退回名单。"),
    )
    if submission.status != SubmissionStatus.SUBMITTED:
        raise ValidationError(
            _("只能退回已报送的名单（当前状态：%(status)s）。")
            % {"status": submission.get_status_display()}
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("请填写退回原因。"))
    before = audit.snapshot(submission)
    submission.status = SubmissionStatus.RETURNED
    submission.return_reason = reason[:2000]
    submission.decided_at = timezone.now()
    submission.decided_by = actor
    submission.save()
    audit.record(
        actor=actor,
        action=AuditAction.RETURN,
        obj=submission,
        before=before,
        after=audit.snapshot(submission),
    )
    _notify_officers(
        units=[submission.unit],
        year=submission.year,
        subject=_("%(year)d年度具体负责人名单已被退回") % {"year": submission.year},
        body=_("退回原因：%(reason)s") % {"reason": submission.return_reason},
    )
    return submission


# ---------------------------------------------------------------------------------------------
# The bureau's view: who has and has not submitted, and reminders to the late ones.


@dataclass
class UnitProgress:
    unit: Unit
    submission: OfficerListSubmission | None

    @property
    def status(self) -> str:
        return self.submission.status if self.submission else NOT_STARTED

    @property
    def status_label(self) -> str:
        return str(self.submission.get_status_display() if self.submission else NOT_STARTED_LABEL)

    @property
    def done(self) -> bool:
        return self.status in SUBMISSION_DONE


@dataclass
class BureauProgress:
    bureau: Unit
    year: int
    rows: list[UnitProgress] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows)

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def done(self) -> int:
        return sum(1 for row in self.rows if row.done)

    @property
    def late(self) -> list[UnitProgress]:
        return [row for row in self.rows if not row.done]

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    def counts(self) -> dict[str, int]:
        keys = [NOT_STARTED, *SubmissionStatus.values]
        return {key: self.count(key) for key in keys}


def bureau_progress(*, bureau: Unit, year: int) -> BureauProgress:
    units = list(
        units_reporting_to(bureau).select_related("region").order_by("region__path", "name")
    )
    submissions = {
        s.unit_id: s
        for s in OfficerListSubmission.objects.filter(year=year, unit__in=[u.pk for u in units])
    }
    return BureauProgress(
        bureau=bureau,
        year=year,
        rows=[UnitProgress(unit=unit, submission=submissions.get(unit.pk)) for unit in units],
    )


def _officers_of(units: list[Unit]) -> list[User]:
    return list(
        User.objects.filter(
            unit__in=[u.pk for u in units], is_active=True, role_grants__role=Role.SAM_OFFICER
        )
        .select_related("unit")
        .order_by("unit_id", "username")
        .distinct()
    )


def _notify_officers(*, units: list[Unit], year: int, subject: str, body: str) -> list[User]:
    """In-app notifications now; e-mail, greeting each officer, once the transaction commits."""
    recipients = _officers_of(units)
    notes = []
    for person in recipients:
        link = reverse("orgs:submission_unit", args=[person.unit_id, year])
        notes.append(
            Note(
                recipient=person,
                subject=subject,
                body=body,
                link=link,
                email_body=f"{person}：\n\n{body}\n\n{absolute_url(link)}",
            )
        )
    deliver(notes)
    return recipients


@dataclass
class ReminderResult:
    units: list[Unit]
    recipients: list[User]


@transaction.atomic
def remind_late_units(*, actor: User, bureau: Unit, year: int) -> ReminderResult:
    """Reminds the officers of every unit that has not submitted its `year` list."""
    _require(
        is_bureau_supervisor(actor, bureau),
        _("只有本级著作权行政管理部门的监管人员可以催报。"),
    )
    _check_year(year)
    progress = bureau_progress(bureau=bureau, year=year)
    late_units = [row.unit for row in progress.late]
    recipients = _notify_officers(
        units=late_units,
        year=year,
        subject=_("请报送%(year)d年度软件正版化工作具体负责人名单") % {"year": year},
        body=_(
            "%(bureau)s提醒：贵单位尚未报送%(year)d年度软件正版化工作具体负责人名单，"
            "请于年底前登录平台填报并报送。"
        )
        % {"bureau": bureau.name, "year": year},
    )
    audit.record(
        actor=actor,
        action=AuditAction.REMIND,
        obj=bureau,
        message=_("催报%(year)d年度具体负责人名单：%(units)d个单位，%(people)d人")
        % {"year": year, "units": len(late_units), "people": len(recipients)},
        after={
            "year": year,
            "units": [u.pk for u in late_units],
            "recipients": [p.pk for p in recipients],
        },
    )
    return ReminderResult(units=late_units, recipients=recipients)
