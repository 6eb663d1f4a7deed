"""Simulator part: contracts and entitlements with the gaps a real province has, derived from
the software the inventory part installed, then a full compliance recompute.

- OEM Windows (or domestic OS) on most PCs, bound to the device, but not on all of them;
- most units licensed for their office suite and antivirus, some a little short, a few not
  at all; MS Office bought as the newest version in use with downgrade rights;
- antivirus bought as one-year subscriptions, some of them expired;
- a province-wide framework agreement for WPS signed by the provincial bureau, shared out to
  the units that use WPS (some shares short);
- a city-wide site (场地) licence for one antivirus product;
- WinRAR and design software bought by a few units only;
- about one contract in six missing a term §三 requires.

Rows are written in bulk (one audit record for the whole part), as the inventory part does.
"""

from __future__ import annotations

import datetime
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.simulation import SimulationContext, register
from zhengban.inventory.models import Device, Installation
from zhengban.licensing import engine
from zhengban.licensing.choices import FundingSource, Metric, ProcurementMethod, SourceType, Term
from zhengban.licensing.models import Contract, Entitlement, EntitlementShare
from zhengban.licensing.services import SKIPPED_KINDS, catalog_meta, recompute_all, recompute_units
from zhengban.orgs.models import Region, Unit

SUPPLIERS = {
    "os": ["联想（北京）有限公司", "华为技术有限公司", "清华同方股份有限公司"],
    "office": ["北京金山办公软件股份有限公司", "微软（中国）有限公司", "中软国际有限公司"],
    "antivirus": [
        "奇安信科技集团股份有限公司",
        "北京火绒网络科技有限公司",
        "三六零数字安全科技集团",
    ],
    "": ["神州数码系统集成服务有限公司", "浪潮软件股份有限公司"],
}
PRICES = {"os": Decimal("0"), "office": Decimal("580"), "antivirus": Decimal("95")}
TERMS = {
    "term_version": "按采购清单所列版本",
    "term_compatibility": "兼容本单位现有操作系统与业务系统",
    "term_security": "符合国家信息安全等级保护相关标准",
    "term_authorisation": "按许可数授权本单位使用，期限见授权书",
    "term_support": "一年免费升级与技术支持",
}


@dataclass
class Plan:
    """What to write: contracts (with their entitlements) and loose OEM entitlements."""

    contracts: list[tuple[Contract, list[Entitlement]]] = field(default_factory=list)
    oem: list[Entitlement] = field(default_factory=list)
    # framework entitlement (attached to a contract) → {unit_id: quantity}
    shares: list[tuple[Entitlement, dict[int, int]]] = field(default_factory=list)


def _installed(unit_ids: Sequence[int]) -> tuple[dict, dict, set[int]]:
    """(unit, product) → devices; (unit, product) → version labels; server device ids."""
    meta = catalog_meta()
    devices: dict[tuple[int, int], set[int]] = defaultdict(set)
    labels: dict[tuple[int, int], Counter] = defaultdict(Counter)
    for start in range(0, len(unit_ids), 500):
        chunk = unit_ids[start : start + 500]
        rows = (
            Installation.objects.filter(
                device__unit_id__in=chunk, product_id__in=list(meta.assessed)
            )
            .exclude(kind__in=SKIPPED_KINDS)
            .order_by()
            .values_list("device_id", "device__unit_id", "product_id", "name", "version")
        )
        for device_id, unit_id, product_id, name, version in rows:
            p = meta.products[product_id]
            if p.home_edition:
                continue  # never genuine: nobody can buy its way out
            devices[(unit_id, product_id)].add(device_id)
            labels[(unit_id, product_id)][engine.version_label(name, version, p.labels)] += 1
    servers = set(
        Device.objects.filter(unit_id__in=unit_ids, device_type="server").values_list(
            "id", flat=True
        )
    )
    return devices, labels, servers


def _contract(
    rng: random.Random, unit_id: int, number: str, category: str, amount: Decimal, today
) -> Contract:
    terms = dict(TERMS)
    if rng.random() < 0.17:
        for name in rng.sample(sorted(terms), k=rng.randint(1, 3)):
            terms[name] = ""
    return Contract(
        unit_id=unit_id,
        number=number,
        title={"os": "操作系统采购", "office": "办公软件采购", "antivirus": "杀毒软件采购"}.get(
            category, "通用软件采购"
        ),
        supplier=rng.choice(SUPPLIERS.get(category, SUPPLIERS[""])),
        signed_on=today - datetime.timedelta(days=rng.randint(30, 900)),
        amount=amount,
        funding_source=rng.choices(FundingSource.values, weights=[70, 15, 10, 5])[0],
        procurement_method=rng.choices(ProcurementMethod.values, weights=[60, 35, 5])[0],
        **terms,
    )


def _top(labels: Counter) -> str | None:
    """The newest version label in use (numeric order; None when unknown)."""
    known = [v for v in labels if v]
    return max(known, key=engine.version_key) if known else None


def plan_licences(
    rng: random.Random,
    unit_ids: Sequence[int],
    *,
    today: datetime.date,
    framework_owner: int | None,
    site_unit: int | None,
    number_prefix: str = "SIM",
) -> Plan:
    meta = catalog_meta()
    devices, labels, servers = _installed(list(unit_ids))
    plan = Plan()
    wps_shares: dict[int, int] = {}
    wps_product: int | None = None
    wps_versions: Counter = Counter()
    site_product: int | None = None
    site_units: set[int] = set()
    if site_unit is not None:
        path = Unit.objects.get(pk=site_unit).region.path
        site_units = set(
            Unit.objects.filter(region__path__startswith=path).values_list("pk", flat=True)
        )
    serial = 0
    # How well each unit is run decides how complete its licences are.
    diligence = {
        u: rng.choices(["full", "short", "none"], weights=[70, 24, 6])[0] for u in unit_ids
    }
    for (unit_id, product_id), devs in sorted(devices.items()):
        p = meta.products[product_id]
        n = len(devs)
        versions = labels[(unit_id, product_id)]
        top = _top(versions)
        state = diligence[unit_id]
        if p.category == "os":
            # OEM on most PCs; servers mostly bought per device.
            for device_id in sorted(devs):
                share = 0.75 if device_id in servers else 0.9 if state != "none" else 0.6
                if rng.random() >= share:
                    continue
                plan.oem.append(
                    Entitlement(
                        unit_id=unit_id,
                        product_id=product_id,
                        versions=[top] if top else [],
                        metric=Metric.OEM,
                        term=Term.PERPETUAL,
                        quantity=1,
                        oem_device_id=device_id,
                        source_type=SourceType.PREINSTALLED,
                        purchased_on=today - datetime.timedelta(days=rng.randint(200, 2500)),
                        downgrade=True,
                    )
                )
            continue
        if "wps" in p.key and framework_owner is not None:
            wps_product = wps_product or product_id
            if product_id == wps_product and state != "none":
                wps_shares[unit_id] = n if state == "full" else max(1, int(n * 0.8))
                wps_versions.update(versions)
                continue
        if p.category == "antivirus" and site_unit is not None and site_product is None:
            site_product = product_id
        if product_id == site_product and unit_id in site_units:
            continue  # the city's site licence covers it
        if p.category not in ("office", "antivirus"):
            # WinRAR, design tools, databases…: bought by most units that run them.
            if state == "none" or rng.random() > 0.6:
                continue
            quantity = n
        elif state == "none":
            continue
        elif state == "short":
            quantity = max(1, int(n * rng.uniform(0.6, 0.95)))
        else:
            quantity = n + rng.choice([0, 0, 1, 2])
        serial += 1
        price = PRICES.get(p.category, Decimal("300"))
        contract = _contract(
            rng,
            unit_id,
            f"{number_prefix}-{unit_id}-{serial:03d}",
            p.category,
            price * quantity,
            today,
        )
        subscription = p.category == "antivirus"
        if subscription:
            # One-year subscriptions; about one in ten has lapsed without renewal.
            lapsed = rng.random() < 0.1
            end = (
                today - datetime.timedelta(days=rng.randint(1, 120))
                if lapsed
                else (today + datetime.timedelta(days=rng.randint(30, 330)))
            )
            start = end - datetime.timedelta(days=365)
        else:
            start = end = None
        ent = Entitlement(
            unit_id=unit_id,
            product_id=product_id,
            versions=[top] if top and p.category == "office" else [],
            metric=Metric.PER_DEVICE,
            term=Term.SUBSCRIPTION if subscription else Term.PERPETUAL,
            start=start,
            end=end,
            quantity=quantity,
            downgrade=p.category == "office",
            source_type=SourceType.PURCHASED,
            purchased_on=contract.signed_on,
            unit_price=price,
        )
        plan.contracts.append((contract, [ent]))
    if wps_shares and framework_owner is not None:
        total = sum(wps_shares.values())
        contract = _contract(
            rng, framework_owner, f"{number_prefix}-KJ-WPS", "office", Decimal("360") * total, today
        )
        contract.title = "正版办公软件框架协议采购（WPS）"
        contract.procurement_method = ProcurementMethod.CENTRALISED
        ent = Entitlement(
            unit_id=framework_owner,
            product_id=wps_product,
            versions=[_top(wps_versions)] if _top(wps_versions) else [],
            metric=Metric.PER_DEVICE,
            term=Term.PERPETUAL,
            quantity=total,
            downgrade=True,
            framework=True,
            source_type=SourceType.ALLOCATED,
            purchased_on=contract.signed_on,
            unit_price=Decimal("360"),
        )
        plan.contracts.append((contract, [ent]))
        plan.shares.append((ent, wps_shares))
    if site_unit is not None and site_product is not None:
        unit = Unit.objects.select_related("region").get(pk=site_unit)
        contract = _contract(
            rng, site_unit, f"{number_prefix}-SITE-AV", "antivirus", Decimal("380000"), today
        )
        contract.title = "全市终端安全软件场地授权"
        ent = Entitlement(
            unit_id=site_unit,
            product_id=site_product,
            metric=Metric.SITE,
            term=Term.SUBSCRIPTION,
            start=today - datetime.timedelta(days=200),
            end=today + datetime.timedelta(days=165),
            site_region_id=unit.region_id,
            source_type=SourceType.PURCHASED,
            purchased_on=contract.signed_on,
            unit_price=Decimal("380000"),
        )
        plan.contracts.append((contract, [ent]))
    return plan


def write_plan(plan: Plan) -> tuple[int, int]:
    """Bulk writes; returns (contracts, entitlements)."""
    with transaction.atomic():
        contracts = Contract.objects.bulk_create([c for c, _e in plan.contracts], batch_size=2000)
        ents: list[Entitlement] = []
        for contract, (_c, items) in zip(contracts, plan.contracts, strict=True):
            for ent in items:
                ent.contract_id = contract.pk
                ents.append(ent)
        Entitlement.objects.bulk_create(ents + plan.oem, batch_size=5000)
        EntitlementShare.objects.bulk_create(
            [
                EntitlementShare(entitlement_id=ent.pk, unit_id=unit_id, quantity=qty)
                for ent, shares in plan.shares
                for unit_id, qty in sorted(shares.items())
            ],
            batch_size=5000,
        )
    return len(contracts), len(ents) + len(plan.oem)


def _first_unit_in(region_ids: Iterable[int]) -> int | None:
    """The copyright bureau of the region if any, else its first unit."""
    ids = list(region_ids)
    unit = (
        Unit.objects.filter(region_id__in=ids).order_by("-is_copyright_bureau", "pk").first()
        if ids
        else None
    )
    return unit.pk if unit else None


@register("licensing", order=40)
def simulate_licensing(ctx: SimulationContext) -> None:
    rng = ctx.rng("licensing")
    orgs = ctx.shared["orgs"]
    unit_ids = sorted(orgs["unit_ids"])
    today = timezone.localdate()
    province = Region.objects.get(pk=orgs["province_id"])
    cities = list(
        Region.objects.filter(parent=province).order_by("code").values_list("id", flat=True)
    )
    framework_owner = _first_unit_in([province.pk])
    site_unit = _first_unit_in(cities[:1])
    plan = plan_licences(
        rng, unit_ids, today=today, framework_owner=framework_owner, site_unit=site_unit
    )
    n_contracts, n_ents = write_plan(plan)
    ctx.out.write(f"  {n_contracts:,} contracts, {n_ents:,} entitlements\n")
    stats = recompute_all(progress=lambda done, total: ctx.progress("compliance", done, total))
    ctx.out.write(
        f"  {stats.installs:,} installs assessed: {stats.covered:,} covered, "
        f"{stats.unlicensed:,} unlicensed ({stats.seconds:.1f} s)\n"
    )
    audit.record(
        actor=None,
        action=AuditAction.IMPORT,
        object_type="licensing.entitlement",
        object_repr="simulated licences",
        message=f"simulated: {n_contracts} contracts, {n_ents} entitlements (seed {ctx.seed})",
    )
    ctx.shared["licensing"] = {"contracts": n_contracts, "entitlements": n_ents}


__all__ = ["plan_licences", "recompute_units", "simulate_licensing", "write_plan"]
