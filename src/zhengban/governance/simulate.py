"""Simulator part: the province bureau publishes a configuration-spec template, most units
adopt it, staff file requests (some pending, some rejected, some approved and carried out),
and a sample of devices changes in ways that break the spec. Those changes go through
inventory's real ingest service and governance's real processing, so the violations and the
fulfilled requests are exactly what the product itself would make of them.

Specs and the requests that need no inventory change are bulk-written (the rows the services
would write); one audit record covers the run."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from zhengban.catalog.models import Product, ProductFamily
from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.simulation import SimulationContext, register
from zhengban.governance import services
from zhengban.governance.choices import (
    RequestAction,
    RequestStatus,
    RuleKind,
    StepDecision,
    StepKind,
    ViolationKind,
)
from zhengban.governance.models import (
    ApprovalStep,
    ConfigurationSpec,
    SoftwareRequest,
    SpecRule,
    Violation,
)
from zhengban.inventory import document as d
from zhengban.inventory.choices import InstallationKind
from zhengban.inventory.models import Device, Installation
from zhengban.inventory.services import ingest_inventory
from zhengban.orgs.models import Unit

# (kind, category) lines of the province template; product families are added by key.
TEMPLATE_CATEGORIES = [
    (RuleKind.REQUIRED, "antivirus"),
    (RuleKind.REQUIRED, "os"),
    (RuleKind.ALLOWED, "office"),
    (RuleKind.FREE, "browser"),
    (RuleKind.FREE, "compression"),
    (RuleKind.FREE, "document_reader"),
    (RuleKind.FREE, "input_method"),
    (RuleKind.PROHIBITED, "game"),
]
PROHIBITED_FAMILIES = ["360-safe"]
# What staff install on their own (raw names as agents report them).
PRIVATE_INSTALLS = [
    ("Adobe Photoshop 2023", "24.0", "Adobe Inc."),
    ("AutoCAD 2022 - 简体中文 (Simplified Chinese)", "24.1.51.0", "Autodesk"),
    ("360安全卫士", "13.0.0.2003", "360安全中心"),
]
REQUESTED = [
    ("adobe-photoshop", ("Adobe Photoshop 2023", "24.0", "Adobe Inc.")),
    ("7zip", ("7-Zip 23.01 (x64)", "23.01", "Igor Pavlov")),
]


def _document(device: Device, software: list[d.Software]) -> d.InventoryDocument:
    os_row = next((r for r in software if r.kind == InstallationKind.OS), None)
    return d.InventoryDocument(
        source=device.last_source,
        agent_device_id=device.agent_device_id,
        agent=device.last_agent,
        hostname=device.hostname,
        serial_number=device.serial_number,
        hardware_uuid=device.hardware_uuid,
        macs=list(device.macs.values_list("mac", flat=True)),
        os=d.OperatingSystem(
            name=os_row.name, version=os_row.version, arch=os_row.arch, publisher=os_row.publisher
        )
        if os_row
        else None,
        software=[s for s in software if s.kind != InstallationKind.OS],
    )


def _current(device: Device) -> list[d.Software]:
    return [
        d.Software(
            name=r.name,
            version=r.version,
            publisher=r.publisher,
            arch=r.arch,
            install_date=r.install_date,
            source=r.source,
            guid=r.guid,
            owner=r.owner,
            kind=r.kind,
            category=r.category,
        )
        for r in Installation.objects.filter(device=device).order_by("pk")
    ]


@register("governance", order=50)
def simulate_governance(ctx: SimulationContext) -> None:
    rng = ctx.rng("governance")
    orgs = ctx.shared["orgs"]
    people_by_unit: dict[int, list[int]] = orgs["people_by_unit"]
    now = timezone.now()
    province_bureau = Unit.objects.filter(
        region_id=orgs["province_id"], is_copyright_bureau=True
    ).first()
    if province_bureau is None:
        return
    # No worker runs during a simulation: governance's reactions to the inventory part's
    # ingests wait in their queue. Carried out now, before any spec exists, as when they
    # ran inside each ingest.
    services.drain_pending_inventories()

    with transaction.atomic():
        template = ConfigurationSpec.objects.create(
            name=f"{province_bureau.region.name}党政机关软件配置规范（模板）",
            region=province_bureau.region,
            description="各单位可采用本模板并结合实际调整。",
        )
        rules = [
            SpecRule(spec=template, kind=kind, category=category)
            for kind, category in TEMPLATE_CATEGORIES
        ]
        rules += [
            SpecRule(spec=template, kind=RuleKind.PROHIBITED, family=family)
            for family in ProductFamily.objects.filter(key__in=PROHIBITED_FAMILIES)
        ]
        SpecRule.objects.bulk_create(rules)
        # ~70 % of the units that report adopt the template as is.
        silent = set(ctx.shared.get("inventory", {}).get("silent_unit_ids", []))
        adopting = [u for u in sorted(people_by_unit) if u not in silent and rng.random() < 0.7]
        specs = ConfigurationSpec.objects.bulk_create(
            [
                ConfigurationSpec(
                    name=template.name.replace("（模板）", ""), unit_id=u, adopted_from=template
                )
                for u in adopting
            ],
            batch_size=2000,
        )
        SpecRule.objects.bulk_create(
            [
                SpecRule(spec=spec, kind=r.kind, family_id=r.family_id, category=r.category)
                for spec in specs
                for r in rules
            ],
            batch_size=5000,
        )

    # A sample (5 %) of devices of adopting units: requests and the changes that follow them.
    device_ids = list(
        Device.objects.filter(unit_id__in=adopting, assigned_user__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sample = rng.sample(device_ids, k=min(len(device_ids), max(1, len(device_ids) // 20)))
    products = {p.key: p for p in Product.objects.filter(key__in=[k for k, _r in REQUESTED])}
    counts = {"requests": 0, "fulfilled": 0, "changed": 0}
    received = now - datetime.timedelta(days=1)
    for n, device in enumerate(
        Device.objects.filter(pk__in=sample).select_related("unit", "assigned_user")
    ):
        staff = device.assigned_user
        unit_people = people_by_unit.get(device.unit_id, [])
        officer_id = unit_people[1] if len(unit_people) > 1 else None
        roll = rng.random()
        with transaction.atomic():
            software = _current(device)
            if roll < 0.35 and officer_id and officer_id != staff.pk:
                # A request: pending, rejected, or approved and then carried out.
                key, raw = rng.choice(REQUESTED)
                product = products.get(key)
                if product is None:
                    continue
                outcome = rng.choice(["pending", "rejected", "approved", "approved"])
                submitted = now - datetime.timedelta(days=rng.randint(3, 10))
                decided = submitted + datetime.timedelta(hours=rng.randint(2, 48))
                request = SoftwareRequest.objects.create(
                    unit_id=device.unit_id,
                    department_id=staff.department_id,
                    requester=staff,
                    device=device,
                    action=RequestAction.INSTALL,
                    product=product,
                    reason=rng.choice(["工作需要", "处理业务数据需要", "制作材料需要"]),
                    status=RequestStatus.PENDING
                    if outcome == "pending"
                    else RequestStatus.REJECTED
                    if outcome == "rejected"
                    else RequestStatus.APPROVED,
                    submitted_at=submitted,
                    decided_at=None if outcome == "pending" else decided,
                    window_until=decided + datetime.timedelta(days=14)
                    if outcome == "approved"
                    else None,
                )
                first_decision = {
                    "pending": StepDecision.PENDING,
                    "rejected": StepDecision.REJECTED,
                    "approved": StepDecision.APPROVED,
                }[outcome]
                ApprovalStep.objects.bulk_create(
                    [
                        ApprovalStep(
                            request=request,
                            position=1,
                            kind=StepKind.SAM_OFFICER,
                            decision=first_decision,
                            activated_at=submitted,
                            due=submitted + datetime.timedelta(days=3),
                            decided_by_id=None if outcome == "pending" else officer_id,
                            decided_at=None if outcome == "pending" else decided,
                            comment="可使用免费软件替代" if outcome == "rejected" else "",
                        )
                    ]
                )
                counts["requests"] += 1
                if outcome != "approved":
                    continue
                software.append(d.Software(name=raw[0], version=raw[1], publisher=raw[2]))
            elif roll < 0.75:
                # Installed without asking (some of it prohibited).
                name, version, publisher = rng.choice(PRIVATE_INSTALLS)
                software.append(d.Software(name=name, version=version, publisher=publisher))
            else:
                # Antivirus removed on one's own.
                antivirus = set(
                    Installation.objects.filter(
                        device=device, product__category="antivirus"
                    ).values_list("name", flat=True)
                )
                if not antivirus:
                    continue
                software = [s for s in software if s.name not in antivirus]
            unique: dict[tuple, d.Software] = {}
            for item in software:
                unique.setdefault(item.identity, item)
            result = ingest_inventory(
                unit=device.unit,
                document=_document(device, list(unique.values())),
                received=max(received, device.last_seen),
            )
            if not result.unchanged:
                # Idempotent: harmless if inventory's ingest already fired the hook.
                services.process_inventory(device=result.device, report=result.report, now=received)
                counts["changed"] += 1
        if (n + 1) % 100 == 0 or n + 1 == len(sample):
            ctx.progress("governance", n + 1, len(sample))

    # This part's ingests queued their reactions too (already carried out above: draining
    # them again is idempotent), so none is left for a worker.
    services.drain_pending_inventories()
    # Spec violations where a spec judges; licensing's findings (raised on every ingest the
    # inventory part and this one made) wherever commercial software lacks a licence.
    violations = (
        Violation.objects.filter(unit_id__in=adopting)
        .exclude(kind=ViolationKind.UNLICENSED)
        .count()
    )
    unlicensed = Violation.objects.filter(kind=ViolationKind.UNLICENSED).count()
    counts["fulfilled"] = SoftwareRequest.objects.filter(
        unit_id__in=adopting, status=RequestStatus.FULFILLED
    ).count()
    ctx.shared["governance"] = {
        "template_id": template.pk,
        "adopting_units": len(adopting),
        "violations": violations,
        "unlicensed": unlicensed,
        **counts,
    }
    audit.record(
        actor=None,
        action=AuditAction.IMPORT,
        object_type="governance.configurationspec",
        object_id=template.pk,
        object_repr=template.name,
        message=(
            f"simulated: template adopted by {len(adopting)} units, {counts['requests']} "
            f"requests ({counts['fulfilled']} fulfilled), {counts['changed']} devices changed, "
            f"{violations} violations, {unlicensed} unlicensed"
        ),
    )
