"""The device page's change history, written in Python, is what its template loop wrote."""

from __future__ import annotations

import datetime

import pytest
from django.template import engines
from django.urls import reverse

from zhengban.catalog.models import Product, ProductFamily
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.models import Device, InstallationEvent, InventoryReport
from zhengban.inventory.tables import event_rows

# The loop the template had, white space included.
TEMPLATE_LOOP = """    {% for e in events %}
    <tr><td>{{ e.date|date:"Y-m-d H:i" }}</td><td>{{ e.get_event_type_display }}</td><td>{{ e.name }}</td><td>{{ e.old_version }}</td><td>{{ e.new_version }}</td><td>{{ e.product|default:"—" }}</td></tr>
    {% endfor %}
"""  # noqa: E501

NOW = datetime.datetime(2026, 11, 1, 23, 30, tzinfo=datetime.UTC)


@pytest.fixture
def history(org):
    device = Device.objects.create(
        unit=org.unit_a,
        hostname="pc-history",
        first_seen=NOW,
        last_seen=NOW,
        last_source=InventorySource.GLPI_JSON,
    )
    report = InventoryReport.objects.create(
        device=device, received=NOW, source=InventorySource.GLPI_JSON
    )
    family = ProductFamily.objects.create(key="wps", name='WPS <办公> & "套件"')
    product = Product.objects.create(
        key="wps-2019",
        family=family,
        name="WPS Office 2019 <专业版> & 'x'",
        category="office",
        license_model="commercial",
    )
    rows = [
        ("installed", "WPS <Office> & \"x\" 'y'", "", "11.1", product),
        ("removed", "旧软件", "1.0", "", None),
        ("version_changed", "浏览器", "1.0 <beta>", "2.0 & up", None),
    ]
    InstallationEvent.objects.bulk_create(
        InstallationEvent(
            device=device,
            report=report,
            event_type=kind,
            kind="application",
            name=name,
            old_version=old,
            new_version=new,
            product=product,
            date=NOW - datetime.timedelta(days=n, minutes=7 * n),
        )
        for n, (kind, name, old, new, product) in enumerate(rows)
    )
    return device


@pytest.mark.django_db
def test_event_rows_are_what_the_template_loop_wrote(history):
    events = list(
        InstallationEvent.objects.filter(device=history).select_related("product").order_by("id")
    )
    expected = engines["django"].from_string(TEMPLATE_LOOP).render({"events": events})
    assert "    " + event_rows(events) + "\n" == expected
    assert "&lt;Office&gt; &amp; &quot;x&quot; &#x27;y&#x27;" in expected
    assert "<td>—</td>" in expected
    # Local time, as the date filter gives (Asia/Shanghai: the next day here).
    assert "<td>2026-11-02 07:30</td>" in expected
    assert event_rows([]) == ""


@pytest.mark.django_db
def test_device_page_lists_the_history_rows(client, org, history):
    client.force_login(org.officer_a)
    page = client.get(reverse("inventory:device_detail", args=[history.pk])).content.decode()
    body = page[page.index("<tbody>", page.index('id="history"')) :]
    assert body.count("<tr><td>") == 3
    assert body.index("WPS &lt;Office&gt;") < body.index("旧软件") < body.index("浏览器")
