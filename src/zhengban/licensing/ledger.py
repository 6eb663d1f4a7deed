"""The software ledger of 国版办发〔2016〕13号 as XLSX, and the asset cards.

附表1 软件使用情况汇总表: per unit, headcount, computers, commercial / preinstalled / free totals
附表2 软件使用情况明细表: each person's devices and the software on each, with its licence
附表3 软件安装维护情况明细表: every install and uninstall (an upgrade is an uninstall of the old
       version plus an install of the new one)
资产账卡: entitlements worth at least the asset threshold of their own unit's region, with
       service life and disposal.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from zhengban.core.exports import build_workbook
from zhengban.inventory.models import Device, Installation, InstallationEvent
from zhengban.licensing import engine, services
from zhengban.licensing.choices import Reason, SourceType, Status
from zhengban.licensing.models import AssetDisposal, ComplianceResult, Entitlement
from zhengban.orgs.models import Unit

FREE_MODELS = ("free", "open_source")


def summary_rows(units: QuerySet[Unit]) -> tuple[list[str], list[list[Any]]]:
    headers = [
        _("单位名称"),
        _("编制人数"),
        _("计算机数量"),
        _("商业软件(套)"),
        _("其中已授权"),
        _("预装软件(套)"),
        _("免费软件(套)"),
        _("操作系统正版率"),
        _("办公软件正版率"),
        _("杀毒软件正版率"),
    ]
    unit_ids = list(units.values_list("id", flat=True))
    # Retired machines are out of the ledger (附表1, 2); their past changes stay in 附表3.
    computers = dict(
        Device.objects.in_service()
        .filter(unit_id__in=unit_ids)
        .values("unit_id")
        .annotate(n=Count("id"))
        .values_list("unit_id", "n")
    )
    free = dict(
        Installation.objects.filter(
            device__unit_id__in=unit_ids,
            device__retired__isnull=True,
            product__license_model__in=FREE_MODELS,
        )
        .values("device__unit_id")
        .annotate(n=Count("id"))
        .values_list("device__unit_id", "n")
    )
    per_unit = {
        r["unit_id"]: r
        for r in ComplianceResult.objects.filter(unit_id__in=unit_ids)
        .values("unit_id")
        .annotate(
            total=Count("pk", filter=~Q(status=Status.NOT_REQUIRED)),
            covered=Count("pk", filter=Q(status=Status.COVERED)),
            oem=Count("pk", filter=Q(reason=Reason.OEM)),
            os_req=Count("pk", filter=Q(product__category="os") & ~Q(status="not_required")),
            os_cov=Count("pk", filter=Q(product__category="os", status="covered")),
            of_req=Count("pk", filter=Q(product__category="office") & ~Q(status="not_required")),
            of_cov=Count("pk", filter=Q(product__category="office", status="covered")),
            av_req=Count("pk", filter=Q(product__category="antivirus") & ~Q(status="not_required")),
            av_cov=Count("pk", filter=Q(product__category="antivirus", status="covered")),
        )
    }

    def pct(cov: int, req: int) -> str:
        rate = engine.genuine_rate(cov, req)
        return "" if rate is None else f"{rate * 100:.2f}%"

    rows = []
    for unit in units.order_by("region__path", "name"):
        r = per_unit.get(unit.pk, {})
        rows.append(
            [
                unit.name,
                unit.headcount,
                computers.get(unit.pk, 0),
                r.get("total", 0),
                r.get("covered", 0),
                r.get("oem", 0),
                free.get(unit.pk, 0),
                pct(r.get("os_cov", 0), r.get("os_req", 0)),
                pct(r.get("of_cov", 0), r.get("of_req", 0)),
                pct(r.get("av_cov", 0), r.get("av_req", 0)),
            ]
        )
    return headers, rows


def _source_label(reason: str | None, model: str | None) -> str:
    if reason == Reason.OEM:
        return str(SourceType.PREINSTALLED.label)
    if model in FREE_MODELS:
        return str(SourceType.FREE.label)
    if reason in (Reason.ALLOCATION, Reason.PER_DEVICE, Reason.PER_USER):
        return str(SourceType.PURCHASED.label)
    if reason in (Reason.CONCURRENT, Reason.SITE):
        return str(SourceType.PURCHASED.label)
    return ""


def detail_rows(units: QuerySet[Unit]) -> tuple[list[str], Iterable[list[Any]]]:
    headers = [
        _("单位"),
        _("使用人"),
        _("部门"),
        _("计算机名"),
        _("资产编号"),
        _("软件名称"),
        _("版本"),
        _("来源类型"),
        _("许可证号码/序列号"),
        _("有效期"),
        _("授权状态"),
        _("说明"),
    ]
    reasons = dict(Reason.choices)
    statuses = dict(Status.choices)

    def rows() -> Iterable[list[Any]]:
        installs = (
            Installation.objects.filter(
                device__unit__in=units, device__retired__isnull=True, product__isnull=False
            )
            .exclude(kind="update")
            .select_related(
                "device__unit",
                "device__department",
                "device__assigned_user",
                "product",
                "compliance__entitlement",
            )
            .order_by("device__unit__name", "device__assigned_name", "device__hostname", "name")
        )
        for inst in installs.iterator(chunk_size=2000):
            device = inst.device
            person = device.assigned_name or (
                str(device.assigned_user) if device.assigned_user_id else ""
            )
            verdict = getattr(inst, "compliance", None)
            if verdict is not None:
                status, reason = verdict.status, verdict.reason
                ent = verdict.entitlement
            else:
                static = services.static_outcome(inst.product)
                status, reason = static if static else ("", "")
                ent = None
            yield [
                device.unit.name,
                person,
                device.department.name if device.department_id else "",
                device.hostname,
                device.asset_number,
                inst.product.name,
                verdict.version if verdict is not None else inst.version,
                _source_label(reason, inst.product.license_model),
                ent.masked_serial if ent else "",
                ent.end.isoformat() if ent and ent.end else (_("永久") if ent else ""),
                statuses.get(status, ""),
                reasons.get(reason, ""),
            ]

    return headers, rows()


def maintenance_rows(units: QuerySet[Unit]) -> tuple[list[str], Iterable[list[Any]]]:
    headers = [
        _("单位"),
        _("计算机名"),
        _("使用人"),
        _("软件名称"),
        _("版本"),
        _("操作"),
        _("日期"),
    ]
    install_label, remove_label = _("安装"), _("卸载")

    def rows() -> Iterable[list[Any]]:
        events = (
            InstallationEvent.objects.filter(device__unit__in=units)
            .select_related("device__unit")
            .order_by("device__unit__name", "device__hostname", "date", "id")
        )
        for e in events.iterator(chunk_size=2000):
            base = [e.device.unit.name, e.device.hostname, e.device.assigned_name]
            when = e.date
            if e.event_type == "installed":
                yield [*base, e.name, e.new_version, install_label, when]
            elif e.event_type == "removed":
                yield [*base, e.name, e.old_version, remove_label, when]
            else:  # an upgrade: the old version leaves, the new one arrives
                yield [*base, e.name, e.old_version, remove_label, when]
                yield [*base, e.name, e.new_version, install_label, when]

    return headers, rows()


def disposals_text(disposals: Iterable[AssetDisposal]) -> str:
    """An asset's disposals in one cell: kind, date, quantity and the receiving body."""
    parts = []
    for d in disposals:
        text = f"{d.get_method_display()} {d.date:%Y-%m-%d} ×{d.quantity or _('全部')}"
        if d.recipient:
            text += " " + _("接收单位:%(name)s") % {"name": d.recipient}
        parts.append(text)
    return ";".join(parts)


def asset_card_rows(entitlements: QuerySet[Entitlement]) -> tuple[list[str], list[list[Any]]]:
    """Entitlements at or above the asset threshold of their own unit's region (per licence,
    or for the batch), as the asset card page lists them."""
    headers = [
        _("资产名称"),
        _("单位"),
        _("许可形式"),
        _("数量"),
        _("单价(元)"),
        _("金额(元)"),
        _("购买日期"),
        _("使用年限"),
        _("预计报废年份"),
        _("处置情况"),
    ]
    rows = []
    for card in services.asset_cards(entitlements):
        ent = card.entitlement
        rows.append(
            [
                str(ent),
                ent.unit.name,
                ent.get_metric_display(),
                ent.quantity or 1,
                # Numbers, so the sheet can sum them (the shared export writes Decimal as text).
                float(ent.unit_price),
                float(card.value),
                ent.purchased_on or "",
                card.policy.service_life_years,
                card.end_year or "",
                disposals_text(ent.disposals.all()),
            ]
        )
    return headers, rows


def ledger_workbook(units: QuerySet[Unit], *, year: int) -> bytes:
    sheets = []
    h1, r1 = summary_rows(units)
    sheets.append((_("附表1 软件使用情况汇总表") + f" {year}", h1, r1))
    h2, r2 = detail_rows(units)
    sheets.append((_("附表2 软件使用情况明细表"), h2, r2))
    h3, r3 = maintenance_rows(units)
    sheets.append((_("附表3 软件安装维护情况明细表"), h3, r3))
    ents = Entitlement.objects.filter(unit__in=units)
    h4, r4 = asset_card_rows(ents)
    sheets.append((_("资产账卡"), h4, r4))
    return build_workbook(sheets)


def ledger_year(today: datetime.date | None = None) -> int:
    return (today or datetime.date.today()).year
