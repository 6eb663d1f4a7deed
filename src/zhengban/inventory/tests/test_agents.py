"""The real FusionInventory and OCS Inventory agents (Debian packages, installed by
scripts/install-system-deps.sh) report to a live test server.

Expected figures come from the agents themselves: ``fusioninventory-inventory`` and
``ocsinventory-agent --stdout`` print the inventory they would send; the device must appear
with exactly that many installations (plus the operating system, kind "os").

The OCS agent's Debian config says ``local=…`` (write a file, never contact a server):
``--nolocal`` overrides it on the command line and ``--basevardir`` keeps the agent's state
in a temporary directory, so nothing global is changed.
"""

import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from zhengban.inventory import services
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.models import Device, Installation, InventoryReport

pytestmark = pytest.mark.django_db(transaction=True)

AGENT_TIMEOUT = 300


def _software_entries(xml_text: bytes) -> list[tuple[str, str]]:
    root = ET.fromstring(xml_text)
    return [
        (s.findtext("NAME") or "", s.findtext("VERSION") or "")
        for s in root.iter("SOFTWARES")
        if (s.findtext("NAME") or "").strip()
    ]


def _require(binary: str) -> None:
    if shutil.which(binary) is None:
        pytest.fail(f"{binary} is not installed: run scripts/install-system-deps.sh")


def _ingest_url(live_server, unit) -> str:
    _row, token = services.create_enrollment_token(actor=None, unit=unit)
    return f"{live_server.url}/ingest/{token}/"


def test_fusioninventory_agent_reports_every_package(live_server, org, tmp_path):
    _require("fusioninventory-agent")
    expected = _software_entries(
        subprocess.run(
            ["fusioninventory-inventory"], capture_output=True, check=True, timeout=AGENT_TIMEOUT
        ).stdout
    )
    assert len(expected) > 50
    url = _ingest_url(live_server, org.unit_a)
    run = subprocess.run(
        [
            "fusioninventory-agent",
            "--config=none",
            "--server",
            url,
            "--tasks=inventory",
            "--force",
            "--no-httpd",
            "--logger=stderr",
        ],
        capture_output=True,
        text=True,
        timeout=AGENT_TIMEOUT,
    )
    assert run.returncode == 0, run.stderr
    device = Device.objects.get(unit=org.unit_a)
    assert device.last_source == InventorySource.FUSIONINVENTORY
    assert device.last_agent.startswith("FusionInventory-Agent_v2.6")
    installs = Installation.objects.filter(device=device).exclude(kind="os")
    assert installs.count() == len(expected)
    assert sorted(installs.values_list("name", "version")) == sorted(expected)
    assert Installation.objects.filter(device=device, kind="os").count() == 1

    # The same machine again: no change, nothing written beyond last_seen.
    first_seen = device.last_seen
    again = subprocess.run(
        [
            "fusioninventory-agent",
            "--config=none",
            "--server",
            url,
            "--tasks=inventory",
            "--force",
            "--no-httpd",
            "--logger=stderr",
        ],
        capture_output=True,
        text=True,
        timeout=AGENT_TIMEOUT,
    )
    assert again.returncode == 0, again.stderr
    device.refresh_from_db()
    assert device.last_seen > first_seen
    assert InventoryReport.objects.filter(device=device).count() == 1
    assert Device.objects.filter(unit=org.unit_a).count() == 1


def test_ocsinventory_agent_reports_every_package(live_server, org, tmp_path):
    _require("ocsinventory-agent")
    expected_run = subprocess.run(
        ["ocsinventory-agent", "--stdout", "--basevardir", str(tmp_path / "expected")],
        capture_output=True,
        check=True,
        timeout=AGENT_TIMEOUT,
    )
    expected = _software_entries(expected_run.stdout)
    assert len(expected) > 50
    url = _ingest_url(live_server, org.unit_b)
    run = subprocess.run(
        [
            "ocsinventory-agent",
            "--nolocal",
            "--server",
            url,
            "--force",
            "--basevardir",
            str(tmp_path / "var"),
        ],
        capture_output=True,
        text=True,
        timeout=AGENT_TIMEOUT,
    )
    assert run.returncode == 0, run.stderr
    device = Device.objects.get(unit=org.unit_b)
    assert device.last_source == InventorySource.OCS
    installs = Installation.objects.filter(device=device).exclude(kind="os")
    assert installs.count() == len(expected)
    assert sorted(installs.values_list("name", "version")) == sorted(expected)
