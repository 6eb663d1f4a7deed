"""The inventory document: schema validity, categories, system facts and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
from conftest import reg_bytes

from zhengban_agent.__main__ import EXIT_CODES_HELP, build_parser, main
from zhengban_agent.collectors import system
from zhengban_agent.inventory import Inventory, collect_inventory, device_id_from_machine_id
from zhengban_agent.regfile import parse_reg, uninstall_entries


def test_this_machine_validates_against_glpi_schema(validate) -> None:
    inv = collect_inventory("/")
    assert inv.errors == []
    doc = inv.to_dict(tag="360102-001")
    validate(doc)
    assert doc["action"] == "inventory" and doc["itemtype"] == "Computer"
    assert doc["tag"] == "360102-001"
    assert doc["content"]["versionclient"].startswith("zhengban-agent_v")
    assert doc["deviceid"] == collect_inventory("/").device_id()  # stable across runs


def test_xp_export_as_inventory(validate) -> None:
    inv = Inventory()
    inv.machine_id = "4c4c4544-0034-3010-8048-b6c04f503732"
    for entry in uninstall_entries(parse_reg(reg_bytes("xp-Uninstall.reg"))):
        inv.add_uninstall_entry(entry, native_arch="i586")
    validate(inv.to_dict())
    # Named entries are all kept (534 - 116 without DisplayName), marked by category.
    assert len(inv.softwares) == 418
    assert Counter(s["system_category"] for s in inv.softwares) == Counter(
        {"update": 331, "application": 57, "system_component": 30}
    )
    assert {s["from"] for s in inv.softwares} == {"registry"}


def test_device_id_hides_machine_id() -> None:
    did = device_id_from_machine_id("0123456789abcdef0123456789abcdef")
    assert did == device_id_from_machine_id("0123456789ABCDEF0123456789ABCDEF\n")
    assert "0123456789abcdef" not in did.replace("-", "")


def test_system_facts_from_prepared_root(tmp_path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(
        'NAME="Kylin"\nVERSION="V10 (SP1)"\nVERSION_ID="v10"\n'
        'PRETTY_NAME="Kylin V10 SP1"\nVERSION_CODENAME=kylin\n'
    )
    (tmp_path / "etc/machine-id").write_text("5c1b2b1e0c8d4c2f9d5b0e1a2b3c4d5e\n")
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/meminfo").write_text("MemTotal:  16318480 kB\nSwapTotal: 2097148 kB\n")
    (tmp_path / "proc/cpuinfo").write_text(
        "".join(
            f"processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 158\n"
            f"model name\t: Intel(R) Core(TM) i5-9500 CPU @ 3.00GHz\nstepping\t: 10\n"
            f"cpu MHz\t\t: 3000.000\nphysical id\t: 0\ncore id\t\t: {i % 6}\n\n"
            for i in range(6)
        )
    )
    dmi = tmp_path / "sys/class/dmi/id"
    dmi.mkdir(parents=True)
    for name, value in {
        "bios_vendor": "Phoenix",
        "bios_date": "05/28/2021",
        "sys_vendor": "Lenovo",
        "product_name": "ThinkCentre M720t",
        "product_serial": "PC1ABCDE",
        "product_uuid": "5f3c2b1a-0000-4000-8000-0123456789ab",
    }.items():
        (dmi / name).write_text(value + "\n")
    net = tmp_path / "sys/class/net"
    for name, mac, kind, state in (
        ("enp1s0", "00:1A:2B:3C:4D:5E", "1", "up"),
        ("lo", "00:00:00:00:00:00", "772", "unknown"),
    ):
        (net / name).mkdir(parents=True)
        (net / name / "address").write_text(mac + "\n")
        (net / name / "type").write_text(kind + "\n")
        (net / name / "operstate").write_text(state + "\n")
    (net / "enp1s0" / "device").mkdir()

    assert system.os_info(str(tmp_path))["full_name"] == "Kylin V10 SP1"
    assert system.os_info(str(tmp_path))["version"] == "v10"
    assert system.memory_mb(str(tmp_path)) == {"memory": 15936, "swap": 2047}
    assert system.dmi_info(str(tmp_path)) == {
        "bios": {
            "bmanufacturer": "Phoenix",
            "smanufacturer": "Lenovo",
            "smodel": "ThinkCentre M720t",
            "ssn": "PC1ABCDE",
            "bdate": "2021-05-28",
        },
        "hardware": {"uuid": "5F3C2B1A-0000-4000-8000-0123456789AB"},
    }
    cpus = system.cpus(str(tmp_path))
    assert [(c["name"], c["manufacturer"], c["core"], c["thread"], c["speed"]) for c in cpus] == [
        ("Intel(R) Core(TM) i5-9500 CPU @ 3.00GHz", "Intel", 6, 1, 3000)
    ]
    assert system.networks(str(tmp_path)) == [
        {
            "description": "enp1s0",
            "mac": "00:1a:2b:3c:4d:5e",
            "type": "ethernet",
            "status": "up",
            "virtualdev": False,
        },
        {"description": "lo", "type": "loopback", "status": "unknown", "virtualdev": True},
    ]
    assert system.machine_id(str(tmp_path)) == "5c1b2b1e0c8d4c2f9d5b0e1a2b3c4d5e"


def test_help_is_complete() -> None:
    text = build_parser().format_help()
    for option in (
        "--server",
        "--local",
        "--stdout",
        "--no-compress",
        "--spool",
        "--spool-max",
        "--timeout",
        "--backoff-base",
        "--backoff-max",
        "--force",
        "--ca-cert",
        "--insecure",
        "--tag",
        "--root",
        "--log-file",
        "--verbose",
        "--version",
    ):
        assert option in text
    assert EXIT_CODES_HELP in text


def test_cli_without_destination_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "zhengban_agent"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "nothing to do" in proc.stderr


def test_cli_stdout_and_local(tmp_path, capsysbinary, validate) -> None:
    assert main(["--stdout", "--local", str(tmp_path)]) == 0
    printed = json.loads(capsysbinary.readouterr().out)
    (written,) = list(tmp_path.glob("*.json"))
    assert json.loads(written.read_bytes()) == printed
    validate(printed)


def _oldest_python():
    """The oldest Python 3.7/3.8 on this machine (pyenv's or the system's), if any."""
    import glob
    import shutil

    for version in ("3.7", "3.8"):
        found = sorted(glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python{version}"))
        found += [p for p in [shutil.which(f"python{version}")] if p]
        if found:
            return found[0]
    return None


@pytest.mark.skipif(_oldest_python() is None, reason="no Python 3.7 or 3.8 on this machine")
def test_runs_on_the_oldest_python_it_supports() -> None:
    from pathlib import Path

    agent_dir = str(Path(__file__).resolve().parent.parent)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": agent_dir}

    def run(python: str) -> dict:
        out = subprocess.run(
            [python, "-m", "zhengban_agent", "--stdout"],
            capture_output=True,
            env=env,
            timeout=300,
            check=True,
        ).stdout
        return json.loads(out)

    old, current = run(_oldest_python()), run(sys.executable)
    assert old["content"]["softwares"] == current["content"]["softwares"]
    assert old["deviceid"] == current["deviceid"]
