"""Builders for licensing tests and benchmarks: devices and installs written straight into
the inventory tables (the inventory app's ingest is not what these tests are about)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.utils import timezone

from zhengban.catalog.models import Product
from zhengban.inventory.models import Device, Installation
from zhengban.inventory.testing import make_device

__all__ = ["install", "make_device", "product"]

_products: dict[str, Product] = {}


def product(key: str) -> Product:
    cached = _products.get(key)
    if cached is None or not Product.objects.filter(pk=cached.pk, key=key).exists():
        cached = _products[key] = Product.objects.get(key=key)
    return cached


def install(
    device: Device, product_key: str | None, name: str, version: str = "", kind: str = "application"
) -> Installation:
    raw_key = hashlib.sha1(f"{name}|{version}".encode()).hexdigest()
    return Installation.objects.create(
        device=device,
        kind=kind,
        name=name,
        version=version,
        raw_key=raw_key,
        product=product(product_key) if product_key else None,
        first_seen=timezone.now(),
    )


# ------------------------------------------------------------------------------ scoping matrix


def _matrix_contract(unit: Any) -> Any:
    from zhengban.licensing.models import Contract

    # Factories may be called several times per unit (the query-count test).
    n = Contract.objects.filter(unit=unit).count() + 1
    return Contract.objects.create(
        unit=unit,
        number=f"{unit.name}-合同{n}",
        title=f"{unit.name}软件采购",
        supplier="矩阵供应商",
        signed_on=timezone.localdate(),
        amount=100,
        funding_source="budget",
        procurement_method="centralised",
    )


def _matrix_document(unit: Any) -> Any:
    from django.core.files.base import ContentFile

    from zhengban.licensing.models import ContractDocument

    doc = ContractDocument(contract=_matrix_contract(unit), title=f"{unit.name}扫描件")
    doc.file.save("matrix.pdf", ContentFile(b"%PDF-1.4"), save=True)
    return doc


def _matrix_entitlement(unit: Any) -> Any:
    from zhengban.licensing.models import Entitlement

    return Entitlement.objects.create(
        unit=unit,
        product=Product.objects.filter(license_model="commercial").order_by("pk").first(),
        metric="per_device",
        term="perpetual",
        quantity=5,
        # In str(): the product alone is national catalogue data, seen by everyone.
        versions=[f"{unit.name}版"],
    )


def _matrix_allocation(unit: Any) -> Any:
    from zhengban.licensing.models import Allocation

    device = make_device(unit, f"{unit.name}-PC")
    return Allocation.objects.create(
        entitlement=_matrix_entitlement(unit), unit=unit, device=device
    )


def _matrix_result(unit: Any) -> Any:
    from zhengban.licensing.models import ComplianceResult

    device = make_device(unit, f"{unit.name}-终端")
    inst = install(device, None, f"{unit.name}软件", "1.0")
    ent = _matrix_entitlement(unit)
    return ComplianceResult.objects.create(
        installation=inst,
        unit=unit,
        device=device,
        product=ent.product,
        version="1.0",
        status="covered",
        reason="per_device",
        entitlement=ent,
    )


def _matrix_position(unit: Any) -> Any:
    from zhengban.licensing.models import CompliancePosition

    return CompliancePosition.objects.create(
        unit=unit,
        product=Product.objects.filter(license_model="commercial").order_by("pk").first(),
        category="os",
        required=3,
        covered=1,
        shortfall=2,
        computed=timezone.now(),
    )


def _matrix_disposal(unit: Any) -> Any:
    from zhengban.licensing.models import AssetDisposal

    return AssetDisposal.objects.create(
        entitlement=_matrix_entitlement(unit),
        method="scrap",
        date=timezone.localdate(),
        quantity=1,
        approval=f"{unit.name}处置批复",
        reason=f"{unit.name}软件报废",
    )


def _register_matrix() -> None:
    from zhengban.core.testing import register_factory, register_url
    from zhengban.licensing.models import (
        Allocation,
        AssetDisposal,
        CompliancePosition,
        ComplianceResult,
        Contract,
        ContractDocument,
        Entitlement,
    )
    from zhengban.orgs.models import Region, Unit

    register_factory(Contract, _matrix_contract)
    register_factory(ContractDocument, _matrix_document)
    register_factory(Entitlement, _matrix_entitlement)
    register_factory(Allocation, _matrix_allocation)
    register_factory(ComplianceResult, _matrix_result)
    register_factory(CompliancePosition, _matrix_position)
    register_factory(AssetDisposal, _matrix_disposal)
    for name in ("contract_detail", "contract_edit", "document_upload"):
        register_url(f"licensing:{name}", Contract)
    register_url("licensing:document_download", ContractDocument)
    for name in (
        "entitlement_detail",
        "entitlement_edit",
        "entitlement_reveal",
        "entitlement_allocate",
        "entitlement_share",
        "entitlement_dispose",
    ):
        register_url(f"licensing:{name}", Entitlement)
    register_url("licensing:allocation_delete", Allocation)
    register_url("licensing:compliance_unit", Unit)
    register_url("licensing:ledger_unit", Unit)
    register_url("licensing:compliance_region", Region)
    register_url("licensing:policy_region", Region)
    register_url("licensing:policy_edit", Region)
    register_url("licensing:policy_inherit", Region)


_register_matrix()
