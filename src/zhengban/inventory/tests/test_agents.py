"""The real FusionInventory and OCS Inventory agents (Debian packages, installed by
scripts/install-system-deps.sh) report to a live test server.

Expected figures come from the agents themselves: ``fusioninventory-inventory`` and
``ocsinventory-agent --stdout`` print the inventory they would send; the device must appear
with exactly that many installations (plus the operating system, kind "os").

The OCS agent's Debian config says ``local=…`` (write a file, never contact a server):
``--nolocal`` overrides it on the command line and ``--basevardir`` keeps the agent's state
in a temporary directory, so nothing global is changed.
"""

import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from zhengban.inventory import services
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.models import Device, Installation, InventoryReport
from zhengban.inventory.views import agent_commands

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


def _shown_command(url: str, binary: str) -> list[str]:
    """The Linux command the token page shows for ``binary``, split as sh splits it: the
    agents run what people paste, plus only the test's own options."""
    linux = agent_commands(url)[0][1]
    shown = [command for _label, command in linux if command.startswith(binary + " ")]
    assert len(shown) == 1, linux
    argv = shlex.split(shown[0])
    assert url in argv
    return argv


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
            *_shown_command(url, "fusioninventory-agent"),
            "--config=none",
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
            *_shown_command(url, "fusioninventory-agent"),
            "--config=none",
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
            *_shown_command(url, "ocsinventory-agent"),
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


def test_concurrent_first_inventories_of_one_device_make_one_device(live_server, org):
    """Eight agents' copies of one machine's first inventory arrive at once: one device,
    exact rows (the unique agent id per unit plus a retry settle the race)."""
    import http.client
    import urllib.parse
    import zlib
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from zhengban.inventory.testing import GLPI_EXAMPLES

    if connection.vendor == "sqlite":
        # The SQLite test database is in memory with a shared cache, whose table locks are
        # not waited on (file databases use WAL and a busy timeout: bench/ingest.py
        # checks concurrent clients on those).
        pytest.skip("concurrent writers need PostgreSQL or a file SQLite database")
    url = urllib.parse.urlsplit(_ingest_url(live_server, org.unit_a))
    body = zlib.compress((GLPI_EXAMPLES / "computer_1.json").read_bytes())

    def send(_i: int) -> int:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        conn.request("POST", url.path, body, {"Content-Type": "application/x-compress-zlib"})
        status = conn.getresponse().status
        conn.close()
        return status

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(8)))
    assert statuses == [200] * 8
    device = Device.objects.get(unit=org.unit_a)
    assert Installation.objects.filter(device=device).count() == 6 + 1
    assert InventoryReport.objects.filter(device=device).count() == 1


def test_our_agent_reports_exactly_the_installed_dpkg_packages(live_server, org, tmp_path):
    """Our stdlib agent, run as a real process: the device holds one installation per
    package dpkg lists as installed, "ii" or held "hi" (plus the operating system)."""
    import sys
    from pathlib import Path

    listing = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package}\\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # "ii", and "hi" for a held package: the second letter says installed.
    installed = [line.split()[1] for line in listing.splitlines() if line[1:2] == "i"]
    agent = Path(sys.executable).parent / "zhengban-agent"
    url = _ingest_url(live_server, org.unit_a)
    run = subprocess.run(
        [
            str(agent),
            *_shown_command(url, "zhengban-agent")[1:],
            "--spool",
            str(tmp_path / "spool"),
            "--force",
        ],
        capture_output=True,
        text=True,
        timeout=AGENT_TIMEOUT,
    )
    assert run.returncode == 0, run.stderr
    device = Device.objects.get(unit=org.unit_a)
    assert device.last_source == InventorySource.ZHENGBAN_AGENT
    installs = Installation.objects.filter(device=device).exclude(kind="os")
    assert installs.count() == len(installed)
    assert sorted(n.split(":")[0] for n in installs.values_list("name", flat=True)) == sorted(
        p.split(":")[0] for p in installed
    )
