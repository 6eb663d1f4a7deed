"""Pages for software use. Thin: every object is fetched through the scoping mechanism first
(another unit's object is a 404), then a service decides whether the change is allowed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from zhengban.core.views import ObjectListView
from zhengban.governance import charts, forms, services
from zhengban.governance.choices import (
    OPEN_STATUSES,
    CampaignStatus,
    LineOrigin,
    RequestStatus,
    RuleKind,
    SelfReportStatus,
)
from zhengban.governance.filtersets import (
    PendingInventoryFilterSet,
    RequestFilterSet,
    SpecFilterSet,
    ViolationFilterSet,
)
from zhengban.governance.models import (
    CommitmentLetter,
    ConfigurationSpec,
    PendingInventory,
    SelfReport,
    SelfReportCampaign,
    SoftwareRequest,
    SpecRule,
    Violation,
)
from zhengban.governance.tables import (
    PendingInventoryTable,
    RequestTable,
    SpecTable,
    ViolationTable,
)
from zhengban.inventory.models import Device
from zhengban.orgs.choices import Role


def _get(queryset: QuerySet, **lookup: Any) -> Any:
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def _call(form: Any, call: Callable[[], Any]) -> Any:
    """Runs a service; its refusal or validation error lands on the form, not in a 500."""
    try:
        return call()
    except ValidationError as exc:
        for message in exc.messages:
            form.add_error(None, message)
    except PermissionDenied as exc:
        form.add_error(None, str(exc) or _("无权进行此操作。"))
    return None


def _form_page(request: HttpRequest, form: Any, title: str, back: str = "") -> HttpResponse:
    return render(request, "core/form.html", {"form": form, "title": title, "back": back})


# ------------------------------------------------------------------------------ staff


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    """软件使用人: what I may install, my devices, my requests, my violations."""
    user = request.user
    spec = services.effective_spec_for_person(user) if user.unit_id else None
    devices = (
        Device.objects.in_service()
        .filter(assigned_user=user)
        .annotate(software=Count("installations"))
    )
    year = timezone.localdate().year
    return render(
        request,
        "governance/mine.html",
        {
            "title": _("我的软件"),
            "rules": [(label, spec.by_kind(kind)) for kind, label in RuleKind.choices]
            if spec is not None and spec.exists
            else [],
            "devices": devices,
            "requests": SoftwareRequest.objects.filter(requester=user).select_related(
                "product", "device"
            )[:20],
            "violations": Violation.objects.filter(person=user, status__in=OPEN_STATUSES)[:20],
            "self_reports": SelfReport.objects.filter(
                person=user, status=SelfReportStatus.PENDING, campaign__status=CampaignStatus.OPEN
            ).select_related("campaign"),
            "year": year,
            "signed": CommitmentLetter.objects.filter(person=user, year=year).first(),
        },
    )


@login_required
def request_create(request: HttpRequest) -> HttpResponse:
    form = forms.RequestForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        created = _call(
            form,
            lambda: services.submit_request(
                actor=request.user,
                device=data["device"],
                action=data["action"],
                product=data["product"],
                reason=data["reason"],
            ),
        )
        if created is not None:
            messages.success(request, _("申请已提交，等待审批。"))
            return redirect(created)
    return _form_page(request, form, _("软件使用需求申请"))


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = _get(
        services.visible_requests(request.user).select_related(
            "requester", "device", "product", "unit", "installation"
        ),
        pk=pk,
    )
    return render(
        request,
        "governance/request_detail.html",
        {
            "title": str(item),
            "item": item,
            "steps": item.steps.select_related("decided_by"),
            "can_decide": services.can_decide(request.user, item),
            "can_withdraw": item.requester_id == request.user.pk
            and item.status in (RequestStatus.PENDING, RequestStatus.APPROVED),
            "decision_form": forms.DecisionForm(),
        },
    )


@require_POST
@login_required
def request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    item = _get(services.visible_requests(request.user), pk=pk)
    form = forms.DecisionForm(request.POST)
    form.is_valid()
    approve = request.POST.get("decision") == "approve"
    try:
        services.decide(
            actor=request.user,
            request=item,
            approve=approve,
            comment=form.cleaned_data.get("comment", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("已同意。") if approve else _("已驳回。"))
    return redirect(item)


@require_POST
@login_required
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    item = _get(services.visible_requests(request.user), pk=pk)
    try:
        services.withdraw_request(actor=request.user, request=item)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(item)


class RequestListView(ObjectListView):
    model = SoftwareRequest
    table_class = RequestTable
    filterset_class = RequestFilterSet
    title = gettext_lazy("软件使用需求申请")
    export_name = "software-requests"

    def get_queryset(self):
        return services.visible_requests(self.request.user).select_related(
            "unit", "requester", "device", "product"
        )

    def get_actions(self):
        return [(_("提出申请"), reverse("governance:request_create"))]


@login_required
def request_queue(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "governance/queue.html",
        {"title": _("待我审批"), "items": services.awaiting_decision_by(request.user)},
    )


# ------------------------------------------------------------------------------ specs


class SpecListView(ObjectListView):
    model = ConfigurationSpec
    table_class = SpecTable
    filterset_class = SpecFilterSet
    title = gettext_lazy("配置规范")
    export_name = "configuration-specs"

    def get_queryset(self):
        return (
            ConfigurationSpec.objects.visible_to(self.request.user)
            .select_related("unit", "region", "department", "adopted_from")
            .annotate(rule_count=Count("rules"))
            .order_by("unit__name", "department__name", "post", "name", "pk")
        )

    def get_actions(self):
        return [(_("新建配置规范"), reverse("governance:spec_create"))]


@login_required
def spec_detail(request: HttpRequest, pk: int) -> HttpResponse:
    spec = _get(
        ConfigurationSpec.objects.visible_to(request.user).select_related(
            "unit", "region", "department", "adopted_from"
        ),
        pk=pk,
    )
    user = request.user
    can_adopt = (
        spec.is_template
        and user.unit is not None
        and services.can_manage_specs(user, user.unit)
        and user.unit.region.path.startswith(spec.region.path)
    )
    return render(
        request,
        "governance/spec_detail.html",
        {
            "title": spec.name,
            "spec": spec,
            "rules": spec.rules.select_related("product", "family"),
            "can_edit": services.can_edit_spec(user, spec),
            "can_adopt": can_adopt,
            "rule_form": forms.RuleForm(user=user),
            "adopt_form": forms.AdoptForm(),
            "adoptions": spec.adoptions.visible_to(user).select_related("unit")
            if spec.is_template
            else [],
        },
    )


@login_required
def spec_create(request: HttpRequest) -> HttpResponse:
    """Officers create their unit's specs; a bureau's supervisor creates region templates."""
    user = request.user
    unit = user.unit
    if unit is not None and unit.is_copyright_bureau and user.has_role(Role.SUPERVISOR):
        form = forms.SpecForm(request.POST or None)
        target: dict[str, Any] = {"region": unit.region}
        title = _("新建区划配置规范模板")
    elif unit is not None and services.can_manage_specs(user, unit):
        form = forms.SpecForm(request.POST or None, unit=unit)
        target = {"unit": unit}
        title = _("新建配置规范")
    else:
        raise PermissionDenied
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        spec = _call(
            form,
            lambda: services.create_spec(
                actor=user,
                name=data["name"],
                department=data.get("department"),
                post=data.get("post", ""),
                description=data["description"],
                **target,
            ),
        )
        if spec is not None:
            return redirect(spec)
    return _form_page(request, form, title)


@require_POST
@login_required
def spec_rule_add(request: HttpRequest, pk: int) -> HttpResponse:
    spec = _get(ConfigurationSpec.objects.visible_to(request.user), pk=pk)
    form = forms.RuleForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        done = _call(
            form,
            lambda: services.add_rule(
                actor=request.user,
                spec=spec,
                kind=data["kind"],
                product=data["product"],
                family=data["family"],
                category=data["category"],
                note=data["note"],
            ),
        )
        if done is not None:
            return redirect(spec)
    for error in form.non_field_errors() or [_("请检查填写内容。")]:
        messages.error(request, error)
    return redirect(spec)


@require_POST
@login_required
def spec_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    visible = ConfigurationSpec.objects.visible_to(request.user)
    rule = _get(SpecRule.objects.filter(spec__in=visible).select_related("spec"), pk=pk)
    services.remove_rule(actor=request.user, rule=rule)
    return redirect(rule.spec)


@require_POST
@login_required
def spec_adopt(request: HttpRequest, pk: int) -> HttpResponse:
    template = _get(ConfigurationSpec.objects.visible_to(request.user), pk=pk, unit__isnull=True)
    if request.user.unit is None:
        raise PermissionDenied
    form = forms.AdoptForm(request.POST)
    form.is_valid()
    try:
        spec = services.adopt_template(
            actor=request.user,
            template=template,
            unit=request.user.unit,
            name=form.cleaned_data.get("name", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(template)
    messages.success(request, _("已采用模板，可继续调整本单位的配置规范。"))
    return redirect(spec)


@login_required
def workflow_edit(request: HttpRequest) -> HttpResponse:
    unit = request.user.unit
    if unit is None or not services.can_manage_specs(request.user, unit):
        raise PermissionDenied
    current = services.workflow_of(unit)
    initial = {
        "step_days": current.step_days,
        "window_days": current.window_days,
        **{f"step{i + 1}": s for i, s in enumerate(current.steps)},
    }
    form = forms.WorkflowForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        done = _call(
            form,
            lambda: services.set_workflow(
                actor=request.user,
                unit=unit,
                steps=form.steps(),
                step_days=form.cleaned_data["step_days"],
                window_days=form.cleaned_data["window_days"],
            ),
        )
        if done is not None:
            messages.success(request, _("审批流程已保存。"))
            return redirect("governance:workflow")
    return _form_page(request, form, _("软件安装卸载审批流程"))


# ------------------------------------------------------------------------------ violations


class ViolationListView(ObjectListView):
    model = Violation
    table_class = ViolationTable
    filterset_class = ViolationFilterSet
    title = gettext_lazy("违规")
    export_name = "violations"

    def get_queryset(self):
        return services.visible_violations(self.request.user).select_related(
            "unit", "device", "assignee"
        )


@login_required
def violation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    violation = _get(
        services.visible_violations(request.user).select_related(
            "unit", "device", "product", "assignee", "request"
        ),
        pk=pk,
    )
    user = request.user
    handler = services.can_handle_violations(user, violation.unit)
    is_open = violation.status in OPEN_STATUSES
    return render(
        request,
        "governance/violation_detail.html",
        {
            "title": str(violation),
            "v": violation,
            "can_explain": is_open
            and (user.pk in (violation.person_id, violation.assignee_id) or handler),
            "can_handle": is_open and handler,
            "explain_form": forms.ExplainForm(),
            "assign_form": forms.AssignForm(unit=violation.unit),
            "resolve_form": forms.ResolveForm(),
        },
    )


def _violation_action(request: HttpRequest, pk: int, form_class: Any, call: Callable) -> Any:
    violation = _get(services.visible_violations(request.user), pk=pk)
    kwargs = {"unit": violation.unit} if form_class is forms.AssignForm else {}
    form = form_class(request.POST, **kwargs)
    if form.is_valid():
        try:
            call(violation, form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("已保存。"))
    else:
        messages.error(request, _("请检查填写内容。"))
    return redirect(violation)


@require_POST
@login_required
def violation_explain(request: HttpRequest, pk: int) -> HttpResponse:
    return _violation_action(
        request,
        pk,
        forms.ExplainForm,
        lambda v, d: services.explain_violation(
            actor=request.user, violation=v, explanation=d["explanation"]
        ),
    )


@require_POST
@login_required
def violation_assign(request: HttpRequest, pk: int) -> HttpResponse:
    return _violation_action(
        request,
        pk,
        forms.AssignForm,
        lambda v, d: services.assign_violation(
            actor=request.user, violation=v, assignee=d["assignee"]
        ),
    )


@require_POST
@login_required
def violation_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    return _violation_action(
        request,
        pk,
        forms.ResolveForm,
        lambda v, d: services.resolve_violation(
            actor=request.user, violation=v, resolution=d["resolution"], note=d["note"]
        ),
    )


@login_required
def rates(request: HttpRequest) -> HttpResponse:
    """Supervisors (and officers for their subtree): violation rates by unit."""
    if not services.is_overseer(request.user):
        raise PermissionDenied
    rows = services.violation_rates(request.user)
    chart = charts.horizontal_bars(
        [
            (
                r.name,
                r.rate,
                _("%(d)s 台终端中 %(v)s 台有未解决违规")
                % {"d": r.devices, "v": r.devices_with_violations},
            )
            for r in rows
        ],
        title=_("各单位违规终端占比"),
        max_value=1.0,
    )
    by_kind = (
        Violation.objects.visible_to(request.user)
        .filter(status__in=OPEN_STATUSES)
        .values("kind")
        .annotate(n=Count("pk"))
        .order_by("-n")
    )
    return render(
        request,
        "governance/rates.html",
        {"title": _("违规情况统计"), "rows": rows, "chart": chart, "by_kind": by_kind},
    )


# ------------------------------------------------------------------------------ self-reports


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    campaigns = SelfReportCampaign.objects.visible_to(user).select_related("unit")
    # A staff member's campaigns are those with their own report, and the counts are of
    # that report only: filtered after the counts, they counted every colleague's.
    own = Q()
    if not services.is_overseer(user):
        own = Q(reports__person=user)
        campaigns = campaigns.filter(
            Exists(SelfReport.objects.filter(campaign=OuterRef("pk"), person=user))
        )
    campaigns = campaigns.annotate(
        people=Count("reports", filter=own),
        submitted=Count("reports", filter=own & Q(reports__status=SelfReportStatus.SUBMITTED)),
        differing=Count("reports", filter=own & Q(reports__differences__gt=0)),
    )
    can_open = user.unit is not None and services.can_run_campaigns(user, user.unit)
    year = timezone.localdate().year
    commitments = None
    if can_open:
        people = user.unit.people.filter(is_active=True)
        commitments = {
            "year": year,
            "people": people.count(),
            "signed": CommitmentLetter.objects.filter(
                unit=user.unit, year=year, person__in=people
            ).count(),
        }
    return render(
        request,
        "governance/campaigns.html",
        {
            "title": _("软件使用自查上报"),
            "campaigns": campaigns[:50],
            "can_open": can_open,
            "form": forms.CampaignForm() if can_open else None,
            "commitments": commitments,
        },
    )


@require_POST
@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    unit = request.user.unit
    if unit is None or not services.can_run_campaigns(request.user, unit):
        raise PermissionDenied
    form = forms.CampaignForm(request.POST)
    if form.is_valid():
        campaign = _call(
            form, lambda: services.open_campaign(actor=request.user, unit=unit, **form.cleaned_data)
        )
        if campaign is not None:
            return redirect(campaign)
    return _form_page(request, form, _("发起自查上报"))


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get(SelfReportCampaign.objects.visible_to(request.user), pk=pk)
    reports = services.visible_self_reports(request.user).filter(campaign=campaign)
    return render(
        request,
        "governance/campaign_detail.html",
        {
            "title": campaign.title,
            "campaign": campaign,
            "reports": reports.select_related("person", "person__department"),
            "can_close": campaign.status == CampaignStatus.OPEN
            and services.can_run_campaigns(request.user, campaign.unit),
        },
    )


@require_POST
@login_required
def campaign_close(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get(SelfReportCampaign.objects.visible_to(request.user), pk=pk)
    services.close_campaign(actor=request.user, campaign=campaign)
    return redirect(campaign)


@login_required
def self_report(request: HttpRequest, pk: int) -> HttpResponse:
    report = _get(
        services.visible_self_reports(request.user).select_related("campaign", "person"), pk=pk
    )
    lines = report.lines.select_related("device").order_by("device", "origin", "name")
    own = report.person_id == request.user.pk
    editable = own and report.status == SelfReportStatus.PENDING
    errors: list[str] = []
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        devices = {d.pk: d for d in Device.objects.in_service().filter(assigned_user=request.user)}
        declared = []
        for raw in request.POST.get("declared", "").splitlines():
            name, _sep, version = raw.strip().partition("|")
            device = devices.get(int(request.POST.get("declared_device") or 0))
            if name.strip() and device is not None:
                declared.append(
                    services.DeclaredSoftware(device=device, name=name, version=version)
                )
        try:
            services.submit_self_report(
                actor=request.user,
                report=report,
                confirmed_line_ids=[
                    int(v) for v in request.POST.getlist("confirmed") if v.isdigit()
                ],
                declared=declared,
                note=request.POST.get("note", ""),
            )
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, _("自查结果已上报。"))
            return redirect(report)
    return render(
        request,
        "governance/self_report.html",
        {
            "title": str(report),
            "report": report,
            "lines": lines,
            "editable": editable,
            "errors": errors,
            "devices": Device.objects.in_service().filter(assigned_user=request.user)
            if editable
            else [],
            "inventory_origin": LineOrigin.INVENTORY,
        },
    )


@require_POST
@login_required
def commitment_sign(request: HttpRequest) -> HttpResponse:
    try:
        services.sign_commitment(actor=request.user, year=timezone.localdate().year)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("已签署本年度使用正版软件承诺书。"))
    return redirect("governance:mine")


# ------------------------------------------------------------------------------ inventory queue


def _require_queue_admin(user: Any) -> None:
    if not services.can_manage_inventory_queue(user):
        raise PermissionDenied


class InventoryQueueView(ObjectListView):
    """The notes whose reaction raised and were set aside (``services._set_aside``), for the
    系统管理员 to requeue once the cause is fixed; ``zhengban governance_queue`` is the same
    from the command line."""

    model = PendingInventory
    table_class = PendingInventoryTable
    filterset_class = PendingInventoryFilterSet
    template_name = "governance/inventory_queue.html"
    title = gettext_lazy("待处理清单队列")
    export_name = "inventory-queue"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            _require_queue_admin(request.user)
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self):
        return (
            PendingInventory.objects.visible_to(self.request.user)
            .filter(failed_at__isnull=False)
            .select_related("device", "device__unit")
            .order_by("id")
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        # Both figures in one query.
        ctx.update(
            PendingInventory.objects.visible_to(self.request.user).aggregate(
                waiting=Count("pk", filter=Q(failed_at__isnull=True)),
                failed=Count("pk", filter=Q(failed_at__isnull=False)),
            )
        )
        return ctx


def _requeued(request: HttpRequest, count: int) -> HttpResponse:
    if count:
        messages.success(request, _("已重新排队 %(count)d 份处理失败的清单。") % {"count": count})
    else:
        messages.info(request, _("没有需要重新排队的清单。"))
    return redirect("governance:inventory_queue")


@require_POST
@login_required
def inventory_queue_requeue(request: HttpRequest) -> HttpResponse:
    _require_queue_admin(request.user)
    return _requeued(request, services.requeue_failed_inventories(actor=request.user))


@require_POST
@login_required
def inventory_queue_requeue_one(request: HttpRequest, pk: int) -> HttpResponse:
    _require_queue_admin(request.user)
    note = _get(PendingInventory.objects.visible_to(request.user), pk=pk)
    return _requeued(
        request, services.requeue_failed_inventories(actor=request.user, ids=[note.pk])
    )
