"""Pages for people: devices, their software and history; enrolment tokens. Thin: queries
go through the scoping mechanism, changes through ``services``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import DetailView

from zhengban.core.exports import xlsx_response
from zhengban.core.scoping import get_visible_or_404
from zhengban.core.tables import BoundedRequestConfig
from zhengban.core.views import ObjectListView, ScopedQuerysetMixin
from zhengban.inventory import imports, services
from zhengban.inventory.filtersets import DeviceFilterSet, EnrollmentTokenFilterSet
from zhengban.inventory.forms import (
    DeviceForm,
    DeviceMoveForm,
    DeviceRetireForm,
    EnrollmentTokenForm,
    ImportForm,
)
from zhengban.inventory.models import Device, EnrollmentToken, Installation, InstallationEvent
from zhengban.inventory.parsers import InventoryError
from zhengban.inventory.tables import (
    DeviceTable,
    EnrollmentTokenTable,
    InstallationTable,
    event_rows,
)
from zhengban.orgs.choices import Role
from zhengban.orgs.models import Unit
from zhengban.orgs.services import can_manage_unit


def can_enroll(user: Any) -> bool:
    return user.is_authenticated and (
        user.is_superuser or user.has_role(Role.SAM_OFFICER, Role.SYSADMIN)
    )


def manageable_units(user: Any):
    if user.is_superuser or user.has_role(Role.SYSADMIN):
        return Unit.objects.all()
    if user.has_role(Role.SAM_OFFICER):
        return Unit.objects.visible_to(user)
    return Unit.objects.none()


def _software_count():
    return Subquery(
        Installation.objects.filter(device=OuterRef("pk"))
        .order_by()
        .values("device")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )


class DeviceListView(ObjectListView):
    model = Device
    queryset = Device.objects.select_related("unit", "department").annotate(
        software_count=_software_count()
    )
    table_class = DeviceTable
    filterset_class = DeviceFilterSet
    # Ids first, then the 50 rows with their software counts: a deep page of a
    # province-wide list does not count the software of every row it skips.
    deferred_pages = True
    title = gettext_lazy("终端")
    export_name = "devices"


# A device carries 100-400 installs and months of history: the page shows the recent part
# and links to the rest.
INSTALLATIONS_PER_PAGE = 100
EVENTS_SHOWN = 50
EVENTS_PER_PAGE = 100
EVENTS_PAGE_PARAM = "events-page"
REPORTS_SHOWN = 20


class KnownCountPaginator(Paginator):
    """A paginator told its total by the caller, which already counted the rows."""

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, **kwargs):
        self._known_count = kwargs.pop("known_count")
        super().__init__(object_list, per_page, orphans, allow_empty_first_page, **kwargs)

    @cached_property
    def count(self) -> int:
        return self._known_count


class DeviceDetailView(ScopedQuerysetMixin, DetailView):
    model = Device
    queryset = Device.objects.select_related("unit", "department", "assigned_user")
    template_name = "inventory/device_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        device = self.object
        installs = (
            Installation.objects.filter(device=device)
            .select_related("product")
            .order_by("kind", "name", "version", "id")
        )
        # Both figures in one pass; the table's paginator reuses the total.
        counts = installs.order_by().aggregate(
            total=Count("pk"),
            unrecognised=Count(
                "pk", filter=Q(product__isnull=True, kind__in=["application", "os"])
            ),
        )
        table = InstallationTable(installs, prefix="sw-")
        # Bounded ?sw-per_page= and a primary-key tie-break, as every list page.
        BoundedRequestConfig(
            self.request,
            paginate={
                "per_page": INSTALLATIONS_PER_PAGE,
                "paginator_class": KnownCountPaginator,
                "known_count": counts["total"],
            },
        ).configure(table)
        ctx["installations"] = table
        ctx["installation_count"] = counts["total"]
        ctx["unrecognised_count"] = counts["unrecognised"]
        ctx["reports"] = device.reports.all()[:REPORTS_SHOWN]
        # Hand-overs are part of the device's story: who gave it to whom, when and why.
        ctx["moves"] = device.moves.select_related("from_unit", "to_unit", "actor").order_by(
            "-moved", "-pk"
        )[:REPORTS_SHOWN]
        events = (
            InstallationEvent.objects.filter(device=device)
            .select_related("product")
            # The id breaks ties among one report's events: no row shows on two pages.
            .order_by("-date", "event_type", "name", "-id")
        )
        ctx["all_events"] = self.request.GET.get("events") == "all"
        if ctx["all_events"]:
            # Busy devices gain thousands of events a year: "all" is paged, newest first.
            paginator = Paginator(events, EVENTS_PER_PAGE)
            # Not a number: the first page; out of range (past the end, zero, negative): the last.
            page = paginator.get_page(self.request.GET.get(EVENTS_PAGE_PARAM))
            ctx["events"] = list(page.object_list)
            ctx["events_page"] = page
            ctx["events_previous_url"] = (
                self._events_url(page.previous_page_number()) if page.has_previous() else ""
            )
            ctx["events_next_url"] = (
                self._events_url(page.next_page_number()) if page.has_next() else ""
            )
            ctx["events_recent_url"] = self._events_url(None)
            ctx["more_events"] = False
        else:
            # One row past the limit tells whether a "show all" link is needed, no COUNT.
            shown = list(events[: EVENTS_SHOWN + 1])
            ctx["events"] = shown[:EVENTS_SHOWN]
            ctx["more_events"] = len(shown) > EVENTS_SHOWN
        ctx["event_rows"] = event_rows(ctx["events"])
        ctx["macs"] = device.macs.order_by("mac").values_list("mac", flat=True)
        ctx["can_edit"] = can_manage_unit(self.request.user, device.unit)
        ctx["can_move"] = ctx["can_edit"] and move_targets(self.request.user, device).exists()
        return ctx

    def _events_url(self, number: int | None) -> str:
        """The history's page ``number``, or its latest events for None; the software
        table's page and sort stay as they were."""
        query = self.request.GET.copy()
        if number is None:
            query.pop("events", None)
            query.pop(EVENTS_PAGE_PARAM, None)
        else:
            query["events"] = "all"
            query[EVENTS_PAGE_PARAM] = str(number)
        return f"?{query.urlencode()}#history"


def move_targets(user: Any, device: Device):
    """The units ``user`` may hand ``device`` to: those they manage, but its own."""
    return manageable_units(user).exclude(pk=device.unit_id)


class DeviceMoveView(LoginRequiredMixin, View):
    """移交到其他单位: the device goes to another unit the user also manages."""

    template_name = "core/form.html"

    def _device(self, request: HttpRequest, pk: int) -> Device:
        device = get_visible_or_404(Device.objects.select_related("unit"), request.user, pk=pk)
        if not services.can_move_device(request.user, device):
            raise PermissionDenied
        return device

    def _context(self, form: DeviceMoveForm, device: Device) -> dict[str, Any]:
        return {
            "form": form,
            "title": _("移交终端 %(name)s 到其他单位") % {"name": device},
            "back": reverse("inventory:device_detail", args=[device.pk]),
            "submit_label": _("移交"),
        }

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = self._device(request, pk)
        form = DeviceMoveForm(units=move_targets(request.user, device))
        return render(request, self.template_name, self._context(form, device))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = self._device(request, pk)
        form = DeviceMoveForm(request.POST, units=move_targets(request.user, device))
        if form.is_valid():
            try:
                services.move_device(actor=request.user, device=device, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _("终端已移交到“%(unit)s”。") % {"unit": form.cleaned_data["unit"]},
                )
                return HttpResponseRedirect(reverse("inventory:device_detail", args=[device.pk]))
        return render(request, self.template_name, self._context(form, device), status=400)


class DeviceRetireView(LoginRequiredMixin, View):
    """退役: a scrapped, lost or replaced machine stops counting (reason required)."""

    template_name = "core/form.html"

    def _device(self, request: HttpRequest, pk: int) -> Device:
        device = get_visible_or_404(Device.objects.select_related("unit"), request.user, pk=pk)
        if not services.can_retire_device(request.user, device):
            raise PermissionDenied
        return device

    def _context(self, form: DeviceRetireForm, device: Device) -> dict[str, Any]:
        return {
            "form": form,
            "title": _("退役终端 %(name)s") % {"name": device},
            "back": reverse("inventory:device_detail", args=[device.pk]),
            "submit_label": _("退役"),
        }

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = self._device(request, pk)
        return render(request, self.template_name, self._context(DeviceRetireForm(), device))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = self._device(request, pk)
        form = DeviceRetireForm(request.POST)
        if form.is_valid():
            try:
                services.retire_device(actor=request.user, device=device, **form.cleaned_data)
            except ValidationError as exc:
                errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
                for field, problems in errors.items():
                    form.add_error(field if field in form.fields else None, problems)
            else:
                messages.success(request, _("终端已退役，不再计入合规和终端列表。"))
                return HttpResponseRedirect(reverse("inventory:device_detail", args=[device.pk]))
        return render(request, self.template_name, self._context(form, device), status=400)


class DeviceReinstateView(LoginRequiredMixin, View):
    """恢复在用 (POST only): the device's installs count again."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_visible_or_404(Device.objects.select_related("unit"), request.user, pk=pk)
        if not services.can_retire_device(request.user, device):
            raise PermissionDenied
        try:
            services.reinstate_device(actor=request.user, device=device)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("终端已恢复在用。"))
        return HttpResponseRedirect(reverse("inventory:device_detail", args=[device.pk]))


class DeviceEditView(LoginRequiredMixin, View):
    template_name = "core/form.html"

    def _device(self, request: HttpRequest, pk: int) -> Device:
        return get_visible_or_404(
            Device.objects.select_related("unit", "assigned_user"), request.user, pk=pk
        )

    def _context(self, form: DeviceForm, device: Device) -> dict[str, Any]:
        return {
            "form": form,
            "title": _("编辑终端 %(name)s") % {"name": device},
            "back": reverse("inventory:device_detail", args=[device.pk]),
            "submit_label": _("保存"),
        }

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = self._device(request, pk)
        if not can_manage_unit(request.user, device.unit):
            raise PermissionDenied
        form = DeviceForm(
            device=device,
            initial={
                "department": device.department_id,
                "assigned_user": device.assigned_user,
                "assigned_name": device.assigned_name,
                "asset_number": device.asset_number,
                "device_type": device.device_type,
            },
        )
        return render(request, self.template_name, self._context(form, device))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = self._device(request, pk)
        form = DeviceForm(request.POST, device=device)
        if not form.is_valid():
            return render(request, self.template_name, self._context(form, device), status=400)
        try:
            services.update_device(actor=request.user, device=device, **form.cleaned_data)
        except ValidationError as exc:
            # The service checks again what the form checked (an account may have moved
            # to another unit since): its refusal is shown on the form, not a 500.
            errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
            for field, problems in errors.items():
                form.add_error(field if field in form.fields else None, problems)
            return render(request, self.template_name, self._context(form, device), status=400)
        messages.success(request, _("终端信息已保存。"))
        return HttpResponseRedirect(reverse("inventory:device_detail", args=[device.pk]))


class EnrollmentTokenListView(ObjectListView):
    model = EnrollmentToken
    queryset = EnrollmentToken.objects.select_related("unit", "created_by")
    table_class = EnrollmentTokenTable
    filterset_class = EnrollmentTokenFilterSet
    title = gettext_lazy("客户端注册令牌")
    export_name = "enrollment-tokens"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not can_enroll(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_actions(self) -> list[tuple[str, str]]:
        return [(_("新建令牌"), reverse("inventory:token_create"))]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["now"] = timezone.now()
        return ctx


def agent_commands(url: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """How to point each supported agent at an ingest URL (shown with a new token), by
    platform. Double quotes: the token URL holds only [A-Za-z0-9_-:/.], and double quotes
    are quotes to sh and cmd.exe alike, where single quotes reach a Windows agent as part
    of the URL. The Windows lines are for cmd.exe (the page says so): PowerShell reads
    schtasks' \" differently. The installers' switches take the URL bare (no spaces; each
    installer parses its own command line), and ".\\" runs them from the current folder in
    either shell."""
    task = (
        'schtasks /Create /TN "zhengban-agent" /RU SYSTEM /SC DAILY /ST 10:00 /RI 60 /DU 08:00 '
        f'/TR "\\"C:\\Program Files\\zhengban-agent\\zhengban-agent.exe\\" --server {url}"'
    )
    return [
        (
            _("麒麟、统信 UOS、深度、openEuler 等 Linux 终端（以 root 运行）"),
            [
                (_("本平台客户端 zhengban-agent"), f'zhengban-agent --server "{url}"'),
                (_("FusionInventory 客户端"), f'fusioninventory-agent --server "{url}"'),
                (
                    _("OCS Inventory 客户端（命令行）"),
                    f'ocsinventory-agent --nolocal --server "{url}"',
                ),
                (
                    _(
                        "OCS Inventory 客户端（配置文件 /etc/ocsinventory/ocsinventory-agent.cfg，"
                        "删除 local= 行）"
                    ),
                    f"server={url}",
                ),
                (_("GLPI 客户端"), f'glpi-agent --server "{url}"'),
            ],
        ),
        (
            _("Windows 终端（以管理员身份运行命令提示符）"),
            [
                (_("本平台客户端 zhengban-agent（计划任务，每天 10:00–18:00 每小时一次）"), task),
                (
                    _("FusionInventory 客户端（安装包静默安装）"),
                    f".\\fusioninventory-agent_windows-x64_2.6.exe /S /acceptlicense /runnow /server={url}",
                ),
                (
                    _("OCS Inventory 客户端（安装包静默安装）"),
                    f".\\OCS-Windows-Agent-Setup-x64.exe /S /NOSPLASH /NOW /SERVER={url}",
                ),
                (
                    _("GLPI 客户端（MSI 静默安装）"),
                    f'msiexec /i GLPI-Agent-x64.msi /quiet RUNNOW=1 SERVER="{url}"',
                ),
            ],
        ),
    ]


class EnrollmentTokenCreateView(LoginRequiredMixin, View):
    template_name = "core/form.html"

    def _form(self, data=None) -> EnrollmentTokenForm:
        return EnrollmentTokenForm(data, units=manageable_units(self.request.user))

    def _context(self, form: EnrollmentTokenForm) -> dict[str, Any]:
        return {
            "form": form,
            "title": _("新建令牌"),
            "back": reverse("inventory:token_list"),
            "submit_label": _("创建"),
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        if not can_enroll(request.user):
            raise PermissionDenied
        return render(request, self.template_name, self._context(self._form()))

    def post(self, request: HttpRequest) -> HttpResponse:
        if not can_enroll(request.user):
            raise PermissionDenied
        form = self._form(request.POST)
        if not form.is_valid():
            return render(request, self.template_name, self._context(form))
        row, token = services.create_enrollment_token(
            actor=request.user,
            unit=form.cleaned_data["unit"],
            days=form.cleaned_data["days"],
            label=form.cleaned_data["label"],
        )
        url = request.build_absolute_uri(reverse("inventory:ingest", args=[token]))
        return render(
            request,
            "inventory/token_created.html",
            {"token": row, "url": url, "commands": agent_commands(url), "title": _("令牌已创建")},
        )


class EnrollmentTokenRevokeView(LoginRequiredMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        row = get_visible_or_404(
            EnrollmentToken.objects.select_related("unit"), request.user, pk=pk
        )
        services.revoke_enrollment_token(actor=request.user, token=row)
        messages.success(request, _("令牌 %(prefix)s… 已撤销。") % {"prefix": row.prefix})
        return HttpResponseRedirect(reverse("inventory:token_list"))


class ImportView(LoginRequiredMixin, View):
    """Upload a software list for a machine without an agent (.reg export or the template)."""

    template_name = "inventory/import.html"

    def _form(self, data=None, files=None) -> ImportForm:
        return ImportForm(data, files, units=manageable_units(self.request.user))

    def get(self, request: HttpRequest) -> HttpResponse:
        if not can_enroll(request.user):
            raise PermissionDenied
        if request.GET.get("template") == "xlsx":
            return xlsx_response("software-import-template.xlsx", imports.template_workbook())
        return render(
            request, self.template_name, {"form": self._form(), "title": _("导入软件清单")}
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        if not can_enroll(request.user):
            raise PermissionDenied
        form = self._form(request.POST, request.FILES)
        ctx = {"form": form, "title": _("导入软件清单")}
        if not form.is_valid():
            return render(request, self.template_name, ctx, status=400)
        uploads = form.cleaned_data["file"]
        if sum(upload.size for upload in uploads) > imports.MAX_IMPORT_BYTES:
            ctx["error"] = "file: " + _("文件过大。")
            return render(request, self.template_name, ctx, status=413)
        data = [upload.read() for upload in uploads]
        try:
            if form.cleaned_data["kind"] == "regfile":
                results = [
                    imports.import_regfile(
                        actor=request.user,
                        unit=form.cleaned_data["unit"],
                        hostname=form.cleaned_data["hostname"],
                        serial_number=form.cleaned_data["serial_number"],
                        data=data,
                        names=[upload.name for upload in uploads],
                    )
                ]
            else:
                results = imports.import_table(
                    actor=request.user,
                    unit=form.cleaned_data["unit"],
                    filename=uploads[0].name,
                    data=data[0],
                )
        except InventoryError as exc:
            ctx["error"] = f"{exc.field}: {exc.message}"
            return render(request, self.template_name, ctx, status=exc.status)
        messages.success(
            request,
            _("已导入 %(n)d 台终端的软件清单。") % {"n": len(results)},
        )
        if len(results) == 1:
            return HttpResponseRedirect(
                reverse("inventory:device_detail", args=[results[0].device.pk])
            )
        return HttpResponseRedirect(reverse("inventory:device_list"))
