"""Builders for governance tests (and the browser test): devices fed through inventory's
real ingest service, so recognition, events and the governance hook all run for real."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from zhengban.catalog.models import Product
from zhengban.governance import services
from zhengban.inventory import services as inventory
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.document import InventoryDocument, OperatingSystem, Software
from zhengban.inventory.models import Device
from zhengban.licensing import services as licensing
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.models import Entitlement
from zhengban.orgs.choices import Role
from zhengban.orgs.models import Department, Unit, User
from zhengban.orgs.testing import OrgTree, make_person

WINDOWS = OperatingSystem(name="Microsoft Windows 10 专业版", version="10.0.19045", arch="x64")

# Raw names as agents report them, recognised by the shipped catalog.
WPS = ("WPS Office 专业版", "12.1.0.16120", "Kingsoft Corp.")
TIANQING = ("奇安信天擎终端安全管理系统", "10.0", "Qi An Xin")
HUORONG = ("火绒安全软件", "5.0.75", "Huorong")
SAFE_360 = ("360安全卫士", "13.0", "360.cn")
SEVEN_ZIP = ("7-Zip 23.01 (x64)", "23.01", "Igor Pavlov")
PHOTOSHOP = ("Adobe Photoshop 2023", "24.0", "Adobe Inc.")


def product(key: str) -> Product:
    return Product.objects.get(key=key)


# What each test unit bought for its baseline software (Windows 10 Pro, WPS Office 专业版 and
# 天擎), so that licensing, which judges every commercial install on each ingest, finds the
# baseline covered and a test sees only the violation it is about.
BASELINE_LICENCES = (
    ("windows-pro", ["10"]),
    ("wps-office-professional", []),
    ("qianxin-tianqing", []),
)


def buy(unit: Unit, product_key: str, *, quantity: int = 10, versions=()) -> Entitlement:
    """A perpetual per-device licence (单机授权) through licensing's service, which recomputes
    the unit's verdicts; seats go to the unit's devices as their installs are seen."""
    return licensing.create_entitlement(
        actor=None,
        unit=unit,
        product=product(product_key),
        versions=list(versions),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=quantity,
    )


def license_baseline(unit: Unit) -> list[Entitlement]:
    return [buy(unit, key, versions=versions) for key, versions in BASELINE_LICENCES]


def ingest_only(
    unit: Unit,
    agent_id: str,
    software: Sequence[tuple[str, str, str]],
    received: datetime.datetime,
) -> inventory.IngestResult:
    """One inventory through inventory's ingest service alone: with the database task
    backend, governance only notes it (PendingInventory) until a drain runs."""
    document = InventoryDocument(
        source=InventorySource.ZHENGBAN_AGENT,
        agent_device_id=agent_id,
        agent="zhengban-agent/test",
        hostname=f"PC-{agent_id}",
        os=WINDOWS,
        software=[Software(name=n, version=v, publisher=p) for n, v, p in software],
    )
    return inventory.ingest_inventory(unit=unit, document=document, received=received)


def ingest(
    unit: Unit,
    agent_id: str,
    software: Sequence[tuple[str, str, str]],
    *,
    received: datetime.datetime,
) -> inventory.IngestResult:
    """One inventory through inventory's ingest service, then governance's reaction to it.
    Processing is idempotent, so this is right whether or not the ingest service already
    fires the "inventory.ingested" hook itself."""
    result = ingest_only(unit, agent_id, software, received)
    if not result.unchanged:
        services.process_inventory(device=result.device, report=result.report, now=received)
    return result


@dataclass
class GovTree:
    org: OrgTree
    office: Department
    dept_head: User  # 审批人 of 办公室
    staff: User  # 办公室 member using `device`
    colleague: User  # another 办公室 member
    device: Device
    staff_b: User
    device_b: Device


T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.timezone.utc)


def build_gov_tree(org: OrgTree, *, software=(WPS, TIANQING)) -> GovTree:
    office = Department.objects.create(unit=org.unit_a, name="办公室")
    dept_head = make_person(
        "dept_head_a", org.unit_a, Role.APPROVER, department=office, email="head@a.example"
    )
    staff = make_person(
        "zhang_a",
        org.unit_a,
        Role.STAFF,
        department=office,
        full_name="张三",
        post="科员",
        email="zhang@a.example",
    )
    colleague = make_person("li_a", org.unit_a, Role.STAFF, department=office, full_name="李四")
    staff_b = make_person("wang_b", org.unit_b, Role.STAFF, full_name="王五")
    org.officer_a.email = "officer@a.example"
    org.officer_a.save(update_fields=["email"])
    # Bought before the first inventory: licensing covers the baseline from the start.
    license_baseline(org.unit_a)
    license_baseline(org.unit_b)
    baseline = ingest(org.unit_a, "dev-a1", software, received=T0)
    device = inventory.update_device(
        actor=org.officer_a, device=baseline.device, assigned_user=staff, department=office
    )
    other = ingest(org.unit_b, "dev-b1", software, received=T0)
    device_b = inventory.update_device(
        actor=org.officer_b, device=other.device, assigned_user=staff_b
    )
    return GovTree(
        org=org,
        office=office,
        dept_head=dept_head,
        staff=staff,
        colleague=colleague,
        device=device,
        staff_b=staff_b,
        device_b=device_b,
    )


# ------------------------------------------------------------------------------ scoping matrix
# Objects of governance in another unit, for zhengban/tests/test_scoping_matrix.py.


def _matrix_device(unit: Unit) -> Device:
    from django.utils import timezone

    from zhengban.orgs.testing import make_person as _make_person

    now = timezone.now()
    person = _make_person(f"gov_matrix_{unit.pk}_{Device.objects.count()}", unit, Role.STAFF)
    return Device.objects.create(
        unit=unit,
        assigned_user=person,
        hostname=f"{unit.name}终端",
        first_seen=now,
        last_seen=now,
        last_source=InventorySource.ZHENGBAN_AGENT,
    )


def _matrix_spec(unit: Unit):
    return services.create_spec(actor=None, unit=unit, name=f"{unit.name}配置规范")


def _matrix_rule(unit: Unit):
    from zhengban.governance.choices import RuleKind

    return services.add_rule(
        actor=None, spec=_matrix_spec(unit), kind=RuleKind.PROHIBITED, category="game"
    )


def _any_product() -> Product:
    return Product.objects.filter(owner_unit__isnull=True).order_by("pk").first()


def _matrix_request(unit: Unit):
    from zhengban.governance.choices import RequestAction

    device = _matrix_device(unit)
    return services.submit_request(
        actor=device.assigned_user,
        device=device,
        action=RequestAction.INSTALL,
        product=_any_product(),
        reason=f"{unit.name}申请理由",
    )


def _matrix_violation(unit: Unit):
    from django.utils import timezone

    from zhengban.governance.choices import ViolationKind
    from zhengban.governance.models import Violation

    device = _matrix_device(unit)
    now = timezone.now()
    return Violation.objects.create(
        unit=unit,
        device=device,
        person=device.assigned_user,
        kind=ViolationKind.PROHIBITED,
        software_name=f"{unit.name}违规软件",
        key=f"name:{unit.pk}",
        first_seen=now,
        last_seen=now,
    )


def _matrix_campaign(unit: Unit):
    import datetime as _dt

    _matrix_device(unit)
    return services.open_campaign(
        actor=None,
        unit=unit,
        title=f"{unit.name}自查",
        opens=_dt.date(2026, 1, 1),
        due=_dt.date(2026, 1, 31),
    )


def _matrix_self_report(unit: Unit):
    return _matrix_campaign(unit).reports.first()


def _matrix_pending_inventory(unit: Unit):
    from django.utils import timezone

    from zhengban.governance.models import PendingInventory

    now = timezone.now()
    return PendingInventory.objects.create(
        device=_matrix_device(unit),
        received=now,
        attempts=1,
        failed_at=now,
        error=f"RuntimeError: {unit.name}清单",
    )


def _register_matrix() -> None:
    from zhengban.core.testing import register_factory, register_url
    from zhengban.governance.models import (
        ConfigurationSpec,
        PendingInventory,
        SelfReport,
        SelfReportCampaign,
        SoftwareRequest,
        SpecRule,
        Violation,
    )

    register_factory(ConfigurationSpec, _matrix_spec)
    register_factory(SpecRule, _matrix_rule)
    register_factory(SoftwareRequest, _matrix_request)
    register_factory(Violation, _matrix_violation)
    register_factory(SelfReportCampaign, _matrix_campaign)
    register_factory(SelfReport, _matrix_self_report)
    register_factory(PendingInventory, _matrix_pending_inventory)
    for name in ("spec_detail", "spec_rule_add", "spec_adopt"):
        register_url(f"governance:{name}", ConfigurationSpec)
    register_url("governance:spec_rule_delete", SpecRule)
    for name in ("request_detail", "request_decide", "request_withdraw"):
        register_url(f"governance:{name}", SoftwareRequest)
    for name in ("violation_detail", "violation_explain", "violation_assign", "violation_resolve"):
        register_url(f"governance:{name}", Violation)
    for name in ("campaign_detail", "campaign_close"):
        register_url(f"governance:{name}", SelfReportCampaign)
    register_url("governance:self_report", SelfReport)
    register_url("governance:inventory_queue_requeue_one", PendingInventory)


_register_matrix()
