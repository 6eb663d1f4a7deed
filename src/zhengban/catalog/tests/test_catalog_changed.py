"""Catalog imports tell licensing what moved (CATALOG_CHANGED): a product's licence facts,
its version list, a suite's components; and imports that change rules re-recognise existing
installs (a re-apply job). The real licensing services recompute, so these tests check the
verdicts that follow, not only the event."""

from __future__ import annotations

import dataclasses

import pytest
from django.utils import timezone

from zhengban.catalog import services as catalog
from zhengban.catalog.choices import ReapplyStatus
from zhengban.catalog.hooks import install_provider, register_install_provider
from zhengban.catalog.models import Product, ReapplyJob
from zhengban.core import hooks
from zhengban.inventory.models import Installation
from zhengban.inventory.services import raw_key
from zhengban.licensing import services as licensing
from zhengban.licensing.choices import Metric, RecomputeReason, Term
from zhengban.licensing.models import ComplianceResult
from zhengban.licensing.testing import install, make_device

OFFICE = "microsoft-office-professional-plus"


@pytest.fixture
def catalog_changed():
    """Every CATALOG_CHANGED as fired: its keyword arguments."""
    calls: list[dict] = []

    def record(**kwargs):
        calls.append(kwargs)

    hooks.register(hooks.CATALOG_CHANGED, record)
    yield calls
    hooks._handlers[hooks.CATALOG_CHANGED].remove(record)


def document(*keys: str) -> dict:
    """An exchange document of these shipped products as the database holds them (their
    publishers and families are found in the database on import)."""
    doc = catalog.export_catalog()
    doc["products"] = [p for p in doc["products"] if p["key"] in keys]
    doc["publishers"], doc["families"] = [], []
    assert sorted(p["key"] for p in doc["products"]) == sorted(keys)
    return doc


def spec(doc: dict, key: str) -> dict:
    return next(p for p in doc["products"] if p["key"] == key)


def verdicts(device) -> list[tuple[str, str, str, str]]:
    return sorted(
        ComplianceResult.objects.filter(device=device).values_list(
            "product__key", "version", "status", "reason"
        )
    )


def pk(key: str) -> int:
    return Product.objects.get(key=key).pk


def test_import_changing_a_licence_model_recomputes_its_installs(org, catalog_changed):
    device = make_device(org.unit_a, "a1")
    install(device, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    licensing.queue_recompute(reason=RecomputeReason.MANUAL, unit_ids=[org.unit_a.pk])
    assert verdicts(device) == [("winrar", "6", "unlicensed", "no_entitlement")]
    doc = document("winrar")
    spec(doc, "winrar")["license_model"] = "free"
    result = catalog.import_catalog(doc, actor=org.supervisor_province)
    assert result.as_dict()["updated"] == {"product": 1}
    assert catalog_changed == [{"product_ids": [pk("winrar")], "unit_ids": None}]
    # Free software gets no stored verdict.
    assert verdicts(device) == []
    # The same document again changes nothing and tells nobody.
    catalog_changed.clear()
    assert not catalog.import_catalog(doc, actor=org.supervisor_province).changed
    assert catalog_changed == []


def test_import_adding_a_version_recomputes_its_installs(org, catalog_changed):
    device = make_device(org.unit_a, "a1")
    install(device, "winrar", "WinRAR 8.01 (64-bit)", "8.1.0")
    # Bought for WinRAR 8, before the catalog knew that version: the raw version is compared
    # numerically and 8.1.0 is above 8.
    licensing.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=Product.objects.get(key="winrar"),
        versions=["8"],
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
    )
    assert verdicts(device) == [("winrar", "8.1.0", "unlicensed", "version_above")]
    doc = document("winrar")
    assert spec(doc, "winrar")["versions"] == ["3", "4", "5", "6", "7"]
    spec(doc, "winrar")["versions"].append("8")
    result = catalog.import_catalog(doc, actor=org.supervisor_province)
    assert result.as_dict()["created"] == {"version": 1}
    assert catalog_changed == [{"product_ids": [pk("winrar")], "unit_ids": None}]
    assert verdicts(device) == [("winrar", "8", "covered", "per_device")]


def test_import_changing_a_suite_recomputes_its_components(org, catalog_changed):
    device = make_device(org.unit_a, "a1")
    install(device, OFFICE, "Microsoft Office 专业增强版 2016", "16.0.4266")
    install(device, "microsoft-word", "Microsoft Word 2016", "16.0.4266")
    licensing.queue_recompute(reason=RecomputeReason.MANUAL, unit_ids=[org.unit_a.pk])
    assert verdicts(device) == [
        (OFFICE, "2016", "unlicensed", "no_entitlement"),
        ("microsoft-word", "2016", "not_required", "suite_component"),
    ]
    components = sorted(Product.objects.get(key=OFFICE).components.values_list("key", flat=True))
    assert components == [
        "microsoft-access",
        "microsoft-excel",
        "microsoft-onenote",
        "microsoft-outlook",
        "microsoft-powerpoint",
        "microsoft-publisher",
        "microsoft-word",
    ]
    doc = document(OFFICE, *components)
    # The region decides Word is not part of this suite any more.
    spec(doc, OFFICE)["components"].remove("microsoft-word")
    result = catalog.import_catalog(doc, actor=org.supervisor_province)
    assert result.as_dict()["updated"] == {"components": 1}
    assert catalog_changed == [
        {"product_ids": sorted([pk(OFFICE), pk("microsoft-word")]), "unit_ids": None}
    ]
    assert verdicts(device) == [
        (OFFICE, "2016", "unlicensed", "no_entitlement"),
        ("microsoft-word", "2016", "unlicensed", "no_entitlement"),
    ]


# ------------------------------------------------------------------ rules: re-recognition

LIXIA = "lixia-approval"


def lixia_document(rule_name: str) -> dict:
    """A regional document adding one in-house-style product recognised by an exact name."""
    return {
        "format": "zhengban-catalog",
        "version": 1,
        "publishers": [],
        "families": [{"key": LIXIA, "name": "历下审批助手"}],
        "products": [
            {
                "key": LIXIA,
                "family": LIXIA,
                "name": "历下审批助手",
                "category": "industry",
                "license_model": "commercial",
                "domestic": True,
                "rules": [{"id": "lixia-approval-name", "type": "exact", "name": rule_name}],
            }
        ],
    }


def raw_install(device, name: str, version: str) -> Installation:
    """An unrecognised install keyed as inventory keys it (no publisher, no OS: platform '')."""
    return Installation.objects.create(
        device=device,
        kind="application",
        name=name,
        version=version,
        raw_key=raw_key(name, "", version, ""),
        first_seen=timezone.now(),
    )


def products_of(*installs: Installation) -> list[str | None]:
    return [
        Installation.objects.filter(pk=i.pk).values_list("product__key", flat=True).get()
        for i in installs
    ]


def test_import_changing_rules_re_recognises_existing_installs(
    org, catalog_changed, django_capture_on_commit_callbacks
):
    device = make_device(org.unit_a, "a1")
    assistant = raw_install(device, "历下审批助手", "1.0")
    system = raw_install(device, "历下审批系统", "2.0")
    # The re-apply task is enqueued on commit (and run at once by the test backend).
    with django_capture_on_commit_callbacks(execute=True):
        result = catalog.import_catalog(
            lixia_document("历下审批助手"), actor=org.supervisor_province, source="历下.json"
        )
    assert result.as_dict()["created"] == {"family": 1, "product": 1, "rule": 1}
    job = ReapplyJob.objects.get()
    assert (job.status, job.product, job.reason, job.unrecognised_only) == (
        ReapplyStatus.DONE,
        None,
        "导入软件目录:历下.json",
        False,
    )
    assert (job.total, job.done, job.changed) == (2, 2, 1)
    assert products_of(assistant, system) == [LIXIA, None]
    # Licensing heard which unit's installs moved, and judged the new product there.
    assert catalog_changed == [{"product_ids": [pk(LIXIA)], "unit_ids": [org.unit_a.pk]}]
    assert verdicts(device) == [(LIXIA, "1.0", "unlicensed", "no_entitlement")]

    # The same document again: nothing changed, no job.
    with django_capture_on_commit_callbacks(execute=True):
        assert not catalog.import_catalog(
            lixia_document("历下审批助手"), actor=org.supervisor_province
        ).changed
    assert ReapplyJob.objects.count() == 1

    # A changed rule moves the product from one install to the other.
    catalog_changed.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = catalog.import_catalog(
            lixia_document("历下审批系统"), actor=org.supervisor_province
        )
    assert result.as_dict()["updated"] == {"rule": 1}
    job = ReapplyJob.objects.latest("pk")
    assert (ReapplyJob.objects.count(), job.status, job.total, job.changed) == (
        2,
        ReapplyStatus.DONE,
        2,
        2,
    )
    assert products_of(assistant, system) == [None, LIXIA]
    assert catalog_changed == [{"product_ids": [pk(LIXIA)], "unit_ids": [org.unit_a.pk]}]
    assert verdicts(device) == [(LIXIA, "2.0", "unlicensed", "no_entitlement")]


def test_import_without_installations_starts_no_job(org, django_capture_on_commit_callbacks):
    assert not Installation.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        result = catalog.import_catalog(lixia_document("历下审批助手"), actor=None)
    assert result.as_dict()["created"] == {"family": 1, "product": 1, "rule": 1}
    assert ReapplyJob.objects.count() == 0


def test_import_asks_the_providers_has_installs_when_it_has_one(
    org, django_capture_on_commit_callbacks
):
    raw_install(make_device(org.unit_a, "a1"), "历下审批助手", "1.0")
    real = install_provider()
    asked = []

    def has_installs() -> bool:
        asked.append(True)
        return False  # a provider that says so is believed: no job

    register_install_provider(dataclasses.replace(real, has_installs=has_installs))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            catalog.import_catalog(lixia_document("历下审批助手"), actor=None)
    finally:
        register_install_provider(real)
    assert (asked, ReapplyJob.objects.count()) == ([True], 0)


def test_import_changing_no_rule_starts_no_job(org, django_capture_on_commit_callbacks):
    raw_install(make_device(org.unit_a, "a1"), "WinRAR 6.24 (64-bit)", "6.24.0")
    doc = document("winrar")
    spec(doc, "winrar")["license_model"] = "free"
    with django_capture_on_commit_callbacks(execute=True):
        result = catalog.import_catalog(doc, actor=org.supervisor_province)
    assert result.as_dict()["updated"] == {"product": 1}
    assert ReapplyJob.objects.count() == 0
