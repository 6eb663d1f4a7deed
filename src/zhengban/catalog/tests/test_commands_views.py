import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from zhengban.catalog import services
from zhengban.catalog.models import Product, RecognitionRule

KEYS = ["family", "product", "edition", "version", "category", "license_model", "domestic", "rule"]


def run_recognize(tmp_path, lines: list[bytes], *extra: str) -> tuple[list[dict], str | None]:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    error = None
    try:
        call_command("recognize", str(src), "--output", str(out), *extra)
    except CommandError as exc:
        error = str(exc)
    return [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()], error


@pytest.mark.django_db
def test_recognize_works_on_the_freshly_migrated_database(tmp_path):
    rows, error = run_recognize(
        tmp_path,
        [
            b'{"name": "WinRAR 6.24 (64-bit)", "publisher": "win.rar GmbH", "version": "6.24.0",'
            b' "platform": "windows"}',
            b'{"name": "", "publisher": "", "version": ""}',
        ],
    )
    assert error is None
    assert [list(r) for r in rows] == [KEYS, KEYS]
    assert (rows[0]["family"], rows[0]["license_model"], rows[0]["version"]) == (
        "winrar",
        "commercial",
        "6.24.0",
    )
    assert rows[1] == dict.fromkeys(KEYS)


def test_recognize_output_with_fixture_catalog(empty_catalog, fixture_doc, tmp_path):
    services.import_catalog(fixture_doc, actor=None)
    rows, error = run_recognize(
        tmp_path,
        [
            '{"name": "火绒安全软件", "publisher": "北京火绒网络科技有限公司", "version": "5.0.73.2"}'.encode(),
            b"not json",
            b"",
            b"[1, 2]",
            b'{"name": "WinRAR \xff\xfe 5.71", "version": "5.71.0"}',
            b'{"name": 42}',
        ],
    )
    assert error == "2 input line(s) were not JSON objects (see above)"
    assert rows == [
        {
            "family": "huorong",
            "product": "huorong-personal",
            "edition": "Personal",
            "version": "5.0.73.2",
            "category": "antivirus",
            "license_model": "free",
            "domestic": True,
            "rule": "huorong-personal#0",
        },
        dict.fromkeys(KEYS),
        dict.fromkeys(KEYS),
        {
            "family": "winrar",
            "product": "winrar",
            "edition": None,
            "version": "5.71.0",
            "category": "compression",
            "license_model": "commercial",
            "domestic": False,
            "rule": "winrar#0",
        },
        dict.fromkeys(KEYS),
    ]


def test_recognize_with_catalog_files(db, tmp_path):
    from zhengban.catalog.tests.conftest import FIXTURE

    rows, error = run_recognize(
        tmp_path, [b'{"name": "Adobe Acrobat XI Pro"}'], "--catalog", str(FIXTURE)
    )
    assert (error, rows[0]["product"]) == (None, "adobe-acrobat-pro")


def test_catalog_export_import_commands(empty_catalog, fixture_doc, tmp_path, capsys):
    src = tmp_path / "cat.json"
    src.write_text(json.dumps(fixture_doc, ensure_ascii=False), encoding="utf-8")
    call_command("catalog", "import", str(src))
    assert json.loads(capsys.readouterr().out)["created"]["product"] == 22
    call_command("catalog", "import", str(src))
    assert json.loads(capsys.readouterr().out) == {
        "created": {},
        "updated": {},
        "deleted": {},
        "kept_local": {},
    }
    out = tmp_path / "export.json"
    call_command("catalog", "export", str(out))
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert (exported["format"], len(exported["products"])) == ("zhengban-catalog", 22)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "zhengban-catalog", "version": 9}', encoding="utf-8")
    with pytest.raises(CommandError, match=r"bad.json: unsupported format version 9"):
        call_command("catalog", "import", str(bad))
    with pytest.raises(CommandError, match=r"invalid JSON"):
        bad.write_text("{", encoding="utf-8")
        call_command("catalog", "import", str(bad))
    call_command("catalog", "check", str(src))
    assert capsys.readouterr().out.startswith("ok: 9 publishers, 14 families, 22 products")


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_and_inhouse_visibility(empty_catalog, fixture_doc, org):
    services.import_catalog(fixture_doc, actor=None)
    rule = services.create_rule_from_unrecognised(
        actor=org.officer_a,
        name="历下OA客户端",
        new_product={
            "key": "lixia-oa",
            "name": "历下区协同办公系统",
            "category": "industry",
            "license_model": "commercial",
        },
        owner_unit=org.unit_a,
    )
    officer_a, officer_b = login(org.officer_a), login(org.officer_b)
    page = officer_a.get(reverse("catalog:product_list"), {"q": "办公系统"})
    assert page.status_code == 200 and "历下区协同办公系统" in page.content.decode()
    page = officer_b.get(reverse("catalog:product_list"), {"q": "办公系统"})
    assert "历下区协同办公系统" not in page.content.decode()
    detail = reverse("catalog:product_detail", args=[rule.product_id])
    assert (officer_a.get(detail).status_code, officer_b.get(detail).status_code) == (200, 404)
    winrar = Product.objects.get(key="winrar")
    page = officer_b.get(reverse("catalog:product_detail", args=[winrar.pk]))
    assert "^winrar\\b" in page.content.decode()
    for name in ("publisher_list", "rule_list", "unrecognised"):
        assert officer_b.get(reverse(f"catalog:{name}")).status_code == 200
    assert Client().get(reverse("catalog:product_list")).status_code == 302


def test_unrecognised_form_creates_rule(empty_catalog, fixture_doc, org):
    services.import_catalog(fixture_doc, actor=None)
    winrar = Product.objects.get(key="winrar")
    url = reverse("catalog:unrecognised")
    response = login(org.supervisor_province).post(
        url, {"name": "WinRAR 烈火汉化版", "rule_type": "normalized", "product": winrar.pk}
    )
    assert response.status_code == 302
    rule = RecognitionRule.objects.get(local=True)
    assert (rule.product, rule.pattern) == (winrar, "winrar 烈火汉化版")
    # Staff may look but not change the catalog.
    assert login(org.staff_a).post(url, {"name": "x", "product": winrar.pk}).status_code == 403
    # Officers may add only in-house software of their unit.
    bad = login(org.officer_a).post(url, {"name": "x", "rule_type": "exact", "product": winrar.pk})
    assert bad.status_code == 400 and "修改软件目录" in bad.content.decode()


def test_api_lists_products_and_publishers(empty_catalog, fixture_doc, org):
    services.import_catalog(fixture_doc, actor=None)
    client = login(org.officer_b)
    data = client.get("/api/v1/catalog/products/", {"category": "compression"}).json()
    assert [(p["key"], p["family"], p["license_model"]) for p in data["results"]] == [
        ("winrar", "winrar", "commercial")
    ]
    data = client.get("/api/v1/catalog/publishers/", {"domestic": "true"}).json()
    assert sorted(p["key"] for p in data["results"]) == ["huorong", "kingsoft", "lenovo"]
    assert Client().get("/api/v1/catalog/products/").status_code in (401, 403)
