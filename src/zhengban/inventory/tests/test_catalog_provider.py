"""Inventory's install data as the catalog sees it (``catalog.hooks``), end to end: agent
inventories over HTTP → the unrecognised queue → a rule made from it → the re-apply job →
the product page lists the devices."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from zhengban.catalog import services as catalog
from zhengban.catalog.choices import ReapplyStatus
from zhengban.catalog.hooks import install_provider
from zhengban.catalog.models import Product, ReapplyJob
from zhengban.inventory import catalog_provider, services
from zhengban.inventory.models import Device, Installation, InstallationEvent

pytestmark = pytest.mark.django_db

APP = "历下审批助手 3"


@pytest.fixture(autouse=True)
def provider():
    # Another app's test may have replaced the provider registered at start-up.
    catalog_provider.register()
    yield install_provider()
    catalog_provider.register()


def _inventory(deviceid: str, host: str, os_name: str, software: list[dict]) -> str:
    return json.dumps(
        {
            "deviceid": deviceid,
            "content": {
                "versionclient": "GLPI-Agent_v1.7",
                "hardware": {"name": host},
                "operatingsystem": {"full_name": os_name, "version": "10"},
                "softwares": software,
            },
        },
        ensure_ascii=False,
    )


def _post(client: Client, token: str, body: str) -> int:
    url = reverse("inventory:ingest", args=[token])
    return client.post(url, body.encode(), content_type="application/json").status_code


SOFTWARE = [
    {"name": APP, "publisher": "历下区财政局", "version": "3.1"},
    {"name": "7-Zip 23.01 (x64)", "publisher": "Igor Pavlov", "version": "23.01"},
]


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_provider_is_registered_at_start_up(provider):
    assert provider is not None
    assert provider.unrecognised_records is catalog_provider.unrecognised_records


def test_unrecognised_record_becomes_a_rule_and_the_product_lists_the_devices(
    org, client, django_capture_on_commit_callbacks
):
    _row, token_a = services.create_enrollment_token(actor=None, unit=org.unit_a)
    _row, token_b = services.create_enrollment_token(actor=None, unit=org.unit_b)
    win = "Microsoft Windows 10 专业版"
    assert _post(client, token_a, _inventory("a1", "A-PC1", win, SOFTWARE)) == 200
    assert _post(client, token_a, _inventory("a2", "A-PC2", win, SOFTWARE)) == 200
    # Same record on a Linux machine of another unit: another platform, another unit.
    assert _post(client, token_b, _inventory("b1", "B-PC1", "UOS 20", SOFTWARE[:1])) == 200
    assert Installation.objects.filter(name=APP, product__isnull=True).count() == 3
    sevenzip = Installation.objects.filter(name="7-Zip 23.01 (x64)").values_list(
        "product__key", flat=True
    )
    assert set(sevenzip) == {"7zip"}

    # The queue: device counts per raw record, within each person's scope.
    records = catalog.pending_unrecognised_records(org.officer_a)
    mine = [r for r in records if r["name"] == APP]
    assert mine == [
        {
            "name": APP,
            "publisher": "历下区财政局",
            "version": "3.1",
            "platform": "windows",
            "devices": 2,
        }
    ]
    province = [
        (r["platform"], r["devices"])
        for r in catalog.pending_unrecognised_records(org.supervisor_province)
        if r["name"] == APP
    ]
    assert sorted(province) == [("linux", 1), ("windows", 2)]
    queue = catalog.unrecognised_queue(records, unit_id=org.unit_a.pk)
    entry = next(e for e in queue if e.name == APP)
    assert (entry.devices, entry.versions, entry.platform) == (2, ["3.1"], "windows")
    page = _login(org.officer_a).get(reverse("catalog:unrecognised"))
    assert page.status_code == 200 and APP in page.content.decode()

    # The officer makes it the unit's in-house product; the job re-points the installs.
    groups_before = catalog_provider.count_raw_groups(unrecognised_only=False)
    with django_capture_on_commit_callbacks(execute=True):
        rule = catalog.create_rule_from_unrecognised(
            actor=org.officer_a,
            name=APP,
            publisher="历下区财政局",
            platform="windows",
            owner_unit=org.unit_a,
            new_product={
                "key": "lixia-approval",
                "name": "历下审批助手",
                "category": "other",
                "license_model": "free",
            },
        )
    product = rule.product
    job = ReapplyJob.objects.get(product=product)
    # Groups: (APP, unit A, windows), (APP, unit B, linux), (7-Zip, unit A), (the OS, unit
    # A), (APP…), … every distinct raw record per unit and stored product.
    assert (job.status, job.total, job.done, job.changed) == (
        ReapplyStatus.DONE,
        groups_before,
        groups_before,
        2,
    )
    assert groups_before == 5
    by_host = dict(
        Installation.objects.filter(name=APP).values_list("device__hostname", "product__key")
    )
    # The in-house rule is unit A's: unit B's copy stays unrecognised.
    assert by_host == {"A-PC1": "lixia-approval", "A-PC2": "lixia-approval", "B-PC1": None}
    assert [
        r["name"] for r in catalog.pending_unrecognised_records(org.officer_a) if r["name"] == APP
    ] == []

    # The product page lists the two devices, with their versions and links.
    count, rows = catalog_provider.product_devices(
        user=org.officer_a, product_id=product.pk, limit=50
    )
    pcs = {d.hostname: d.pk for d in Device.objects.filter(unit=org.unit_a)}
    assert count == 2
    assert [dict(r) for r in rows] == [
        {
            "id": pcs[host],
            "name": host,
            "unit": org.unit_a.name,
            "version": "3.1",
            "url": reverse("inventory:device_detail", args=[pcs[host]]),
        }
        for host in ("A-PC1", "A-PC2")
    ]
    html = (
        _login(org.officer_a)
        .get(reverse("catalog:product_detail", args=[product.pk]))
        .content.decode()
    )
    assert 'data-testid="device-count">2 ' in html
    assert reverse("inventory:device_detail", args=[pcs["A-PC1"]]) in html
    # Unit B's officer does not see unit A's devices of a shared product.
    sevenzip_product = Product.objects.get(key="7zip")
    assert catalog_provider.product_devices(
        user=org.officer_b, product_id=sevenzip_product.pk, limit=50
    ) == (0, [])
    assert (
        catalog_provider.product_devices(
            user=org.officer_a, product_id=sevenzip_product.pk, limit=1
        )[0]
        == 2
    )


def test_apply_products_changes_only_the_matching_unit_and_old_product(org, client):
    _row, token_a = services.create_enrollment_token(actor=None, unit=org.unit_a)
    _row, token_b = services.create_enrollment_token(actor=None, unit=org.unit_b)
    win = "Microsoft Windows 11 专业版"
    assert _post(client, token_a, _inventory("a1", "A-PC1", win, SOFTWARE)) == 200
    assert _post(client, token_b, _inventory("b1", "B-PC1", win, SOFTWARE)) == 200
    target = Product.objects.get(key="7zip")
    batches = list(catalog_provider.raw_groups(unrecognised_only=True, batch_size=1))
    app_groups = [g for batch in batches for g in batch if g["name"] == APP]
    assert [len(b) for b in batches] == [1, 1]
    assert sorted(g["unit_id"] for g in app_groups) == sorted([org.unit_a.pk, org.unit_b.pk])
    group_a = next(g for g in app_groups if g["unit_id"] == org.unit_a.pk)
    assert group_a == {
        "name": APP,
        "publisher": "历下区财政局",
        "version": "3.1",
        "platform": "windows",
        "unit_id": org.unit_a.pk,
        "product_id": None,
    }
    assert catalog_provider.apply_products(changes=[(group_a, target.pk)]) == 1
    # The same change again finds nothing still on the old product.
    assert catalog_provider.apply_products(changes=[(group_a, target.pk)]) == 0
    assert dict(
        Installation.objects.filter(name=APP).values_list("device__unit_id", "product_id")
    ) == {org.unit_a.pk: target.pk, org.unit_b.pk: None}
    assert catalog_provider.count_raw_groups(unrecognised_only=True) == 1


def test_reimaged_device_is_recognised_again_with_its_new_platform(org, client):
    _row, token = services.create_enrollment_token(actor=None, unit=org.unit_a)
    kept = [{"name": "WPS Office", "publisher": "Kingsoft", "version": "11.1.0"}]
    assert _post(client, token, _inventory("a1", "A-PC1", "Microsoft Windows 10", kept)) == 200
    assert _post(client, token, _inventory("a1", "A-PC1", "Kylin V10 SP1", kept)) == 200
    row = Installation.objects.get(name="WPS Office")
    assert row.raw_key == services.raw_key("WPS Office", "Kingsoft", "11.1.0", "linux")
    groups = [
        g
        for batch in catalog_provider.raw_groups(unrecognised_only=False, batch_size=100)
        for g in batch
        if g["name"] == "WPS Office"
    ]
    assert [g["platform"] for g in groups] == ["linux"]
    # Re-imaged: the old OS is removed and the new one installed; the kept program has no
    # event, only its recognition key follows the platform.
    assert sorted(InstallationEvent.objects.values_list("event_type", "name")) == [
        ("installed", "Kylin V10 SP1"),
        ("removed", "Microsoft Windows 10"),
    ]
