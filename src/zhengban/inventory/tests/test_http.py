"""The ingest URL over HTTP (Django's test client against the real URLconf and database)."""

import datetime
import json
import zlib

import pytest
from django.urls import reverse
from django.utils import timezone

from zhengban.core.models import AuditLogEntry
from zhengban.inventory import parsers, services
from zhengban.inventory.models import Device, EnrollmentToken, Installation
from zhengban.inventory.testing import GLPI_EXAMPLES, XML_SAMPLES

# Every XML sample and what the ingest URL must answer: the computer inventories are
# stored; network discovery / SNMP results of switches and printers are refused by name.
XML_EXPECTED = {
    "1.xml": 200,
    "2.xml": 200,
    "3.xml": 200,
    "4.xml": 200,
    "12.xml": 200,
    "13.xml": 200,
    "14.xml": 200,
    "18.xml": 200,
    "5.xml": 400,
    "5-good.xml": 400,
    "6.xml": 400,
    "7.xml": 400,
    "8.xml": 400,
    "9.xml": 400,
    "10.xml": 400,
    "11.xml": 400,
    "15.xml": 400,
    "16.xml": 400,
    "17.xml": 400,
    "19.xml": 400,
}


@pytest.fixture
def token(org):
    _row, token = services.create_enrollment_token(actor=None, unit=org.unit_a)
    return token


def post(client, token, body, content_type, **headers):
    url = reverse("inventory:ingest", args=[token])
    return client.generic("POST", url, body, content_type=content_type, **headers)


@pytest.mark.django_db
def test_every_xml_sample_gets_the_expected_answer(client, token):
    assert sorted(p.name for p in XML_SAMPLES.glob("*.xml")) == sorted(XML_EXPECTED)
    for name, status in XML_EXPECTED.items():
        body = (XML_SAMPLES / name).read_bytes()
        response = post(client, token, zlib.compress(body), "application/x-compress-zlib")
        assert response.status_code == status, (name, response.content[:300])
        if status == 400:
            assert response.content.decode().startswith("QUERY: "), name
        else:
            reply = zlib.decompress(response.content)
            assert b"<RESPONSE>no_account_update</RESPONSE>" in reply
    # 1.xml is LF014, 2.xml and 12.xml the same Windows laptop, 13/14/18 one Android phone
    # (same serial and UUID), 3.xml and 4.xml two Macs.
    assert Device.objects.count() == 5
    android = Device.objects.get(hostname="android-5a30d8711bbadc9d")
    assert android.device_type == "mobile"
    assert Installation.objects.filter(device=android).exclude(kind="os").count() == 310


@pytest.mark.django_db
def test_prolog_is_answered_send_in_the_requests_encoding(client, token):
    prolog = (
        b"<?xml version='1.0'?><REQUEST><DEVICEID>pc-1</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>"
    )
    response = post(client, token, zlib.compress(prolog), "application/x-compress-zlib")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-compress-zlib"
    reply = zlib.decompress(response.content)
    assert b"<RESPONSE>SEND</RESPONSE><PROLOG_FREQ>24</PROLOG_FREQ>" in reply
    plain = post(client, token, prolog, "application/xml")
    assert plain.status_code == 200
    assert b"<RESPONSE>SEND</RESPONSE>" in plain.content
    assert Device.objects.count() == 0


@pytest.mark.django_db
def test_glpi_json_contact_then_inventory(client, token):
    contact = {"action": "contact", "deviceid": "LF014-2017-02-20-12-19-56", "name": "GLPI-Agent"}
    response = post(client, token, json.dumps(contact), "application/json")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "inventory" in response.json()["tasks"]
    body = zlib.compress((GLPI_EXAMPLES / "computer_3.json").read_bytes())
    response = post(client, token, body, "application/x-compress-zlib")
    assert response.status_code == 200
    assert json.loads(zlib.decompress(response.content)) == {"status": "ok", "expiration": 24}
    device = Device.objects.get()
    assert Installation.objects.filter(device=device).count() == 3034


@pytest.mark.django_db
def test_tokens_missing_unknown_expired_revoked_write_nothing(client, org):
    body = (GLPI_EXAMPLES / "computer_1.json").read_bytes()
    missing = client.generic("POST", "/ingest/", body, content_type="application/json")
    assert missing.status_code == 401
    assert post(client, "not-a-token", body, "application/json").status_code == 401
    expired, expired_token = services.create_enrollment_token(actor=None, unit=org.unit_a)
    EnrollmentToken.objects.filter(pk=expired.pk).update(
        expires=timezone.now() - datetime.timedelta(seconds=1)
    )
    response = post(client, expired_token, body, "application/json")
    assert response.status_code == 403
    assert response.json()["message"] == "注册令牌已过期。"
    revoked, revoked_token = services.create_enrollment_token(actor=None, unit=org.unit_a)
    services.revoke_enrollment_token(actor=org.officer_a, token=revoked)
    assert post(client, revoked_token, body, "application/json").status_code == 403
    assert Device.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        (b"\x78\x9cnot zlib at all", "application/x-compress-zlib", 400, "body"),
        (
            zlib.compress(b'{"deviceid": "x", "content": {}}')[:-6],
            "application/x-compress-zlib",
            400,
            "body",
        ),
        (b"{not json", "application/json", 400, "body"),
        (b'{"deviceid": "x"}', "application/json", 400, "content"),
        (b'{"deviceid": "x", "content": {}}', "application/json", 400, "content.versionclient"),
        (
            b'{"deviceid": "x", "content": {"versionclient": "t", "hardware": {"memory": "8G"}}}',
            "application/json",
            400,
            "content.hardware.memory",
        ),
        (
            b'{"deviceid": "x", "content": {"versionclient": "t", "softwares": '
            b'[{"name": "a"}, {"name": "b", "version": 2}]}}',
            "application/json",
            400,
            "content.softwares[1].version",
        ),
        (
            b'{"deviceid": "x", "content": {"versionclient": "t", "softwares": '
            b'[{"name": "a", "install_date": "yesterday"}]}}',
            "application/json",
            400,
            "content.softwares[0].install_date",
        ),
        (
            b'{"deviceid": "x", "content": {"versionclient": "t", "softwares": [{"version": "1"}]}}',
            "application/json",
            400,
            "content.softwares[0].name",
        ),
        (
            b'{"deviceid": "x", "surprise": 1, "content": {"versionclient": "t"}}',
            "application/json",
            400,
            "surprise",
        ),
        (b"<REQUEST><QUERY>INVENTORY</QUERY>", "application/xml", 400, "body"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><REQUEST>&a;</REQUEST>',
            "application/xml",
            400,
            "body",
        ),
        # A negative or impossibly large memory is a type the column cannot hold.
        (
            b'{"deviceid": "x", "content": {"versionclient": "t", "hardware": {"memory": -5}}}',
            "application/json",
            400,
            "content.hardware.memory",
        ),
        (
            b'{"deviceid": "x", "content": {"versionclient": "t", '
            b'"hardware": {"memory": 1099511627776}}}',
            "application/json",
            400,
            "content.hardware.memory",
        ),
        (b"<HELLO/>", "application/xml", 400, "REQUEST"),
        (b"plain words", "text/plain", 400, "body"),
        (b"<REQUEST/>", "image/png", 415, "Content-Type"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(client, token, body, content_type, status, field):
    response = post(client, token, body, content_type)
    assert response.status_code == status, response.content
    if response["Content-Type"] == "application/json":
        message = response.json()["message"]
    else:
        message = response.content.decode()
    assert message.startswith(f"{field}: "), message
    assert Device.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("start", [b"{", b"<"])
def test_zip_bomb_is_refused_with_413(client, token, settings, start):
    settings.ZHENGBAN = {**settings.ZHENGBAN, "INVENTORY_MAX_INFLATED_BYTES": 1_000_000}
    bomb = zlib.compress(start + b" " * 5_000_000)
    response = post(client, token, bomb, "application/x-compress-zlib")
    assert response.status_code == 413
    assert response.content.decode() == "body: 解压后超过 1000000 字节上限。"
    assert Device.objects.count() == 0
    # Under a dead token the token is refused first, and the body is not inflated.
    services.revoke_enrollment_token(actor=None, token=EnrollmentToken.objects.get())
    response = post(client, token, bomb, "application/x-compress-zlib")
    assert (response.status_code, response.content.decode()) == (403, "注册令牌已被撤销。")


@pytest.mark.django_db
def test_json_of_millions_of_tiny_values_is_refused_before_parsing(client, token, settings):
    """2 MB of "[],[],…" inflate from 2 KB and would parse into 700,000 lists; counted first,
    the body is refused with 413 and nothing is parsed or written."""
    head = b'{"deviceid":"a","content":{"versionclient":"t","hardware":{"name":"a"},"x":['
    body = head + b"[]," * 699_999 + b"[]]}}"
    settings.ZHENGBAN = {**settings.ZHENGBAN, "INVENTORY_MAX_JSON_TOKENS": 500_000}
    response = post(client, token, zlib.compress(body), "application/x-compress-zlib")
    assert response.status_code == 413
    assert response.content.decode() == "body: JSON 中的值过多（1400006 个分隔符，上限 500000）。"
    assert Device.objects.count() == 0
    # The default bound leaves real inventories alone: computer_3.json, 3,033 entries.
    settings.ZHENGBAN = {
        k: v for k, v in settings.ZHENGBAN.items() if k != "INVENTORY_MAX_JSON_TOKENS"
    }
    response = post(
        client, token, (GLPI_EXAMPLES / "computer_3.json").read_bytes(), "application/json"
    )
    assert response.status_code == 200
    assert Device.objects.count() == 1


def _xml_inventory(hardware: str, extra: str = "") -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?><REQUEST><DEVICEID>pc-x-2026-11-28-10-00-00"
        f"</DEVICEID><QUERY>INVENTORY</QUERY><CONTENT><HARDWARE>{hardware}</HARDWARE>{extra}"
        "<SOFTWARES><NAME>7-Zip</NAME><VERSION>23.01</VERSION></SOFTWARES></CONTENT></REQUEST>"
    ).encode()


@pytest.mark.django_db
def test_xml_of_many_attributes_is_refused_and_distinct_tags_are_not_kept(client, token, settings):
    settings.ZHENGBAN = {**settings.ZHENGBAN, "INVENTORY_MAX_XML_ATTRIBUTES": 10}
    attributes = " ".join(f'a{i}="1"' for i in range(11))
    body = _xml_inventory("<NAME>PC-X</NAME>", f"<BIOS {attributes}/>")
    response = post(client, token, body, "application/xml")
    assert response.status_code == 413
    assert response.content.decode() == "body: XML 中的属性过多（上限 10 个“=”）。"
    assert Device.objects.count() == 0
    # A section of a thousand distinct elements keeps its first 256 fields, the name
    # among them, and the inventory is stored.
    junk = "".join(f"<X{i}>v</X{i}>" for i in range(1000))
    reader = parsers._XmlReader(100)
    reader.parse(_xml_inventory("<NAME>PC-X</NAME>" + junk))
    hardware = reader.sections["HARDWARE"]
    assert (len(hardware), hardware["NAME"], "X254" in hardware, "X255" in hardware) == (
        parsers.MAX_SECTION_FIELDS,
        "PC-X",
        True,
        False,
    )
    response = post(client, token, _xml_inventory("<NAME>PC-X</NAME>" + junk), "application/xml")
    assert response.status_code == 200, response.content
    device = Device.objects.get()
    assert (device.hostname, Installation.objects.filter(device=device).count()) == ("PC-X", 1)


@pytest.mark.django_db
def test_too_many_software_entries_is_refused(client, token, settings):
    settings.ZHENGBAN = {**settings.ZHENGBAN, "INVENTORY_MAX_SOFTWARE": 100}
    response = post(
        client, token, (GLPI_EXAMPLES / "computer_3.json").read_bytes(), "application/json"
    )
    assert response.status_code == 413
    assert response.json()["message"].startswith("content.softwares: ")
    assert Device.objects.count() == 0


@pytest.mark.django_db
def test_get_is_not_allowed(client, token):
    assert client.get(reverse("inventory:ingest", args=[token])).status_code == 405


@pytest.mark.django_db
def test_untrusted_software_names_are_escaped_in_pages(client, token, org):
    doc = {
        "deviceid": "evil-1",
        "content": {
            "versionclient": "test",
            "hardware": {"name": "<b>pc</b>"},
            "softwares": [{"name": "<script>alert(1)</script>", "version": "=cmd|' /C calc'!A0"}],
        },
    }
    assert post(client, token, json.dumps(doc), "application/json").status_code == 200
    device = Device.objects.get()
    client.force_login(org.officer_a)
    page = client.get(reverse("inventory:device_detail", args=[device.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>pc</b>" not in html
    listing = client.get(reverse("inventory:device_list"))
    assert "&lt;b&gt;pc&lt;/b&gt;" in listing.content.decode()


@pytest.mark.django_db
def test_device_pages_are_scoped(client, token, org):
    post(client, token, (GLPI_EXAMPLES / "computer_1.json").read_bytes(), "application/json")
    device = Device.objects.get()
    client.force_login(org.officer_b)
    assert client.get(reverse("inventory:device_detail", args=[device.pk])).status_code == 404
    listing = client.get(reverse("inventory:device_list"))
    assert "glpixps" not in listing.content.decode()
    client.force_login(org.supervisor_a)
    assert client.get(reverse("inventory:device_detail", args=[device.pk])).status_code == 200


@pytest.mark.django_db
def test_officer_creates_and_revokes_a_token_in_pages(client, org):
    client.force_login(org.officer_a)
    page = client.post(
        reverse("inventory:token_create"), {"unit": org.unit_a.pk, "days": 30, "label": "一楼"}
    )
    assert page.status_code == 200
    html = page.content.decode()
    row = EnrollmentToken.objects.get()
    url = page.context["url"]
    assert url.startswith("http://testserver/ingest/") and url.endswith("/")
    token = url.rsplit("/", 2)[-2]
    assert services.hash_token(token) == row.token_hash
    # Double quotes, which sh, cmd.exe and PowerShell all read as quotes.
    assert f"zhengban-agent --server &quot;{url}&quot;" in html
    assert f"fusioninventory-agent --server &quot;{url}&quot;" in html
    assert f"ocsinventory-agent --nolocal --server &quot;{url}&quot;" in html
    assert f"server={url}" in html
    assert f"msiexec /i GLPI-Agent-x64.msi /quiet RUNNOW=1 SERVER=&quot;{url}&quot;" in html
    assert f".\\OCS-Windows-Agent-Setup-x64.exe /S /NOSPLASH /NOW /SERVER={url}<" in html
    assert (
        f".\\fusioninventory-agent_windows-x64_2.6.exe /S /acceptlicense /runnow /server={url}<"
        in html
    )
    assert (
        "/TR &quot;\\&quot;C:\\Program Files\\zhengban-agent\\zhengban-agent.exe\\&quot;"
        f" --server {url}&quot;" in html
    )
    assert "&#x27;" not in html.split('data-testid="ingest-url"')[1].split("返回令牌列表")[0]
    assert AuditLogEntry.objects.filter(object_type="inventory.enrollmenttoken").count() == 1
    # Another unit is not among the choices.
    refused = client.post(reverse("inventory:token_create"), {"unit": org.unit_b.pk, "days": 30})
    assert refused.status_code == 200 and EnrollmentToken.objects.count() == 1
    client.post(reverse("inventory:token_revoke", args=[row.pk]))
    row.refresh_from_db()
    assert row.revoked is not None
    # Staff may not see enrolment tokens at all.
    client.force_login(org.staff_a)
    assert client.get(reverse("inventory:token_list")).status_code == 403
    client.force_login(org.officer_b)
    assert client.post(reverse("inventory:token_revoke", args=[row.pk])).status_code == 404


@pytest.mark.django_db
def test_enrollment_command_prints_a_working_url(client, org):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "enrollment", "create", "--unit", org.unit_a.credit_code, "--days", "7", stdout=out
    )
    url = out.getvalue().strip()
    assert url.startswith("http://127.0.0.1:8000/ingest/")
    path = url.removeprefix("http://127.0.0.1:8000")
    body = (GLPI_EXAMPLES / "computer_1.json").read_bytes()
    assert client.generic("POST", path, body, content_type="application/json").status_code == 200
    assert Device.objects.get().unit == org.unit_a


@pytest.mark.django_db
def test_api_lists_scoped_devices_with_installations_and_events(client, token, org):
    for name in ("computer_3.json", "computer_3_updated.json"):
        post(client, token, (GLPI_EXAMPLES / name).read_bytes(), "application/json")
    device = Device.objects.get()
    client.force_login(org.officer_a)
    listing = client.get("/api/v1/devices/", {"hostname": "lf014"})
    assert listing.status_code == 200
    assert [d["id"] for d in listing.json()["results"]] == [device.pk]
    detail = client.get(f"/api/v1/devices/{device.pk}/").json()
    assert len(detail["installations"]) == 3185
    # The device carries its latest events; the events endpoint has them all, paged.
    assert detail["events_count"] == 157 + 6 + 859
    assert len(detail["events"]) == 100
    assert (
        detail["events_url"] == f"http://testserver/api/v1/installation-events/?device={device.pk}"
    )
    events = []
    url = detail["events_url"] + "&limit=400"
    while url:
        page = client.get(url).json()
        assert page["count"] == 157 + 6 + 859
        events += page["results"]
        url = page["next"]
    assert len(events) == 157 + 6 + 859
    assert len({e["id"] for e in events}) == 157 + 6 + 859
    assert events[:100] == detail["events"]
    assert {e["device"] for e in events} == {device.pk}
    assert [e["date"] for e in events] == sorted((e["date"] for e in events), reverse=True)
    counts = {
        kind: client.get("/api/v1/installation-events/", {"event_type": kind}).json()["count"]
        for kind in ("installed", "removed", "version_changed")
    }
    assert counts == {"installed": 157, "removed": 6, "version_changed": 859}
    child = client.get("/api/v1/devices/", {"unit": org.unit_a_child.pk})
    assert child.status_code == 200 and child.json()["results"] == []
    # A unit the person cannot see is not even a valid choice.
    assert client.get("/api/v1/devices/", {"unit": org.unit_b.pk}).status_code == 400
    client.force_login(org.officer_b)
    assert client.get("/api/v1/devices/").json()["results"] == []
    assert client.get(f"/api/v1/devices/{device.pk}/").status_code == 404
    assert client.get("/api/v1/installation-events/").json()["count"] == 0
    assert client.get("/api/v1/installations/").json()["count"] == 0
    # Another unit's device is not a valid choice of the events' filter either.
    assert client.get(detail["events_url"]).status_code == 400


@pytest.mark.django_db
def test_byte_identical_repeat_only_moves_last_seen(client, token):
    from zhengban.inventory.models import InventoryReport

    body = zlib.compress((XML_SAMPLES / "1.xml").read_bytes())
    assert post(client, token, body, "application/x-compress-zlib").status_code == 200
    device = Device.objects.get()
    seen = device.last_seen
    assert device.payload_hash == services.payload_hash(body, "application/x-compress-zlib")
    again = post(client, token, body, "application/x-compress-zlib")
    assert again.status_code == 200
    assert b"no_account_update" in zlib.decompress(again.content)
    device.refresh_from_db()
    assert device.last_seen > seen
    assert InventoryReport.objects.count() == 1
    # The same inventory with a volatile field changed is parsed, and found unchanged.
    changed = (XML_SAMPLES / "1.xml").read_bytes().replace(b"<ETIME>3</ETIME>", b"<ETIME>4</ETIME>")
    assert post(client, token, changed, "application/xml").status_code == 200
    assert InventoryReport.objects.count() == 1
    assert Device.objects.get().payload_hash == services.payload_hash(changed, "application/xml")
    # A byte-identical repeat needs a live token like any other request.
    token_row = EnrollmentToken.objects.get()
    EnrollmentToken.objects.update(last_used=None)
    assert post(client, token, changed, "application/xml").status_code == 200
    token_row.refresh_from_db()
    assert token_row.last_used is not None
    seen = Device.objects.get().last_seen
    services.revoke_enrollment_token(actor=None, token=token_row)
    refused = post(client, token, changed, "application/xml")
    assert refused.status_code == 403
    assert Device.objects.get().last_seen == seen
    # A known body under an unknown token is refused as any other request.
    assert post(client, "x" + token, changed, "application/xml").status_code == 401


@pytest.mark.django_db
def test_officer_edits_device_and_agents_keep_it(client, token, org):
    from zhengban.orgs.models import Department

    post(client, token, (GLPI_EXAMPLES / "computer_1.json").read_bytes(), "application/json")
    device = Device.objects.get()
    dept = Department.objects.create(unit=org.unit_a, name="财务科")
    client.force_login(org.officer_a)
    response = client.post(
        reverse("inventory:device_edit", args=[device.pk]),
        {
            "department": dept.pk,
            "assigned_name": "张三",
            "asset_number": "ZC-001",
            "device_type": "laptop",
        },
    )
    assert response.status_code == 302
    changed = client.post(
        reverse("inventory:ingest", args=[token]),
        (GLPI_EXAMPLES / "computer_1_partial_softs.json").read_bytes(),
        content_type="application/json",
    )
    assert changed.status_code == 200
    device.refresh_from_db()
    assert (device.department, device.assigned_name, device.asset_number) == (
        dept,
        "张三",
        "ZC-001",
    )
    entry = AuditLogEntry.objects.get(object_type="inventory.device", action="update")
    assert entry.after["assigned_name"] == "张三"
    client.force_login(org.staff_a)
    # A 软件使用人 does not see a device that is not theirs; their own they see, not edit.
    assert client.get(reverse("inventory:device_edit", args=[device.pk])).status_code == 404
    Device.objects.filter(pk=device.pk).update(assigned_user=org.staff_a)
    assert client.get(reverse("inventory:device_detail", args=[device.pk])).status_code == 200
    assert client.get(reverse("inventory:device_edit", args=[device.pk])).status_code == 403


@pytest.mark.django_db
def test_home_panel_counts_visible_devices(client, token, org):
    post(client, token, (GLPI_EXAMPLES / "computer_1.json").read_bytes(), "application/json")
    client.force_login(org.officer_a)
    panels = {p.title: p for p in client.get("/").context["panels"]}
    figures = {str(label): value for label, value, _url in panels["终端"].figures}
    # computer_1's six Fedora packages are not in the shipped catalog.
    assert figures == {"终端总数": 1, "超过30天未上报": 0, "含未识别软件": 1}
    client.force_login(org.officer_b)
    assert "终端" not in {p.title for p in client.get("/").context["panels"]}


@pytest.mark.django_db
def test_device_export_neutralises_formulas(client, token, org):
    import io

    from openpyxl import load_workbook

    doc = {
        "deviceid": "evil-2",
        "content": {"versionclient": "t", "hardware": {"name": '=HYPERLINK("http://x","y")'}},
    }
    assert post(client, token, json.dumps(doc), "application/json").status_code == 200
    client.force_login(org.officer_a)
    response = client.get(reverse("inventory:device_list"), {"export": "xlsx"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert '\'=HYPERLINK("http://x","y")' in values
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)


@pytest.mark.django_db
def test_api_device_count_is_capped(client, org, monkeypatch):
    from zhengban.inventory.api import CappedCountPagination

    now = timezone.now()
    for n in range(7):
        Device.objects.create(
            unit=org.unit_a,
            hostname=f"pc-{n}",
            first_seen=now,
            last_seen=now,
            last_source="zhengban_agent",
        )
    client.force_login(org.officer_a)
    page = client.get("/api/v1/devices/", {"limit": 2}).json()
    assert (page["count"], page["count_exact"]) == (7, True)
    monkeypatch.setattr(CappedCountPagination, "count_cap", 3)
    page = client.get("/api/v1/devices/", {"limit": 2}).json()
    # Past the cap: the bound, marked inexact; the next page is still offered.
    assert (page["count"], page["count_exact"]) == (3, False)
    assert [d["hostname"] for d in page["results"]] == ["pc-0", "pc-1"]
    assert page["next"].endswith("/api/v1/devices/?limit=2&offset=2")
    # A deep page counts to its own end (and one row past it).
    page = client.get("/api/v1/devices/", {"limit": 2, "offset": 4}).json()
    assert (page["count"], page["count_exact"]) == (6, False)
    assert [d["hostname"] for d in page["results"]] == ["pc-4", "pc-5"]
    assert page["next"].endswith("/api/v1/devices/?limit=2&offset=6")
    page = client.get("/api/v1/devices/", {"limit": 2, "offset": 6}).json()
    assert (page["count"], page["count_exact"]) == (7, True)
    assert [d["hostname"] for d in page["results"]] == ["pc-6"]
    assert page["next"] is None


@pytest.mark.django_db
def test_gzip_requests_get_gzip_replies(client, token):
    import gzip

    contact = json.dumps({"action": "contact", "deviceid": "pc-1"}).encode()
    response = post(client, token, gzip.compress(contact), "application/x-compress-gzip")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-compress-gzip"
    assert json.loads(gzip.decompress(response.content))["status"] == "ok"


@pytest.mark.django_db
def test_identifiers_that_grow_when_upper_cased_fit_their_columns(client, token):
    body = {
        "deviceid": "pc-ss",
        "content": {
            "versionclient": "t",
            "hardware": {"uuid": "Aß" * 32, "name": "PC-SS", "winprodkey": "XXXXX-ABCDE-ßßßßß"},
            "bios": {"ssn": "Aß" * 50},
            "operatingsystem": {"full_name": "Windows 10"},
        },
    }
    response = post(client, token, json.dumps(body), "application/json")
    assert response.status_code == 200, response.content
    device = Device.objects.get()
    assert (device.hardware_uuid, device.serial_number) == ("ASS" * 21 + "A", "ASS" * 33 + "A")
    assert device.os_partial_key == "SSSSS"


@pytest.mark.django_db
def test_an_xml_memory_in_other_digits_is_left_out(client, token):
    xml = (
        "<?xml version='1.0'?><REQUEST><DEVICEID>pc-2</DEVICEID><QUERY>INVENTORY</QUERY>"
        "<CONTENT><HARDWARE><NAME>PC-2</NAME><MEMORY>²</MEMORY></HARDWARE>"
        "<SOFTWARES><NAME>7-Zip</NAME></SOFTWARES></CONTENT></REQUEST>"
    ).encode()
    response = post(client, token, xml, "application/xml")
    assert response.status_code == 200, response.content
    assert Device.objects.get().memory_mb is None


@pytest.mark.django_db
def test_api_pages_are_bounded(client, org, monkeypatch):
    from zhengban.inventory.api import CappedCountPagination

    now = timezone.now()
    for n in range(5):
        Device.objects.create(
            unit=org.unit_a, hostname=f"pc-{n}", first_seen=now, last_seen=now, last_source="xml"
        )
    client.force_login(org.officer_a)
    monkeypatch.setattr(CappedCountPagination, "max_limit", 3)
    page = client.get("/api/v1/devices/", {"limit": 10**20}).json()
    assert [d["hostname"] for d in page["results"]] == ["pc-0", "pc-1", "pc-2"]
    assert page["next"].endswith("/api/v1/devices/?limit=3&offset=3")
    # An offset past what the database can hold is past the end: an empty page.
    response = client.get("/api/v1/devices/", {"limit": 2, "offset": 10**20})
    assert response.status_code == 200
    assert (response.json()["results"], response.json()["count"]) == ([], 5)


@pytest.mark.django_db
def test_an_inventory_naming_no_machine_is_refused(client, token):
    body = {
        "deviceid": "",
        "content": {"versionclient": "t", "softwares": [{"name": "7-Zip"}]},
    }
    for _ in range(2):
        response = post(client, token, json.dumps(body), "application/json")
        assert response.status_code == 400
        assert response.json()["message"].startswith("deviceid: 清单中没有任何可识别终端的信息")
    assert Device.objects.count() == 0
    # A host name alone is enough to find the machine again.
    body["content"]["hardware"] = {"name": "PC-9"}
    for _ in range(2):
        assert post(client, token, json.dumps(body), "application/json").status_code == 200
    assert Device.objects.count() == 1


@pytest.mark.django_db
def test_other_lists_of_the_content_are_bounded(client, token, settings):
    settings.ZHENGBAN = {**settings.ZHENGBAN, "INVENTORY_MAX_OTHER_ENTRIES": 3}
    body = {
        "deviceid": "pc-c",
        "content": {
            "versionclient": "t",
            "hardware": {"name": "PC-C"},
            "drives": [{"volumn": "/"}, {"volumn": "/boot"}],
            "controllers": [{"name": "c"}, {"name": "d"}],
        },
    }
    response = post(
        client, token, zlib.compress(json.dumps(body).encode()), "application/x-compress-zlib"
    )
    assert response.status_code == 413
    assert json.loads(response.content)["message"].startswith(
        "content.controllers: 软件以外的清单条目合计超过上限 3。"
    )
    body["content"]["controllers"].pop()
    response = post(client, token, json.dumps(body), "application/json")
    assert response.status_code == 200, response.content
    assert Device.objects.count() == 1


@pytest.mark.django_db
def test_a_chunked_body_without_a_length_is_told_so(client, token):
    response = post(client, token, b"", "application/json", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411
    # (The test client sends no Content-Type with an empty body: the answer is plain text.)
    assert response.content.decode() == "Content-Length: 请求须注明长度（不支持分块传输）。"
    # The token is still checked first.
    response = post(client, "bad-token", b"", "application/json", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 401


@pytest.mark.django_db
def test_api_device_filters_match_the_pages(client, token, org):
    now = timezone.now()
    for unit, name in ((org.unit_a, "pc-a"), (org.unit_a_child, "pc-child"), (org.unit_b, "pc-b")):
        Device.objects.create(
            unit=unit, hostname=name, first_seen=now, last_seen=now, last_source="xml"
        )
    post(client, token, (GLPI_EXAMPLES / "computer_3.json").read_bytes(), "application/json")
    client.force_login(org.officer_a)

    def api(**params):
        response = client.get("/api/v1/devices/", params)
        assert response.status_code == 200, response.content
        return sorted(d["hostname"] for d in response.json()["results"])

    def page(**params):
        response = client.get(reverse("inventory:device_list"), params)
        assert response.status_code == 200
        return sorted(row.record.hostname for row in response.context["table"].page.object_list)

    cases = [
        {"unit": org.unit_a.pk},
        {"unit": org.unit_a_child.pk},
        {"software": "kernel-core"},
        {"software": "no such program"},
        {"unrecognised": "true"},
        {"unrecognised": "0"},
        {"q": "pc-"},
        {"os": "fedora"},
    ]
    expected = [
        ["LF014", "pc-a", "pc-child"],
        ["pc-child"],
        ["LF014"],
        [],
        ["LF014"],
        ["pc-a", "pc-child"],
        ["pc-a", "pc-child"],
        ["LF014"],
    ]
    assert [api(**c) for c in cases] == expected
    assert [page(**c) for c in cases] == expected


@pytest.mark.django_db
def test_api_installations_are_paged_and_scoped(client, token, org):
    post(client, token, (GLPI_EXAMPLES / "computer_3.json").read_bytes(), "application/json")
    device = Device.objects.get()
    client.force_login(org.officer_a)
    detail = client.get(f"/api/v1/devices/{device.pk}/").json()
    assert detail["installations_url"] == (
        f"http://testserver/api/v1/installations/?device={device.pk}"
    )
    seen = []
    url = detail["installations_url"] + "&limit=1000"
    while url:
        page = client.get(url).json()
        assert page["count"] == 3034
        seen += page["results"]
        url = page["next"]
    assert [i["id"] for i in seen] == sorted(i["id"] for i in detail["installations"])
    # A product of the shared catalog is a valid filter for anyone (it has no owner unit).
    from zhengban.catalog.models import Product, ProductFamily

    family = ProductFamily.objects.create(key="kernel", name="Linux kernel")
    product = Product.objects.create(
        key="kernel-core", family=family, name="kernel-core", category="os", license_model="free"
    )
    Installation.objects.filter(device=device, name="kernel-core").update(product=product)
    for path in ("/api/v1/installations/", "/api/v1/installation-events/"):
        by_product = client.get(path, {"product": product.pk})
        assert by_product.status_code == 200, by_product.content
    by_product = client.get("/api/v1/installations/", {"product": product.pk}).json()
    assert sorted(i["version"] for i in by_product["results"]) == [
        "4.9.7-201.fc25",
        "4.9.8-201.fc25",
        "4.9.9-200.fc25",
    ]
    oses = client.get("/api/v1/installations/", {"kind": "os"}).json()["results"]
    assert [i["name"] for i in oses] == ["Fedora release 25 (Twenty Five)"]
    client.force_login(org.officer_b)
    assert client.get("/api/v1/installations/").json()["count"] == 0
    assert client.get(detail["installations_url"]).status_code == 400
