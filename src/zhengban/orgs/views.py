import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django.views.generic import DetailView

from zhengban.core.exports import xlsx_response
from zhengban.core.scoping import get_visible_or_404
from zhengban.core.views import ObjectListView, ScopedQuerysetMixin
from zhengban.orgs import forms, importer, responsibility, services, submissions
from zhengban.orgs.choices import NOT_STARTED, NOT_STARTED_LABEL, Role, SubmissionStatus
from zhengban.orgs.filtersets import RegionFilterSet, UnitFilterSet, UserFilterSet
from zhengban.orgs.models import (
    Department,
    DeploymentMeeting,
    MechanismMember,
    OfficerListSubmission,
    Region,
    Unit,
    User,
)
from zhengban.orgs.tables import RegionTable, UnitTable, UserTable


class RegionListView(ObjectListView):
    model = Region
    queryset = Region.objects.select_related("parent").annotate(unit_count=Count("units"))
    table_class = RegionTable
    filterset_class = RegionFilterSet
    title = gettext_lazy("行政区划")
    export_name = "regions"


class UnitListView(ObjectListView):
    model = Unit
    queryset = Unit.objects.select_related("region")
    table_class = UnitTable
    filterset_class = UnitFilterSet
    title = gettext_lazy("单位")
    export_name = "units"

    def get_actions(self) -> list[tuple[str, str]]:
        if not responsibility.can_create_unit(self.request.user):
            return []
        return [
            (_("新建单位"), reverse("orgs:unit_create")),
            (_("批量导入"), reverse("orgs:import")),
        ]


class UnitDetailView(ScopedQuerysetMixin, DetailView):
    model = Unit
    queryset = Unit.objects.select_related("region", "parent", "lead_department")
    template_name = "orgs/unit_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        unit, user = self.object, self.request.user
        ctx.update(
            {
                "can_manage": services.can_manage_unit(user, unit),
                "can_submit": submissions.can_submit_for(user, unit),
                "departments": unit.departments.annotate(people_count=Count("people")),
                "department_form": forms.DepartmentForm(),
                "people": User.objects.visible_to(user)
                .filter(unit=unit)
                .select_related("department")
                .prefetch_related("role_grants"),
                "affiliates": Unit.objects.visible_to(user).filter(parent=unit),
                "meetings": unit.meetings.all()[:20],
                "officer_submissions": unit.officer_submissions.all()[:10],
                "bureau": responsibility.responsible_bureau(unit),
                "this_year": timezone.localdate().year,
            }
        )
        return ctx


class PersonListView(ObjectListView):
    model = User
    queryset = User.objects.select_related("unit", "department").prefetch_related("role_grants")
    table_class = UserTable
    filterset_class = UserFilterSet
    title = gettext_lazy("人员")
    export_name = "people"


class PersonDetailView(ScopedQuerysetMixin, DetailView):
    model = User
    queryset = User.objects.select_related("unit", "department").prefetch_related("role_grants")
    template_name = "orgs/person_detail.html"
    context_object_name = "person"


# ---------------------------------------------------------------------------------------------
# §一 responsibility pages. Every object is fetched through the scoping mechanism first (so
# another unit's object is a 404), then the service decides whether the change is allowed.


def _service_call(request: HttpRequest, form: Any, call: Any) -> Any:
    """Runs a service; its refusal or validation error lands on the form, not in a 500."""
    try:
        return call()
    except ValidationError as exc:
        for message in exc.messages:
            form.add_error(None, message)
    return None


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _form_page(
    request: HttpRequest, form: Any, title: str, back: Any = None, *, multipart: bool = False
) -> HttpResponse:
    """The shared form page (core/form.html); ``back`` is the unit or region the page
    returns to, named in the link."""
    context: dict[str, Any] = {"form": form, "title": title, "submit_label": _("保存")}
    if back is not None:
        context.update(back=back.get_absolute_url(), back_label=back)
    if multipart:
        context["multipart"] = True
    return render(request, "core/form.html", context)


@login_required
def unit_create(request: HttpRequest) -> HttpResponse:
    if not responsibility.can_create_unit(request.user):
        raise PermissionDenied
    form = forms.UnitCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        unit = _service_call(
            request, form, lambda: services.create_unit(actor=request.user, **form.cleaned_data)
        )
        if unit is not None:
            messages.success(request, _("已新建单位“%(name)s”。") % {"name": unit.name})
            return redirect("orgs:unit_detail", pk=unit.pk)
    return _form_page(request, form, _("新建单位"))


@login_required
def unit_edit(request: HttpRequest, pk: int) -> HttpResponse:
    unit = get_visible_or_404(Unit.objects.select_related("region"), request.user, pk=pk)
    if not services.can_manage_unit(request.user, unit):
        raise PermissionDenied
    form = forms.UnitEditForm(request.POST or None, instance=unit)
    if request.method == "POST" and form.is_valid():
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        done = _service_call(
            request,
            form,
            lambda: services.update_unit(actor=request.user, unit=unit, **changed),
        )
        if done is not None:
            messages.success(request, _("单位信息已保存。"))
            return redirect("orgs:unit_detail", pk=unit.pk)
    return _form_page(request, form, _("编辑单位：%(name)s") % {"name": unit.name}, unit)


def _departments_fragment(request: HttpRequest, unit: Unit, form: Any = None) -> HttpResponse:
    return render(
        request,
        "orgs/_departments.html",
        {
            "unit": unit,
            "departments": unit.departments.annotate(people_count=Count("people")),
            "can_manage": services.can_manage_unit(request.user, unit),
            "department_form": form or forms.DepartmentForm(),
        },
    )


@login_required
@require_POST
def department_add(request: HttpRequest, pk: int) -> HttpResponse:
    unit = get_visible_or_404(Unit.objects.all(), request.user, pk=pk)
    form = forms.DepartmentForm(request.POST)
    if form.is_valid():
        done = _service_call(
            request,
            form,
            lambda: responsibility.add_department(
                actor=request.user, unit=unit, name=form.cleaned_data["name"]
            ),
        )
        if done is not None:
            form = None
    if _is_htmx(request):
        return _departments_fragment(request, unit, form)
    if form is not None:
        for message in form.errors.get("__all__", []) + form.errors.get("name", []):
            messages.error(request, message)
    return redirect("orgs:unit_detail", pk=unit.pk)


@login_required
@require_POST
def department_rename(request: HttpRequest, pk: int) -> HttpResponse:
    department = get_visible_or_404(Department.objects.select_related("unit"), request.user, pk=pk)
    form = forms.DepartmentForm(request.POST)
    if form.is_valid():
        done = _service_call(
            request,
            form,
            lambda: responsibility.rename_department(
                actor=request.user, department=department, name=form.cleaned_data["name"]
            ),
        )
        if done is not None:
            form = None
    if form is not None:
        for message in form.errors.get("__all__", []) + form.errors.get("name", []):
            messages.error(request, message)
    if _is_htmx(request):
        return _departments_fragment(request, department.unit)
    return redirect("orgs:unit_detail", pk=department.unit_id)


@login_required
def meeting_create(request: HttpRequest, pk: int) -> HttpResponse:
    unit = get_visible_or_404(Unit.objects.all(), request.user, pk=pk)
    if not services.can_manage_unit(request.user, unit):
        raise PermissionDenied
    form = forms.MeetingForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        meeting = _service_call(
            request,
            form,
            lambda: responsibility.record_meeting(
                actor=request.user,
                unit=unit,
                date=data["date"],
                title=data["title"],
                attendees=data["attendees"],
                minutes=data.get("minutes") or None,
            ),
        )
        if meeting is not None:
            messages.success(request, _("已记录部署会议。"))
            return redirect("orgs:unit_detail", pk=unit.pk)
    return _form_page(
        request, form, _("记录部署会议：%(name)s") % {"name": unit.name}, unit, multipart=True
    )


@login_required
def meeting_minutes(request: HttpRequest, pk: int) -> FileResponse:
    # Minutes are served through this scoped view, never straight from MEDIA_URL.
    meeting = get_visible_or_404(DeploymentMeeting.objects.all(), request.user, pk=pk)
    if not meeting.minutes:
        raise Http404
    name = meeting.minutes.name.rsplit("/", 1)[-1]
    return FileResponse(meeting.minutes.open("rb"), as_attachment=True, filename=name)


@login_required
@require_POST
def meeting_delete(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = get_visible_or_404(
        DeploymentMeeting.objects.select_related("unit"), request.user, pk=pk
    )
    unit_id = meeting.unit_id
    responsibility.delete_meeting(actor=request.user, meeting=meeting)
    messages.success(request, _("已删除部署会议记录。"))
    return redirect("orgs:unit_detail", pk=unit_id)


class RegionDetailView(ScopedQuerysetMixin, DetailView):
    model = Region
    queryset = Region.objects.select_related("parent")
    template_name = "orgs/region_detail.html"
    context_object_name = "region"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        region, user = self.object, self.request.user
        children = list(Region.objects.visible_to(user).filter(parent=region))
        # Unit counts per child region cover the child's whole subtree.
        for child in children:
            child.unit_total = (
                Unit.objects.visible_to(user).filter(region__path__startswith=child.path).count()
            )
        units = (
            Unit.objects.visible_to(user)
            .filter(region=region)
            .annotate(
                people_count=Count("people", distinct=True),
                department_count=Count("departments", distinct=True),
            )
            .order_by("-is_copyright_bureau", "name")
        )
        ctx.update(
            {
                "bureau": responsibility.bureau_of_region(region),
                "reports_to": responsibility.bureau_for_region(region),
                "mechanism": region.mechanism.select_related("unit"),
                "children": children,
                "units": units,
                "unit_total": Unit.objects.visible_to(user)
                .filter(region__path__startswith=region.path)
                .count(),
                "can_manage_mechanism": responsibility.can_manage_mechanism(user, region),
            }
        )
        return ctx


@login_required
def mechanism_add(request: HttpRequest, pk: int) -> HttpResponse:
    region = get_visible_or_404(Region.objects.all(), request.user, pk=pk)
    if not responsibility.can_manage_mechanism(request.user, region):
        raise PermissionDenied
    form = forms.MechanismMemberForm(request.POST or None, region=region)
    if request.method == "POST" and form.is_valid():
        member = _service_call(
            request,
            form,
            lambda: responsibility.add_mechanism_member(
                actor=request.user, region=region, **form.cleaned_data
            ),
        )
        if member is not None:
            messages.success(request, _("已添加工作机制成员。"))
            return redirect("orgs:region_detail", pk=region.pk)
    return _form_page(request, form, _("添加工作机制成员：%(r)s") % {"r": region}, region)


@login_required
def mechanism_edit(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_visible_or_404(
        MechanismMember.objects.select_related("region"), request.user, pk=pk
    )
    region = member.region
    if not responsibility.can_manage_mechanism(request.user, region):
        raise PermissionDenied
    form = forms.MechanismMemberForm(request.POST or None, instance=member, region=region)
    if request.method == "POST" and form.is_valid():
        done = _service_call(
            request,
            form,
            lambda: responsibility.update_mechanism_member(
                actor=request.user, member=member, **form.cleaned_data
            ),
        )
        if done is not None:
            messages.success(request, _("已保存工作机制成员。"))
            return redirect("orgs:region_detail", pk=region.pk)
    return _form_page(request, form, _("编辑工作机制成员：%(r)s") % {"r": region}, region)


@login_required
@require_POST
def mechanism_delete(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_visible_or_404(
        MechanismMember.objects.select_related("region"), request.user, pk=pk
    )
    region_id = member.region_id
    responsibility.remove_mechanism_member(actor=request.user, member=member)
    messages.success(request, _("已移除工作机制成员。"))
    return redirect("orgs:region_detail", pk=region_id)


# ---------------------------------------------------------------------------------------------
# Year-end submission of the 具体负责人 list


def _year_param(request: HttpRequest) -> int:
    try:
        return int(request.GET.get("year", ""))
    except ValueError:
        return timezone.localdate().year


@login_required
def submission_home(request: HttpRequest) -> HttpResponse:
    """The menu entry: a supervisor lands on the bureau's overview, anyone else in a unit on
    the unit's own list for this year."""
    user, year = request.user, timezone.localdate().year
    if user.unit_id and user.unit.is_copyright_bureau and user.has_role(Role.SUPERVISOR):
        return redirect(f"{reverse('orgs:bureau_submissions', args=[user.unit_id])}?year={year}")
    if user.unit_id:
        return redirect("orgs:submission_unit", pk=user.unit_id, year=year)
    raise Http404


@login_required
def submission_unit(request: HttpRequest, pk: int, year: int) -> HttpResponse:
    unit = get_visible_or_404(Unit.objects.select_related("region"), request.user, pk=pk)
    submission = OfficerListSubmission.objects.filter(unit=unit, year=year).first()
    can_edit = submissions.can_submit_for(request.user, unit) and (
        submission is None or submission.status in submissions.EDITABLE_STATUSES
    )
    initial = (
        submission.officers if submission is not None else submissions.default_officer_list(unit)
    )
    formset = forms.OfficerFormSet(request.POST or None, initial=initial, prefix="officers")
    errors: list[str] = []
    if request.method == "POST":
        if not submissions.can_submit_for(request.user, unit):
            raise PermissionDenied
        if formset.is_valid():
            rows = [f.cleaned_data for f in formset.forms if f.cleaned_data]
            try:
                with transaction.atomic():
                    submission = submissions.create_or_update_draft(
                        actor=request.user, unit=unit, year=year, officers=rows
                    )
                    if request.POST.get("action") == "submit":
                        submissions.submit(actor=request.user, submission=submission)
            except ValidationError as exc:
                errors = exc.messages
            else:
                if request.POST.get("action") == "submit":
                    messages.success(request, _("名单已报送。"))
                else:
                    messages.success(request, _("草稿已保存。"))
                return redirect("orgs:submission_unit", pk=unit.pk, year=year)
    bureau = responsibility.responsible_bureau(unit)
    return render(
        request,
        "orgs/submission_unit.html",
        {
            "unit": unit,
            "year": year,
            "submission": submission,
            "formset": formset,
            "can_edit": can_edit,
            "errors": errors,
            "bureau": bureau,
            "can_decide": submission is not None
            and submissions.can_decide_submission(request.user, submission),
            "return_form": forms.ReturnForm(),
            "years": range(timezone.localdate().year, timezone.localdate().year - 5, -1),
        },
    )


def _decide(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    submission = get_visible_or_404(
        OfficerListSubmission.objects.select_related("unit"), request.user, pk=pk
    )
    try:
        if action == "receive":
            submissions.receive(actor=request.user, submission=submission)
            messages.success(request, _("已接收%(unit)s的名单。") % {"unit": submission.unit})
        else:
            form = forms.ReturnForm(request.POST)
            reason = form.data.get("reason", "")
            submissions.return_submission(actor=request.user, submission=submission, reason=reason)
            messages.success(request, _("已退回%(unit)s的名单。") % {"unit": submission.unit})
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    nxt = request.POST.get("next", "")
    if nxt.startswith("/") and not nxt.startswith("//"):
        return redirect(nxt)
    return redirect("orgs:submission_unit", pk=submission.unit_id, year=submission.year)


@login_required
@require_POST
def submission_receive(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, "receive")


@login_required
@require_POST
def submission_return(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, "return")


@login_required
def bureau_submissions(request: HttpRequest, pk: int) -> HttpResponse:
    bureau = get_visible_or_404(
        Unit.objects.filter(is_copyright_bureau=True).select_related("region"),
        request.user,
        pk=pk,
    )
    year = _year_param(request)
    progress = submissions.bureau_progress(bureau=bureau, year=year)
    status = request.GET.get("status", "")
    rows = [r for r in progress.rows if r.status == status] if status else progress.rows
    labels = {NOT_STARTED: NOT_STARTED_LABEL, **dict(SubmissionStatus.choices)}
    this_year = timezone.localdate().year
    return render(
        request,
        "orgs/bureau_submissions.html",
        {
            "bureau": bureau,
            "year": year,
            "progress": progress,
            "rows": rows,
            "status": status,
            "counts": [(key, labels[key], n) for key, n in progress.counts().items()],
            "is_supervisor": responsibility.is_bureau_supervisor(request.user, bureau),
            "years": range(this_year, this_year - 5, -1),
        },
    )


@login_required
@require_POST
def bureau_remind(request: HttpRequest, pk: int) -> HttpResponse:
    bureau = get_visible_or_404(
        Unit.objects.filter(is_copyright_bureau=True).select_related("region"),
        request.user,
        pk=pk,
    )
    try:
        year = int(request.POST.get("year", ""))
    except ValueError:
        year = timezone.localdate().year
    try:
        result = submissions.remind_late_units(actor=request.user, bureau=bureau, year=year)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            _("已向%(units)d个未报送单位的%(people)d名具体负责人发送催报通知。")
            % {"units": len(result.units), "people": len(result.recipients)},
        )
    return redirect(f"{reverse('orgs:bureau_submissions', args=[bureau.pk])}?year={year}")


# ---------------------------------------------------------------------------------------------
# Bulk import of units and people

REPORT_SESSION_KEY = "orgs_import_reports"


@login_required
def import_template(request: HttpRequest) -> HttpResponse:
    if not responsibility.can_create_unit(request.user):
        raise PermissionDenied
    content = importer.build_template(regions=list(Region.objects.visible_to(request.user)))
    return xlsx_response("单位和人员导入模板.xlsx", content)


@login_required
def import_page(request: HttpRequest) -> HttpResponse:
    if not responsibility.can_create_unit(request.user):
        raise PermissionDenied
    form = forms.ImportForm(request.POST or None, request.FILES or None)
    result = None
    report_id = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        result = importer.import_orgs(actor=request.user, file=upload, filename=upload.name)
        # Either way a report is kept as a file that only this session may fetch back:
        # per-row errors after a refused file, per-row outcomes after a good one.
        report_id = uuid.uuid4().hex
        report = (
            importer.build_result_report(result)
            if result.ok
            else importer.build_error_report(result)
        )
        default_storage.save(f"import-reports/{report_id}.xlsx", ContentFile(report))
        request.session[REPORT_SESSION_KEY] = [
            *request.session.get(REPORT_SESSION_KEY, [])[-9:],
            report_id,
        ]
        if result.ok:
            messages.success(request, result.summary())
    return render(
        request,
        "orgs/import.html",
        {"form": form, "result": result, "report_id": report_id, "title": _("批量导入")},
    )


@login_required
def import_report(request: HttpRequest, report_id: str) -> HttpResponse:
    if report_id not in request.session.get(REPORT_SESSION_KEY, []):
        raise Http404
    name = f"import-reports/{report_id}.xlsx"
    if not default_storage.exists(name):
        raise Http404
    with default_storage.open(name, "rb") as fh:
        content = fh.read()
    return xlsx_response("导入错误报告.xlsx", content)
