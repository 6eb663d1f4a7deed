"""Catalog features fed by install data (through catalog.hooks), and catalog editing.

Inventory provides the install data in production; here a tiny in-memory provider plays its
part, registered for the test and removed afterwards, so the catalog side is tested exactly
as inventory will call it.
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from zhengban.catalog import services
from zhengban.catalog.choices import ReapplyStatus
from zhengban.catalog.hooks import InstallProvider, install_provider, register_install_provider
from zhengban.catalog.models import Product, Publisher, ReapplyJob, RecognitionRule
from zhengban.core.models import AuditLogEntry
from zhengban.core.scoping import scope_queryset
from zhengban.orgs.models import Unit


class MemoryInstalls:
    """Installs as inventory would report them: raw fields, unit, device, stored product."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.batch_sizes: list[int] = []

    def _visible_units(self, user) -> set[int]:
        return set(scope_queryset(Unit.objects.all(), user).values_list("pk", flat=True))

    def unrecognised_records(self, *, user):
        units = self._visible_units(user)
        devices: dict[tuple, set] = {}
        for r in self.rows:
            if r["product_id"] is None and r["unit_id"] in units:
                key = (r["name"], r["publisher"], r["version"], r["platform"])
                devices.setdefault(key, set()).add(r["device"])
        return [
            {"name": k[0], "publisher": k[1], "version": k[2], "platform": k[3], "devices": len(v)}
            for k, v in devices.items()
        ]

    def product_devices(self, *, user, product_id, limit):
        units = self._visible_units(user)
        mine = [r for r in self.rows if r["product_id"] == product_id and r["unit_id"] in units]
        names = sorted({r["device"] for r in mine})
        rows = [
            {"id": i, "name": d, "unit": "", "version": "", "url": ""}
            for i, d in enumerate(names[:limit])
        ]
        return len(names), rows

    def _groups(self, unrecognised_only):
        seen = {}
        for r in self.rows:
            if unrecognised_only and r["product_id"] is not None:
                continue
            key = (r["name"], r["publisher"], r["version"], r["platform"], r["unit_id"])
            seen.setdefault(
                key + (r["product_id"],),
                dict(zip(("name", "publisher", "version", "platform", "unit_id"), key))
                | {"product_id": r["product_id"]},
            )
        return list(seen.values())

    def count_raw_groups(self, *, unrecognised_only):
        return len(self._groups(unrecognised_only))

    def raw_groups(self, *, unrecognised_only, batch_size):
        groups = self._groups(unrecognised_only)
        for start in range(0, len(groups), batch_size):
            self.batch_sizes.append(len(groups[start : start + batch_size]))
            yield groups[start : start + batch_size]

    def apply_products(self, *, changes):
        n = 0
        for group, product_id in changes:
            for r in self.rows:
                if (
                    all(r[k] == group[k] for k in ("name", "publisher", "version", "platform"))
                    and r["unit_id"] == group["unit_id"]
                    and r["product_id"] == group["product_id"]
                ):
                    r["product_id"] = product_id
                    n += 1
        return n

    def provider(self) -> InstallProvider:
        return InstallProvider(
            unrecognised_records=self.unrecognised_records,
            product_devices=self.product_devices,
            count_raw_groups=self.count_raw_groups,
            raw_groups=self.raw_groups,
            apply_products=self.apply_products,
        )


def install(name, unit, device, product_id=None, publisher="", version="", platform="windows"):
    return {
        "name": name,
        "publisher": publisher,
        "version": version,
        "platform": platform,
        "unit_id": unit.pk,
        "device": device,
        "product_id": product_id,
    }


@pytest.fixture
def installs(org, empty_catalog, fixture_doc):
    services.import_catalog(fixture_doc, actor=None)
    winrar = Product.objects.get(key="winrar").pk
    memory = MemoryInstalls(
        [
            install("WinRAR 6.24 (64-bit)", org.unit_a, "A-PC1", winrar, "win.rar GmbH", "6.24"),
            install("WinRAR 6.24 (64-bit)", org.unit_a, "A-PC2", winrar, "win.rar GmbH", "6.24"),
            install("WinRAR 6.24 (64-bit)", org.unit_b, "B-PC1", winrar, "win.rar GmbH", "6.24"),
            install("Bandizip", org.unit_a, "A-PC1", None, "Bandisoft", "7.3"),
            install("Bandizip", org.unit_a, "A-PC2", None, "Bandisoft", "7.3"),
            install("Bandizip", org.unit_a, "A-PC2", None, "Bandisoft", "7.3"),  # per-user
            install("Bandizip", org.unit_b, "B-PC1", None, "Bandisoft", "7.2"),
            install("历下审批助手", org.unit_a, "A-PC1", None, "历下区财政局", "1.0"),
        ]
    )
    # The inventory app registers the real provider at start-up: put it back afterwards.
    previous = install_provider()
    register_install_provider(memory.provider())
    yield memory
    register_install_provider(previous)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_queue_ranks_unrecognised_records_by_devices_within_scope(org, installs):
    queue = services.unrecognised_queue(
        services.pending_unrecognised_records(org.officer_a), unit_id=org.unit_a.pk
    )
    assert [(e.name, e.devices, e.versions) for e in queue] == [
        ("Bandizip", 2, ["7.3"]),
        ("历下审批助手", 1, ["1.0"]),
    ]
    queue = services.unrecognised_queue(
        services.pending_unrecognised_records(org.supervisor_province)
    )
    assert [(e.name, e.devices, e.versions) for e in queue] == [
        ("Bandizip", 3, ["7.3", "7.2"]),
        ("历下审批助手", 1, ["1.0"]),
    ]
    page = login(org.officer_b).get(reverse("catalog:unrecognised")).content.decode()
    assert "Bandizip" in page and "历下审批助手" not in page


def test_product_page_lists_devices_within_scope(org, installs):
    winrar = Product.objects.get(key="winrar")
    assert services.product_devices(user=org.officer_a, product=winrar) == (
        services.ProductDevices(
            available=True,
            count=2,
            rows=[
                {"id": 0, "name": "A-PC1", "unit": "", "version": "", "url": ""},
                {"id": 1, "name": "A-PC2", "unit": "", "version": "", "url": ""},
            ],
        )
    )
    page = login(org.officer_b).get(reverse("catalog:product_detail", args=[winrar.pk]))
    html = page.content.decode()
    assert "B-PC1" in html and "A-PC1" not in html and 'data-testid="device-count">1 ' in html


@pytest.fixture
def no_provider():
    previous = install_provider()
    register_install_provider(None)
    yield
    register_install_provider(previous)


def test_without_a_provider_nothing_is_known(org, empty_catalog, fixture_doc, no_provider):
    services.import_catalog(fixture_doc, actor=None)
    winrar = Product.objects.get(key="winrar")
    assert services.pending_unrecognised_records(org.officer_a) == []
    assert services.product_devices(user=org.officer_a, product=winrar).available is False
    job = ReapplyJob.objects.create()
    job = services.run_reapply(job_id=job.pk)
    assert (job.status, job.total, job.done, job.changed) == (ReapplyStatus.DONE, 0, 0, 0)


def test_new_rule_is_reapplied_in_the_background(org, installs, django_capture_on_commit_callbacks):
    winrar = Product.objects.get(key="winrar")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        rule = services.create_rule_from_unrecognised(
            actor=org.supervisor_province,
            name="Bandizip",
            rule_type="normalized",
            new_product={
                "key": "bandizip",
                "name": "Bandizip",
                "category": "compression",
                "license_model": "free",
            },
        )
    assert len(callbacks) == 1  # the task is enqueued once the rule is committed
    job = ReapplyJob.objects.get()
    bandizip = rule.product
    assert (job.status, job.product, job.total, job.done, job.changed) == (
        ReapplyStatus.DONE,
        bandizip,
        5,  # distinct (raw record, unit, stored product) groups
        5,
        4,
    )
    assert Counter(r["product_id"] for r in installs.rows) == {
        winrar.pk: 3,
        bandizip.pk: 4,
        None: 1,
    }
    assert AuditLogEntry.objects.filter(object_type="catalog.reapplyjob").count() == 2
    # The page shows the finished job; a finished job's fragment stops polling.
    page = login(org.officer_a).get(reverse("catalog:product_detail", args=[bandizip.pk]))
    assert 'data-testid="reapply-progress"' in page.content.decode()
    fragment = login(org.officer_a).get(reverse("catalog:reapply_progress", args=[job.pk]))
    assert fragment.status_code == 200 and "hx-trigger" not in fragment.content.decode()
    # Running it again (a retried task) does nothing.
    assert services.run_reapply(job_id=job.pk).changed == 4


def test_queued_job_fragment_polls_and_batches_follow_batch_size(org, installs):
    job = ReapplyJob.objects.create(reason="测试", unrecognised_only=True)
    client = login(org.supervisor_province)
    fragment = client.get(reverse("catalog:reapply_progress", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in fragment and "0/0" in fragment
    RecognitionRule.objects.all().delete()  # nothing recognises anything any more
    services._bump_revision()
    job = services.run_reapply(job_id=job.pk, batch_size=2)
    assert (job.total, job.done, job.changed, installs.batch_sizes) == (3, 3, 0, [2, 1])
    # Officers of a unit see jobs of products they may see only.
    assert (
        login(org.officer_a).get(reverse("catalog:reapply_progress", args=[job.pk])).status_code
        == 404
    )


def test_bureau_edits_a_shipped_product_with_audit(org, empty_catalog, fixture_doc):
    services.import_catalog(fixture_doc, actor=None)
    winrar = Product.objects.get(key="winrar")
    url = reverse("catalog:product_edit", args=[winrar.pk])
    client = login(org.supervisor_province)
    assert client.get(url).status_code == 200
    data = {
        "name": "WinRAR 压缩",
        "edition": "",
        "publisher": winrar.publisher_id or "",
        "category": "compression",
        "license_model": "commercial",
        "domestic": "",
        "home_edition": "",
        "description": "个人免费,单位须购买",
    }
    response = client.post(url, data)
    assert response.status_code == 302
    winrar.refresh_from_db()
    assert (winrar.name, winrar.description, winrar.local) == (
        "WinRAR 压缩",
        "个人免费,单位须购买",
        True,
    )
    entry = AuditLogEntry.objects.get(object_type="catalog.product", object_id=str(winrar.pk))
    assert (entry.action, entry.before["name"], entry.after["name"]) == (
        "update",
        "WinRAR",
        "WinRAR 压缩",
    )
    # Re-importing the shipped document keeps the region's correction.
    services.import_catalog(fixture_doc, actor=None)
    winrar.refresh_from_db()
    assert winrar.name == "WinRAR 压缩"
    # Officers and staff may not change the shared catalog.
    assert login(org.officer_a).post(url, data).status_code == 403
    assert login(org.staff_a).get(url).status_code == 403


def test_officer_adds_and_edits_only_own_inhouse_products(org, empty_catalog, fixture_doc):
    services.import_catalog(fixture_doc, actor=None)
    client = login(org.officer_a)
    response = client.post(
        reverse("catalog:product_create"),
        {
            "key": "lixia-approval",
            "name": "历下审批助手",
            "category": "industry",
            "license_model": "commercial",
        },
    )
    assert response.status_code == 302
    product = Product.objects.get(key="lixia-approval")
    assert (product.owner_unit, product.local, product.family.key) == (
        org.unit_a,
        True,
        "lixia-approval",
    )
    edit = reverse("catalog:product_edit", args=[product.pk])
    assert client.get(edit).status_code == 200
    assert login(org.officer_b).get(edit).status_code == 404
    assert login(org.supervisor_province).get(edit).status_code == 403
    with pytest.raises(PermissionDenied):
        services.save_product(actor=org.officer_b, values={"name": "x"}, product=product)
    bad = client.post(reverse("catalog:product_create"), {"key": "Bad Key", "name": "x"})
    assert bad.status_code == 400


def test_bureau_creates_and_edits_publishers(org, empty_catalog, fixture_doc):
    services.import_catalog(fixture_doc, actor=None)
    client = login(org.supervisor_province)
    response = client.post(
        reverse("catalog:publisher_create"),
        {
            "key": "lixia-soft",
            "name": "Lixia Soft",
            "name_zh": "历下软件",
            "domestic": "on",
            "aliases": "Lixia Soft Co., Ltd.\n\n历下软件有限公司\nLixia Soft Co., Ltd.",
        },
    )
    assert response.status_code == 302
    pub = Publisher.objects.get(key="lixia-soft")
    assert (pub.aliases, pub.domestic, pub.local) == (
        ["Lixia Soft Co., Ltd.", "历下软件有限公司"],
        True,
        True,
    )
    url = reverse("catalog:publisher_edit", args=[pub.pk])
    assert client.post(url, {"name": "Lixia Software", "aliases": ""}).status_code == 302
    pub.refresh_from_db()
    assert (pub.name, pub.aliases, pub.domestic) == ("Lixia Software", [], False)
    entries = AuditLogEntry.objects.filter(object_type="catalog.publisher").order_by("id")
    assert [e.action for e in entries] == ["create", "update"]
    assert login(org.officer_a).get(url).status_code == 403
    # The recogniser sees the new alias at once (the catalog revision moved).
    assert services.current_revision() >= 2


def test_list_pages_offer_create_buttons_to_editors_only(org, empty_catalog, fixture_doc):
    services.import_catalog(fixture_doc, actor=None)
    products, publishers = reverse("catalog:product_list"), reverse("catalog:publisher_list")
    new_product, new_publisher = (
        reverse("catalog:product_create"),
        reverse("catalog:publisher_create"),
    )
    bureau, officer, staff = (
        login(org.supervisor_province),
        login(org.officer_a),
        login(org.staff_a),
    )
    assert new_product in bureau.get(products).content.decode()
    assert new_publisher in bureau.get(publishers).content.decode()
    assert new_product in officer.get(products).content.decode()
    assert new_publisher not in officer.get(publishers).content.decode()
    assert new_product not in staff.get(products).content.decode()
