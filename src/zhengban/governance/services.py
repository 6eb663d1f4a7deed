"""Software use (§四) business logic. Every public function that changes data is one
transaction and writes its own audit record; `actor=None` means the system itself (an
inventory ingest, a reminder run)."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengban.catalog.choices import Category
from zhengban.catalog.models import Product, ProductFamily
from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.notifications import Note, deliver, notify
from zhengban.core.scoping import scope_queryset
from zhengban.governance import adapters
from zhengban.governance.choices import (
    DEFAULT_STEPS,
    OPEN_STATUSES,
    CampaignStatus,
    Difference,
    LineOrigin,
    RequestAction,
    RequestStatus,
    Resolution,
    RuleKind,
    SelfReportStatus,
    StepDecision,
    StepKind,
    ViolationKind,
    ViolationStatus,
)
from zhengban.governance.models import (
    ApprovalStep,
    CommitmentLetter,
    ConfigurationSpec,
    PendingInventory,
    SelfReport,
    SelfReportCampaign,
    SelfReportLine,
    SoftwareRequest,
    SpecRule,
    UnitWorkflow,
    Violation,
)
from zhengban.inventory.choices import EventType
from zhengban.inventory.models import Device, Installation, InstallationEvent, InventoryReport
from zhengban.orgs.choices import Role
from zhengban.orgs.models import Department, Region, Unit, User

logger = logging.getLogger(__name__)

# Categories nobody asks permission for: they come with the system or with other software.
EXEMPT_CATEGORIES = frozenset({Category.RUNTIME, Category.DRIVER, Category.UPDATE})
REMINDER_INTERVAL = datetime.timedelta(days=1)


def _now(now: datetime.datetime | None) -> datetime.datetime:
    return now or timezone.now()


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValidationError(message)


def _in_scope(user: User, unit: Unit) -> bool:
    return scope_queryset(Unit.objects.filter(pk=unit.pk), user).exists()


# ------------------------------------------------------------------------------ notifications


def officers_of(unit: Unit) -> QuerySet[User]:
    return User.objects.filter(
        unit=unit, is_active=True, role_grants__role=Role.SAM_OFFICER
    ).distinct()


def _officers_by_unit(unit_ids: Iterable[int]) -> dict[int, list[User]]:
    officers: dict[int, list[User]] = {}
    for person in User.objects.filter(
        unit_id__in=set(unit_ids), is_active=True, role_grants__role=Role.SAM_OFFICER
    ).distinct():
        officers.setdefault(person.unit_id, []).append(person)
    return officers


# ------------------------------------------------------------------------------ permissions


def can_manage_specs(user: User, unit: Unit) -> bool:
    if user.is_superuser:
        return True
    return user.has_role(Role.SAM_OFFICER) and _in_scope(user, unit)


def can_publish_templates(user: User, region: Region) -> bool:
    if user.is_superuser:
        return True
    unit = user.unit
    return bool(
        user.has_role(Role.SUPERVISOR)
        and unit is not None
        and unit.is_copyright_bureau
        and unit.region_id == region.pk
    )


def can_edit_spec(user: User, spec: ConfigurationSpec) -> bool:
    if spec.is_template:
        return can_publish_templates(user, spec.region)
    return can_manage_specs(user, spec.unit)


def can_handle_violations(user: User, unit: Unit) -> bool:
    return can_manage_specs(user, unit)


# ------------------------------------------------------------------------------ specs


@transaction.atomic
def create_spec(
    *,
    actor: User | None,
    name: str,
    unit: Unit | None = None,
    region: Region | None = None,
    department: Department | None = None,
    post: str = "",
    description: str = "",
) -> ConfigurationSpec:
    """A unit's spec (unit-wide, for a department or for a post), or with `region` a template."""
    _require(bool(name.strip()), _("请填写名称。"))
    if actor is not None:
        allowed = (
            can_publish_templates(actor, region) if unit is None else can_manage_specs(actor, unit)
        )
        if not allowed:
            raise PermissionDenied
    if department is not None:
        _require(department.unit_id == getattr(unit, "pk", None), _("部门不属于该单位。"))
    spec = ConfigurationSpec(
        name=name.strip(),
        unit=unit,
        region=region if unit is None else None,
        department=department,
        post=post.strip(),
        description=description,
    )
    spec.full_clean()
    spec.save()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=spec,
        after=audit.snapshot(spec),
        unit_id=spec.unit_id,
    )
    return spec


def _rule_target_q(product: Product | None, family: ProductFamily | None, category: str) -> Q:
    if product is not None:
        return Q(product=product)
    if family is not None:
        return Q(family=family)
    return Q(category=category)


@transaction.atomic
def add_rule(
    *,
    actor: User | None,
    spec: ConfigurationSpec,
    kind: str,
    product: Product | None = None,
    family: ProductFamily | None = None,
    category: str = "",
    note: str = "",
) -> SpecRule:
    if actor is not None and not can_edit_spec(actor, spec):
        raise PermissionDenied
    _require(kind in RuleKind.values, _("规范条目类型无效。"))
    targets = [product is not None, family is not None, bool(category)]
    _require(sum(targets) == 1, _("请选择一个产品、产品系列或类别。"))
    _require(not category or category in Category.values, _("类别无效。"))
    if product is not None and product.owner_unit_id is not None:
        # In-house software of another unit must not leak into this unit's spec.
        _require(product.owner_unit_id == spec.unit_id, _("不能使用其他单位的自有软件。"))
    _require(
        not spec.rules.filter(_rule_target_q(product, family, category)).exists(),
        _("该软件已在规范中。"),
    )
    rule = SpecRule(
        spec=spec, kind=kind, product=product, family=family, category=category, note=note
    )
    rule.full_clean()
    rule.save()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=rule,
        after=audit.snapshot(rule),
        unit_id=spec.unit_id,
    )
    return rule


@transaction.atomic
def remove_rule(*, actor: User | None, rule: SpecRule) -> None:
    if actor is not None and not can_edit_spec(actor, rule.spec):
        raise PermissionDenied
    before = audit.snapshot(rule)
    audit.record(
        actor=actor,
        action=AuditAction.DELETE,
        obj=rule,
        before=before,
        unit_id=rule.spec.unit_id,
    )
    rule.delete()


@transaction.atomic
def adopt_template(
    *, actor: User | None, template: ConfigurationSpec, unit: Unit, name: str = ""
) -> ConfigurationSpec:
    """A unit copies a region template: it may then adjust its copy freely; the copy keeps a
    link back to the template it came from."""
    _require(template.is_template, _("只能采用区划发布的模板。"))
    if actor is not None and not can_manage_specs(actor, unit):
        raise PermissionDenied
    # Only templates of the unit's own region or a region above it apply to it.
    _require(unit.region.path.startswith(template.region.path), _("该模板不适用于本单位所在区划。"))
    spec = ConfigurationSpec.objects.create(
        name=name.strip() or template.name,
        unit=unit,
        description=template.description,
        adopted_from=template,
    )
    SpecRule.objects.bulk_create(
        [
            SpecRule(
                spec=spec,
                kind=r.kind,
                product=r.product,
                family=r.family,
                category=r.category,
                note=r.note,
            )
            for r in template.rules.all()
        ]
    )
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=spec,
        after=audit.snapshot(spec),
        message=f"adopted template {template.pk} with {template.rules.count()} rules",
    )
    return spec


@transaction.atomic
def set_spec_active(*, actor: User | None, spec: ConfigurationSpec, active: bool) -> None:
    if actor is not None and not can_edit_spec(actor, spec):
        raise PermissionDenied
    before = audit.snapshot(spec)
    spec.active = active
    spec.save(update_fields=["active", "updated"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=spec,
        before=before,
        after=audit.snapshot(spec),
        unit_id=spec.unit_id,
    )


@dataclass
class EffectiveSpec:
    """The rules that apply to one person on one device, merged from every active spec of
    the unit that covers them (unit-wide, their department, their post)."""

    rules: list[SpecRule] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return bool(self.rules)

    @staticmethod
    def _matches(rule: SpecRule, product: Product) -> bool:
        if rule.product_id:
            return rule.product_id == product.pk
        if rule.family_id:
            return rule.family_id == product.family_id
        return rule.category == product.category

    def classify(self, product: Product) -> str | None:
        """Prohibited anywhere wins; then required; then allowed or free; else None."""
        kinds = {r.kind for r in self.rules if self._matches(r, product)}
        for kind in (RuleKind.PROHIBITED, RuleKind.REQUIRED, RuleKind.ALLOWED, RuleKind.FREE):
            if kind in kinds:
                return kind
        return None

    def required_rules(self) -> list[SpecRule]:
        return [r for r in self.rules if r.kind == RuleKind.REQUIRED]

    def by_kind(self, kind: str) -> list[SpecRule]:
        return [r for r in self.rules if r.kind == kind]


def effective_spec(
    *, unit: Unit | int, department: Department | int | None = None, post: str = ""
) -> EffectiveSpec:
    unit_id = getattr(unit, "pk", unit)
    department_id = getattr(department, "pk", department)
    cover = Q(department__isnull=True, post="")
    if department_id:
        cover |= Q(department_id=department_id)
    if post:
        cover |= Q(post=post)
    specs = ConfigurationSpec.objects.filter(cover, unit_id=unit_id, active=True)
    rules = list(
        SpecRule.objects.filter(spec__in=specs).select_related("product", "family", "spec")
    )
    return EffectiveSpec(rules=rules)


def effective_spec_for_device(device: Device) -> EffectiveSpec:
    person = device.assigned_user
    return effective_spec(
        unit=device.unit_id,
        department=device.department_id or getattr(person, "department_id", None),
        post=getattr(person, "post", "") or "",
    )


def effective_spec_for_person(person: User) -> EffectiveSpec:
    return effective_spec(unit=person.unit_id, department=person.department_id, post=person.post)


# ------------------------------------------------------------------------------ requests


def workflow_of(unit: Unit) -> UnitWorkflow:
    return UnitWorkflow.objects.filter(unit=unit).first() or UnitWorkflow(
        unit=unit, steps=list(DEFAULT_STEPS)
    )


@transaction.atomic
def set_workflow(
    *,
    actor: User | None,
    unit: Unit,
    steps: Sequence[str],
    step_days: int = 3,
    window_days: int = 14,
) -> UnitWorkflow:
    if actor is not None and not can_manage_specs(actor, unit):
        raise PermissionDenied
    _require(bool(steps), _("至少需要一个审批环节。"))
    _require(all(s in StepKind.values for s in steps), _("审批环节无效。"))
    _require(len(set(steps)) == len(steps), _("审批环节不能重复。"))
    _require(step_days >= 1 and window_days >= 1, _("期限至少为 1 天。"))
    workflow = UnitWorkflow.objects.filter(unit=unit).first()
    before = audit.snapshot(workflow)
    workflow, _created = UnitWorkflow.objects.update_or_create(
        unit=unit,
        defaults={"steps": list(steps), "step_days": step_days, "window_days": window_days},
    )
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE if before else AuditAction.CREATE,
        obj=workflow,
        before=before,
        after=audit.snapshot(workflow),
    )
    return workflow


def approvers_for(step: ApprovalStep) -> QuerySet[User]:
    """Who may decide a step: by its kind, within the request's own unit, never the
    requester. A department head is an 审批人 of the requester's department; a unit
    without one falls back to its 审批人 outside departments, then to its SAM officers."""
    request = step.request
    people = User.objects.filter(unit_id=request.unit_id, is_active=True).exclude(
        pk=request.requester_id
    )
    if step.kind == StepKind.DEPARTMENT_HEAD:
        approvers = people.filter(role_grants__role=Role.APPROVER)
        for candidates in (
            approvers.filter(department_id=request.department_id)
            if request.department_id
            else approvers.none(),
            approvers.filter(department__isnull=True),
        ):
            if candidates.exists():
                return candidates.distinct()
        role = Role.SAM_OFFICER
    elif step.kind == StepKind.UNIT_HEAD:
        role = Role.HEAD
    else:
        role = Role.SAM_OFFICER
    return people.filter(role_grants__role=role).distinct()


def pending_step(request: SoftwareRequest) -> ApprovalStep | None:
    return request.steps.filter(decision=StepDecision.PENDING).first()


def can_decide(user: User, request: SoftwareRequest) -> bool:
    if request.status != RequestStatus.PENDING or user.pk == request.requester_id:
        return False
    step = pending_step(request)
    return step is not None and approvers_for(step).filter(pk=user.pk).exists()


def awaiting_decision_by(user: User) -> QuerySet[SoftwareRequest]:
    """The approval queue of one person."""
    pending = SoftwareRequest.objects.filter(unit_id=user.unit_id, status=RequestStatus.PENDING)
    ids = [r.pk for r in pending.prefetch_related("steps") if can_decide(user, r)]
    return SoftwareRequest.objects.filter(pk__in=ids).select_related(
        "requester", "device", "product"
    )


def _activate(step: ApprovalStep, *, now: datetime.datetime, step_days: int) -> None:
    step.decision = StepDecision.PENDING
    step.activated_at = now
    step.due = now + datetime.timedelta(days=step_days)
    step.save(update_fields=["decision", "activated_at", "due"])
    request = step.request
    notify(
        users=approvers_for(step),
        subject=_("待审批：%(who)s申请%(action)s%(product)s")
        % {
            "who": request.requester,
            "action": request.get_action_display(),
            "product": request.product,
        },
        body=_("审批环节：%(step)s，请于 %(due)s 前处理。申请理由：%(reason)s")
        % {
            "step": step.get_kind_display(),
            "due": timezone.localtime(step.due).strftime("%Y-%m-%d %H:%M"),
            "reason": request.reason,
        },
        link=request.get_absolute_url(),
    )


@transaction.atomic
def submit_request(
    *,
    actor: User,
    device: Device,
    action: str,
    product: Product,
    reason: str,
    now: datetime.datetime | None = None,
) -> SoftwareRequest:
    """A staff member asks to install, uninstall or upgrade a product on one of their own
    devices. The unit's approval steps are laid out at once; the first one starts."""
    now = _now(now)
    _require(action in RequestAction.values, _("申请事项无效。"))
    _require(bool(reason.strip()), _("请填写申请理由。"))
    if device.assigned_user_id != actor.pk:
        raise PermissionDenied(_("只能为本人使用的终端提出申请。"))
    _require(actor.unit_id == device.unit_id, _("终端不属于本人所在单位。"))
    _require(
        product.owner_unit_id is None or product.owner_unit_id == device.unit_id,
        _("不能申请其他单位的自有软件。"),
    )
    _require(
        not SoftwareRequest.objects.filter(
            device=device,
            product=product,
            action=action,
            status__in=[RequestStatus.PENDING, RequestStatus.APPROVED],
        ).exists(),
        _("该终端已有相同的申请在办理中。"),
    )
    workflow = workflow_of(device.unit)
    request = SoftwareRequest.objects.create(
        unit_id=device.unit_id,
        department_id=actor.department_id,
        requester=actor,
        device=device,
        action=action,
        product=product,
        reason=reason.strip(),
        submitted_at=now,
    )
    steps = ApprovalStep.objects.bulk_create(
        [
            ApprovalStep(request=request, position=i + 1, kind=kind)
            for i, kind in enumerate(workflow.steps)
        ]
    )
    audit.record(actor=actor, action=AuditAction.SUBMIT, obj=request, after=audit.snapshot(request))
    _activate(steps[0], now=now, step_days=workflow.step_days)
    return request


@transaction.atomic
def decide(
    *,
    actor: User,
    request: SoftwareRequest,
    approve: bool,
    comment: str = "",
    now: datetime.datetime | None = None,
) -> SoftwareRequest:
    """One approver decides the step now pending. The last approval opens the window in
    which the agent's sighting of the install is matched to the request."""
    now = _now(now)
    request = SoftwareRequest.objects.select_for_update().get(pk=request.pk)
    if actor.pk == request.requester_id:
        raise PermissionDenied(_("不能审批本人提出的申请。"))
    if not can_decide(actor, request):
        raise PermissionDenied(_("您不是当前环节的审批人。"))
    _require(approve or bool(comment.strip()), _("不同意时请填写审批意见。"))
    step = pending_step(request)
    before = audit.snapshot(request)
    step.decision = StepDecision.APPROVED if approve else StepDecision.REJECTED
    step.decided_by = actor
    step.decided_at = now
    step.comment = comment.strip()
    step.save(update_fields=["decision", "decided_by", "decided_at", "comment"])
    workflow = workflow_of(request.unit)
    following = request.steps.filter(position__gt=step.position).order_by("position").first()
    if not approve:
        request.status = RequestStatus.REJECTED
        request.decided_at = now
    elif following is not None:
        _activate(following, now=now, step_days=workflow.step_days)
    else:
        request.status = RequestStatus.APPROVED
        request.decided_at = now
        request.window_until = now + datetime.timedelta(days=workflow.window_days)
    request.save()
    audit.record(
        actor=actor,
        action=AuditAction.APPROVE if approve else AuditAction.RETURN,
        obj=request,
        before=before,
        after=audit.snapshot(request),
        message=f"step {step.position} {step.kind}: {step.comment}"[:500],
    )
    if request.status in (RequestStatus.APPROVED, RequestStatus.REJECTED):
        notify(
            users=[request.requester],
            subject=_("您的申请%(status)s：%(action)s%(product)s")
            % {
                "status": request.get_status_display(),
                "action": request.get_action_display(),
                "product": request.product,
            },
            body=step.comment,
            link=request.get_absolute_url(),
        )
    if request.status == RequestStatus.APPROVED:
        _after_approval(request, now=now)
    return request


def _after_approval(request: SoftwareRequest, *, now: datetime.datetime) -> None:
    """An approval given after the fact (补办) settles the violation it answers, and is
    fulfilled at once by the install already there."""
    if request.action not in (RequestAction.INSTALL, RequestAction.UPGRADE):
        return
    open_violations = Violation.objects.filter(
        device_id=request.device_id,
        product=request.product,
        kind=ViolationKind.UNAUTHORISED_INSTALL,
        status__in=OPEN_STATUSES,
    )
    if not open_violations.exists():
        return
    for violation in open_violations:
        _resolve(violation, resolution=Resolution.APPROVED, actor=None, now=now, request=request)
    installation = Installation.objects.filter(
        device_id=request.device_id, product=request.product
    ).first()
    if installation is not None:
        _fulfil(request, installation=installation, event=None, now=now)


@transaction.atomic
def withdraw_request(
    *, actor: User, request: SoftwareRequest, now: datetime.datetime | None = None
) -> SoftwareRequest:
    now = _now(now)
    if actor.pk != request.requester_id:
        raise PermissionDenied
    _require(
        request.status in (RequestStatus.PENDING, RequestStatus.APPROVED),
        _("该申请已办结，不能撤回。"),
    )
    before = audit.snapshot(request)
    request.status = RequestStatus.WITHDRAWN
    request.save(update_fields=["status", "updated"])
    request.steps.filter(decision__in=[StepDecision.PENDING, StepDecision.WAITING]).update(
        decision=StepDecision.SKIPPED
    )
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=request,
        before=before,
        after=audit.snapshot(request),
    )
    return request


@transaction.atomic
def send_reminders(*, now: datetime.datetime | None = None) -> int:
    """Reminds approvers of overdue steps (at most once a day per step) and closes approval
    windows that ran out. Returns the number of reminders sent."""
    now = _now(now)
    overdue = ApprovalStep.objects.filter(
        decision=StepDecision.PENDING,
        due__lt=now,
        request__status=RequestStatus.PENDING,
    ).filter(Q(reminded_at__isnull=True) | Q(reminded_at__lte=now - REMINDER_INTERVAL))
    sent = 0
    for step in overdue.select_related("request", "request__product", "request__requester"):
        request = step.request
        notify(
            users=approvers_for(step),
            subject=_("催办：%(who)s的软件申请已超过审批时限") % {"who": request.requester},
            body=_("%(action)s%(product)s，%(step)s环节应于 %(due)s 前处理。")
            % {
                "action": request.get_action_display(),
                "product": request.product,
                "step": step.get_kind_display(),
                "due": timezone.localtime(step.due).strftime("%Y-%m-%d %H:%M"),
            },
            link=request.get_absolute_url(),
        )
        step.reminded_at = now
        step.save(update_fields=["reminded_at"])
        audit.record(
            actor=None,
            action=AuditAction.REMIND,
            obj=request,
            message=f"step {step.position} overdue since {step.due.isoformat()}",
        )
        sent += 1
    expired = SoftwareRequest.objects.filter(status=RequestStatus.APPROVED, window_until__lt=now)
    for request in expired:
        request.status = RequestStatus.EXPIRED
        request.save(update_fields=["status", "updated"])
        audit.record(
            actor=None, action=AuditAction.UPDATE, obj=request, message="approval window expired"
        )
    return sent


# ------------------------------------------------------------------------------ inventory


def _fulfil(
    request: SoftwareRequest,
    *,
    installation: Installation | None,
    event: InstallationEvent | None,
    now: datetime.datetime,
) -> None:
    before = audit.snapshot(request)
    request.status = RequestStatus.FULFILLED
    request.fulfilled_at = event.date if event is not None else now
    request.installation = installation
    request.event = event
    request.save(update_fields=["status", "fulfilled_at", "installation", "event", "updated"])
    audit.record(
        actor=None,
        action=AuditAction.UPDATE,
        obj=request,
        before=before,
        after=audit.snapshot(request),
        message="matched to inventory",
    )


def _approved_requests(
    device: Device, events: Sequence[InstallationEvent]
) -> list[SoftwareRequest]:
    """The device's approved requests whose window holds any of these changes (one query;
    each change then takes those whose window holds its own date)."""
    dates = [e.date for e in events]
    return list(
        SoftwareRequest.objects.filter(
            device=device,
            status=RequestStatus.APPROVED,
            decided_at__lte=max(dates),
            window_until__gte=min(dates),
        )
        .select_related("product")
        .order_by("decided_at", "id")
    )


def _match_event(
    event: InstallationEvent, requests: list[SoftwareRequest], now: datetime.datetime
) -> SoftwareRequest | None:
    """The approved request an inventory change carries out, if any. An upgrade may show
    as a version change of the product or as a new product of the same family."""
    product = event.product
    if product is None:
        return None
    for request in requests:
        if request.status != RequestStatus.APPROVED:
            continue  # fulfilled by an earlier change of this inventory
        if not request.decided_at <= event.date <= request.window_until:
            continue
        same = request.product_id == product.pk
        same_family = request.product.family_id == product.family_id
        if event.event_type == EventType.INSTALLED:
            ok = (request.action == RequestAction.INSTALL and same) or (
                request.action == RequestAction.UPGRADE and same_family
            )
        elif event.event_type == EventType.VERSION_CHANGED:
            ok = request.action == RequestAction.UPGRADE and same_family
        else:
            ok = request.action == RequestAction.UNINSTALL and same
        if not ok:
            continue
        installation = None
        if event.event_type != EventType.REMOVED:
            installation = Installation.objects.filter(
                device_id=event.device_id, product=product, name=event.name
            ).first()
        _fulfil(request, installation=installation, event=event, now=now)
        return request
    return None


def _person_of(device: Device) -> tuple[User | None, str]:
    person = device.assigned_user
    return person, (device.assigned_name or (str(person) if person else ""))[:50]


@dataclass(frozen=True)
class _Finding:
    """Something found on a device that is (or stays) one violation: (device, kind, key)."""

    device_id: int
    kind: str
    key: str
    product_id: int | None
    name: str
    version: str
    seen: datetime.datetime
    installation_id: int | None = None


def _raise_findings(findings: Sequence[_Finding], devices: dict[int, Device]) -> list[Violation]:
    """Raises the findings not yet open and moves `last_seen` of those that are; returns
    the new violations. A few queries however many findings: one read, one update per
    distinct time seen, then for new ones one insert each of violations, audit entries and
    notifications. `devices` holds each finding's device (with its assigned person)."""
    if not findings:
        return []
    unique: dict[tuple[int, str, str], _Finding] = {}
    latest: dict[tuple[int, str, str], datetime.datetime] = {}
    for finding in findings:
        ident = (finding.device_id, finding.kind, finding.key[:600])
        unique.setdefault(ident, finding)
        latest[ident] = max(latest.get(ident, finding.seen), finding.seen)
    existing = {
        (device_id, kind, key): (pk, last_seen)
        for pk, device_id, kind, key, last_seen in Violation.objects.filter(
            device_id__in={i[0] for i in unique},
            kind__in={i[1] for i in unique},
            key__in={i[2] for i in unique},
        )
        .exclude(status=ViolationStatus.RESOLVED)
        .values_list("pk", "device_id", "kind", "key", "last_seen")
    }
    later: dict[datetime.datetime, list[int]] = {}
    for ident, (pk, last_seen) in existing.items():
        if ident in latest and latest[ident] > last_seen:
            later.setdefault(latest[ident], []).append(pk)
    for seen, pks in later.items():
        Violation.objects.filter(pk__in=pks, last_seen__lt=seen).update(
            last_seen=seen, updated=timezone.now()
        )
    new = []
    for ident, finding in unique.items():
        if ident in existing:
            continue
        device = devices[finding.device_id]
        person, person_name = _person_of(device)
        new.append(
            Violation(
                unit_id=device.unit_id,
                device=device,
                person=person,
                person_name=person_name,
                kind=finding.kind,
                product_id=finding.product_id,
                software_name=finding.name[:512],
                software_version=finding.version[:128],
                installation_id=finding.installation_id,
                key=ident[2],
                first_seen=finding.seen,
                last_seen=latest[ident],
            )
        )
    if not new:
        return []
    Violation.objects.bulk_create(new)
    audit.record_many(
        [
            audit.record(
                actor=None,
                action=AuditAction.CREATE,
                obj=v,
                after=audit.snapshot(v),
                commit=False,
            )
            for v in new
        ]
    )
    officers = _officers_by_unit(v.unit_id for v in new)
    notes = []
    for violation in new:
        subject = _("发现违规：%(kind)s %(name)s（%(device)s）") % {
            "kind": violation.get_kind_display(),
            "name": violation.software_name,
            "device": devices[violation.device_id],
        }
        people = [violation.person, *officers.get(violation.unit_id, [])]
        for person in {p.pk: p for p in people if p is not None}.values():
            notes.append(
                Note(
                    recipient=person,
                    subject=subject,
                    body=_("请在系统中说明情况并整改。"),
                    link=violation.get_absolute_url(),
                )
            )
    deliver(_digest(notes))
    return new


# More new violations than this for one person in one batch (a unit's first inventories,
# a province's first recompute) become one message pointing at the list, not a flood.
DIGEST_AFTER = 5


def _digest(notes: list[Note]) -> list[Note]:
    by_person: dict[int, list[Note]] = {}
    for note in notes:
        by_person.setdefault(note.recipient.pk, []).append(note)
    out: list[Note] = []
    for group in by_person.values():
        if len(group) <= DIGEST_AFTER:
            out.extend(group)
            continue
        out.append(
            Note(
                recipient=group[0].recipient,
                subject=_("发现%(n)d项新违规") % {"n": len(group)},
                body=_("请在违规清单中逐项说明情况并整改。"),
                link=reverse("governance:violation_list"),
            )
        )
    return out


def _resolve(
    violation: Violation,
    *,
    resolution: str,
    actor: User | None,
    now: datetime.datetime,
    request: SoftwareRequest | None = None,
    note: str = "",
) -> None:
    before = audit.snapshot(violation)
    violation.status = ViolationStatus.RESOLVED
    violation.resolution = resolution
    violation.resolved_at = now
    violation.resolved_by = actor
    violation.request = request or violation.request
    if note:
        violation.note = note
    violation.save()
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=violation,
        before=before,
        after=audit.snapshot(violation),
        message=f"resolved: {resolution}",
    )


@dataclass(frozen=True)
class _Settlement:
    violation_id: int
    resolution: str
    when: datetime.datetime
    note: str = ""


def _settle(settlements: Sequence[_Settlement]) -> list[Violation]:
    """Resolves violations automatically (the system is the actor): one read, one update
    and one audit insert for all of them."""
    if not settlements:
        return []
    by_id = {s.violation_id: s for s in settlements}
    violations = list(Violation.objects.filter(pk__in=list(by_id)).order_by("pk"))
    entries = []
    stamp = timezone.now()
    for violation in violations:
        settlement = by_id[violation.pk]
        before = audit.snapshot(violation)
        violation.status = ViolationStatus.RESOLVED
        violation.resolution = settlement.resolution
        violation.resolved_at = settlement.when
        violation.resolved_by = None
        if settlement.note:
            violation.note = settlement.note
        violation.updated = stamp
        entries.append(
            audit.record(
                actor=None,
                action=AuditAction.UPDATE,
                obj=violation,
                before=before,
                after=audit.snapshot(violation),
                message=f"resolved: {settlement.resolution}",
                commit=False,
            )
        )
    Violation.objects.bulk_update(
        violations, ["status", "resolution", "resolved_at", "resolved_by", "note", "updated"]
    )
    audit.record_many(entries)
    return violations


def _product_key(product: Product | int) -> str:
    return f"product:{getattr(product, 'pk', product)}"


def _rule_key(rule: SpecRule) -> str:
    if rule.product_id:
        return f"product:{rule.product_id}"
    if rule.family_id:
        return f"family:{rule.family_id}"
    return f"category:{rule.category}"


def _judged(kind: str, product: Product | None) -> bool:
    return (
        product is not None
        and kind in adapters.JUDGED_KINDS
        and product.category not in EXEMPT_CATEGORIES
    )


@dataclass
class IngestOutcome:
    fulfilled: list[SoftwareRequest] = field(default_factory=list)
    raised: list[Violation] = field(default_factory=list)
    resolved: list[Violation] = field(default_factory=list)


# Part of the caller's transaction (an ingest, a recompute): no savepoint round trips.
@transaction.atomic(savepoint=False)
def process_inventory(
    *,
    device: Device,
    report: Any = None,
    now: datetime.datetime | None = None,
    latest: bool = True,
) -> IngestOutcome:
    """What governance makes of one stored inventory of a device: approved requests matched
    to the changes, violations raised (deduplicated) and violations settled by the change.
    Inventory's ingest only notes the inventory ("inventory.ingested" hook,
    `queue_inventory`); the drain of those notes (`drain_pending_inventories`, a background
    task) calls this, outside the ingest's transaction.

    Set-based: the report's change events are read as objects (a first inventory has none),
    the device's installs only as the few values each rule asks the database for, so the
    cost does not grow with the number of installs. Unlicensed software is not judged here:
    licensing's verdicts raise and settle it (`sync_unlicensed`).

    `latest` False: a later inventory of the device is stored (the reaction runs in the
    background, after it): only this report's changes are judged; what is present now
    (prohibited software, settlements) is judged with the later report, at its time."""
    now = _now(now)
    outcome = IngestOutcome()
    if device.retired is not None:
        # Retired after this inventory was queued: its findings ended with the retirement
        # (`settle_retired_device`), and a retired machine is not judged.
        return outcome
    events = adapters.events_of_report(device, report)
    spec = effective_spec_for_device(device)
    seen = max((e.date for e in events), default=now)

    # 1. Approved requests carried out by these changes (processing the same inventory
    # again finds them already fulfilled by its events: idempotent).
    matched: dict[int, SoftwareRequest] = {}
    if events:
        matched = {
            request.event_id: request
            for request in SoftwareRequest.objects.filter(event__in=[e.pk for e in events])
        }
        waiting = [e for e in events if e.pk not in matched and e.product_id]
        requests = _approved_requests(device, waiting) if waiting else []
        for event in waiting:
            request = _match_event(event, requests, now) if requests else None
            if request is not None:
                matched[event.pk] = request
                outcome.fulfilled.append(request)

    # 2. Changes made without permission (only where the unit has a spec to judge by).
    judged = [
        e for e in events if spec.exists and e.pk not in matched and _judged(e.kind, e.product)
    ]
    installs = adapters.first_installs(
        device,
        {
            e.product_id
            for e in judged
            if e.event_type == EventType.INSTALLED and spec.classify(e.product) is None
        },
    )
    removal_rules = {
        _rule_key(rule): rule
        for e in judged
        if e.event_type == EventType.REMOVED
        for rule in spec.required_rules()
        if EffectiveSpec._matches(rule, e.product)
    }
    open_rows = list(
        Violation.objects.filter(device=device, status__in=OPEN_STATUSES)
        .order_by("pk")
        .values_list("pk", "kind", "key", "product_id")
    )
    removal_keys = {
        key for _pk, kind, key, _p in open_rows if kind == ViolationKind.UNAUTHORISED_REMOVAL
    }
    filled = adapters.installed_targets(device, set(removal_rules) | removal_keys)
    findings: list[_Finding] = []
    for event in judged:
        product = event.product
        if event.event_type == EventType.INSTALLED and spec.classify(product) is None:
            if product.pk not in installs:
                continue  # installed and gone again before anyone looked
            findings.append(
                _Finding(
                    device_id=device.pk,
                    kind=ViolationKind.UNAUTHORISED_INSTALL,
                    key=_product_key(product),
                    product_id=product.pk,
                    name=event.name,
                    version=event.new_version,
                    seen=event.date,
                    installation_id=installs[product.pk][0],
                )
            )
        elif event.event_type == EventType.REMOVED:
            for rule in spec.required_rules():
                key = _rule_key(rule)
                if not EffectiveSpec._matches(rule, product) or key in filled:
                    continue  # another product still fills the requirement
                findings.append(
                    _Finding(
                        device_id=device.pk,
                        kind=ViolationKind.UNAUTHORISED_REMOVAL,
                        key=key,
                        product_id=product.pk,
                        name=event.name,
                        version=event.old_version,
                        seen=event.date,
                    )
                )

    # 3. Prohibited software present, whenever it was installed (prohibited wins over
    # every other rule, so the database finds it by the prohibited rules alone).
    prohibited = {_rule_key(rule) for rule in spec.by_kind(RuleKind.PROHIBITED)}
    # Not the latest inventory: only what this one brought and is still there.
    brought = {e.product_id for e in events if e.event_type != EventType.REMOVED}
    if not latest and not brought:
        prohibited = set()
    for pk, product_id, name, version in adapters.judged_installs_under(
        device, prohibited, exempt_categories=EXEMPT_CATEGORIES
    ):
        if not latest and product_id not in brought:
            continue
        findings.append(
            _Finding(
                device_id=device.pk,
                kind=ViolationKind.PROHIBITED,
                key=_product_key(product_id),
                product_id=product_id,
                name=name,
                version=version,
                seen=seen,
                installation_id=pk,
            )
        )
    outcome.raised = _raise_findings(findings, {device.pk: device})

    # 4. What this inventory settles: software gone, a required product back. Licensing's
    # findings still present were seen again; licensing's verdicts settle them otherwise.
    if not latest:
        return outcome
    present = adapters.present_pairs({device.pk}, {p for *_rest, p in open_rows if p})
    settlements = []
    still_unlicensed = []
    for pk, kind, key, product_id in open_rows:
        if kind == ViolationKind.UNAUTHORISED_REMOVAL:
            if key in filled:
                settlements.append(_Settlement(pk, Resolution.REINSTALLED, now))
        elif (device.pk, product_id) not in present:
            settlements.append(_Settlement(pk, Resolution.REMOVED, now))
        elif kind == ViolationKind.UNLICENSED:
            still_unlicensed.append(pk)
    if still_unlicensed:
        Violation.objects.filter(pk__in=still_unlicensed, last_seen__lt=seen).update(
            last_seen=seen, updated=timezone.now()
        )
    outcome.resolved = _settle(settlements)
    return outcome


# --------------------------------------------------------------- inventory reaction queue

# Noted inventories taken per drain transaction.
PENDING_BATCH = 200


def queue_inventory(
    *, device: Device, report: Any = None, now: datetime.datetime | None = None
) -> PendingInventory:
    """Note, in the ingest's transaction, that governance has yet to react to this stored
    inventory, and ask for a drain (``governance.tasks``): the reaction
    (``process_inventory``) runs in the background, outside the ingest's transaction."""
    from zhengban.governance.tasks import enqueue_drain

    received = now or (report.received if report is not None else None) or timezone.now()
    with transaction.atomic(savepoint=False):
        row = PendingInventory.objects.create(
            device_id=device.pk,
            report_id=report.pk if report is not None else None,
            received=received,
        )
        enqueue_drain()
    return row


def _claim_pending(limit: int) -> list[tuple]:
    """Lock, until the caller's transaction ends, the oldest waiting notes (not set aside)
    no other worker holds (SKIP LOCKED on PostgreSQL; SQLite has one writer anyway)."""
    return list(
        PendingInventory.objects.select_for_update(skip_locked=True)
        .filter(failed_at__isnull=True)
        .order_by("id")
        .values_list("id", "device_id", "report_id", "received")[:limit]
    )


def _set_aside(failed: dict[int, str], now: datetime.datetime) -> None:
    # Set aside at the first failure, not after a few: a reaction runs in its own savepoint
    # after the batch took its locks, so what raises there is the note's own data meeting a
    # bug, which a retry would meet again; an administrator requeues it once fixed.
    for pk, error in failed.items():
        PendingInventory.objects.filter(pk=pk).update(
            attempts=F("attempts") + 1, failed_at=now, error=error
        )


def _drain_pending_batch(limit: int, now: datetime.datetime | None) -> int:
    # One transaction per batch: the reactions and the notes' deletion commit together.
    # The commit waits for the WAL flush (unlike licensing's drain): violations send
    # notifications, which a lost commit would send twice when the notes are drained again.
    with transaction.atomic():
        rows = _claim_pending(limit)
        if not rows:
            return 0
        # Whoever raises violations on a device holds its lock (as the ingest does): without
        # it, two workers draining notes of one device would both insert its open violation.
        devices = adapters.devices_for_update({device_id for _pk, device_id, _r, _t in rows})
        reports = InventoryReport.objects.in_bulk({r for _pk, _d, r, _t in rows if r})
        # Every stored inventory is noted: one older than its device's last is judged
        # only for its own changes (process_inventory's `latest`).
        last_report = dict(
            InventoryReport.objects.filter(device_id__in=list(devices))
            .order_by()
            .values("device_id")
            .annotate(last=Max("id"))
            .values_list("device_id", "last")
        )
        failed: dict[int, str] = {}
        # In the order they were noted, so a device's inventories are judged in turn.
        for pk, device_id, report_id, received in rows:
            device = devices.get(device_id)
            if device is None:
                continue  # deleted meanwhile: nothing left to judge
            report = reports.get(report_id) if report_id else None
            latest = report is None or report.pk == last_report.get(device_id)
            # Each reaction in its own savepoint: one that raises is undone and set aside
            # instead of rolling back the batch, which every later drain would claim again.
            try:
                with transaction.atomic():
                    process_inventory(device=device, report=report, now=received, latest=latest)
            except Exception as exc:
                logger.exception("governance: reaction to pending inventory %s failed", pk)
                failed[pk] = f"{type(exc).__name__}: {exc}"
        PendingInventory.objects.filter(pk__in=[r[0] for r in rows if r[0] not in failed]).delete()
        _set_aside(failed, _now(now))
    return len(rows)


def drain_pending_inventories(
    *, batch_size: int = PENDING_BATCH, now: datetime.datetime | None = None
) -> int:
    """React to every waiting noted inventory, a batch per transaction, until none is left
    that another worker has not taken (SKIP LOCKED on PostgreSQL). A note whose reaction
    raises is logged and set aside (``failed_at``: `now`, ``error``). Returns how many notes were
    taken, set aside ones included."""
    done = 0
    while True:
        taken = _drain_pending_batch(batch_size, now)
        done += taken
        if taken < batch_size:
            return done


def failed_inventory_count() -> int:
    """How many noted inventories are set aside, their reaction having raised."""
    return PendingInventory.objects.filter(failed_at__isnull=False).count()


def can_manage_inventory_queue(user: User) -> bool:
    """The queue is the platform's plumbing, not a unit's data: the 系统管理员 runs it. The
    other platform operators (安全管理员, 审计管理员) keep to their own jobs (三员分立)."""
    return bool(user.is_active and (user.is_superuser or user.has_role(Role.SYSADMIN)))


@transaction.atomic
def requeue_failed_inventories(
    *, actor: User | None = None, ids: Iterable[int] | None = None
) -> int:
    """Put the set-aside notes (all of them, or those of `ids`) back in the queue once the
    cause is fixed, and ask for a drain; their attempt counts and last errors stay. One audit
    entry per note. `actor=None` is the command line. Returns how many."""
    from zhengban.governance.tasks import enqueue_drain

    if actor is not None and not can_manage_inventory_queue(actor):
        raise PermissionDenied(_("只有系统管理员可以重新排队处理失败的清单。"))
    notes = PendingInventory.objects.filter(failed_at__isnull=False)
    if ids is not None:
        notes = notes.filter(pk__in=list(ids))
    if actor is not None:
        notes = notes.visible_to(actor)
    # Locked, so the entries name exactly the rows updated below (a drain setting a note
    # aside meanwhile commits before or after, never in between).
    rows = list(
        notes.select_for_update(of=("self",))
        .order_by("id")
        .values_list("id", "device_id", "device__unit_id", "received", "failed_at")
    )
    if not rows:
        return 0
    pks = [row[0] for row in rows]
    # In chunks: SQLite caps the number of parameters of one statement.
    for start in range(0, len(pks), 500):
        PendingInventory.objects.filter(pk__in=pks[start : start + 500]).update(failed_at=None)
    audit.record_many(
        [
            audit.record(
                actor=actor,
                action=AuditAction.UPDATE,
                object_type=PendingInventory._meta.label_lower,
                object_id=pk,
                object_repr=str(PendingInventory(device_id=device_id, received=received)),
                unit_id=unit_id,
                before={"failed_at": failed_at.isoformat()},
                after={"failed_at": None},
                message="requeued",
                commit=False,
            )
            for pk, device_id, unit_id, received, failed_at in rows
        ]
    )
    enqueue_drain()
    return len(rows)


# Part of the caller's transaction (an ingest, a recompute): no savepoint round trips.
@transaction.atomic(savepoint=False)
def sync_unlicensed(
    *,
    unit_ids: Sequence[int],
    device_ids: Sequence[int] | None = None,
    now: datetime.datetime | None = None,
) -> IngestOutcome:
    """Licensing stored new verdicts for these units (for only these devices when
    `device_ids` is given): each (device, product) with an install licensing judges
    unlicensed has one open violation; the open ones whose product is now covered (or needs
    no licence) are resolved "licensed", with licensing's reason as the note, and those whose
    product is gone "removed", at the device's last inventory. Called through the
    "licensing.recomputed" hook; two queries when nothing changes."""
    now = _now(now)
    outcome = IngestOutcome()
    if not (unit_ids if device_ids is None else device_ids):
        return outcome
    wanted: dict[tuple[int, int], adapters.UnlicensedVerdict] = {}
    for verdict in adapters.unlicensed_verdicts(unit_ids=unit_ids, device_ids=device_ids):
        wanted.setdefault((verdict.device_id, verdict.product_id), verdict)
    scope = (
        Q(device__unit_id__in=list(unit_ids))
        if device_ids is None
        else Q(device_id__in=list(device_ids))
    )
    # Findings on unrecognised software (keyed by name) have no verdict: left alone.
    open_pairs = {
        (device_id, int(key.partition(":")[2])): pk
        for pk, device_id, key in Violation.objects.filter(
            scope,
            kind=ViolationKind.UNLICENSED,
            status__in=OPEN_STATUSES,
            key__startswith="product:",
        ).values_list("pk", "device_id", "key")
    }

    new = [pair for pair in wanted if pair not in open_pairs]
    if new:
        devices = adapters.devices_for_update({device_id for device_id, _p in new})
        labels = adapters.install_labels({wanted[pair].installation_id for pair in new})
        findings = []
        for device_id, product_id in new:
            verdict = wanted[device_id, product_id]
            if device_id not in devices or verdict.installation_id not in labels:
                continue  # deleted meanwhile: nothing left to judge
            name, version = labels[verdict.installation_id]
            findings.append(
                _Finding(
                    device_id=device_id,
                    kind=ViolationKind.UNLICENSED,
                    key=_product_key(product_id),
                    product_id=product_id,
                    name=name,
                    version=version,
                    # When the install was last seen: the verdict is on that inventory.
                    seen=devices[device_id].last_seen,
                    installation_id=verdict.installation_id,
                )
            )
        outcome.raised = _raise_findings(findings, devices)

    settled = {pair: pk for pair, pk in open_pairs.items() if pair not in wanted}
    if settled:
        # A retired device's installs are no longer judged: its findings end as "retired",
        # not "licensed" (the install is still there, and no licence covers it).
        retired = adapters.retired_of({d for d, _p in settled})
        settlements = [
            _Settlement(pk, Resolution.RETIRED, min(retired[pair[0]], now))
            for pair, pk in settled.items()
            if pair[0] in retired
        ]
        settled = {pair: pk for pair, pk in settled.items() if pair[0] not in retired}
        present = adapters.present_pairs({d for d, _p in settled}, {p for _d, p in settled})
        notes = adapters.coverage_notes([pair for pair in settled if pair in present])
        gone_at = adapters.last_seen_of({d for d, p in settled if (d, p) not in present})
        settlements += [
            _Settlement(pk, Resolution.LICENSED, now, notes[pair])
            if pair in present
            else _Settlement(pk, Resolution.REMOVED, min(gone_at[pair[0]], now))
            for pair, pk in settled.items()
        ]
        outcome.resolved = _settle(settlements)
    return outcome


def settle_retired_device(*, device_id: int, when: datetime.datetime) -> list[Violation]:
    """A retired device's open findings, of every kind, end as "终端已退役" at its
    retirement ("inventory.device_changed" hook, in the retirement's transaction): the
    machine is out of service, and its findings would otherwise stay open for good."""
    pks = Violation.objects.filter(device_id=device_id, status__in=OPEN_STATUSES).values_list(
        "pk", flat=True
    )
    return _settle([_Settlement(pk, Resolution.RETIRED, when) for pk in pks])


def reopen_reinstated_device(*, device_id: int) -> list[Violation]:
    """A device back in service gets back the findings its retirement closed (every one
    closed as "终端已退役": each reinstatement reopens them all). Unauthorised installs and
    removals are raised only by change events, which the software still there will not
    send again; licensing's next verdicts settle the unlicensed ones as usual. A finding of
    the same kind and key raised meanwhile stays, and the old one stays closed."""
    closed = list(
        Violation.objects.filter(
            device_id=device_id,
            status=ViolationStatus.RESOLVED,
            resolution=Resolution.RETIRED,
        ).order_by("pk")
    )
    taken = set(
        Violation.objects.filter(device_id=device_id, status__in=OPEN_STATUSES).values_list(
            "kind", "key"
        )
    )
    reopened = []
    stamp = timezone.now()
    for violation in closed:
        if (violation.kind, violation.key) in taken:
            continue
        taken.add((violation.kind, violation.key))
        before = audit.snapshot(violation)
        violation.status = ViolationStatus.OPEN
        violation.resolution = ""
        violation.resolved_at = None
        violation.resolved_by = None
        violation.updated = stamp
        violation.save(
            update_fields=["status", "resolution", "resolved_at", "resolved_by", "updated"]
        )
        audit.record(
            actor=None,
            action=AuditAction.UPDATE,
            obj=violation,
            before=before,
            after=audit.snapshot(violation),
            message=_("终端恢复在用，违规重新打开"),
        )
        reopened.append(violation)
    return reopened


# ------------------------------------------------------------------------------ violations


@transaction.atomic
def explain_violation(
    *, actor: User, violation: Violation, explanation: str, now: datetime.datetime | None = None
) -> Violation:
    """The person concerned (or an officer) says what happened: open → explained."""
    now = _now(now)
    allowed = actor.pk in (violation.person_id, violation.assignee_id) or can_handle_violations(
        actor, violation.unit
    )
    if not allowed:
        raise PermissionDenied
    _require(violation.status in OPEN_STATUSES, _("该违规已处理完毕。"))
    _require(bool(explanation.strip()), _("请填写情况说明。"))
    before = audit.snapshot(violation)
    violation.status = ViolationStatus.EXPLAINED
    violation.explanation = explanation.strip()
    violation.explained_at = now
    violation.save()
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=violation,
        before=before,
        after=audit.snapshot(violation),
    )
    notify(
        users=[violation.assignee] if violation.assignee else officers_of(violation.unit),
        subject=_("违规已说明：%(v)s") % {"v": violation},
        body=violation.explanation,
        link=violation.get_absolute_url(),
    )
    return violation


@transaction.atomic
def assign_violation(*, actor: User, violation: Violation, assignee: User) -> Violation:
    if not can_handle_violations(actor, violation.unit):
        raise PermissionDenied
    _require(assignee.unit_id == violation.unit_id, _("处理人须为本单位人员。"))
    before = audit.snapshot(violation)
    violation.assignee = assignee
    violation.save(update_fields=["assignee", "updated"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=violation,
        before=before,
        after=audit.snapshot(violation),
    )
    notify(
        users=[assignee],
        subject=_("请处理违规：%(v)s") % {"v": violation},
        link=violation.get_absolute_url(),
    )
    return violation


@transaction.atomic
def resolve_violation(
    *,
    actor: User,
    violation: Violation,
    resolution: str,
    note: str = "",
    now: datetime.datetime | None = None,
) -> Violation:
    """An officer closes a violation by hand (e.g. licence bought, finding dismissed)."""
    if not can_handle_violations(actor, violation.unit):
        raise PermissionDenied
    _require(
        resolution in Resolution.values and resolution != Resolution.RETIRED, _("处理结果无效。")
    )
    _require(violation.status in OPEN_STATUSES, _("该违规已处理完毕。"))
    _require(resolution != Resolution.DISMISSED or bool(note.strip()), _("撤销时请填写说明。"))
    _resolve(violation, resolution=resolution, actor=actor, now=_now(now), note=note.strip())
    return violation


# ------------------------------------------------------------------------------ self-reports


def can_run_campaigns(user: User, unit: Unit) -> bool:
    return can_manage_specs(user, unit)


@transaction.atomic
def open_campaign(
    *,
    actor: User | None,
    unit: Unit,
    title: str,
    opens: datetime.date,
    due: datetime.date,
) -> SelfReportCampaign:
    """Starts a round: every active person of the unit gets a form pre-filled with the
    software inventory found on the devices assigned to them."""
    if actor is not None and not can_run_campaigns(actor, unit):
        raise PermissionDenied
    _require(bool(title.strip()), _("请填写名称。"))
    _require(due >= opens, _("截止日期不能早于开始日期。"))
    campaign = SelfReportCampaign.objects.create(
        unit=unit, title=title.strip(), opens=opens, due=due, created_by=actor
    )
    people = User.objects.filter(unit=unit, is_active=True).order_by("pk")
    reports = SelfReport.objects.bulk_create(
        [SelfReport(campaign=campaign, person=p) for p in people]
    )
    lines = []
    for report in reports:
        for device in adapters.devices_of(report.person).filter(unit=unit):
            for installation in adapters.current_installations(device):
                if installation.kind not in adapters.JUDGED_KINDS:
                    continue
                lines.append(
                    SelfReportLine(
                        report=report,
                        device=device,
                        origin=LineOrigin.INVENTORY,
                        installation=installation,
                        product=installation.product,
                        name=installation.name,
                        version=installation.version,
                    )
                )
    SelfReportLine.objects.bulk_create(lines, batch_size=2000)
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=campaign,
        after=audit.snapshot(campaign),
        message=f"{len(reports)} people, {len(lines)} pre-filled lines",
    )
    notify(
        users=people,
        subject=_("请完成软件使用自查上报：%(title)s") % {"title": campaign.title},
        body=_("截止日期：%(due)s") % {"due": due.isoformat()},
        link=campaign.get_absolute_url(),
    )
    return campaign


@dataclass(frozen=True)
class DeclaredSoftware:
    device: Device
    name: str
    version: str = ""
    product: Product | None = None


@transaction.atomic
def submit_self_report(
    *,
    actor: User,
    report: SelfReport,
    confirmed_line_ids: Iterable[int],
    declared: Iterable[DeclaredSoftware] = (),
    note: str = "",
    now: datetime.datetime | None = None,
) -> SelfReport:
    """The person ticks what they really use and declares what the inventory missed.
    Unticked inventory lines and declared lines are flagged as differences."""
    now = _now(now)
    if actor.pk != report.person_id:
        raise PermissionDenied
    _require(report.campaign.status == CampaignStatus.OPEN, _("本轮自查已结束。"))
    _require(report.status == SelfReportStatus.PENDING, _("已上报，不能重复提交。"))
    own_devices = set(adapters.devices_of(actor).values_list("pk", flat=True))
    confirmed = set(confirmed_line_ids)
    lines = list(report.lines.filter(origin=LineOrigin.INVENTORY))
    _require(confirmed <= {line.pk for line in lines}, _("确认的条目不属于本人的自查表。"))
    for line in lines:
        line.confirmed = line.pk in confirmed
        line.difference = Difference.NONE if line.confirmed else Difference.NOT_CONFIRMED
    SelfReportLine.objects.bulk_update(lines, ["confirmed", "difference"])
    new_lines = []
    for item in declared:
        _require(item.device.pk in own_devices, _("只能申报本人使用的终端。"))
        _require(bool(item.name.strip()), _("请填写软件名称。"))
        new_lines.append(
            SelfReportLine(
                report=report,
                device=item.device,
                origin=LineOrigin.DECLARED,
                product=item.product,
                name=item.name.strip(),
                version=item.version.strip(),
                confirmed=True,
                difference=Difference.NOT_IN_INVENTORY,
            )
        )
    SelfReportLine.objects.bulk_create(new_lines)
    before = audit.snapshot(report)
    report.status = SelfReportStatus.SUBMITTED
    report.submitted_at = now
    report.note = note
    report.differences = report.lines.exclude(difference=Difference.NONE).count()
    report.save()
    audit.record(
        actor=actor,
        action=AuditAction.SUBMIT,
        obj=report,
        before=before,
        after=audit.snapshot(report),
        unit_id=report.campaign.unit_id,
    )
    if report.differences:
        notify(
            users=officers_of(report.campaign.unit),
            subject=_("自查发现差异：%(who)s %(n)s 条") % {"who": actor, "n": report.differences},
            link=report.get_absolute_url(),
        )
    return report


@transaction.atomic
def close_campaign(*, actor: User, campaign: SelfReportCampaign) -> SelfReportCampaign:
    if not can_run_campaigns(actor, campaign.unit):
        raise PermissionDenied
    before = audit.snapshot(campaign)
    campaign.status = CampaignStatus.CLOSED
    campaign.save(update_fields=["status", "updated"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=campaign,
        before=before,
        after=audit.snapshot(campaign),
    )
    return campaign


COMMITMENT_TEXT = (
    "本人承诺：严格遵守国家有关使用正版软件的规定，不安装、不使用盗版软件和未经审批的软件，"
    "不私自卸载单位配置的正版软件，配合做好软件正版化检查和自查工作。"
)


@transaction.atomic
def sign_commitment(
    *, actor: User, year: int, now: datetime.datetime | None = None
) -> CommitmentLetter:
    """使用正版软件承诺书: each person signs once a year for themselves."""
    now = _now(now)
    _require(actor.unit_id is not None, _("没有所属单位的账号无需签署承诺书。"))
    _require(
        not CommitmentLetter.objects.filter(person=actor, year=year).exists(),
        _("本年度承诺书已签署。"),
    )
    letter = CommitmentLetter.objects.create(
        unit_id=actor.unit_id, person=actor, year=year, signed_at=now, text=COMMITMENT_TEXT
    )
    audit.record(actor=actor, action=AuditAction.SUBMIT, obj=letter, after=audit.snapshot(letter))
    return letter


# ------------------------------------------------------------------------------ statistics


@dataclass(frozen=True)
class UnitRate:
    unit_id: int
    name: str
    devices: int
    open_violations: int
    devices_with_violations: int

    @property
    def rate(self) -> float:
        """Share of the unit's devices with at least one unresolved violation."""
        return self.devices_with_violations / self.devices if self.devices else 0.0


def violation_rates(user: User, *, limit: int = 30) -> list[UnitRate]:
    """Violation rate by unit within what `user` may see, worst first."""
    from django.db.models import Count

    units = Unit.objects.visible_to(user)
    devices = dict(
        Device.objects.visible_to(user)
        .in_service()
        .values("unit")
        .annotate(n=Count("pk"))
        .values_list("unit", "n")
    )
    # Findings of devices in service, like the devices counted.
    open_v = (
        Violation.objects.visible_to(user)
        .filter(status__in=OPEN_STATUSES)
        .exclude(device__retired__isnull=False)
    )
    counts = dict(open_v.values("unit").annotate(n=Count("pk")).values_list("unit", "n"))
    with_v = dict(
        open_v.values("unit").annotate(n=Count("device", distinct=True)).values_list("unit", "n")
    )
    names = dict(units.filter(pk__in=set(devices) | set(counts)).values_list("pk", "name"))
    rows = [
        UnitRate(
            unit_id=pk,
            name=name,
            devices=devices.get(pk, 0),
            open_violations=counts.get(pk, 0),
            devices_with_violations=with_v.get(pk, 0),
        )
        for pk, name in names.items()
    ]
    rows.sort(key=lambda r: (-r.rate, -r.open_violations, r.name))
    return rows[:limit]


# ------------------------------------------------------------------------------ visibility

# Roles that see all of their scope's requests and violations; everyone else sees their own.
OVERSEER_ROLES = (Role.SAM_OFFICER, Role.APPROVER, Role.HEAD, Role.SUPERVISOR)


def is_overseer(user: User) -> bool:
    return user.is_superuser or user.is_platform_operator or user.has_role(*OVERSEER_ROLES)


def visible_requests(user: User) -> QuerySet[SoftwareRequest]:
    qs = SoftwareRequest.objects.visible_to(user)
    return qs if is_overseer(user) else qs.filter(requester=user)


def visible_violations(user: User) -> QuerySet[Violation]:
    qs = Violation.objects.visible_to(user)
    return qs if is_overseer(user) else qs.filter(Q(person=user) | Q(assignee=user))


def visible_self_reports(user: User) -> QuerySet[SelfReport]:
    qs = SelfReport.objects.visible_to(user)
    return qs if is_overseer(user) else qs.filter(person=user)
