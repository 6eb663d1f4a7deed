"""Pages for contracts, entitlements and compliance. Thin: every object is fetched through the
scoping mechanism first (another unit's object is a 404), then a service decides whether the
change is allowed (a refusal lands on the form or is a 403)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.exports import build_workbook, xlsx_response
from zhengban.core.scoping import get_visible_or_404, user_scope
from zhengban.core.views import ObjectListView
from zhengban.licensing import charts, forms, ledger, services
from zhengban.licensing.choices import RATE_CATEGORIES, Status
from zhengban.licensing.filtersets import (
    AllocationFilterSet,
    ContractFilterSet,
    DisposalFilterSet,
    EntitlementFilterSet,
    ResultFilterSet,
    ShareFilterSet,
)
from zhengban.licensing.models import (
    Allocation,
    AssetDisposal,
    CompliancePosition,
    ComplianceResult,
    Contract,
    ContractDocument,
    Entitlement,
    EntitlementShare,
)
from zhengban.licensing.tables import (
    AllocationTable,
    ContractTable,
    DisposalTable,
    EntitlementTable,
    ResultTable,
    ShareTable,
)
from zhengban.orgs.choices import Role
from zhengban.orgs.models import Region, Unit
from zhengban.orgs.services import can_manage_unit

CATEGORY_LABELS = {
    "os": gettext_lazy("操作系统"),
    "office": gettext_lazy("办公软件"),
    "antivirus": gettext_lazy("杀毒软件"),
    "all": gettext_lazy("总体"),
}


def can_read(user: Any) -> bool:
    """The read rule lives in services (the API applies it too)."""
    return services.can_read_licensing(user)


def _require_read(user: Any) -> None:
    if not can_read(user):
        raise PermissionDenied


def can_edit(user: Any) -> bool:
    return user.is_superuser or user.has_role(Role.SAM_OFFICER, Role.SYSADMIN)


def _own_unit(user: Any) -> Unit | None:
    """The unit new records go to when the person works in exactly one unit's subtree."""
    return user.unit if user_scope(user).kind == "unit" and user.unit_id else None


def _call(form: Any, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ValidationError as exc:
        for message in exc.messages:
            form.add_error(None, message)
    except PermissionDenied as exc:
        form.add_error(None, str(exc) or _("无权进行此操作。"))
    return None


def _form_page(request: HttpRequest, form: Any, title: str, back: str = "") -> HttpResponse:
    return render(
        request,
        "core/form.html",
        {"form": form, "title": title, "back": back, "multipart": form.is_multipart()},
    )


class ReaderListView(ObjectListView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            _require_read(request.user)
        return super().dispatch(request, *args, **kwargs)


# ------------------------------------------------------------------------------ contracts


class ContractListView(ReaderListView):
    model = Contract
    queryset = Contract.objects.select_related("unit")
    table_class = ContractTable
    filterset_class = ContractFilterSet
    title = gettext_lazy("采购合同")
    export_name = "contracts"

    def get_actions(self) -> list[tuple[str, str]]:
        if can_edit(self.request.user):
            return [(_("登记合同"), reverse("licensing:contract_create"))]
        return []


@login_required
def contract_create(request: HttpRequest) -> HttpResponse:
    if not can_edit(request.user):
        raise PermissionDenied
    unit = _own_unit(request.user)
    form = forms.ContractForm(request.POST or None, user=request.user, unit=unit)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        target = data.pop("unit", None) or unit
        contract = _call(
            form,
            lambda: services.create_contract(actor=request.user, unit=target, **data),
        )
        if contract is not None:
            messages.success(request, _("合同已登记。"))
            return redirect("licensing:contract_detail", pk=contract.pk)
    return _form_page(request, form, _("登记采购合同"), reverse("licensing:contract_list"))


@login_required
def contract_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_read(request.user)
    contract = get_visible_or_404(Contract.objects.select_related("unit"), request.user, pk=pk)
    return render(
        request,
        "licensing/contract_detail.html",
        {
            "title": str(contract),
            "contract": contract,
            "documents": contract.documents.all(),
            "entitlements": contract.entitlements.select_related("product", "family"),
            "manage": can_manage_unit(request.user, contract.unit),
            "document_form": forms.DocumentForm(),
        },
    )


@login_required
def contract_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contract = get_visible_or_404(Contract.objects.select_related("unit"), request.user, pk=pk)
    if not can_manage_unit(request.user, contract.unit):
        raise PermissionDenied
    form = forms.ContractForm(
        request.POST or None, instance=contract, user=request.user, unit=contract.unit
    )
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        # The form wrote the values onto the instance; the service compares from the DB copy.
        fresh = Contract.objects.get(pk=contract.pk)
        done = _call(
            form,
            lambda: services.update_contract(actor=request.user, contract=fresh, **changes),
        )
        if done is not None:
            messages.success(request, _("合同已保存。"))
            return redirect("licensing:contract_detail", pk=contract.pk)
    back = reverse("licensing:contract_detail", args=[contract.pk])
    return _form_page(request, form, _("修改采购合同"), back)


@login_required
@require_POST
def document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    contract = get_visible_or_404(Contract.objects.select_related("unit"), request.user, pk=pk)
    form = forms.DocumentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.attach_document(
                actor=request.user,
                contract=contract,
                title=form.cleaned_data["title"],
                file=form.cleaned_data["file"],
            )
            messages.success(request, _("扫描件已上传。"))
        except ValidationError as exc:
            messages.error(request, ";".join(exc.messages))
    else:
        messages.error(request, _("请选择要上传的文件。"))
    return redirect("licensing:contract_detail", pk=contract.pk)


@login_required
def document_download(request: HttpRequest, pk: int) -> HttpResponse:
    """Scanned documents only through here (scoped and audited), never a public media URL."""
    _require_read(request.user)
    doc = get_visible_or_404(
        ContractDocument.objects.select_related("contract"), request.user, pk=pk
    )
    try:
        handle = doc.file.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404 from exc
    audit.record(
        actor=request.user,
        action=AuditAction.EXPORT,
        obj=doc,
        unit_id=doc.contract.unit_id,
        message="download",
    )
    name = doc.file.name.rsplit("/", 1)[-1]
    return FileResponse(handle, as_attachment=True, filename=name)


# ------------------------------------------------------------------------------ entitlements


class EntitlementListView(ReaderListView):
    model = Entitlement
    table_class = EntitlementTable
    filterset_class = EntitlementFilterSet
    title = gettext_lazy("软件授权")
    export_name = "entitlements"

    def get_queryset(self) -> QuerySet[Entitlement]:
        # Framework agreements shared with the person's unit are listed too.
        return Entitlement.objects.visible_to(self.request.user).select_related(
            "unit", "product", "family", "contract"
        )

    def get_actions(self) -> list[tuple[str, str]]:
        if can_edit(self.request.user):
            return [(_("登记授权"), reverse("licensing:entitlement_create"))]
        return []


def _entitlement(request: HttpRequest, pk: int) -> Entitlement:
    _require_read(request.user)
    qs = Entitlement.objects.visible_to(request.user).select_related(
        "unit__region", "product", "family", "contract", "oem_device", "site_region"
    )
    try:
        return qs.get(pk=pk)
    except (Entitlement.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


@login_required
def entitlement_create(request: HttpRequest) -> HttpResponse:
    if not can_edit(request.user):
        raise PermissionDenied
    unit = _own_unit(request.user)
    form = forms.EntitlementForm(
        request.POST or None, request.FILES or None, user=request.user, unit=unit
    )
    if request.method == "POST" and form.is_valid():
        target = form.cleaned_data.get("unit") or unit
        ent = _call(
            form,
            lambda: services.create_entitlement(
                actor=request.user,
                unit=target,
                serial=form.cleaned_data.get("serial") or "",
                **form.service_values(),
            ),
        )
        if ent is not None:
            messages.success(request, _("授权已登记,合规状况已重算。"))
            return redirect("licensing:entitlement_detail", pk=ent.pk)
    return _form_page(request, form, _("登记软件授权"), reverse("licensing:entitlement_list"))


@login_required
def entitlement_edit(request: HttpRequest, pk: int) -> HttpResponse:
    ent = _entitlement(request, pk)
    if not can_manage_unit(request.user, ent.unit):
        raise PermissionDenied
    form = forms.EntitlementForm(
        request.POST or None, request.FILES or None, instance=ent, user=request.user, unit=ent.unit
    )
    if request.method == "POST" and form.is_valid():
        values = form.service_values()
        serial = form.cleaned_data.get("serial") or None
        fresh = Entitlement.objects.get(pk=ent.pk)
        done = _call(
            form,
            lambda: services.update_entitlement(
                actor=request.user, entitlement=fresh, serial=serial, **values
            ),
        )
        if done is not None:
            messages.success(request, _("授权已保存,合规状况已重算。"))
            return redirect("licensing:entitlement_detail", pk=ent.pk)
    back = reverse("licensing:entitlement_detail", args=[ent.pk])
    return _form_page(request, form, _("修改软件授权"), back)


@login_required
def entitlement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    ent = _entitlement(request, pk)
    user = request.user
    manage = can_manage_unit(user, ent.unit)
    # A unit holding a share sees the agreement, not the other units' shares.
    shares = EntitlementShare.objects.filter(entitlement=ent).select_related("unit")
    allocations = Allocation.objects.visible_to(user).filter(entitlement=ent)
    if not manage:
        shares = shares.filter(pk__in=EntitlementShare.objects.visible_to(user).values("pk"))
    own = _own_unit(user) or ent.unit
    used = ComplianceResult.objects.visible_to(user).filter(entitlement=ent).count()
    return render(
        request,
        "licensing/entitlement_detail.html",
        {
            "title": str(ent),
            "ent": ent,
            "manage": manage,
            "shares": shares,
            "allocations": allocations.select_related("device", "person"),
            "disposals": ent.disposals.all(),
            "can_dispose": manage
            and services.remaining_quantity(ent) != 0
            and services.is_asset(ent),
            "used": used,
            "allocation_form": forms.AllocationForm(user=user, unit=own)
            if can_manage_unit(user, own)
            else None,
            "share_form": forms.ShareForm(region=ent.unit.region)
            if manage and ent.framework
            else None,
        },
    )


@login_required
@require_POST
def entitlement_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """The clear key, for the unit's SAM officer only; every reading is audited."""
    ent = _entitlement(request, pk)
    if not ent.serial_encrypted:
        raise Http404
    serial = services.reveal_serial(actor=request.user, entitlement=ent)
    return render(request, "licensing/serial.html", {"serial": serial, "ent": ent})


@login_required
@require_POST
def entitlement_allocate(request: HttpRequest, pk: int) -> HttpResponse:
    ent = _entitlement(request, pk)
    own = _own_unit(request.user) or ent.unit
    form = forms.AllocationForm(request.POST, user=request.user, unit=own)
    if form.is_valid():
        try:
            services.allocate(
                actor=request.user,
                entitlement=ent,
                device=form.cleaned_data.get("device"),
                person=form.cleaned_data.get("person"),
            )
            messages.success(request, _("已分配,合规状况已重算。"))
        except (ValidationError, PermissionDenied) as exc:
            text = ";".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            messages.error(request, text or _("无权进行此操作。"))
    else:
        messages.error(request, ";".join(form.non_field_errors()) or _("请检查输入。"))
    return redirect("licensing:entitlement_detail", pk=ent.pk)


@login_required
@require_POST
def entitlement_share(request: HttpRequest, pk: int) -> HttpResponse:
    ent = _entitlement(request, pk)
    if not can_manage_unit(request.user, ent.unit):
        raise PermissionDenied
    form = forms.ShareForm(request.POST, region=ent.unit.region)
    if form.is_valid():
        shares = {s.unit: s.quantity for s in ent.shares.select_related("unit__region")}
        unit, quantity = form.cleaned_data["unit"], form.cleaned_data["quantity"]
        shares = {u: q for u, q in shares.items() if u.pk != unit.pk}
        if quantity:
            shares[unit] = quantity
        try:
            services.set_shares(actor=request.user, entitlement=ent, shares=shares)
            messages.success(request, _("分配已保存,合规状况已重算。"))
        except ValidationError as exc:
            messages.error(request, ";".join(exc.messages))
    else:
        messages.error(request, _("请检查输入。"))
    return redirect("licensing:entitlement_detail", pk=ent.pk)


# ------------------------------------------------------------------------------ allocations


class AllocationListView(ReaderListView):
    model = Allocation
    queryset = Allocation.objects.select_related(
        "entitlement__product", "entitlement__family", "unit", "device", "person"
    )
    table_class = AllocationTable
    filterset_class = AllocationFilterSet
    title = gettext_lazy("授权分配")
    export_name = "allocations"


@login_required
@require_POST
def allocation_delete(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_visible_or_404(Allocation.objects.select_related("unit"), request.user, pk=pk)
    services.deallocate(actor=request.user, allocation=row)
    messages.success(request, _("已收回分配,合规状况已重算。"))
    return redirect("licensing:entitlement_detail", pk=row.entitlement_id)


class ShareListView(ReaderListView):
    model = EntitlementShare
    queryset = EntitlementShare.objects.select_related(
        "entitlement__product", "entitlement__family", "entitlement__unit", "unit"
    )
    table_class = ShareTable
    filterset_class = ShareFilterSet
    title = gettext_lazy("框架协议分配")
    export_name = "framework-shares"


# ------------------------------------------------------------------------------ compliance


class ResultListView(ReaderListView):
    """Drill-down: each assessed install with its status and reason."""

    model = ComplianceResult
    # The entitlement column prints the entitlement's product (or family): joined too.
    queryset = ComplianceResult.objects.select_related(
        "unit", "device", "product", "entitlement__product", "entitlement__family"
    )
    table_class = ResultTable
    filterset_class = ResultFilterSet
    title = gettext_lazy("合规明细")
    export_name = "compliance-installs"


def _scope_title(user: Any) -> str:
    scope = user_scope(user)
    if scope.kind == "unit" and user.unit_id:
        return user.unit.name
    if scope.kind == "region" and scope.region_id:
        region = Region.objects.filter(pk=scope.region_id).first()
        return region.name if region else ""
    return _("全部")


def _compliance_page(
    request: HttpRequest,
    *,
    title: str,
    positions: QuerySet[CompliancePosition],
    results: QuerySet[ComplianceResult],
    region: Region | None,
    unit: Unit | None,
    many_units: bool,
) -> HttpResponse:
    rates = services.rates(positions)
    categories = [*RATE_CATEGORIES, "all"]
    rate_rows = [
        {
            "key": key,
            "label": CATEGORY_LABELS[key],
            "required": rates.required.get(key, 0),
            "covered": rates.covered.get(key, 0),
            "rate": rates.rate(key),
        }
        for key in categories
    ]
    rate_chart = charts.bar_chart(
        [
            charts.Bar(str(r["label"]), r["rate"], f"{r['covered']}/{r['required']}")
            for r in rate_rows
        ],
        title=_("正版率(按类别)"),
    )
    results_url = reverse("licensing:result_list")
    unit_query = f"unit={unit.pk}&" if unit is not None else ""
    shortfall = services.shortfall_by_product(positions, limit=15)
    shortfall_chart = charts.bar_chart(
        [
            charts.Bar(
                r["product__name"],
                r["shortfall"],
                url=f"{results_url}?{unit_query}product={r['product_id']}&status={Status.UNLICENSED}",
            )
            for r in shortfall
        ],
        title=_("缺口(按软件产品)"),
        percent=False,
        colour=charts.BAD,
    )
    worst = services.rates_by_unit(positions, limit=20) if many_units else []
    unit_chart = (
        charts.bar_chart(
            [
                charts.Bar(
                    r["name"],
                    r["rate"],
                    f"{r['covered']}/{r['required']}",
                    reverse("licensing:compliance_unit", args=[r["unit_id"]]),
                )
                for r in worst
            ],
            title=_("正版率(按单位,由低到高)"),
        )
        if worst
        else ""
    )
    lines, total = services.procurement_demand(results, region)
    return render(
        request,
        "licensing/compliance.html",
        {
            "title": title,
            "unit": unit,
            "region": region,
            "rate_rows": rate_rows,
            "rate_chart": rate_chart,
            "shortfall": shortfall,
            "shortfall_chart": shortfall_chart if shortfall else "",
            "worst": worst,
            "unit_chart": unit_chart,
            "demand_lines": lines,
            "demand_total": total,
            "no_genuine_os": services.devices_without_genuine_os(results),
            "unit_query": unit_query,
            "computed": positions.order_by("-computed").values_list("computed", flat=True).first(),
        },
    )


@login_required
def compliance(request: HttpRequest) -> HttpResponse:
    """The person's own scope: a unit officer's unit, a bureau's region."""
    user = request.user
    _require_read(user)
    scope = user_scope(user)
    region = None
    if scope.kind == "region" and scope.region_id:
        region = Region.objects.filter(pk=scope.region_id).first()
    elif user.unit_id:
        region = user.unit.region
    return _compliance_page(
        request,
        title=_("合规状况:%(scope)s") % {"scope": _scope_title(user)},
        positions=CompliancePosition.objects.visible_to(user),
        results=ComplianceResult.objects.visible_to(user),
        region=region,
        unit=user.unit if scope.kind == "unit" else None,
        many_units=scope.kind != "unit",
    )


@login_required
def compliance_unit(request: HttpRequest, pk: int) -> HttpResponse:
    _require_read(request.user)
    unit = get_visible_or_404(Unit.objects.select_related("region"), request.user, pk=pk)
    positions = CompliancePosition.objects.visible_to(request.user).filter(
        unit__path__startswith=unit.path
    )
    results = ComplianceResult.objects.visible_to(request.user).filter(
        unit__path__startswith=unit.path
    )
    return _compliance_page(
        request,
        title=_("合规状况:%(scope)s") % {"scope": unit.name},
        positions=positions,
        results=results,
        region=unit.region,
        unit=unit,
        many_units=Unit.objects.filter(path__startswith=unit.path).count() > 1,
    )


@login_required
def compliance_region(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    _require_read(user)
    region = get_visible_or_404(Region.objects.all(), user, pk=pk)
    # A unit's people may see their own region's name, never the other units in it.
    if user_scope(user).kind == "unit":
        raise Http404
    positions = CompliancePosition.objects.visible_to(user).filter(
        unit__region__path__startswith=region.path
    )
    results = ComplianceResult.objects.visible_to(user).filter(
        unit__region__path__startswith=region.path
    )
    return _compliance_page(
        request,
        title=_("合规状况:%(scope)s") % {"scope": region.name},
        positions=positions,
        results=results,
        region=region,
        unit=None,
        many_units=True,
    )


# ------------------------------------------------------------------------------ ledger


@login_required
def ledger_unit(request: HttpRequest, pk: int) -> HttpResponse:
    """附表1-3 and the asset cards of one unit (and the units under it) as one workbook."""
    _require_read(request.user)
    unit = get_visible_or_404(Unit.objects.select_related("region"), request.user, pk=pk)
    units = Unit.objects.visible_to(request.user).filter(path__startswith=unit.path)
    year = ledger.ledger_year(timezone.localdate())
    content = ledger.ledger_workbook(units, year=year)
    audit.record(
        actor=request.user,
        action=AuditAction.EXPORT,
        obj=unit,
        unit_id=unit.pk,
        message="ledger",
    )
    return xlsx_response(f"ledger-{unit.pk}-{year}.xlsx", content)


def _viewer_region(user: Any) -> Region | None:
    """The region a person works in: a bureau's region, a unit's region, else the top one
    for those who see everything."""
    scope = user_scope(user)
    if scope.kind == "region" and scope.region_id:
        return Region.objects.filter(pk=scope.region_id).first()
    if user.unit_id:
        return user.unit.region
    if scope.kind == "all":
        return Region.objects.filter(parent__isnull=True).order_by("path").first()
    return None


def _manageable_units(user: Any, unit_ids: set[int]) -> set[int]:
    """Of these units, those the person may change (``can_manage_unit``, in one query)."""
    if not unit_ids:
        return set()
    if user.is_superuser or user.has_role(Role.SYSADMIN):
        return set(unit_ids)
    if not user.has_role(Role.SAM_OFFICER):
        return set()
    return set(Unit.objects.visible_to(user).filter(pk__in=unit_ids).values_list("pk", flat=True))


ASSET_HEADERS = (
    gettext_lazy("资产名称"),
    gettext_lazy("单位"),
    gettext_lazy("许可形式"),
    gettext_lazy("数量"),
    gettext_lazy("剩余数量"),
    gettext_lazy("单价(元)"),
    gettext_lazy("金额(元)"),
    gettext_lazy("购买日期"),
    gettext_lazy("使用年限"),
    gettext_lazy("预计报废年份"),
    gettext_lazy("处置情况"),
)


def _asset_row(card: services.AssetCard) -> list[Any]:
    ent = card.entitlement
    disposals = ledger.disposals_text(ent.disposals.all())
    return [
        str(ent),
        ent.unit.name,
        ent.get_metric_display(),
        ent.quantity or 1,
        "" if card.remaining is None else card.remaining,
        # Numbers, so the sheet can sum them (the shared export writes Decimal as text).
        float(ent.unit_price),
        float(card.value),
        ent.purchased_on or "",
        card.policy.service_life_years,
        card.end_year or "",
        disposals,
    ]


@login_required
def asset_cards(request: HttpRequest) -> HttpResponse:
    """Entitlements on the books as assets, each by its own region's threshold; a disposal
    starts from here."""
    user = request.user
    _require_read(user)
    scope = user_scope(user)
    region = _viewer_region(user)
    cards = services.asset_cards(Entitlement.objects.visible_to(user))
    if request.GET.get("export") == "xlsx":
        audit.record(
            actor=user,
            action=AuditAction.EXPORT,
            object_type="licensing.entitlement",
            object_repr=_("资产账卡"),
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        headers = [str(h) for h in ASSET_HEADERS]
        rows = [_asset_row(card) for card in cards]
        return xlsx_response(
            f"asset-cards-{stamp}.xlsx", build_workbook([(_("资产账卡"), headers, rows)])
        )
    manageable = _manageable_units(user, {c.entitlement.unit_id for c in cards})
    units = Unit.objects.visible_to(user).order_by("path")[:200] if scope.kind != "unit" else []
    return render(
        request,
        "licensing/assets.html",
        {
            "title": _("台账与资产账卡"),
            "headers": ASSET_HEADERS,
            "cards": [
                (
                    card,
                    _asset_row(card),
                    card.entitlement.unit_id in manageable and not card.disposed,
                )
                for card in cards
            ],
            "own_unit": user.unit if user.unit_id else None,
            "units": units,
            "threshold": services.policy_for(region).asset_threshold,
        },
    )


@login_required
def entitlement_dispose(request: HttpRequest, pk: int) -> HttpResponse:
    """转让, 捐赠, 调剂 or 报废 of a software asset; the entitlement leaves the counts."""
    ent = _entitlement(request, pk)
    if not can_manage_unit(request.user, ent.unit):
        raise PermissionDenied
    remaining = services.remaining_quantity(ent)
    back = reverse("licensing:entitlement_detail", args=[ent.pk])
    if remaining == 0:
        messages.error(request, _("该授权已全部处置。"))
        return redirect(back)
    form = forms.DisposalForm(
        request.POST or None,
        remaining=remaining,
        initial={"date": timezone.localdate()},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done = _call(
            form,
            lambda: services.dispose(
                actor=request.user,
                entitlement=ent,
                method=data["method"],
                date=data["date"],
                quantity=data.get("quantity"),
                recipient=data.get("recipient") or "",
                approval=data.get("approval") or "",
                reason=data["reason"],
            ),
        )
        if done is not None:
            messages.success(request, _("资产处置已登记,合规状况已重算。"))
            return redirect(back)
    title = _("资产处置:%(ent)s") % {"ent": ent}
    return _form_page(request, form, title, back)


class DisposalListView(ReaderListView):
    model = AssetDisposal
    queryset = AssetDisposal.objects.select_related(
        "entitlement__product", "entitlement__family", "entitlement__unit"
    )
    table_class = DisposalTable
    filterset_class = DisposalFilterSet
    title = gettext_lazy("资产处置")
    export_name = "asset-disposals"

    def get_actions(self) -> list[tuple[str, str]]:
        return [(_("资产账卡"), reverse("licensing:asset_cards"))]


# ------------------------------------------------------------------------------ policy


def _policy_page(request: HttpRequest, region: Region) -> HttpResponse:
    user = request.user
    own, values = services.policy_values(region)
    children = Region.objects.visible_to(user).filter(parent=region).order_by("path")
    parent = (
        Region.objects.visible_to(user).filter(pk=region.parent_id).first()
        if region.parent_id
        else None
    )
    return render(
        request,
        "licensing/policy.html",
        {
            "title": _("授权与资产标准:%(region)s") % {"region": region.name},
            "region": region,
            "own": own,
            "values": values,
            "children": children[:200],
            "parent": parent,
            "editable": services.can_set_policy(user, region),
        },
    )


@login_required
def policy(request: HttpRequest) -> HttpResponse:
    """The person's own region: price caps, asset threshold and service life."""
    _require_read(request.user)
    region = _viewer_region(request.user)
    if region is None:
        raise Http404
    return _policy_page(request, region)


@login_required
def policy_region(request: HttpRequest, pk: int) -> HttpResponse:
    _require_read(request.user)
    region = get_visible_or_404(Region.objects.all(), request.user, pk=pk)
    return _policy_page(request, region)


@login_required
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    region = get_visible_or_404(Region.objects.all(), request.user, pk=pk)
    if not services.can_set_policy(request.user, region):
        raise PermissionDenied
    _own, values = services.policy_values(region)
    form = forms.PolicyForm(request.POST or None, initial={v.name: v.value for v in values})
    if request.method == "POST" and form.is_valid():
        done = _call(
            form,
            lambda: services.set_policy(actor=request.user, region=region, **form.cleaned_data),
        )
        if done is not None:
            messages.success(request, _("授权与资产标准已保存。"))
            return redirect("licensing:policy_region", pk=region.pk)
    back = reverse("licensing:policy_region", args=[region.pk])
    return _form_page(
        request, form, _("设定授权与资产标准:%(region)s") % {"region": region.name}, back
    )


@login_required
@require_POST
def policy_inherit(request: HttpRequest, pk: int) -> HttpResponse:
    """Drop the region's own policy so that it inherits its parent's again."""
    region = get_visible_or_404(Region.objects.all(), request.user, pk=pk)
    if not services.can_set_policy(request.user, region):
        raise PermissionDenied
    try:
        services.clear_policy(actor=request.user, region=region)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("已恢复沿用上级区划的标准。"))
    return redirect("licensing:policy_region", pk=region.pk)
