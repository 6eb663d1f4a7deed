import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from zhengban.catalog import services
from zhengban.catalog.document import load_catalog
from zhengban.catalog.models import (
    CatalogState,
    Product,
    ProductFamily,
    ProductVersion,
    Publisher,
    RecognitionRule,
    SwidTag,
)
from zhengban.core.models import AuditLogEntry


@pytest.mark.django_db
def test_fresh_database_holds_the_shipped_catalog():
    shipped = load_catalog()
    assert Product.objects.filter(owner_unit=None).count() == len(shipped["products"])
    # (Not compared with the files' digest: the data files may change while tests run.)
    assert len(CatalogState.objects.get().shipped_digest) == 64


def test_import_is_idempotent(empty_catalog, fixture_doc, org):
    first = services.import_catalog(fixture_doc, actor=org.supervisor_province, source="mini")
    assert first.as_dict() == {
        "created": {
            "family": 14,
            "product": 22,
            "publisher": 9,
            "rule": 30,
            "swid": 1,
            "version": 12,
        },
        "updated": {},
        "deleted": {},
        "kept_local": {},
    }
    revision = services.current_revision()
    entry = AuditLogEntry.objects.filter(action="import").latest("id")
    assert (entry.actor_name, entry.after["created"]["product"]) == ("supervisor_p", 22)

    second = services.import_catalog(fixture_doc, actor=None, source="mini")
    assert not second.changed
    assert services.current_revision() == revision
    assert (Product.objects.count(), RecognitionRule.objects.count()) == (22, 30)
    assert list(
        ProductVersion.objects.filter(product__key="microsoft-office").values_list(
            "version", flat=True
        )
    ) == ["2003", "2007", "2010", "2013", "2016", "2019", "2021"]
    assert SwidTag.objects.get().product.key == "microsoft-office-professional-plus"


def test_export_then_import_changes_nothing(empty_catalog, fixture_doc):
    services.import_catalog(fixture_doc, actor=None)
    exported = services.export_catalog()
    assert not services.import_catalog(exported, actor=None).changed
    # Catalog order, as in the imported document.
    assert [p["key"] for p in exported["products"]] == [p["key"] for p in fixture_doc["products"]]


def test_update_keeps_local_rules_and_products(empty_catalog, fixture_doc, org):
    services.import_catalog(fixture_doc, actor=None)
    winrar = Product.objects.get(key="winrar")
    alias = services.create_rule_from_unrecognised(
        actor=org.supervisor_province, name="WinRAR 烈火汉化版 6.0", product=winrar
    )
    assert (alias.rule_type, alias.pattern, alias.local) == (
        "normalized",
        "winrar 烈火汉化版",
        True,
    )
    Product.objects.filter(key="adobe-reader").update(local=True, name="本地改名")

    fixture_doc["products"][8]["rules"] = [{"type": "pattern", "name": "^winrar archiver\\b"}]
    for product in fixture_doc["products"]:
        if product["key"] == "adobe-reader":
            product["name"] = "Adobe Reader (新)"
    result = services.import_catalog(fixture_doc, actor=None)
    assert result.as_dict()["kept_local"] == {"product": 1}
    assert result.as_dict()["updated"]["rule"] == 1
    assert RecognitionRule.objects.filter(pk=alias.pk).exists()
    assert Product.objects.get(key="adobe-reader").name == "本地改名"
    engine = services.get_recogniser()
    assert engine.recognise("WinRAR 烈火汉化版 6.0").product == "winrar"
    assert engine.recognise("WinRAR archiver 7").product == "winrar"


def test_import_rejects_bad_documents_and_writes_nothing(empty_catalog, fixture_doc, org):
    fixture_doc["products"][0]["category"] = "games"
    with pytest.raises(ValidationError) as info:
        services.import_catalog(fixture_doc, actor=None, source="bad.json")
    assert info.value.messages[0].startswith(
        "bad.json: product 'microsoft-office': category must be one of"
    )
    assert Publisher.objects.count() == 0
    with pytest.raises(PermissionDenied):
        services.import_catalog(fixture_doc, actor=org.officer_a)


def test_recogniser_cache_follows_rule_changes(empty_catalog, fixture_doc, org):
    services.import_catalog(fixture_doc, actor=None)
    before = services.get_recogniser()
    assert services.get_recogniser() is before
    assert before.recognise("好压 6.3").family is None
    services.create_rule_from_unrecognised(
        actor=org.sysadmin,
        name="好压 6.3",
        publisher="二三四五",
        new_product={
            "key": "haozip",
            "name": "好压",
            "category": "compression",
            "license_model": "free",
            "domestic": True,
        },
    )
    after = services.get_recogniser()
    assert after is not before
    result = after.recognise("好压 6.5", "", "6.5")
    assert (result.family, result.product, result.domestic, result.version) == (
        "haozip",
        "haozip",
        True,
        "6.5",
    )


def test_inhouse_software_stays_in_its_unit(empty_catalog, fixture_doc, org):
    services.import_catalog(fixture_doc, actor=None)
    spec = {
        "key": "lixia-oa",
        "name": "历下区协同办公系统",
        "category": "industry",
        "license_model": "commercial",
        "domestic": True,
    }
    with pytest.raises(PermissionDenied):
        services.create_rule_from_unrecognised(
            actor=org.officer_a, name="历下OA客户端", new_product=spec
        )
    with pytest.raises(PermissionDenied):
        services.create_rule_from_unrecognised(
            actor=org.officer_b, name="历下OA客户端", new_product=spec, owner_unit=org.unit_a
        )
    rule = services.create_rule_from_unrecognised(
        actor=org.officer_a, name="历下OA客户端", new_product=spec, owner_unit=org.unit_a
    )
    product = rule.product
    assert (product.owner_unit, product.local) == (org.unit_a, True)
    assert Product.objects.visible_to(org.officer_a).filter(key="lixia-oa").exists()
    assert not Product.objects.visible_to(org.officer_b).filter(key="lixia-oa").exists()
    assert Product.objects.visible_to(org.supervisor_a).filter(key="lixia-oa").exists()
    assert RecognitionRule.objects.visible_to(org.officer_b).filter(pk=rule.pk).count() == 0
    # Shared recognition does not know it; the unit's does, with the shared catalog behind.
    assert services.get_recogniser().recognise("历下OA客户端").family is None
    own = services.get_recogniser(org.unit_a.pk)
    assert own.recognise("历下OA客户端").product == "lixia-oa"
    assert own.recognise("WinRAR 6.24").product == "winrar"
    assert services.get_recogniser(org.unit_b.pk).recognise("历下OA客户端").family is None
    # Never exported with the shared catalog, never touched by an import.
    assert "lixia-oa" not in {p["key"] for p in services.export_catalog()["products"]}
    assert not services.import_catalog(services.export_catalog(), actor=None).changed


def test_create_rule_validation(empty_catalog, fixture_doc, org):
    services.import_catalog(fixture_doc, actor=None)
    winrar = Product.objects.get(key="winrar")
    with pytest.raises(ValidationError):
        services.create_rule_from_unrecognised(actor=org.sysadmin, name="  ", product=winrar)
    with pytest.raises(ValidationError):
        services.create_rule_from_unrecognised(
            actor=org.sysadmin, name="x", product=winrar, rule_type="pattern", pattern="("
        )
    with pytest.raises(ValidationError):
        services.create_rule_from_unrecognised(actor=org.sysadmin, name="x")
    rule = services.create_rule_from_unrecognised(
        actor=org.sysadmin,
        name="WinRAR Portable 6.0",
        publisher="PortableApps.com",
        rule_type="pattern",
        match_publisher=True,
        product=winrar,
    )
    assert (rule.pattern, rule.publisher_pattern) == (
        r"^winrar\ portable\b",
        r"^portableapps\.com$",
    )
    engine = services.get_recogniser()
    assert engine.recognise("WinRAR Portable 6.1", "PortableApps.com").rule == rule.key
    entry = AuditLogEntry.objects.filter(object_type="catalog.recognitionrule").latest("id")
    assert (entry.action, entry.actor_name, entry.after["pattern"]) == (
        "create",
        "sysadmin",
        r"^winrar\ portable\b",
    )


def test_unrecognised_queue_ranks_by_devices(empty_catalog, fixture_doc):
    services.import_catalog(fixture_doc, actor=None)
    queue = services.unrecognised_queue(
        [
            {"name": "好压 6.3", "publisher": "2345", "version": "6.3", "devices": 4},
            {"name": "好压 6.5", "publisher": "2345", "version": "6.5", "devices": 10},
            {"name": "WinRAR 6.24", "publisher": "", "version": "6.24", "devices": 99},
            {"name": "极品五笔", "publisher": "", "version": "", "devices": 7},
            {"name": "", "devices": 1000},
            {"name": None, "devices": 1000},
        ]
    )
    assert [(e.normalized, e.devices, e.versions) for e in queue] == [
        ("好压", 14, ["6.3", "6.5"]),
        ("极品五笔", 7, []),
    ]


def test_database_constraints(empty_catalog, fixture_doc, org):
    services.import_catalog(fixture_doc, actor=None)
    family = ProductFamily.objects.get(key="winrar")
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(
            key="x", family=family, name="X", category="games", license_model="free"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(
            key="y",
            family=family,
            name="Y",
            category="other",
            license_model="free",
            owner_unit=org.unit_a,
            local=False,
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        RecognitionRule.objects.create(
            key="r", product=Product.objects.get(key="winrar"), rule_type="glob", pattern="x"
        )


def test_a_partial_migrate_of_a_fresh_database_leaves_the_catalog_to_the_full_one(tmp_path):
    """ "migrate inventory 0012" on an empty database stops before core's audit table
    exists; the catalog, whose load writes to it, is loaded by the migrate that ends the
    schema, not attempted half-way (it failed there)."""
    import os
    import sqlite3
    import subprocess
    import sys

    database = tmp_path / "fresh.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DEBUG": "1"}
    command = [sys.executable, "-m", "zhengban", "migrate", "-v0"]
    partial = subprocess.run(
        [*command, "inventory", "0012"], env=env, capture_output=True, text=True
    )
    assert partial.returncode == 0, partial.stderr
    assert partial.stderr == ""

    def products() -> int:
        with sqlite3.connect(database) as db:
            return db.execute("SELECT count(*) FROM catalog_product").fetchone()[0]

    assert products() == 0
    full = subprocess.run(command, env=env, capture_output=True, text=True)
    assert full.returncode == 0, full.stderr
    assert full.stderr == ""
    assert products() == len(load_catalog()["products"])
