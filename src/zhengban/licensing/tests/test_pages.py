"""Wiring, charts and pages of licensing on the real database."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from zhengban.core import hooks
from zhengban.core.models import AuditLogEntry
from zhengban.inventory import document as d
from zhengban.inventory.services import ingest_inventory
from zhengban.licensing import charts, services
from zhengban.licensing.choices import FundingSource, Metric, ProcurementMethod, Term
from zhengban.licensing.models import ComplianceResult, ContractDocument
from zhengban.licensing.testing import install, make_device, product


def _doc(*software: d.Software) -> d.InventoryDocument:
    return d.InventoryDocument(
        source="zhengban_agent",
        agent_device_id="agent-lic-1",
        hostname="lic-pc-1",
        device_type="desktop",
        software=list(software),
    )


WINRAR = d.Software(name="WinRAR 6.24 (64-bit)", version="6.24.0", publisher="win.rar GmbH")


def _contract(unit, number="HT-1", **terms):
    values = {
        "term_version": "2019",
        "term_compatibility": "兼容",
        "term_security": "等保",
        "term_authorisation": "永久",
        "term_support": "一年",
    }
    values.update(terms)
    return services.create_contract(
        actor=None,
        unit=unit,
        number=number,
        title="办公软件采购",
        supplier="某公司",
        signed_on="2025-01-10",
        amount="5800.00",
        funding_source=FundingSource.BUDGET,
        procurement_method=ProcurementMethod.CENTRALISED,
        **values,
    )


# ------------------------------------------------------------------------------ wiring


def test_handler_is_registered_for_inventory_event():
    from zhengban.licensing.hooks import on_inventory_ingested

    assert on_inventory_ingested in hooks._handlers[hooks.INVENTORY_INGESTED]


def test_firing_the_event_recomputes_the_devices_unit(org):
    pc = make_device(org.unit_a, "pc")
    install(pc, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    assert ComplianceResult.objects.count() == 0
    hooks.fire(hooks.INVENTORY_INGESTED, device=pc, report=None)
    assert list(ComplianceResult.objects.values_list("status", "reason")) == [
        ("unlicensed", "no_entitlement")
    ]


def test_ingest_updates_verdicts(org):
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
    )
    result = ingest_inventory(unit=org.unit_a, document=_doc(WINRAR))
    rows = list(
        ComplianceResult.objects.filter(device=result.device).values_list("status", "reason")
    )
    assert rows == [("covered", "per_device")]


# ------------------------------------------------------------------------------ charts


def test_rate_chart_draws_one_bar_per_row_and_escapes():
    svg = str(
        charts.bar_chart(
            [charts.Bar("操作系统", 0.995), charts.Bar("<b>", 0.5), charts.Bar("杀毒", None)],
            title="正版率",
        )
    )
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" role="img"')
    assert svg.count("<rect") == 2
    assert "99.5%" in svg and "50.0%" in svg and "—" in svg
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert charts.GOOD in svg and charts.BAD in svg
    assert 'height="86"' in svg  # 4 + 3 × (20 + 6) + 4


def test_count_chart_scales_to_the_largest_value_and_links():
    svg = str(
        charts.bar_chart(
            [charts.Bar("WinRAR", 40, url="/x?a=1&b=2"), charts.Bar("Office", 10)],
            title="缺口",
            percent=False,
            colour=charts.BAD,
        )
    )
    # plot width 640 - 200 - 70 = 370: 40 → 370, 10 → 92.5
    assert 'width="370.0"' in svg and 'width="92.5"' in svg
    assert '<a href="/x?a=1&amp;b=2">' in svg
    assert ">40<" in svg and ">10<" in svg


def test_rate_colour_thresholds():
    assert [charts.rate_colour(r) for r in (1.0, 0.99, 0.95, 0.5)] == [
        charts.GOOD,
        charts.GOOD,
        charts.WARN,
        charts.BAD,
    ]


# ------------------------------------------------------------------------------ pages


@pytest.fixture
def licensed(org):
    pc1 = make_device(org.unit_a, "pc1")
    pc2 = make_device(org.unit_a, "pc2")
    for pc in (pc1, pc2):
        install(pc, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    contract = _contract(org.unit_a, term_security="")
    ent = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        contract=contract,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=1,
        serial="ABCD-EFGH-1234",
        unit_price="600",
    )
    return {"contract": contract, "ent": ent, "pc1": pc1, "pc2": pc2}


def test_contract_detail_flags_missing_terms(client, org, licensed):
    client.force_login(org.officer_a)
    page = client.get(reverse("licensing:contract_detail", args=[licensed["contract"].pk]))
    assert page.status_code == 200
    assert "安全标准" in page.content.decode().split('data-testid="terms-missing"')[1][:200]


def test_contract_list_filters_missing_terms(client, org, licensed):
    _contract(org.unit_a, number="HT-2")
    client.force_login(org.officer_a)
    html = client.get(reverse("licensing:contract_list") + "?terms_missing=true").content.decode()
    assert "HT-1" in html and "HT-2" not in html


def test_create_contract_through_the_page(client, org):
    client.force_login(org.officer_a)
    response = client.post(
        reverse("licensing:contract_create"),
        {
            "number": "HT-9",
            "title": "杀毒软件采购",
            "supplier": "某公司",
            "signed_on": "2025-03-01",
            "amount": "950",
            "funding_source": FundingSource.BUDGET,
            "procurement_method": ProcurementMethod.CENTRALISED,
        },
    )
    assert response.status_code == 302
    contract = org.unit_a.contracts.get(number="HT-9")
    assert contract.terms_missing is True
    assert AuditLogEntry.objects.filter(object_type="licensing.contract", action="create").count()


def test_document_upload_and_scoped_download(client, org, licensed, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(org.officer_a)
    url = reverse("licensing:document_upload", args=[licensed["contract"].pk])
    pdf = SimpleUploadedFile("ht.pdf", b"%PDF-1.4 test", content_type="application/pdf")
    assert client.post(url, {"title": "合同扫描件", "file": pdf}).status_code == 302
    doc = ContractDocument.objects.get()
    response = client.get(reverse("licensing:document_download", args=[doc.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 test"
    client.force_login(org.officer_b)
    assert client.get(reverse("licensing:document_download", args=[doc.pk])).status_code == 404


def test_serial_is_masked_and_reveal_is_audited_for_the_officer_only(client, org, licensed):
    ent = licensed["ent"]
    client.force_login(org.head_a)
    html = client.get(reverse("licensing:entitlement_detail", args=[ent.pk])).content.decode()
    assert "****-H1234" in html and "ABCD-EFGH" not in html
    assert client.post(reverse("licensing:entitlement_reveal", args=[ent.pk])).status_code == 403
    client.force_login(org.officer_a)
    response = client.post(reverse("licensing:entitlement_reveal", args=[ent.pk]))
    assert "ABCD-EFGH-1234" in response.content.decode()
    assert AuditLogEntry.objects.filter(
        object_type="licensing.entitlement", object_id=str(ent.pk), message="serial"
    ).exists()


def test_entitlement_export_masks_keys(client, org, licensed):
    client.force_login(org.officer_a)
    response = client.get(reverse("licensing:entitlement_list") + "?export=xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row]
    assert "****-H1234" in cells and not any("ABCD" in c for c in cells)


def test_compliance_page_and_drill_down(client, org, licensed):
    client.force_login(org.officer_a)
    html = client.get(reverse("licensing:compliance")).content.decode()
    assert html.count("<svg") == 2  # rates by category, shortfall by product (one unit)
    assert "WinRAR" in html
    drill = client.get(
        reverse("licensing:result_list") + f"?unit={org.unit_a.pk}&status=unlicensed"
    ).content.decode()
    assert "pc2" in drill and "授权数量不足" in drill and "pc1" not in drill


def test_region_page_shows_worst_units_to_the_supervisor(client, org, licensed):
    client.force_login(org.supervisor_a)
    page = client.get(reverse("licensing:compliance_region", args=[org.city_a.pk]))
    assert page.status_code == 200
    assert page.content.decode().count("<svg") == 3
    client.force_login(org.officer_a)
    assert (
        client.get(reverse("licensing:compliance_region", args=[org.county_a1.pk])).status_code
        == 404
    )


def test_ledger_download_has_the_three_tables_and_asset_cards(client, org, licensed):
    client.force_login(org.officer_a)
    response = client.get(reverse("licensing:ledger_unit", args=[org.unit_a.pk]))
    book = load_workbook(io.BytesIO(response.content))
    assert [name[:3] for name in book.sheetnames] == ["附表1", "附表2", "附表3", "资产账"]
    client.force_login(org.officer_b)
    assert client.get(reverse("licensing:ledger_unit", args=[org.unit_a.pk])).status_code == 404


def test_staff_cannot_open_licensing_pages(client, org, licensed):
    client.force_login(org.staff_a)
    assert client.get(reverse("licensing:contract_list")).status_code == 403
    assert client.get(reverse("licensing:compliance")).status_code == 403


def test_home_panel_for_unit_and_supervisor(client, org, licensed):
    client.force_login(org.officer_a)
    html = client.get("/").content.decode()
    assert "正版化合规" in html and "50.0%" in html
    client.force_login(org.supervisor_a)
    html = client.get("/").content.decode()
    assert "历下区财政局:正版率 50.0%,缺口 1" in html
