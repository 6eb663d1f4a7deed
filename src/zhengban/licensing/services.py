"""Business rules of licensing: contracts, entitlements, allocations, disposal, and the
compliance recompute that feeds the engine from the database.

Every public function that changes data is one transaction and writes its own audit record;
changes to entitlements recompute the units they touch inside the same transaction, so the
compliance figures never disagree with the entitlements. An inventory or a catalog change
only queues its units (``RecomputeRequest``, in the caller's transaction); a background task
drains the queue (``drain_recompute_queue``), recomputing only the products that changed.
Those recomputes write no audit record of their own: they change no fact a person entered,
only derived figures. Every recompute fires ``LICENSING_RECOMPUTED`` in its transaction.
"""

from __future__ import annotations

import datetime
import json
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengban.catalog.models import Product, ProductVersion
from zhengban.core import audit, hooks
from zhengban.core.choices import AuditAction
from zhengban.inventory.models import Device, Installation
from zhengban.licensing import engine, keystore
from zhengban.licensing.choices import RATE_CATEGORIES, Metric, Reason, RecomputeReason, Status
from zhengban.licensing.models import Allocation as AllocationRow
from zhengban.licensing.models import (
    AssetDisposal,
    CompliancePosition,
    ComplianceResult,
    Contract,
    ContractDocument,
    Entitlement,
    EntitlementShare,
    LicensingPolicy,
    RecomputeRequest,
)
from zhengban.orgs.choices import Role
from zhengban.orgs.models import Region, Unit, User
from zhengban.orgs.services import can_manage_unit

# Inventory kinds never assessed: patches are not software products.
SKIPPED_KINDS = ("update",)
UNIT_BATCH = 400


def _require_manage(actor: Any, unit: Unit) -> None:
    """People may change only units they manage; actor None is the system (simulator, CLI)."""
    if actor is not None and not can_manage_unit(actor, unit):
        raise PermissionDenied(_("无权管理该单位的合同与授权。"))


# Licences and compliance are for officers, heads, supervisors, finance and audit.
READ_ROLES = (Role.SAM_OFFICER, Role.HEAD, Role.SUPERVISOR, Role.FINANCE, Role.AUDITOR)


def can_read_licensing(user: Any) -> bool:
    """Whether the person may see licensing at all (pages, menu and API alike); what they
    see within it is still limited by their scope."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.is_superuser or user.is_platform_operator or user.has_role(*READ_ROLES)


# --------------------------------------------------------------------------- policy


def policy_for(region: Region | None) -> LicensingPolicy:
    """The nearest policy up the region tree, else an unsaved one with the defaults."""
    if region is not None:
        codes = [c for c in region.path.split("/") if c]
        found = {p.region.code: p for p in LicensingPolicy.objects.filter(region__code__in=codes)}
        for code in reversed(codes):
            if code in found:
                return found[code]
    return LicensingPolicy(region=region) if region is not None else LicensingPolicy()


POLICY_FIELDS = frozenset(
    {
        "office_cap",
        "office_special_cap",
        "antivirus_client_cap",
        "antivirus_server_cap",
        "os_cap",
        "asset_threshold",
        "service_life_years",
    }
)


# Ordered as the policy page lists them.
POLICY_FIELD_ORDER = (
    "office_cap",
    "office_special_cap",
    "antivirus_client_cap",
    "antivirus_server_cap",
    "os_cap",
    "asset_threshold",
    "service_life_years",
)
# The region's own copyright bureau sets its caps and asset rules.
POLICY_EDITOR_ROLES = (Role.SUPERVISOR, Role.SAM_OFFICER)


def can_set_policy(user: Any, region: Region) -> bool:
    """The system administrator, or a supervisor or officer of the region's own bureau."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser or user.has_role(Role.SYSADMIN):
        return True
    if not user.unit_id or not user.has_role(*POLICY_EDITOR_ROLES):
        return False
    unit = user.unit
    return bool(unit.is_copyright_bureau and unit.region_id == region.pk)


@dataclass
class PolicyValue:
    name: str
    label: str
    value: Any
    # "own": set for this region; "inherited": from ``source`` (an ancestor); "default".
    origin: str
    source: Region | None
    # What the region would have without its own setting (its parent's, or the default).
    fallback: Any


def policy_values(region: Region) -> tuple[LicensingPolicy | None, list[PolicyValue]]:
    """The region's own policy (None when it has none) and every value with where it comes
    from; one query."""
    codes = [c for c in region.path.split("/") if c]
    found = {
        p.region.code: p
        for p in LicensingPolicy.objects.filter(region__code__in=codes).select_related("region")
    }
    own = found.get(region.code)
    parent = next((found[c] for c in reversed(codes[:-1]) if c in found), None)
    default = LicensingPolicy()
    out = []
    for name in POLICY_FIELD_ORDER:
        label = str(LicensingPolicy._meta.get_field(name).verbose_name)
        fallback = getattr(parent or default, name)
        if own is not None:
            out.append(PolicyValue(name, label, getattr(own, name), "own", region, fallback))
        elif parent is not None:
            out.append(
                PolicyValue(
                    name, label, fallback, "inherited", parent.region, getattr(default, name)
                )
            )
        else:
            out.append(PolicyValue(name, label, fallback, "default", None, fallback))
    return own, out


@transaction.atomic
def set_policy(*, actor: Any, region: Region, **values: Any) -> LicensingPolicy:
    if actor is not None and not can_set_policy(actor, region):
        raise PermissionDenied(_("只有本区划著作权行政管理部门可以设定授权与资产标准。"))
    unknown = set(values) - POLICY_FIELDS
    if unknown:
        raise ValueError(f"unknown policy fields: {sorted(unknown)}")
    policy = LicensingPolicy.objects.filter(region=region).first()
    before = audit.snapshot(policy)
    if policy is None:
        inherited = policy_for(region)
        policy = LicensingPolicy(region=region)
        for name in POLICY_FIELDS:
            setattr(policy, name, getattr(inherited, name))
    for name, value in values.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE if before is None else AuditAction.UPDATE,
        obj=policy,
        before=before,
        after=audit.snapshot(policy),
    )
    return policy


@transaction.atomic
def clear_policy(*, actor: Any, region: Region) -> LicensingPolicy:
    """Remove the region's own policy: it inherits its parent's (or the defaults) again, and
    so do the regions below that inherited from it. Returns the policy now in effect."""
    if actor is not None and not can_set_policy(actor, region):
        raise PermissionDenied(_("只有本区划著作权行政管理部门可以设定授权与资产标准。"))
    policy = LicensingPolicy.objects.select_for_update().filter(region=region).first()
    if policy is None:
        raise ValidationError(_("本区划未设定自己的标准。"))
    audit.record(actor=actor, action=AuditAction.DELETE, obj=policy, before=audit.snapshot(policy))
    policy.delete()
    return policy_for(region)


# --------------------------------------------------------------------------- contracts

CONTRACT_FIELDS = frozenset(
    {
        "number",
        "title",
        "supplier",
        "signed_on",
        "amount",
        "funding_source",
        "procurement_method",
        "term_version",
        "term_compatibility",
        "term_security",
        "term_authorisation",
        "term_support",
        "note",
    }
)


@transaction.atomic
def create_contract(*, actor: Any, unit: Unit, **fields: Any) -> Contract:
    _require_manage(actor, unit)
    unknown = set(fields) - CONTRACT_FIELDS
    if unknown:
        raise ValueError(f"unknown contract fields: {sorted(unknown)}")
    contract = Contract(unit=unit, **fields)
    contract.full_clean()
    contract.save()
    contract.refresh_from_db(fields=["terms_missing"])
    audit.record(
        actor=actor, action=AuditAction.CREATE, obj=contract, after=audit.snapshot(contract)
    )
    return contract


@transaction.atomic
def update_contract(*, actor: Any, contract: Contract, **changes: Any) -> Contract:
    _require_manage(actor, contract.unit)
    unknown = set(changes) - CONTRACT_FIELDS
    if unknown:
        raise ValueError(f"unknown contract fields: {sorted(unknown)}")
    before = audit.snapshot(contract)
    for name, value in changes.items():
        setattr(contract, name, value)
    contract.full_clean()
    contract.save()
    contract.refresh_from_db(fields=["terms_missing"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=contract,
        before=before,
        after=audit.snapshot(contract),
    )
    return contract


@transaction.atomic
def delete_contract(*, actor: Any, contract: Contract) -> None:
    _require_manage(actor, contract.unit)
    if contract.entitlements.exists():
        raise ValidationError(_("合同下还有授权,不能删除。"))
    before = audit.snapshot(contract)
    pk, repr_, unit_id = contract.pk, str(contract), contract.unit_id
    contract.delete()
    audit.record(
        actor=actor,
        action=AuditAction.DELETE,
        object_type="licensing.contract",
        object_id=pk,
        object_repr=repr_,
        unit_id=unit_id,
        before=before,
    )


ALLOWED_DOCUMENT_SUFFIXES = (".pdf", ".jpg", ".jpeg", ".png", ".ofd", ".tif", ".tiff")
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


@transaction.atomic
def attach_document(*, actor: Any, contract: Contract, title: str, file: Any) -> ContractDocument:
    _require_manage(actor, contract.unit)
    name = (getattr(file, "name", "") or "").lower()
    if not name.endswith(ALLOWED_DOCUMENT_SUFFIXES):
        raise ValidationError(_("只能上传 PDF、OFD 或图片格式的扫描件。"))
    if getattr(file, "size", 0) > MAX_DOCUMENT_BYTES:
        raise ValidationError(_("文件不能超过 20 MB。"))
    doc = ContractDocument(contract=contract, title=title.strip() or name, file=file)
    doc.full_clean()
    doc.save()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=doc,
        unit_id=contract.unit_id,
        after=audit.snapshot(doc),
    )
    return doc


# --------------------------------------------------------------------------- entitlements

ENTITLEMENT_FIELDS = frozenset(
    {
        "contract",
        "product",
        "family",
        "edition",
        "versions",
        "metric",
        "term",
        "start",
        "end",
        "quantity",
        "downgrade",
        "downgrade_to",
        "upgrade_until",
        "oem_device",
        "site_region",
        "framework",
        "source_type",
        "purchased_on",
        "unit_price",
        "proof",
        "note",
    }
)


def _check_entitlement(ent: Entitlement) -> None:
    ent.full_clean()
    if ent.contract_id and ent.contract.unit_id != ent.unit_id:
        raise ValidationError(_("授权只能登记在本单位的合同下。"))
    if ent.oem_device_id and ent.oem_device.unit_id != ent.unit_id:
        raise ValidationError(_("OEM 授权只能绑定本单位的终端。"))
    if ent.site_region_id and not ent.unit.region.path.startswith(ent.site_region.path):
        if not ent.site_region.path.startswith(ent.unit.region.path):
            raise ValidationError(_("场地授权只能覆盖本单位所在区划或其下级区划。"))
    if ent.product_id is None and ent.family_id is None:
        raise ValidationError(_("请选择软件产品或产品系列。"))
    if ent.quantity is not None:
        allocated = ent.allocations.count() if ent.pk else 0
        shared = sum(s.quantity for s in ent.shares.all()) if ent.pk else 0
        if allocated + shared > ent.quantity:
            raise ValidationError(_("许可数不能少于已分配数量。"))


def _affected_units(ent: Entitlement) -> set[int]:
    units = {ent.unit_id}
    if ent.pk:
        units.update(ent.shares.values_list("unit_id", flat=True))
        units.update(ent.allocations.values_list("unit_id", flat=True))
    if ent.site_region_id:
        units.update(
            Unit.objects.filter(region__path__startswith=ent.site_region.path).values_list(
                "id", flat=True
            )
        )
    return units


@transaction.atomic
def create_entitlement(
    *,
    actor: Any,
    unit: Unit,
    serial: str = "",
    shares: Mapping[Unit, int] | None = None,
    **fields: Any,
) -> Entitlement:
    _require_manage(actor, unit)
    unknown = set(fields) - ENTITLEMENT_FIELDS
    if unknown:
        raise ValueError(f"unknown entitlement fields: {sorted(unknown)}")
    ent = Entitlement(unit=unit, **fields)
    if serial:
        ent.serial_encrypted = keystore.encrypt(serial.strip())
        ent.serial_hint = keystore.hint(serial)
    _check_entitlement(ent)
    ent.save()
    if shares:
        _write_shares(ent, shares)
    audit.record(actor=actor, action=AuditAction.CREATE, obj=ent, after=audit.snapshot(ent))
    recompute_units(_affected_units(ent))
    return ent


@transaction.atomic
def update_entitlement(
    *, actor: Any, entitlement: Entitlement, serial: str | None = None, **changes: Any
) -> Entitlement:
    _require_manage(actor, entitlement.unit)
    unknown = set(changes) - ENTITLEMENT_FIELDS
    if unknown:
        raise ValueError(f"unknown entitlement fields: {sorted(unknown)}")
    before_units = _affected_units(entitlement)
    before = audit.snapshot(entitlement)
    for name, value in changes.items():
        setattr(entitlement, name, value)
    if serial is not None:
        entitlement.serial_encrypted = keystore.encrypt(serial.strip())
        entitlement.serial_hint = keystore.hint(serial)
    _check_entitlement(entitlement)
    entitlement.save()
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=entitlement,
        before=before,
        after=audit.snapshot(entitlement),
    )
    recompute_units(before_units | _affected_units(entitlement))
    return entitlement


@transaction.atomic
def delete_entitlement(*, actor: Any, entitlement: Entitlement) -> None:
    _require_manage(actor, entitlement.unit)
    if entitlement.disposals.exists():
        raise ValidationError(_("已有处置记录的授权不能删除。"))
    units = _affected_units(entitlement)
    before = audit.snapshot(entitlement)
    pk, repr_, unit_id = entitlement.pk, str(entitlement), entitlement.unit_id
    entitlement.delete()
    audit.record(
        actor=actor,
        action=AuditAction.DELETE,
        object_type="licensing.entitlement",
        object_id=pk,
        object_repr=repr_,
        unit_id=unit_id,
        before=before,
    )
    recompute_units(units)


def _write_shares(ent: Entitlement, shares: Mapping[Unit, int]) -> None:
    if not ent.framework:
        raise ValidationError(_("只有框架协议可以向其他单位分配数量。"))
    total = sum(shares.values())
    if any(q <= 0 for q in shares.values()):
        raise ValidationError(_("分配数量必须大于零。"))
    if total > (ent.quantity or 0):
        raise ValidationError(_("分配总数超过框架协议的许可数。"))
    for unit in shares:
        if not unit.region.path.startswith(ent.unit.region.path):
            raise ValidationError(_("框架协议只能分配给本区划内的单位。"))
    EntitlementShare.objects.filter(entitlement=ent).delete()
    EntitlementShare.objects.bulk_create(
        [EntitlementShare(entitlement=ent, unit=u, quantity=q) for u, q in shares.items()]
    )


@transaction.atomic
def set_shares(*, actor: Any, entitlement: Entitlement, shares: Mapping[Unit, int]) -> None:
    _require_manage(actor, entitlement.unit)
    units = _affected_units(entitlement)
    before = sorted(entitlement.shares.values_list("unit_id", "quantity"))
    _write_shares(entitlement, shares)
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=entitlement,
        before={"shares": before},
        after={"shares": sorted((u.pk, q) for u, q in shares.items())},
        message="framework shares",
    )
    recompute_units(units | {u.pk for u in shares})


def _seats_for(entitlement: Entitlement, unit_id: int) -> int | None:
    """Seats the unit may allocate from the entitlement; None = unlimited."""
    if entitlement.quantity is None:
        return None
    shares = dict(entitlement.shares.values_list("unit_id", "quantity"))
    if unit_id in shares:
        return shares[unit_id]
    if unit_id == entitlement.unit_id:
        return entitlement.quantity - sum(shares.values())
    return 0


@transaction.atomic
def allocate(
    *,
    actor: Any,
    entitlement: Entitlement,
    device: Device | None = None,
    person: User | None = None,
) -> AllocationRow:
    if (device is None) == (person is None):
        raise ValidationError(_("请指定一台终端或一名人员。"))
    unit = device.unit if device is not None else person.unit
    if unit is None:
        raise ValidationError(_("该人员不属于任何单位。"))
    _require_manage(actor, unit)
    if device is not None and device.retired is not None:
        raise ValidationError(_("该终端已退役，不能分配授权。"))
    seats = _seats_for(entitlement, unit.pk)
    if seats is not None:
        used = (
            entitlement.allocations.filter(unit=unit).exclude(device__retired__isnull=False).count()
        )
        if used >= seats:
            raise ValidationError(_("该授权在本单位已无可分配的数量。"))
    if entitlement.metric == Metric.OEM:
        raise ValidationError(_("OEM 授权已绑定终端,无需分配。"))
    row = AllocationRow(entitlement=entitlement, unit=unit, device=device, person=person)
    row.full_clean()
    row.save()
    audit.record(actor=actor, action=AuditAction.GRANT, obj=row, after=audit.snapshot(row))
    recompute_units({unit.pk})
    return row


@transaction.atomic
def deallocate(*, actor: Any, allocation: AllocationRow) -> None:
    _require_manage(actor, allocation.unit)
    before = audit.snapshot(allocation)
    unit_id = allocation.unit_id
    audit.record(
        actor=actor,
        action=AuditAction.REVOKE,
        obj=allocation,
        before=before,
    )
    allocation.delete()
    recompute_units({unit_id})


def release_retired_allocations(*, device_id: int) -> int:
    """A retired device's seats allocated by hand are released ("inventory.device_changed"
    hook, in the retirement's transaction), each with its audit record: kept, they would
    count again on its reinstatement beside the seats given away meanwhile. Reinstated, it
    is allocated again like any device."""
    rows = list(AllocationRow.objects.filter(device_id=device_id).order_by("pk"))
    for row in rows:
        audit.record(
            actor=None,
            action=AuditAction.REVOKE,
            obj=row,
            before=audit.snapshot(row),
            message=_("终端退役，释放其分配的授权"),
        )
        row.delete()
    return len(rows)


@transaction.atomic
def dispose(
    *,
    actor: Any,
    entitlement: Entitlement,
    method: str,
    date: datetime.date,
    quantity: int | None = None,
    recipient: str = "",
    approval: str = "",
    reason: str = "",
) -> AssetDisposal:
    """转让, 捐赠 or 调剂 (to ``recipient``, required) or 报废 of some or all (``quantity``
    None) of an entitlement's licences; its units are recomputed. Refused once nothing is
    left to dispose of, and for more than is left."""
    _require_manage(actor, entitlement.unit)
    # Locked and read afresh: two disposals at once must not both take the last licences.
    # FOR NO KEY UPDATE, as in _lock_units: a drain holding the unit lock while it commits
    # verdicts referencing this entitlement needs FOR KEY SHARE on it; FOR UPDATE would block
    # that and deadlock with our own wait for the unit lock in recompute_units.
    current = (
        Entitlement.objects.select_for_update(no_key=True)
        .prefetch_related(Prefetch("disposals", queryset=AssetDisposal.objects.order_by()))
        .get(pk=entitlement.pk)
    )
    remaining = remaining_quantity(current)
    if remaining == 0:
        raise ValidationError(_("该授权已全部处置。"))
    if quantity is not None and remaining is not None and quantity > remaining:
        raise ValidationError(_("处置数量超过剩余许可数。"))
    row = AssetDisposal(
        entitlement=entitlement,
        method=method,
        date=date,
        quantity=quantity,
        recipient=recipient.strip(),
        approval=approval,
        reason=reason,
    )
    row.full_clean()
    row.save()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=row,
        unit_id=entitlement.unit_id,
        after=audit.snapshot(row),
    )
    recompute_units(_affected_units(entitlement))
    return row


def disposed_quantity(entitlement: Entitlement) -> int | None:
    """Licences disposed of so far; None when a disposal without a quantity took them all
    (read from a prefetched ``disposals`` when there is one)."""
    total = 0
    for row in entitlement.disposals.all():
        if row.quantity is None:
            return None
        total += row.quantity
    return total


def remaining_quantity(entitlement: Entitlement) -> int | None:
    """Licences still on the books: 0 once all are disposed of, None for an unlimited one."""
    done = disposed_quantity(entitlement)
    if done is None:
        return 0
    if entitlement.quantity is None:
        return 0 if done else None
    return max(entitlement.quantity - done, 0)


@dataclass
class AssetCard:
    entitlement: Entitlement
    policy: LicensingPolicy
    value: Decimal
    remaining: int | None
    end_year: int | None

    @property
    def disposed(self) -> bool:
        return self.remaining == 0


def _policies_by_region_path() -> dict[str, LicensingPolicy]:
    return {p.region.path: p for p in LicensingPolicy.objects.select_related("region").order_by()}


def policy_of(path: str, policies: Mapping[str, LicensingPolicy]) -> LicensingPolicy:
    """The nearest policy up from the region at ``path``, from preloaded policies."""
    parts = [c for c in path.split("/") if c]
    for n in range(len(parts), 0, -1):
        found = policies.get("/" + "/".join(parts[:n]) + "/")
        if found is not None:
            return found
    return LicensingPolicy()


def asset_cards(entitlements: QuerySet[Entitlement]) -> list[AssetCard]:
    """Entitlements worth at least the asset threshold of their own unit's region (per
    licence or for the batch), with what is left after disposals. Three queries."""
    policies = _policies_by_region_path()
    cards = []
    qs = (
        entitlements.filter(unit_price__isnull=False)
        .select_related("product", "family", "unit__region")
        .prefetch_related("disposals")
        .order_by("unit__path", "-purchased_on", "-id")
    )
    for ent in qs:
        policy = policy_of(ent.unit.region.path, policies)
        value = ent.value
        if value is None or value < policy.asset_threshold:
            continue
        bought = ent.purchased_on
        cards.append(
            AssetCard(
                entitlement=ent,
                policy=policy,
                value=value,
                remaining=remaining_quantity(ent),
                end_year=bought.year + policy.service_life_years if bought else None,
            )
        )
    return cards


def is_asset(entitlement: Entitlement) -> bool:
    """Whether the entitlement is on the books as an asset of its unit's region."""
    value = entitlement.value
    return value is not None and value >= policy_for(entitlement.unit.region).asset_threshold


def reveal_serial(*, actor: Any, entitlement: Entitlement) -> str:
    """The clear licence key, for the unit's officer only; the reading is audited."""
    _require_manage(actor, entitlement.unit)
    if actor is None:
        raise PermissionDenied
    with transaction.atomic():
        audit.record(actor=actor, action=AuditAction.EXPORT, obj=entitlement, message="serial")
    return keystore.decrypt(entitlement.serial_encrypted)


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class ProductMeta:
    id: int
    key: str
    family: str
    edition: str
    category: str
    license_model: str
    home_edition: bool
    suites: frozenset[str]
    labels: tuple[str, ...]


@dataclass
class CatalogMeta:
    revision: tuple[int, str]
    products: dict[int, ProductMeta]
    ids: dict[str, int]
    version_order: dict[str, tuple[str, ...]]
    categories: dict[str, str]
    assessed: frozenset[int]  # products whose installs get a stored verdict
    # Products whose verdicts may depend on each other's installs (one family, or a suite
    # and its components share entitlements): group id → its products.
    group_of: dict[int, int] = field(default_factory=dict)
    groups: dict[int, frozenset[int]] = field(default_factory=dict)

    def closure(self, product_ids: Iterable[int]) -> frozenset[int]:
        """These products and every product whose verdicts may move with theirs."""
        out: set[int] = set()
        for pid in product_ids:
            group = self.group_of.get(pid)
            if group is not None:
                out |= self.groups[group]
        return frozenset(out)


_catalog_cache: dict[str, CatalogMeta] = {}


def catalog_meta() -> CatalogMeta:
    """The catalog as the engine needs it, rebuilt when the catalog revision moves."""
    from zhengban.catalog.services import current_revision_token

    revision = current_revision_token()
    cached = _catalog_cache.get("meta")
    if cached is not None and cached.revision == revision:
        return cached
    labels: dict[int, list[str]] = defaultdict(list)
    for pid, version in ProductVersion.objects.order_by("product_id", "position", "id").values_list(
        "product_id", "version"
    ):
        labels[pid].append(version)
    suites: dict[int, set[str]] = defaultdict(set)
    for component_id, suite_key in Product.components.through.objects.values_list(
        "to_product_id", "from_product__key"
    ):
        suites[component_id].add(suite_key)
    products: dict[int, ProductMeta] = {}
    for row in Product.objects.values_list(
        "id", "key", "family__key", "edition", "category", "license_model", "home_edition"
    ):
        pid, key, family, edition, category, model, home = row
        products[pid] = ProductMeta(
            pid,
            key,
            family,
            edition,
            category,
            model,
            home,
            frozenset(suites.get(pid, ())),
            tuple(labels.get(pid, ())),
        )
    ids = {p.key: p.id for p in products.values()}
    group_of, groups = _product_groups(products, ids)
    meta = CatalogMeta(
        revision=revision,
        products=products,
        ids=ids,
        version_order={p.key: p.labels for p in products.values() if p.labels},
        categories={p.key: p.category for p in products.values()},
        assessed=frozenset(
            p.id for p in products.values() if p.license_model == "commercial" or p.home_edition
        ),
        group_of=group_of,
        groups=groups,
    )
    _catalog_cache["meta"] = meta
    return meta


def _product_groups(
    products: Mapping[int, ProductMeta], ids: Mapping[str, int]
) -> tuple[dict[int, int], dict[int, frozenset[int]]]:
    """Connected products: the engine's candidates for an install come from its product,
    its suites and its family, so products joined by a family or a suite are one group."""
    parent = {pid: pid for pid in products}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def join(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first_of_family: dict[str, int] = {}
    for p in products.values():
        if p.family:
            join(first_of_family.setdefault(p.family, p.id), p.id)
        for suite in p.suites:
            if suite in ids:
                join(p.id, ids[suite])
    group_of = {pid: find(pid) for pid in products}
    members: dict[int, set[int]] = defaultdict(set)
    for pid, group in group_of.items():
        members[group].add(pid)
    return group_of, {g: frozenset(m) for g, m in members.items()}


def static_outcome(product: Product | None) -> tuple[str, str] | None:
    """The verdict of an install that has no stored row: it follows from the catalog."""
    if product is None:
        return Status.UNKNOWN, Reason.UNRECOGNISED
    if product.home_edition or product.license_model == "commercial":
        return None  # assessed: its row is written by the next recompute
    if product.license_model == "open_source":
        return Status.NOT_REQUIRED, Reason.OPEN_SOURCE
    return Status.NOT_REQUIRED, Reason.FREE


def person_key(user_id: int | None, name: str) -> str | None:
    if user_id:
        return f"u{user_id}"
    return f"n{name.strip()}" if name and name.strip() else None


def _units_under_regions(paths: set[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {path: [] for path in paths}
    if not paths:
        return out
    for unit_id, region_path in Unit.objects.order_by().values_list("id", "region__path"):
        for path in paths:
            if region_path.startswith(path):
                out[path].append(unit_id)
    return out


_ENTITLEMENT_SQL = """
SELECT e.id, e.unit_id, e.product_id, f.key, e.edition, e.versions, e.metric, e.start, e."end",
       e.quantity, e.downgrade, e.downgrade_to, e.upgrade_until, e.oem_device_id, r.path,
       e.framework, COUNT(d.id), COUNT(d.quantity), SUM(d.quantity)
FROM licensing_entitlement e
LEFT JOIN catalog_productfamily f ON f.id = e.family_id
LEFT JOIN orgs_region r ON r.id = e.site_region_id
LEFT JOIN licensing_assetdisposal d ON d.entitlement_id = e.id
{where}
GROUP BY e.id, f.key, r.path
"""
_ENTITLEMENT_WHERE = """
WHERE e.id IN (
    {owned}
    UNION ALL SELECT entitlement_id FROM licensing_entitlementshare WHERE unit_id IN ({units})
    UNION ALL SELECT s.id FROM licensing_entitlement s
        JOIN orgs_region sr ON sr.id = s.site_region_id WHERE sr.path IN ({paths})
)
"""
_OWNED = "SELECT id FROM licensing_entitlement WHERE unit_id IN ({units})"
# The units' own entitlements of some products: by the (unit, product) index, not every
# entitlement of the unit (a big unit holds thousands of OEM licences); an OR of the two
# conditions would read them all.
_OWNED_OF_PRODUCTS = """
    SELECT id FROM licensing_entitlement WHERE unit_id IN ({units}) AND product_id IN ({ids})
    UNION ALL SELECT o.id FROM licensing_entitlement o
        JOIN catalog_productfamily of ON of.id = o.family_id
        WHERE o.unit_id IN ({units}) AND of.key IN ({families})
"""


def _json_list(value: Any) -> list:
    """A JSON list column as read by a plain cursor (text on both backends we support)."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str | bytes) else value


def load_entitlement_facts(
    meta: CatalogMeta,
    unit_ids: set[int] | None = None,
    unit_regions: Mapping[int, str] | None = None,
    products: Collection[int] | None = None,
) -> tuple[list[engine.Entitlement], list[engine.Allocation]]:
    """Entitlement facts (a framework agreement: one per unit share plus the owner's rest)
    and allocations; limited to what touches ``unit_ids`` when given (``unit_regions``, each
    unit's region path, saves a query when the caller has read them already), and to
    entitlements of ``products`` or their families when given (with ``unit_ids`` only)."""
    where, params = "", []
    if unit_ids is not None:
        if unit_regions is None or not set(unit_ids) <= set(unit_regions):
            unit_regions = dict(
                Unit.objects.filter(pk__in=unit_ids).order_by().values_list("id", "region__path")
            )
        unit_regions = {u: p for u, p in unit_regions.items() if u in unit_ids}
        region_paths: set[str] = set()
        for path in unit_regions.values():
            parts = [p for p in path.split("/") if p]
            region_paths.update("/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
        units = sorted(unit_ids)
        paths = sorted(region_paths) or [""]
        unit_marks = ", ".join(["%s"] * len(units))
        # A union of index lookups (an OR scans every entitlement).
        if products is None:
            owned, owned_params = _OWNED.format(units=unit_marks), units
        else:
            ids = sorted(products) or [0]
            families = sorted({meta.products[p].family for p in products} - {None, ""}) or [""]
            id_marks = ", ".join(["%s"] * len(ids))
            family_marks = ", ".join(["%s"] * len(families))
            owned = _OWNED_OF_PRODUCTS.format(units=unit_marks, ids=id_marks, families=family_marks)
            owned_params = [*units, *ids, *units, *families]
        where = _ENTITLEMENT_WHERE.format(
            owned=owned, units=unit_marks, paths=", ".join(["%s"] * len(paths))
        )
        params = [*owned_params, *units, *paths]
        if products is not None:
            # Shared and regional entitlements of other products are left out here.
            where += f"AND (e.product_id IN ({id_marks}) OR f.key IN ({family_marks}))"
            params += [*ids, *families]
    # Written in SQL: this runs on every incremental recompute, where building the same
    # query with the ORM costs more than running it. Disposals are counted in the same
    # query: any disposal without a quantity disposes of all.
    with connection.cursor() as cursor:
        cursor.execute(_ENTITLEMENT_SQL.format(where=where), params)
        rows = cursor.fetchall()
    rows = [
        (*row[:5], _json_list(row[5]), *row[6:11], _json_list(row[11]), *row[12:]) for row in rows
    ]
    disposed: dict[int, int | None] = {}
    for row in rows:
        n_disposals, n_counted, qty = row[16:]
        if n_disposals:
            disposed[row[0]] = None if n_counted < n_disposals else qty
    rows = [row[:16] for row in rows]
    shares: dict[int, list[tuple[int, int]]] = defaultdict(list)
    framework_ids = [r[0] for r in rows if r[15]]
    if framework_ids:
        for ent_id, unit_id, qty in (
            EntitlementShare.objects.filter(entitlement_id__in=framework_ids)
            .order_by("entitlement_id", "unit_id")
            .values_list("entitlement_id", "unit_id", "quantity")
        ):
            shares[ent_id].append((unit_id, qty))
    site_paths = {r[14] for r in rows if r[14]}
    if unit_ids is None:
        site_units = _units_under_regions(site_paths)
    else:
        # Only the requested units matter, and their region paths are known.
        site_units = {
            path: [u for u, rp in unit_regions.items() if rp.startswith(path)]
            for path in site_paths
        }
    facts: list[engine.Entitlement] = []
    for row in rows:
        (pk, unit_id, product_id, family_key, edition, versions, metric, start, end, quantity) = (
            row[:10]
        )
        downgrade, downgrade_to, upgrade_until, oem_device, site_region, framework = row[10:]
        if pk in disposed:
            if disposed[pk] is None or quantity is None:
                continue
            quantity -= disposed[pk]
            if quantity <= 0:
                continue
        product = meta.products.get(product_id) if product_id else None
        common = dict(
            metric=metric,
            product=product.key if product else None,
            family=product.family if product else family_key,
            edition=None if product or not edition else edition,
            versions=tuple(versions or ()),
            start=start,
            end=end,
            downgrade=downgrade,
            downgrade_to=tuple(downgrade_to or ()),
            upgrade_until=upgrade_until,
            oem_device=oem_device,
        )
        if site_region:
            units = set(site_units.get(site_region, ())) | {unit_id}
            if unit_ids is not None:
                units &= unit_ids
            facts.append(engine.Entitlement(id=pk, units=frozenset(units), quantity=None, **common))
            continue
        rest = quantity
        for share_unit, share_qty in shares.get(pk, ()):
            facts.append(
                engine.Entitlement(
                    id=pk, units=frozenset({share_unit}), quantity=share_qty, **common
                )
            )
            if rest is not None:
                rest -= share_qty
        if rest is None or rest > 0:
            facts.append(
                engine.Entitlement(id=pk, units=frozenset({unit_id}), quantity=rest, **common)
            )
    if not facts:
        return facts, []  # allocations are only ever of loaded entitlements
    # An allocation to a retired device holds no seat: the machine is out of service.
    alloc_qs = AllocationRow.objects.order_by().exclude(device__retired__isnull=False)
    if unit_ids is not None:
        # Allocations of entitlements not loaded find no fact and are ignored by the engine.
        alloc_qs = alloc_qs.filter(unit_id__in=unit_ids)
    allocations = [
        engine.Allocation(
            entitlement=ent_id,
            unit=unit_id,
            device=device_id,
            person=f"u{person_id}" if person_id else None,
        )
        for ent_id, unit_id, device_id, person_id in alloc_qs.values_list(
            "entitlement_id", "unit_id", "device_id", "person_id"
        )
    ]
    return facts, allocations


INSTALL_COLUMNS = ("id", "device_id", "product_id", "name", "version")
# Above this many devices, a recompute of some products reads their installs by product.
BIG_UNIT_DEVICES = 2000
# device id → (unit id, person key)
DeviceFacts = dict[int, tuple[int, str | None]]


def _installs(
    meta: CatalogMeta, rows: Iterable[tuple], devices: DeviceFacts
) -> list[engine.Install]:
    """Engine installs from (id, device, product, name, raw version) rows."""
    products = meta.products
    assessed = meta.assessed
    labels: dict[tuple[int, str, str], str | None] = {}
    out: list[engine.Install] = []
    for pk, device_id, product_id, name, version in rows:
        if product_id not in assessed:
            continue
        p = products[product_id]
        key = (product_id, name, version)
        label = labels.get(key, "")
        if label == "":
            label = labels[key] = engine.version_label(name, version, p.labels)
        unit_id, person = devices[device_id]
        out.append(
            engine.Install(
                id=pk,
                device=device_id,
                unit=unit_id,
                product=p.key,
                family=p.family,
                edition=p.edition,
                version=label,
                category=p.category,
                license_model=p.license_model,
                home_edition=p.home_edition,
                person=person,
                suites=p.suites,
            )
        )
    return out


def _assessed_installations(meta: CatalogMeta) -> QuerySet[Installation]:
    # product_id IN (assessed) rather than a join on the product: the product index finds
    # the few commercial installs among a device's many free ones.
    return (
        Installation.objects.filter(product_id__in=sorted(meta.assessed))
        .exclude(kind__in=SKIPPED_KINDS)
        .order_by()
    )


def device_facts(devices: QuerySet[Device]) -> tuple[DeviceFacts, dict[int, str]]:
    """Each device's unit and person, and each unit's region path, in one query."""
    facts: DeviceFacts = {}
    regions: dict[int, str] = {}
    for pk, unit_id, user_id, user_name, path in devices.order_by().values_list(
        "id", "unit_id", "assigned_user_id", "assigned_name", "unit__region__path"
    ):
        facts[pk] = (unit_id, person_key(user_id, user_name))
        regions[unit_id] = path
    return facts, regions


def load_installs(
    meta: CatalogMeta, devices: DeviceFacts, products: Collection[int] | None = None
) -> list[engine.Install]:
    """The assessed installs (commercial or home-edition products) of these devices, only
    of ``products`` when given: by the device index, with no join (a join on the device's
    unit makes PostgreSQL scan devices)."""
    ids = sorted(devices)
    wanted = None if products is None else set(products) & meta.assessed
    if wanted is not None and not wanted:
        return []
    rows: list[tuple] = []
    if wanted is not None and len(ids) > BIG_UNIT_DEVICES:
        # A big unit's few products: by the product index, not twenty thousand device ids.
        units = sorted({unit for unit, _person in devices.values()})
        rows = [
            row
            for row in Installation.objects.filter(
                product_id__in=sorted(wanted), device__unit_id__in=units
            )
            .exclude(kind__in=SKIPPED_KINDS)
            .order_by()
            .values_list(*INSTALL_COLUMNS)
            if row[1] in devices
        ]
        return _installs(meta, rows, devices)
    for start in range(0, len(ids), 10000):
        # The product's licence model by a join: cheaper than binding every assessed
        # product id when the devices are few (a unit's), and PostgreSQL keeps to the
        # device index. ``products`` are picked here, not in SQL: a product condition
        # tempts PostgreSQL into the product index, every install of it in the province.
        rows.extend(
            Installation.objects.filter(device_id__in=ids[start : start + 10000])
            .filter(Q(product__license_model="commercial") | Q(product__home_edition=True))
            .exclude(kind__in=SKIPPED_KINDS)
            .order_by()
            .values_list(*INSTALL_COLUMNS)
        )
    if wanted is not None:
        rows = [row for row in rows if row[2] in wanted]
    return _installs(meta, rows, devices)


# --------------------------------------------------------------------------- recompute

RESULT_COLUMNS = (
    "installation_id",
    "unit_id",
    "device_id",
    "product_id",
    "version",
    "status",
    "reason",
    "basis",
    "entitlement_id",
    "detail",
)
POSITION_COLUMNS = (
    "unit_id",
    "product_id",
    "category",
    "required",
    "covered",
    "shortfall",
    "licensed",
    "unlimited",
    "consumed",
    "surplus",
    "computed",
)
# Below this many rows an upsert is one multi-row statement; above, COPY into a temporary
# table and one INSERT … SELECT … ON CONFLICT (PostgreSQL).
COPY_THRESHOLD = 2000


def _bulk_insert(model: type, columns: Sequence[str], rows: list[tuple]) -> None:
    """COPY on PostgreSQL (an order of magnitude faster than INSERT), executemany elsewhere."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            for start in range(0, len(rows), 5000):
                cursor.executemany(
                    f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                    rows[start : start + 5000],
                )


def _upsert(model: type, columns: Sequence[str], key: Sequence[str], rows: list[tuple]) -> None:
    """Insert these rows, or update the row with the same ``key`` in place.

    An update that keeps a row's foreign keys costs PostgreSQL no referential check, where a
    delete and insert checks every key again at commit (most of a full recompute's time)."""
    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    cols = ", ".join(qn(c) for c in columns)
    conflict = ", ".join(qn(c) for c in key)
    updates = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in columns if c not in key)
    on_conflict = f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) > COPY_THRESHOLD:
            temp = qn(f"tmp_{model._meta.db_table}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {temp} ON COMMIT DROP AS "
                f"SELECT {cols} FROM {table} WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {temp}")
            with cursor.cursor.copy(f"COPY {temp} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {temp} {on_conflict}")
            return
        row_marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            values = ", ".join([row_marks] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({cols}) VALUES {values} {on_conflict}",
                [v for row in chunk for v in row],
            )


def _result_rows(
    meta: CatalogMeta, installs: Iterable[engine.Install], result: engine.Result
) -> list[tuple]:
    ids = meta.ids
    rows = []
    for inst in installs:
        out = result.outcomes[inst.id]
        rows.append(
            (
                inst.id,
                inst.unit,
                inst.device,
                ids[inst.product],
                (inst.version or "")[:64],
                out.status,
                out.reason,
                out.basis,
                out.entitlement,
                (out.detail or "")[:100],
            )
        )
    return rows


def _position_rows(meta: CatalogMeta, result: engine.Result, now: datetime.datetime) -> list[tuple]:
    ids = meta.ids
    return [
        (
            p.unit,
            ids[p.product],
            p.category or meta.categories.get(p.product, ""),
            p.required,
            p.covered,
            p.shortfall,
            p.licensed,
            p.unlimited,
            p.consumed,
            p.surplus,
            now,
        )
        for p in result.positions.values()
        if p.product in ids
    ]


def _evaluate(
    meta: CatalogMeta,
    unit_ids: Sequence[int],
    installs: list[engine.Install],
    facts: list[engine.Entitlement],
    allocations: list[engine.Allocation],
    as_of: datetime.date,
) -> engine.Result:
    wanted = set(unit_ids)
    return engine.evaluate(
        installs,
        [f for f in facts if f.units & wanted],
        [a for a in allocations if a.unit in wanted],
        version_order=meta.version_order,
        categories=meta.categories,
        as_of=as_of,
    )


def _store(
    meta: CatalogMeta,
    units: Sequence[int],
    installs: list[engine.Install],
    result: engine.Result,
    now: datetime.datetime,
    *,
    products: Collection[int] | None = None,
    changed_devices: set[int] | None = None,
) -> int:
    """Write the verdicts and positions of these units where they changed; returns the
    number of verdicts written. Rows whose figures are the same are left alone. With
    ``products``, only those products' rows were evaluated and are compared; the devices
    whose verdicts were written or deleted are added to ``changed_devices``."""
    # By the unit index only, ``products`` picked here (see load_installs).
    results = ComplianceResult.objects.filter(unit_id__in=units)
    position_rows = CompliancePosition.objects.filter(unit_id__in=units)
    rows = _result_rows(meta, installs, result)
    existing = {
        r[0]: r
        for r in results.order_by().values_list(*RESULT_COLUMNS)
        if products is None or r[3] in products
    }
    fresh = [row for row in rows if existing.get(row[0]) != row]
    if changed_devices is not None:
        changed_devices.update(row[2] for row in fresh)
    if len(rows) != len(existing) or fresh:
        kept = {row[0] for row in rows}
        stale = [pk for pk in existing if pk not in kept]
        if changed_devices is not None:
            changed_devices.update(existing[pk][2] for pk in stale)
        if stale:
            # The unit condition spares a verdict that moved to another unit meanwhile.
            ComplianceResult.objects.filter(pk__in=stale, unit_id__in=units)._raw_delete(
                ComplianceResult.objects.db
            )
    _upsert(ComplianceResult, RESULT_COLUMNS, ("installation_id",), fresh)
    # Positions likewise, compared without their timestamp.
    new_positions = {
        (r[0], r[1]): r
        for r in _position_rows(meta, result, now)
        if products is None or r[1] in products
    }
    old_positions = {
        (r[1], r[2]): r
        for r in position_rows.order_by().values_list("id", *POSITION_COLUMNS[:-1])
        if products is None or r[2] in products
    }
    gone = [old[0] for key, old in old_positions.items() if key not in new_positions]
    if gone:
        CompliancePosition.objects.filter(pk__in=gone)._raw_delete(CompliancePosition.objects.db)
    _upsert(
        CompliancePosition,
        POSITION_COLUMNS,
        ("unit_id", "product_id"),
        [
            row
            for key, row in new_positions.items()
            if key not in old_positions or old_positions[key][1:] != row[:-1]
        ],
    )
    return len(fresh)


def recompute_units(unit_ids: Iterable[int], *, as_of: datetime.date | None = None) -> int:
    """Recompute these units now; only changed verdicts are rewritten. Returns the number of
    verdicts written. Runs inside the caller's transaction when there is one."""
    units = set(unit_ids)
    if not units:
        return 0
    return _recompute(
        units, *device_facts(Device.objects.in_service().filter(unit_id__in=units)), as_of
    )


def recompute_after_inventory(
    *, device_ids: Iterable[int], report_ids: Iterable[int] = (), as_of: datetime.date | None = None
) -> int:
    """Recompute now, after these devices' software changed (``report_ids``: the inventories
    that removed installs): in their units, only the products whose installs on these
    devices changed (see ``_device_state``), with the products sharing entitlements with
    them. The queue's drain does the same; returns the verdicts written."""
    devices = list(device_ids)
    units = dict(Device.objects.filter(pk__in=devices).values_list("pk", "unit_id"))
    meta = catalog_meta()
    with transaction.atomic(savepoint=False):
        # Locked before the devices' verdicts are read: the fast path adjusts the unit's
        # positions by their difference, so they must not change before it writes.
        regions = _lock_units(sorted(set(units.values())))
        state = _device_state(meta, units, list(report_ids))
        written, _fast, _grouped = _recompute_changed(
            meta,
            set(),
            state.scope,
            set(units),
            as_of,
            state=state,
            fast_units=set(state.scope),
            regions=regions,
        )
    return written


# One query for everything the changed devices' recompute needs to know about them: their
# assessed installs (0), their stored verdicts (1), installs their inventories removed (2,
# appended) and the devices themselves (3: unit, assigned user and name; none for a device
# retired since its inventory was queued, whose unit then takes the slow path, which
# leaves it out).
_DEVICE_STATE_SQL = """
SELECT 0, device_id, id, product_id, name, version, NULL, NULL, NULL, NULL, NULL, NULL
    FROM inventory_installation
    WHERE device_id IN ({devices}) AND product_id IS NOT NULL AND kind NOT IN ({skipped})
UNION ALL SELECT 1, device_id, installation_id, product_id, '', version, unit_id, status, reason,
    basis, entitlement_id, detail
    FROM licensing_complianceresult WHERE device_id IN ({devices})
UNION ALL SELECT 3, id, assigned_user_id, NULL, assigned_name, '', unit_id, NULL, NULL, NULL,
    NULL, NULL
    FROM inventory_device WHERE id IN ({devices}) AND retired IS NULL
"""
_REMOVED_SQL = """
UNION ALL SELECT 2, device_id, 0, product_id, '', '', NULL, NULL, NULL, NULL, NULL, NULL
    FROM inventory_installationevent WHERE report_id IN ({reports}) AND product_id IS NOT NULL
"""


@dataclass
class DeviceState:
    """Changed devices as stored, read in one query (``_device_state``)."""

    device_units: dict[int, int]  # device → the unit its request named
    # Unit → the product ids whose verdicts these devices' changes may have moved.
    scope: dict[int, set[int]]
    installs: dict[int, list[tuple]]  # device → INSTALL_COLUMNS rows of assessed products
    verdicts: dict[int, list[tuple]]  # device → RESULT_COLUMNS rows as stored
    devices: DeviceFacts  # device → (its unit now, person key)
    # Devices whose inventories removed installs: those installs' verdicts went with them.
    removed: set[int] = field(default_factory=set)


def _device_state(
    meta: CatalogMeta, device_units: Mapping[int, int], report_ids: Sequence[int]
) -> DeviceState:
    """The devices' installs, stored verdicts and people, and per unit the products whose
    verdicts their changes may have moved: the products of installs whose (product,
    version) differ from what their stored verdict was judged on (a new device: all of
    them), and of installs their inventories ``report_ids`` removed (whose verdicts went
    with them). One query, in SQL: this runs for every inventory."""
    state = DeviceState(
        dict(device_units),
        {unit: set() for unit in device_units.values()},
        defaultdict(list),
        defaultdict(list),
        {},
    )
    if not device_units:
        return state
    devices = sorted(device_units)
    marks = ", ".join(["%s"] * len(devices))
    sql = _DEVICE_STATE_SQL.format(devices=marks, skipped=", ".join(["%s"] * len(SKIPPED_KINDS)))
    params: list[Any] = [*devices, *SKIPPED_KINDS, *devices, *devices]
    if report_ids:
        sql += _REMOVED_SQL.format(reports=", ".join(["%s"] * len(report_ids)))
        params += list(report_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    scope = state.scope
    held: dict[int, tuple[int, int, str]] = {}
    judged: dict[int, tuple[int, int, str]] = {}
    for source, device, pk, product, name, version, *stored in rows:
        if source == 0:
            p = meta.products.get(product)
            if p is not None and product in meta.assessed:
                label = engine.version_label(name, version, p.labels) or ""
                held[pk] = (device, product, label[:64])
                state.installs[device].append((pk, device, product, name, version))
        elif source == 1:
            judged[pk] = (device, product, version)
            state.verdicts[device].append((pk, stored[0], device, product, version, *stored[1:]))
        elif source == 2:
            scope[device_units[device]].add(product)
            state.removed.add(device)
        else:
            state.devices[device] = (stored[0], person_key(pk, name))
    for pk, fact in held.items():
        if judged.get(pk) != fact:
            scope[device_units[fact[0]]].add(fact[1])
    for pk, fact in judged.items():
        if held.get(pk) != fact:
            scope[device_units[fact[0]]].add(fact[1])
    return state


def _recompute_changed(
    meta: CatalogMeta,
    whole: set[int],
    partial: Mapping[int, set[int]],
    devices: set[int],
    as_of: datetime.date | None,
    *,
    state: DeviceState | None = None,
    fast_units: Collection[int] = (),
    regions: Mapping[int, str] | None = None,
) -> tuple[int, int]:
    """Recompute ``whole`` units entirely, and in the ``partial`` units the products given
    (with their groups; one set for all of them, so that one pass serves every unit). With
    ``state``, read after every unit was locked (their ``regions`` known), the units of
    ``fast_units`` (whose products come from those devices' changes alone) may be
    recomputed from their changed devices only (``_recompute_devices``). Returns the
    verdicts written and the number of units recomputed from their changed devices alone
    and from their changed groups' stored verdicts."""
    written = 0
    if whole:
        written += recompute_units(whole, as_of=as_of)
    rest = set(partial) - whole
    if not rest:
        return written, 0, 0
    as_of = as_of or timezone.localdate()
    changed = set(devices)
    with transaction.atomic(savepoint=False):
        done: set[int] = set()
        loaded = None
        grouped = 0
        fast = {u: partial[u] for u in rest if u in fast_units}
        if state is not None and regions is not None and fast:
            done, n, loaded, grouped = _recompute_devices(
                meta, fast, state, regions, as_of, changed
            )
            written += n
        slow = rest - done
        if slow:
            products = meta.closure(p for unit in slow for p in partial[unit])
            # The facts the fast path read serve when they cover these units and products.
            preloaded = None
            if loaded is not None and slow <= loaded[0] and products <= loaded[1]:
                preloaded = loaded[2:]
            written += _recompute(
                slow,
                *device_facts(Device.objects.in_service().filter(unit_id__in=slow)),
                as_of,
                products=products,
                devices_changed=changed,
                meta=meta,
                locked=state is not None,
                fire=False,
                preloaded=preloaded,
            )
        hooks.fire(hooks.LICENSING_RECOMPUTED, unit_ids=sorted(rest), device_ids=sorted(changed))
    return written, len(done) - grouped, grouped


def _recompute_devices(
    meta: CatalogMeta,
    scopes: Mapping[int, set[int]],
    state: DeviceState,
    regions: Mapping[int, str],
    as_of: datetime.date,
    changed: set[int],
) -> tuple[set[int], int, tuple[set[int], frozenset[int], list, list] | None, int]:
    """The fast paths of an inventory's recompute.

    Where no seat of a unit's changed product groups can pass between its devices (their
    limited entitlements are OEM licences, which only their own device can use, or shared
    ones of which nobody waits for a seat, before the change or after; none allocated by
    hand), a device's verdicts depend on that device alone: only the changed devices are
    evaluated, their stored verdicts replaced where they differ, and the unit's positions
    moved by the difference (counted afresh where an inventory removed installs, whose
    verdicts went with them). The seats the other devices hold come from the stored
    position, or an aggregate of their verdicts; their rows are not read.

    Otherwise (a seat may pass, e.g. to a device waiting for one) the changed product
    groups are evaluated over the whole unit, but from what is stored of them
    (``_group_plan``): the other devices' installs as their verdicts were judged, read by
    the (unit, product) index, not the unit's every install.

    Returns the units so recomputed (the others need the slow path), the verdicts written,
    the entitlement facts it read (with the units and products they were read for), and
    how many units took the second way; devices whose verdicts were written or deleted
    are added to ``changed``. Nothing is written for a unit it gives up on."""
    by_unit: dict[int, list[int]] = defaultdict(list)
    for device, unit in state.device_units.items():
        by_unit[unit].append(device)
    done: set[int] = set()
    todo: dict[int, frozenset[int]] = {}
    for unit, wanted in scopes.items():
        devices = by_unit.get(unit, [])
        # A device that moved to another unit (or whose verdicts are still another unit's)
        # needs the units' own recomputes.
        if any(
            state.devices.get(d, (None,))[0] != unit
            or any(v[1] != unit for v in state.verdicts.get(d, ()))
            for d in devices
        ):
            continue
        products = meta.closure(wanted)
        if products:
            todo[unit] = products
        else:
            done.add(unit)
    if not todo:
        return done, 0, None, 0
    all_products = frozenset().union(*todo.values())
    facts, allocations = load_entitlement_facts(meta, set(todo), regions, all_products)
    loaded = (set(todo), all_products, facts, allocations)
    allocated = {(a.unit, a.entitlement) for a in allocations}
    now = timezone.now()
    plans: dict[int, tuple[list[tuple], list[tuple], dict[int, list[int]]]] = {}
    recounted: dict[int, dict[tuple[int, int], tuple]] = {}
    grouped: dict[int, tuple[frozenset[int], list[engine.Entitlement]]] = {}
    local: dict[int, tuple[frozenset[int], list[engine.Entitlement]]] = {}
    shared: dict[int, list[engine.Entitlement]] = {}  # unit → its limited non-OEM facts
    # Units whose inventories removed installs: the removed verdicts are gone, so their
    # positions are counted afresh (``_absolute_positions``), not moved by difference.
    absolute: dict[int, set[int]] = {}
    for unit, products in todo.items():
        keys = {meta.products[p].key for p in products}
        families = {meta.products[p].family for p in products} - {None, ""}
        unit_facts = [
            f for f in facts if unit in f.units and (f.product in keys or f.family in families)
        ]
        limited = [f for f in unit_facts if f.quantity is not None and f.metric != engine.OEM]
        if (
            any(f.metric == engine.PER_USER or len(f.units) != 1 for f in limited)
            or any((unit, f.id) in allocated for f in unit_facts)
            or len({f.id for f in unit_facts}) != len(unit_facts)
        ):
            grouped[unit] = (products, unit_facts)
            continue
        removed = {d for d in by_unit[unit] if d in state.removed}
        if removed:
            if any(f.metric == engine.OEM for f in unit_facts):
                # An OEM licence's seat is counted by its own device only: not afresh.
                grouped[unit] = (products, unit_facts)
                continue
            absolute[unit] = removed
        local[unit] = (products, unit_facts)
        if limited:
            shared[unit] = limited
    # The units' stored positions (a few rows each), read before anything is evaluated.
    positions: dict[tuple[int, int], tuple] = {}
    with connection.cursor() as cursor:
        units = sorted(todo)
        cursor.execute(_POSITIONS_SQL.format(units=", ".join(["%s"] * len(units))), units)
        positions = {(r[1], r[2]): r for r in cursor.fetchall()}
    # Seats of the limited facts the other devices hold: where a fact is its product's
    # only limited one in the unit, its position's seats used less the changed devices'
    # (known unless one removed installs); else counted (an aggregate, not their rows).
    held: dict[tuple[int, int], int] = {}
    counted = {
        u: limited
        for u, limited in shared.items()
        if u in absolute or not _sole_limited(meta, u, limited, local[u][1], positions)
    }
    if counted:
        units = sorted(counted)
        ents = sorted({f.id for limited in counted.values() for f in limited})
        others = sorted(state.device_units)
        with connection.cursor() as cursor:
            cursor.execute(
                _HELD_SQL.format(
                    units=", ".join(["%s"] * len(units)),
                    ents=", ".join(["%s"] * len(ents)),
                    devices=", ".join(["%s"] * len(others)),
                ),
                [*units, *ents, *others],
            )
            held = {(u, e): n for u, e, n in cursor.fetchall()}
    # The other devices' verdicts of the changed groups, counted by status.
    counts: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    if absolute:
        units = sorted(absolute)
        ids = sorted(frozenset().union(*(local[u][0] for u in units)))
        others = sorted(state.device_units)
        with connection.cursor() as cursor:
            cursor.execute(
                _COUNTS_SQL.format(
                    units=", ".join(["%s"] * len(units)),
                    ids=", ".join(["%s"] * len(ids)),
                    devices=", ".join(["%s"] * len(others)),
                ),
                [*units, *ids, *others],
            )
            for u, product_id, status, n in cursor.fetchall():
                counts[(u, product_id)][status] = n
    for unit, (products, unit_facts) in local.items():
        devices = by_unit[unit]
        rows = [r for d in devices for r in state.installs.get(d, ()) if r[2] in products]
        installs = _installs(meta, rows, {d: state.devices[d] for d in devices})
        result = engine.evaluate(
            installs,
            unit_facts,
            version_order=meta.version_order,
            categories=meta.categories,
            as_of=as_of,
        )
        new = _result_rows(meta, installs, result)
        old = [v for d in devices for v in state.verdicts.get(d, ()) if v[3] in products]
        # Per product: required, covered, shortfall, consumed and surplus, as moved.
        delta: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        used: list[dict[int, set[int]]] = []
        for sign, verdicts in ((1, new), (-1, old)):
            seats: dict[int, set[int]] = defaultdict(set)
            for v in verdicts:
                if v[5] == engine.COVERED:
                    delta[v[3]][1] += sign
                    seats[v[8]].add(v[2])
                elif v[5] == engine.UNLICENSED:
                    delta[v[3]][2] += sign
                else:
                    continue
                delta[v[3]][0] += sign
            used.append(seats)
        # A limited fact the other devices share too: these devices' verdicts depend on
        # them alone while nobody waits for a seat of it, before the change and after
        # (no install was turned away, so each took its first eligible candidate, and
        # still does). Else its seats may pass between devices: the group path. A device
        # whose removed install's verdict is gone may have held a seat of each.
        removed = absolute.get(unit, set())
        if unit in shared and unit not in counted:
            for f in shared[unit]:
                consumed = positions[(unit, meta.ids[f.product])][9]
                held[(unit, f.id)] = consumed - len(used[1].get(f.id, ()))
        if any(
            held.get((unit, f.id), 0) + len(used[1].get(f.id, set()) | removed) >= f.quantity
            or held.get((unit, f.id), 0) + len(used[0].get(f.id, ())) > f.quantity
            for f in shared.get(unit, ())
        ) or any(v[6] == "over_quantity" for v in new):
            grouped[unit] = (products, unit_facts)
            continue
        if unit in absolute:
            plans[unit] = (new, old, {})
            recounted[unit] = _absolute_positions(
                meta, unit, products, unit_facts, counts, held, new, used[0], now
            )
            continue
        for f in unit_facts:
            if f.quantity is None or f.product is None or len(f.units) != 1:
                continue
            others = held.get((unit, f.id), 0)
            now_used = others + len(used[0].get(f.id, ()))
            was_used = others + len(used[1].get(f.id, ()))
            d = delta[meta.ids[f.product]]
            d[3] += now_used - was_used
            d[4] += max(0, f.quantity - now_used) - max(0, f.quantity - was_used)
        plans[unit] = (new, old, {p: d for p, d in delta.items() if any(d)})
    if not plans and not grouped:
        return done, 0, loaded, 0
    stored: dict[int, list[tuple]] = defaultdict(list)
    with connection.cursor() as cursor:
        if grouped:
            # The changed groups' verdicts in these units, by the (unit, product) index.
            units = sorted(grouped)
            ids = sorted(frozenset().union(*(g[0] for g in grouped.values())))
            cursor.execute(
                _GROUP_VERDICTS_SQL.format(
                    units=", ".join(["%s"] * len(units)), ids=", ".join(["%s"] * len(ids))
                ),
                [*units, *ids],
            )
            for row in cursor.fetchall():
                stored[row[1]].append(row)
    fresh: list[tuple] = []
    stale: list[int] = []
    position_rows: list[tuple] = []
    gone: list[int] = []
    group_units = 0
    for unit, (products, unit_facts) in grouped.items():
        plan = _group_plan(
            meta,
            unit,
            products,
            unit_facts,
            [a for a in allocations if a.unit == unit],
            by_unit[unit],
            state,
            stored.get(unit, []),
            positions,
            as_of,
            now,
        )
        if plan is None:
            continue
        unit_fresh, unit_stale, unit_positions, unit_gone = plan
        fresh.extend(unit_fresh)
        stale.extend(r[0] for r in unit_stale)
        changed.update(r[2] for r in unit_fresh)
        changed.update(r[2] for r in unit_stale)
        position_rows.extend(unit_positions)
        gone.extend(unit_gone)
        done.add(unit)
        group_units += 1
    for unit, (new, old, delta) in plans.items():
        unit_positions: list[tuple] = []
        unit_gone: list[int] = []
        if unit in recounted:
            unit_positions, unit_gone = _position_changes(
                unit, local[unit][0], recounted[unit], positions
            )
        for product_id, d in delta.items():
            key = meta.products[product_id].key
            unit_facts = [f for f in facts if unit in f.units and f.product == key]
            limited = any(f.quantity is not None and len(f.units) == 1 for f in unit_facts)
            row = positions.get((unit, product_id))
            if row is None:
                # No figures yet: a unit's first install of the product (no limited
                # entitlement, or it would have figures).
                if limited or d[0] < 0 or d[3] or d[4]:
                    break
                base = [0, 0, 0, 0, 0]
                licensed = 0
                unlimited = any(f.quantity is None for f in unit_facts)
                category = meta.categories.get(key, "")
            else:
                _pk, _u, _p, category, *figures = row
                req, cov, short, licensed, unlimited, consumed, surplus = figures
                base = [req, cov, short, consumed, surplus]
            figures = [b + x for b, x in zip(base, d, strict=True)]
            if min(figures) < 0:
                break
            if figures[0] == 0 and not limited:
                if row is not None:
                    unit_gone.append(row[0])
                continue
            req, cov, short, consumed, surplus = figures
            unit_positions.append(
                (unit, product_id, category, req, cov, short, licensed, unlimited, consumed)
                + (surplus, now)
            )
        else:
            new_ids = {r[0] for r in new}
            old_rows = {r[0]: r for r in old}
            fresh.extend(r for r in new if old_rows.get(r[0]) != r)
            stale.extend(pk for pk in old_rows if pk not in new_ids)
            position_rows.extend(unit_positions)
            gone.extend(unit_gone)
            done.add(unit)
    with connection.cursor() as cursor:
        for table, column, ids in (
            (ComplianceResult, "installation_id", stale),
            (CompliancePosition, "id", gone),
        ):
            if ids:
                cursor.execute(
                    f"DELETE FROM {table._meta.db_table} WHERE {column} IN "
                    f"({', '.join(['%s'] * len(ids))})",
                    ids,
                )
    _upsert(ComplianceResult, RESULT_COLUMNS, ("installation_id",), fresh)
    _upsert(CompliancePosition, POSITION_COLUMNS, ("unit_id", "product_id"), position_rows)
    return done, len(fresh), loaded, group_units


def _group_plan(
    meta: CatalogMeta,
    unit: int,
    products: frozenset[int],
    unit_facts: list[engine.Entitlement],
    allocations: list[engine.Allocation],
    devices: list[int],
    state: DeviceState,
    stored: list[tuple],
    positions: Mapping[tuple[int, int], tuple],
    as_of: datetime.date,
    now: datetime.datetime,
) -> tuple[list[tuple], list[tuple], list[tuple], list[int]] | None:
    """One unit's changed product groups (``products``, group-closed) evaluated over the
    whole unit: the changed ``devices`` with their installs, every other device with its
    installs as stored in its verdicts (``stored``: the unit's verdicts of ``products``;
    what each was judged on is the install's product and version label, all the engine
    reads of it, with its device's person). The verdicts and positions that differ are
    returned (fresh rows, stale rows, position rows, positions gone), or None where a
    stored verdict cannot stand for its install (the slow path reads the installs)."""
    changed_devices = set(devices)
    others = [r for r in stored if r[3] in products and r[2] not in changed_devices]
    people: Mapping[int, str | None] = {}
    if any(f.metric == engine.PER_USER for f in unit_facts) or any(a.person for a in allocations):
        # Only per-user seats and allocations to people read a device's person.
        with connection.cursor() as cursor:
            cursor.execute(_PEOPLE_SQL, [unit])
            people = {pk: person_key(user, name) for pk, user, name in cursor.fetchall()}
    installs = _installs(
        meta,
        [r for d in devices for r in state.installs.get(d, ()) if r[2] in products],
        {d: state.devices[d] for d in devices},
    )
    products_meta = meta.products
    for row in others:
        pk, _unit, device, product_id, version = row[:5]
        p = products_meta.get(product_id)
        if p is None or product_id not in meta.assessed or len(version) >= 64:
            # A catalog change not yet drained, or a label the column cut short.
            return None
        installs.append(
            engine.Install(
                id=pk,
                device=device,
                unit=unit,
                product=p.key,
                family=p.family,
                edition=p.edition,
                version=version or None,
                category=p.category,
                license_model=p.license_model,
                home_edition=p.home_edition,
                person=people.get(device),
                suites=p.suites,
            )
        )
    result = engine.evaluate(
        installs,
        unit_facts,
        allocations,
        version_order=meta.version_order,
        categories=meta.categories,
        as_of=as_of,
    )
    old = {r[0]: r for r in others}
    for d in devices:
        old.update((v[0], v) for v in state.verdicts.get(d, ()) if v[3] in products)
    new = _result_rows(meta, installs, result)
    kept = {r[0] for r in new}
    fresh = [r for r in new if old.get(r[0]) != r]
    stale = [r for pk, r in old.items() if pk not in kept]
    new_positions = {(r[0], r[1]): r for r in _position_rows(meta, result, now) if r[1] in products}
    position_rows, gone = _position_changes(unit, products, new_positions, positions)
    return fresh, stale, position_rows, gone


def _sole_limited(
    meta: CatalogMeta,
    unit: int,
    limited: list[engine.Entitlement],
    unit_facts: list[engine.Entitlement],
    positions: Mapping[tuple[int, int], tuple],
) -> bool:
    """Whether each of these limited facts is the only limited one-unit fact of its
    product in the unit, with a stored position (whose seats used are then its own)."""
    for f in limited:
        if f.product is None or (unit, meta.ids.get(f.product)) not in positions:
            return False
        same = [
            g
            for g in unit_facts
            if g.product == f.product and g.quantity is not None and len(g.units) == 1
        ]
        if same != [f]:
            return False
    return True


def _position_changes(
    unit: int,
    products: Collection[int],
    new_positions: Mapping[tuple[int, int], tuple],
    positions: Mapping[tuple[int, int], tuple],
) -> tuple[list[tuple], list[int]]:
    """The unit's position rows of ``products`` that differ from those stored
    (``_POSITIONS_SQL`` rows), and the ids of stored ones no longer there."""
    old_positions = {
        key: r for key, r in positions.items() if key[0] == unit and key[1] in products
    }
    gone = [r[0] for key, r in old_positions.items() if key not in new_positions]
    rows = [
        r
        for key, r in new_positions.items()
        if key not in old_positions or old_positions[key][1:] != r[:-1]
    ]
    return rows, gone


def _absolute_positions(
    meta: CatalogMeta,
    unit: int,
    products: frozenset[int],
    unit_facts: list[engine.Entitlement],
    counts: Mapping[tuple[int, int], Mapping[str, int]],
    held: Mapping[tuple[int, int], int],
    new: list[tuple],
    seats: Mapping[int, set[int]],
    now: datetime.datetime,
) -> dict[tuple[int, int], tuple]:
    """The unit's positions of ``products`` as the engine would count them (``evaluate``,
    its last loop), from the other devices' verdicts counted by status (``counts``) and
    seats held (``held``, every limited fact being a one-unit non-OEM one), and the changed
    devices' new verdicts (``new``) and seats (``seats``: fact → devices)."""
    # product → [covered, shortfall, licensed, unlimited, consumed, surplus]
    figures: dict[int, list] = {}
    for product_id in products:
        by_status = counts.get((unit, product_id), {})
        cov, short = by_status.get(engine.COVERED, 0), by_status.get(engine.UNLICENSED, 0)
        if cov or short:
            figures[product_id] = [cov, short, 0, False, 0, 0]
    for row in new:
        if row[5] in (engine.COVERED, engine.UNLICENSED):
            f = figures.setdefault(row[3], [0, 0, 0, False, 0, 0])
            f[0 if row[5] == engine.COVERED else 1] += 1
    for fact in sorted(
        unit_facts, key=lambda e: (e.end or datetime.date.max, e.id, min(e.units, default=0))
    ):
        product_id = meta.ids.get(fact.product) if fact.product else None
        if product_id is None:
            continue
        if fact.quantity is None:
            if product_id in figures:
                figures[product_id][3] = True
            continue
        if len(fact.units) != 1:
            continue
        f = figures.setdefault(product_id, [0, 0, 0, False, 0, 0])
        used = held.get((unit, fact.id), 0) + len(seats.get(fact.id, ()))
        f[2] += fact.quantity
        f[4] += used
        f[5] += max(0, fact.quantity - used)
    return {
        (unit, product_id): (
            unit,
            product_id,
            meta.categories.get(meta.products[product_id].key, ""),
            cov + short,
            cov,
            short,
            licensed,
            unlimited,
            consumed,
            surplus,
            now,
        )
        for product_id, (cov, short, licensed, unlimited, consumed, surplus) in figures.items()
    }


_GROUP_VERDICTS_SQL = (
    "SELECT installation_id, unit_id, device_id, product_id, version, status, reason, basis, "
    "entitlement_id, detail FROM licensing_complianceresult "
    "WHERE unit_id IN ({units}) AND product_id IN ({ids})"
)
# Per unit and limited entitlement: the devices other than the changed ones it covers.
_HELD_SQL = (
    "SELECT unit_id, entitlement_id, COUNT(DISTINCT device_id) FROM licensing_complianceresult "
    "WHERE unit_id IN ({units}) AND entitlement_id IN ({ents}) AND device_id NOT IN ({devices}) "
    "GROUP BY unit_id, entitlement_id"
)
_COUNTS_SQL = (
    "SELECT unit_id, product_id, status, COUNT(*) FROM licensing_complianceresult "
    "WHERE unit_id IN ({units}) AND product_id IN ({ids}) AND device_id NOT IN ({devices}) "
    "GROUP BY unit_id, product_id, status"
)
_PEOPLE_SQL = "SELECT id, assigned_user_id, assigned_name FROM inventory_device WHERE unit_id = %s"
_POSITIONS_SQL = (
    "SELECT id, unit_id, product_id, category, required, covered, shortfall, licensed, "
    "unlimited, consumed, surplus FROM licensing_complianceposition WHERE unit_id IN ({units})"
)
_LOCK_SQL = (
    "SELECT u.id, r.path FROM orgs_unit u JOIN orgs_region r ON r.id = u.region_id "
    "WHERE u.id IN ({units}) ORDER BY u.id"
)


def _lock_units(units: Sequence[int]) -> dict[int, str]:
    """Recomputes of one unit take turns (in unit order, so never a deadlock): each reads
    the unit after the previous one committed, so none writes verdicts from an older view.
    FOR NO KEY UPDATE leaves the foreign-key checks of concurrent ingests unblocked.
    Returns each unit's region path (read in the same query)."""
    if not units:
        return {}
    sql = _LOCK_SQL.format(units=", ".join(["%s"] * len(units)))
    if connection.vendor == "postgresql":
        sql += " FOR NO KEY UPDATE OF u"
    with connection.cursor() as cursor:
        cursor.execute(sql, list(units))
        return dict(cursor.fetchall())


def _recompute(
    units: set[int],
    devices: DeviceFacts,
    regions: dict[int, str],
    as_of: datetime.date | None,
    *,
    products: frozenset[int] | None = None,
    devices_changed: set[int] | None = None,
    meta: CatalogMeta | None = None,
    locked: bool = False,
    fire: bool = True,
    preloaded: tuple[list[engine.Entitlement], list[engine.Allocation]] | None = None,
) -> int:
    """Evaluate and store these units (only ``products`` when given: a group-closed set),
    then fire ``LICENSING_RECOMPUTED`` in the same transaction (unless ``fire`` is false):
    with ``device_ids`` None for whole units, else the devices given in ``devices_changed``
    and those whose verdicts were written or deleted (added to ``devices_changed``).
    ``locked``: the caller holds the units' locks already; ``preloaded``: entitlement facts
    and allocations read for (at least) these units and ``products``."""
    if not units:
        return 0
    as_of = as_of or timezone.localdate()
    meta = meta or catalog_meta()
    now = timezone.now()
    written = 0
    changed: set[int] | None = None
    if products is not None:
        changed = devices_changed if devices_changed is not None else set()
    # No savepoint inside the caller's transaction: two round trips for nothing.
    with transaction.atomic(savepoint=False):
        ordered = sorted(units)
        if not locked:
            _lock_units(ordered)
        if products is None or products:
            if preloaded is not None:
                facts, allocations = preloaded
            else:
                facts, allocations = load_entitlement_facts(meta, units, regions, products)
            if products is not None:
                keys = {meta.products[p].key for p in products}
                families = {meta.products[p].family for p in products} - {None, ""}
                facts = [f for f in facts if f.product in keys or f.family in families]
            for start in range(0, len(ordered), UNIT_BATCH):
                batch = ordered[start : start + UNIT_BATCH]
                wanted = set(batch)
                batch_devices = (
                    devices
                    if len(batch) == len(ordered)
                    else {d: f for d, f in devices.items() if f[0] in wanted}
                )
                installs = load_installs(meta, batch_devices, products)
                result = _evaluate(meta, batch, installs, facts, allocations, as_of)
                written += _store(
                    meta, batch, installs, result, now, products=products, changed_devices=changed
                )
        if fire:
            hooks.fire(
                hooks.LICENSING_RECOMPUTED,
                unit_ids=ordered,
                device_ids=None if changed is None else sorted(changed),
            )
    return written


# --------------------------------------------------------------------------- recompute queue

# Requests taken per drain transaction: a burst of ingests is judged a batch at a time,
# each unit once per batch however many of its devices reported.
QUEUE_BATCH = 500


def queue_inventory_recompute(*, device: Device, report: Any = None) -> RecomputeRequest:
    """Note, in the ingest's transaction, that this device's verdicts are out of date, and
    ask for a drain (``licensing.tasks``): the recompute itself runs in the background."""
    with transaction.atomic(savepoint=False):
        removed = report is not None and getattr(report, "removed", 0)
        row = RecomputeRequest.objects.create(
            unit_id=device.unit_id,
            device_id=device.pk,
            report_id=report.pk if removed else None,
            reason=RecomputeReason.INVENTORY,
        )
        _request_drain()
    return row


# Above this many unit × product pairs, a catalog change is queued per product (the drain
# finds the units holding it).
MAX_QUEUED_PAIRS = 5000


def queue_recompute(
    *,
    reason: str,
    unit_ids: Iterable[int] | None = None,
    product_ids: Iterable[int] | None = None,
) -> int:
    """Queue a recompute of these units (whole), of these products (in every unit holding
    them), or of these products in these units; returns the requests written."""
    units = None if unit_ids is None else sorted(set(unit_ids))
    products = None if product_ids is None else sorted(set(product_ids))
    if products is None:
        if not units:
            return 0
        rows = [RecomputeRequest(unit_id=u, reason=reason) for u in units]
    elif not products:
        return 0
    elif units is None or len(units) * len(products) > MAX_QUEUED_PAIRS:
        rows = [RecomputeRequest(product_id=p, reason=reason) for p in products]
    else:
        rows = [
            RecomputeRequest(unit_id=u, product_id=p, reason=reason)
            for u in units
            for p in products
        ]
    with transaction.atomic(savepoint=False):
        RecomputeRequest.objects.bulk_create(rows, batch_size=1000)
        _request_drain()
    return len(rows)


def _request_drain() -> None:
    from zhengban.licensing.tasks import enqueue_drain

    enqueue_drain()


@dataclass
class DrainStats:
    requests: int = 0
    batches: int = 0
    units: int = 0
    devices: int = 0
    written: int = 0
    # Units recomputed from their changed devices alone (``_recompute_devices``).
    fast_units: int = 0
    # Units whose changed product groups were recomputed from their stored verdicts.
    group_units: int = 0


def drain_recompute_queue(
    *, batch_size: int = QUEUE_BATCH, as_of: datetime.date | None = None
) -> DrainStats:
    """Work through the queued requests, a batch per transaction, until none is left that
    another worker has not taken (rows are locked with SKIP LOCKED on PostgreSQL)."""
    stats = DrainStats()
    while _drain_batch(batch_size, as_of, stats) == batch_size:
        pass
    return stats


# A CTE, not "id IN (subquery)": PostgreSQL may rescan a subquery, and with SKIP LOCKED
# each rescan takes other rows (a batch of all).
_CLAIM_SQL = """
WITH claimed AS (
    SELECT id FROM licensing_recomputerequest ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
)
DELETE FROM licensing_recomputerequest r USING claimed WHERE r.id = claimed.id
RETURNING r.id, r.unit_id, r.device_id, r.report_id, r.product_id{sync}
"""
# Set with the claim (a round trip less); with no row claimed there is nothing to commit.
_NO_FLUSH = ", set_config('synchronous_commit', 'off', true)"


def _claim_requests(limit: int, no_flush: bool = False) -> list[tuple]:
    """Take (and delete, in the caller's transaction) the oldest requests no other worker
    holds: one statement on PostgreSQL; a failed recompute rolls the deletion back.
    ``no_flush``: the transaction's commit will not wait for the WAL flush (PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL.format(sync=_NO_FLUSH if no_flush else ""), [limit])
            return [row[:5] for row in cursor.fetchall()]
    rows = list(
        RecomputeRequest.objects.order_by("id").values_list(
            "id", "unit_id", "device_id", "report_id", "product_id"
        )[:limit]
    )
    if rows:
        RecomputeRequest.objects.filter(pk__in=[r[0] for r in rows]).delete()
    return rows


def _drain_batch(limit: int, as_of: datetime.date | None, stats: DrainStats) -> int:
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        # Derived figures and the requests' deletion commit together: a crash that loses
        # this commit loses both, and the requests are drained again. So no WAL flush wait
        # (never inside a caller's transaction, e.g. an ingest's).
        rows = _claim_requests(limit, no_flush=outermost)
        if not rows:
            return 0
        meta = catalog_meta()
        whole: set[int] = set()
        partial: dict[int, set[int]] = defaultdict(set)
        device_units: dict[int, int] = {}
        reports: set[int] = set()
        products_anywhere: set[int] = set()
        for _pk, unit, device, report, product in rows:
            if unit is None:
                products_anywhere.add(product)
            elif product is not None:
                partial[unit].add(product)
            elif device is not None:
                device_units[device] = unit
                if report is not None:
                    reports.add(report)
            else:
                whole.add(unit)
        requested = set(partial)
        regions = None
        if not products_anywhere:
            # Every unit is known: locked before its devices' verdicts are read, which the
            # fast path (``_recompute_devices``) moves positions by.
            regions = _lock_units(sorted(whole | requested | set(device_units.values())))
        state = _device_state(meta, device_units, sorted(reports))
        for unit, found in state.scope.items():
            partial[unit] |= found
        if products_anywhere:
            for unit, product in _units_holding(sorted(products_anywhere)):
                partial[unit].add(product)
        written, fast, grouped = _recompute_changed(
            meta,
            whole,
            partial,
            set(device_units),
            as_of,
            state=None if regions is None else state,
            fast_units=set(state.scope) - requested,
            regions=regions,
        )
    stats.requests += len(rows)
    stats.batches += 1
    stats.units += len(whole | set(partial))
    stats.devices += len(device_units)
    stats.written += written
    stats.fast_units += fast
    stats.group_units += grouped
    return len(rows)


def _units_holding(product_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(unit, product) for every unit with an install of, or figures for, these products."""
    installed = (
        Installation.objects.filter(product_id__in=product_ids)
        .order_by()
        .values_list("device__unit_id", "product_id")
    )
    figures = (
        CompliancePosition.objects.filter(product_id__in=product_ids)
        .order_by()
        .values_list("unit_id", "product_id")
    )
    return list(installed.union(figures))


@dataclass
class RecomputeStats:
    units: int
    installs: int
    covered: int
    unlicensed: int
    seconds: float


class _FirstLoad:
    """The first full recompute, into an empty verdict table on PostgreSQL.

    Inserting a verdict queues five foreign-key checks, run one by one at commit: half the
    time of a province's first recompute. Here the verdicts are COPYed into a temporary
    table while the batches are evaluated, then moved into the verdict table in one
    statement with its foreign keys and plain indexes dropped, and the same keys and indexes
    are added back: each key checks every row again in one join, each index is built in one
    sort (PostgreSQL's advice for populating a database). Keys and indexes are read from the
    catalog, so they come back exactly as the migrations made them; the verdict table is
    locked only for that last step, until the commit."""

    TEMP = "tmp_first_complianceresult"

    @staticmethod
    def applies(outermost: bool) -> bool:
        # Only in a transaction of its own: PostgreSQL refuses to alter a table that has
        # pending foreign-key checks, which a caller's earlier writes would have queued.
        return (
            outermost
            and connection.vendor == "postgresql"
            and not ComplianceResult.objects.exists()
        )

    def __init__(self) -> None:
        qn = connection.ops.quote_name
        self.table = qn(ComplianceResult._meta.db_table)
        self.cols = ", ".join(qn(c) for c in RESULT_COLUMNS)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.TEMP} ON COMMIT DROP AS "
                f"SELECT {self.cols} FROM {self.table} WITH NO DATA"
            )
        # Positions are few (units × products): replaced by plain inserts.
        CompliancePosition.objects.all()._raw_delete(CompliancePosition.objects.db)

    def add(
        self,
        meta: CatalogMeta,
        installs: list[engine.Install],
        result: engine.Result,
        now: datetime.datetime,
    ) -> None:
        rows = _result_rows(meta, installs, result)
        if rows:
            with connection.cursor() as cursor:
                with cursor.cursor.copy(f"COPY {self.TEMP} ({self.cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        _upsert(
            CompliancePosition,
            POSITION_COLUMNS,
            ("unit_id", "product_id"),
            _position_rows(meta, result, now),
        )

    def finish(self) -> None:
        qn = connection.ops.quote_name
        updates = ", ".join(
            f"{qn(c)} = EXCLUDED.{qn(c)}" for c in RESULT_COLUMNS if c != "installation_id"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
                [ComplianceResult._meta.db_table],
            )
            keys = cursor.fetchall()
            # Plain indexes likewise: built in one sort each rather than row by row. The
            # primary key stays (it decides the conflicts below).
            cursor.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT i.indisunique "
                "ORDER BY c.relname",
                [ComplianceResult._meta.db_table],
            )
            indexes = cursor.fetchall()
            if keys:
                drops = ", ".join(f"DROP CONSTRAINT {qn(name)}" for name, _d in keys)
                cursor.execute(f"ALTER TABLE {self.table} {drops}")
            for name, _d in indexes:
                cursor.execute(f"DROP INDEX {qn(name)}")
            # ON CONFLICT: an incremental recompute may have written verdicts meanwhile.
            cursor.execute(
                f"INSERT INTO {self.table} ({self.cols}) SELECT {self.cols} FROM {self.TEMP} "
                f"ON CONFLICT (installation_id) DO UPDATE SET {updates}"
            )
            for _name, definition in indexes:
                cursor.execute(definition)
            if keys:
                adds = ", ".join(f"ADD CONSTRAINT {qn(name)} {d}" for name, d in keys)
                cursor.execute(f"ALTER TABLE {self.table} {adds}")


def recompute_all(
    *,
    actor: Any = None,
    as_of: datetime.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RecomputeStats:
    """Every unit, in one transaction. The province's assessed installs are read in one pass
    (no join: the devices' units and people are read once), evaluated a batch of units at a
    time, and only the verdicts and positions that changed are written."""
    started = time.perf_counter()
    as_of = as_of or timezone.localdate()
    meta = catalog_meta()
    now = timezone.now()
    covered = unlicensed = installs_total = 0
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        # Requests already queued (committed) are answered by this recompute: their
        # inventories are read below. Taken first, so none of them is newer than that read.
        answered = list(RecomputeRequest.objects.values_list("id", flat=True))
        devices, _regions = device_facts(Device.objects.in_service())
        by_unit: dict[int, list[tuple]] = defaultdict(list)
        for row in (
            _assessed_installations(meta).values_list(*INSTALL_COLUMNS).iterator(chunk_size=20000)
        ):
            judged = devices.get(row[1])
            if judged is not None:  # else a retired device's install: not judged
                by_unit[judged[0]].append(row)
        facts, allocations = load_entitlement_facts(meta)
        fact_units = {u for f in facts if f.quantity is not None for u in f.units}
        all_units = sorted({u for u, _p in devices.values()} | fact_units)
        # Units with no device and no seats any more keep no figures.
        ComplianceResult.objects.exclude(unit_id__in=all_units)._raw_delete(
            ComplianceResult.objects.db
        )
        CompliancePosition.objects.exclude(unit_id__in=all_units)._raw_delete(
            CompliancePosition.objects.db
        )
        total = len(all_units)
        first = _FirstLoad() if _FirstLoad.applies(outermost) else None
        for start in range(0, total, UNIT_BATCH):
            batch = all_units[start : start + UNIT_BATCH]
            installs = _installs(meta, (r for u in batch for r in by_unit.pop(u, ())), devices)
            result = _evaluate(meta, batch, installs, facts, allocations, as_of)
            if first is not None:
                first.add(meta, installs, result, now)
            else:
                _store(meta, batch, installs, result, now)
            installs_total += len(installs)
            for out in result.outcomes.values():
                if out.status == Status.COVERED:
                    covered += 1
                elif out.status == Status.UNLICENSED:
                    unlicensed += 1
            if progress is not None:
                progress(min(start + UNIT_BATCH, total), total)
        if first is not None:
            first.finish()
        stats = RecomputeStats(
            units=total,
            installs=installs_total,
            covered=covered,
            unlicensed=unlicensed,
            seconds=round(time.perf_counter() - started, 3),
        )
        audit.record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="licensing.complianceresult",
            object_repr=_("全量重算合规状况"),
            message=(
                f"units={stats.units} installs={stats.installs} covered={covered} "
                f"unlicensed={unlicensed} as_of={as_of.isoformat()}"
            ),
        )
        for start in range(0, len(answered), 10000):
            RecomputeRequest.objects.filter(id__in=answered[start : start + 10000]).delete()
        hooks.fire(hooks.LICENSING_RECOMPUTED, unit_ids=all_units, device_ids=None)
    if progress is not None and not all_units:
        progress(0, 0)
    return stats


DUE_MESSAGE = "due"


@dataclass
class DueStats:
    since: datetime.date
    as_of: datetime.date
    entitlements: int
    units: int
    written: int


def last_due_run() -> datetime.date | None:
    """The day the last scheduled recompute judged by, from its audit record."""
    from zhengban.core.models import AuditLogEntry

    entry = (
        AuditLogEntry.objects.filter(
            object_type="licensing.complianceresult", message__startswith=f"{DUE_MESSAGE} "
        )
        .order_by("-timestamp", "-id")
        .values_list("message", flat=True)
        .first()
    )
    if entry is None:
        return None
    for part in entry.split():
        if part.startswith("as_of="):
            try:
                return datetime.date.fromisoformat(part[6:])
            except ValueError:
                return None
    return None


def entitlements_with_boundary(since: datetime.date, as_of: datetime.date) -> QuerySet[Entitlement]:
    """Entitlements whose verdicts may differ between the day ``since`` and ``as_of``: a
    term starting, or a term or upgrade right ending (valid through its end day, so its
    verdicts change the day after), in between."""
    return Entitlement.objects.filter(
        Q(start__gt=since, start__lte=as_of)
        | Q(end__gte=since, end__lt=as_of)
        | Q(upgrade_until__gte=since, upgrade_until__lt=as_of)
    )


@transaction.atomic
def recompute_due(
    *, actor: Any = None, as_of: datetime.date | None = None, days: int = 1
) -> DueStats:
    """The scheduled daily recompute: only the units of entitlements whose term boundary
    was crossed since the last scheduled run (at least the last ``days`` days, so a missed
    day is caught up). Allocations carry no end date, so they add no boundary."""
    if days < 1:
        raise ValueError("days must be at least 1")
    as_of = as_of or timezone.localdate()
    since = as_of - datetime.timedelta(days=days)
    last = last_due_run()
    if last is not None and last < since:
        since = last
    ents = list(entitlements_with_boundary(since, as_of).select_related("site_region"))
    units: set[int] = set()
    for ent in ents:
        units |= _affected_units(ent)
    written = recompute_units(units, as_of=as_of) if units else 0
    stats = DueStats(
        since=since, as_of=as_of, entitlements=len(ents), units=len(units), written=written
    )
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        object_type="licensing.complianceresult",
        object_repr=_("按期限变化重算合规状况"),
        message=(
            f"{DUE_MESSAGE} as_of={as_of.isoformat()} since={since.isoformat()} "
            f"entitlements={stats.entitlements} units={stats.units} written={written}"
        ),
    )
    return stats


# --------------------------------------------------------------------------- figures


@dataclass
class Rates:
    required: dict[str, int]
    covered: dict[str, int]

    def rate(self, category: str) -> float | None:
        return engine.genuine_rate(self.covered.get(category, 0), self.required.get(category, 0))

    @property
    def overall(self) -> float | None:
        return self.rate("all")


def rates(positions: QuerySet[CompliancePosition]) -> Rates:
    """Genuine rates for OS, office, antivirus and overall (every commercial product)."""
    required: dict[str, int] = {}
    covered: dict[str, int] = {}
    for category, req, cov in (
        positions.values("category")
        .annotate(r=Sum("required"), c=Sum("covered"))
        .values_list("category", "r", "c")
    ):
        key = category if category in RATE_CATEGORIES else "other"
        required[key] = required.get(key, 0) + (req or 0)
        covered[key] = covered.get(key, 0) + (cov or 0)
    required["all"] = sum(required.values())
    covered["all"] = sum(covered.values())
    return Rates(required, covered)


def rates_by_unit(positions: QuerySet[CompliancePosition], limit: int = 50) -> list[dict[str, Any]]:
    """Per unit: required, covered, rate; lowest rates first."""
    rows = (
        positions.values("unit_id", "unit__name")
        .annotate(required=Sum("required"), covered=Sum("covered"), shortfall=Sum("shortfall"))
        .filter(required__gt=0)
    )
    out = [
        {
            "unit_id": r["unit_id"],
            "name": r["unit__name"],
            "required": r["required"],
            "covered": r["covered"],
            "shortfall": r["shortfall"],
            "rate": engine.genuine_rate(r["covered"], r["required"]),
        }
        for r in rows
    ]
    out.sort(key=lambda r: (r["rate"], -r["required"], r["unit_id"]))
    return out[:limit]


def shortfall_by_product(
    positions: QuerySet[CompliancePosition], limit: int = 20
) -> list[dict[str, Any]]:
    rows = (
        positions.values("product_id", "product__name", "category")
        .annotate(
            required=Sum("required"),
            covered=Sum("covered"),
            shortfall=Sum("shortfall"),
            surplus=Sum("surplus"),
        )
        .filter(shortfall__gt=0)
        .order_by("-shortfall", "product__name")
    )
    return list(rows[:limit])


@dataclass
class DemandLine:
    product_id: int
    product: str
    category: str
    servers: bool
    quantity: int
    price_cap: Decimal | None
    estimate: Decimal | None


def procurement_demand(
    results: QuerySet[ComplianceResult], region: Region | None
) -> tuple[list[DemandLine], Decimal]:
    """Shortfall as procurement demand: one licence per unlicensed device, priced at the
    region's caps (antivirus on servers at the server cap). Products without a cap have no
    estimate; home editions are to be replaced by a unit edition of the same category."""
    policy = policy_for(region)
    caps = {
        ("office", False): policy.office_cap,
        ("office", True): policy.office_cap,
        ("antivirus", False): policy.antivirus_client_cap,
        ("antivirus", True): policy.antivirus_server_cap,
        ("os", False): policy.os_cap,
        ("os", True): policy.os_cap,
    }
    rows = (
        results.filter(status=Status.UNLICENSED)
        .values("product_id", "product__name", "product__category")
        .annotate(
            servers=Count("device", filter=Q(device__device_type="server"), distinct=True),
            devices=Count("device", distinct=True),
        )
        .order_by("product__category", "product__name")
    )
    lines: list[DemandLine] = []
    total = Decimal(0)
    for r in rows:
        for servers, qty in ((False, r["devices"] - r["servers"]), (True, r["servers"])):
            if qty <= 0:
                continue
            cap = caps.get((r["product__category"], servers))
            estimate = cap * qty if cap is not None else None
            total += estimate or 0
            lines.append(
                DemandLine(
                    r["product_id"],
                    r["product__name"],
                    r["product__category"],
                    servers,
                    qty,
                    cap,
                    estimate,
                )
            )
    return lines, total


def devices_without_genuine_os(results: QuerySet[ComplianceResult]) -> int:
    """§三: every PC needs a genuine OS; devices whose OS install is unlicensed."""
    return (
        results.filter(status=Status.UNLICENSED, product__category="os")
        .values("device_id")
        .distinct()
        .count()
    )


def unlicensed_results(
    *, device_ids: Iterable[int] | None = None, unit_ids: Iterable[int] | None = None
) -> list[tuple[int, int, int, str]]:
    """(device id, installation id, product id, reason) of every install whose stored
    verdict is unlicensed, on these devices and/or in these units (set-based, for
    governance's reaction to ``LICENSING_RECOMPUTED``), ordered by device and install."""
    qs = ComplianceResult.objects.filter(status=Status.UNLICENSED)
    if device_ids is not None:
        qs = qs.filter(device_id__in=sorted(set(device_ids)))
    if unit_ids is not None:
        qs = qs.filter(unit_id__in=sorted(set(unit_ids)))
    return list(
        qs.order_by("device_id", "installation_id").values_list(
            "device_id", "installation_id", "product_id", "reason"
        )
    )


def units_judging_device(device_id: int) -> list[int]:
    """Units whose stored verdicts are of this device: its unit, and a unit it left since
    that unit was last recomputed."""
    return sorted(
        set(
            ComplianceResult.objects.filter(device_id=device_id)
            .order_by()
            .values_list("unit_id", flat=True)
            .distinct()
        )
    )


def unlicensed_installations(*, device: Device) -> list[Installation]:
    """The device's installs whose current verdict is unlicensed (read by governance, which
    raises a violation for each)."""
    ids = ComplianceResult.objects.filter(device=device, status=Status.UNLICENSED).values(
        "installation_id"
    )
    return list(Installation.objects.filter(pk__in=ids).select_related("product"))
