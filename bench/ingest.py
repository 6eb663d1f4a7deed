#!/usr/bin/env python3
"""Inventory ingest: inventories/s and installation rows/s, first and unchanged repeats.

Inputs are the very inventories the OCS peer benchmark sends (shared/peers/ocs/bench_ocs.py:
a real `ocsinventory-agent --stdout` document made into N devices, entries shuffled, 10 %
varied, seed 42, zlib-compressed, sent like `ocsinventory-agent --force`), so the figures
compare with the OCS Inventory server's on the same machine.

Phases, each on fresh devices (own prefix): "first", then the same bodies again ("repeat",
byte-identical), then the same inventories with only volatile fields changed, as the OCS
agent's next run sends them ("repeat_volatile": free disk space, uptime):
- service: inflate + parse + store in this process (no HTTP, so no byte-identical
  shortcut: every repeat is parsed, all but its software entries), one after another;
- http: gunicorn on loopback (--worker-class, --threads, --workers), C concurrent clients
  (default 1, 4, 16), each with one keep-alive connection, POSTing to an enrolment
  token's /ingest/<token>/; the byte-identical repeats are sent --repeat-rounds times
  over (default 10), as N alone takes too little time to measure.
  Each HTTP row also has the CPU time per inventory, read from /proc, which the load
  of other work on the machine does not change: cpu_app_ms (gunicorn master and
  workers), cpu_db_ms (this database's PostgreSQL backends), cpu_client_ms (this
  process: the benchmark's clients), and load1 (the load average after the phase).
With --format json, the same inventories go as a GLPI agent sends them: each document as
zhengban's parser reads it, written as a GLPI-agent JSON inventory (deviceid, hardware,
bios, operating system, networks, every program), zlib-compressed
(application/x-compress-zlib); its "repeat_volatile" changes the operating system's boot
time, as the GLPI agent's daily run does. HTTP only (--skip-service), no OCS side: the OCS
server speaks XML alone.
With --fleet M, the enrolment token's unit first gets M other devices (each with an agent
id, hardware UUID, serial, payload digest and one MAC; no installations), so that every
device lookup runs in a unit of province size, not in one holding only the benchmark's own.

After every phase the database is checked: N devices with the prefix, each with exactly the
template's number of installations (plus one for the operating system), and no change
events (repeats change nothing); a wrong count fails the benchmark.

The OCS side (`--ocs`): after zhengban's phases (gunicorn stopped, so the two never share
the CPU), the real OCS Inventory server of shared/peers/ocs/ gets the very same inventories
in the same run. Its `setup.sh` installs it the first time (Debian packages, Apache on
127.0.0.1:18080 only; 169 s on this machine, 136 s of it apt) or starts it; the agent
template it writes (/tmp/peer_ocs/template.xml, from a real `ocsinventory-agent --stdout`)
is the one both sides use, unless --template names another file, which then goes to both. For every
concurrency in --ocs-clients (default: --clients) the database is reset (`setup.sh
reset-db`) and the peer's own `bench_ocs.py` runs with the same N, seed (42), variation
(10 %), prefix (c<C>) and template: its "first" and "repeat" phases and its row check
(hardware rows and software rows joined to them), plus a count of orphan software rows
and of the deadlock / duplicate-key / NULL-id lines in Apache's error.log. Before each run
the peer's generator dumps its inputs (`bench_ocs.py --dump`) and they must hash the same
as the documents zhengban got, or the benchmark stops. A lost device or a wrong row on the
OCS side is reported, not a failure of this benchmark. The peer's Apache is stopped at
the end (and MariaDB too if this run started it; see bench/_ocs_peer.py).

Results: one row per mode/concurrency/phase ("service", "http", and with --ocs "ocs-http"),
and for the HTTP rows the ratio to OCS (`x_ocs` = zhengban inventories/s ÷ OCS's).
With --ocs the ratio is against the figure measured in this run and "comparison" holds both
sides per concurrency and phase (rates, latencies, the row checks); without it, against
the medians in shared/peers/ocs/README.md (N=200). "repeat_volatile" has no ratio: OCS is
not sent those documents.

    .venv/bin/python bench/run.py ingest --db postgres -- --n 200
    .venv/bin/python bench/run.py ingest --db sqlite -- --n 100 --clients 1,4
    .venv/bin/python bench/run.py ingest --db postgres --db-name zb_me -- --n 200 --clients 1,4 --ocs
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import importlib.util
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SHARED = Path(os.environ.get("ZHENGBAN_SHARED_DIR", ROOT.parent / "shared"))
PEER = SHARED / "peers" / "ocs"

# The OCS server's own figures on this machine (shared/peers/ocs/README.md, N=200, 884
# entries): medians of 3 runs. Used for the ratio unless --ocs measures it in the run.
OCS_REFERENCE = {
    (1, "first"): 0.72,
    (1, "repeat"): 0.68,
    (4, "first"): 2.15,
    (4, "repeat"): 2.42,
}


def load_peer():
    spec = importlib.util.spec_from_file_location("bench_ocs", PEER / "bench_ocs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def template_path(given: str | None) -> Path:
    for candidate in (given, "/tmp/peer_ocs/template.xml"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    out = Path(tempfile.mkdtemp(prefix="zb-ingest-")) / "template.xml"
    var = out.parent / "var"
    with out.open("wb") as fh:
        subprocess.run(
            ["ocsinventory-agent", "--stdout", "--basevardir", str(var)],
            stdout=fh,
            stderr=subprocess.DEVNULL,
            check=True,
        )
    return out


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhengban.settings")
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verify(prefix: str, n: int, entries: int) -> dict:
    from django.db.models import Count

    from zhengban.inventory.models import Device, Installation, InstallationEvent

    devices = Device.objects.filter(hostname__startswith=prefix + "-")
    count = devices.count()
    per_device = (
        Installation.objects.filter(device__in=devices)
        .values("device")
        .annotate(n=Count("pk"))
        .values_list("n", flat=True)
    )
    wrong = sum(1 for c in per_device if c != entries + 1)
    total = sum(per_device)
    events = InstallationEvent.objects.filter(device__in=devices).count()
    ok = count == n and wrong == 0 and total == n * (entries + 1) and events == 0
    return {
        "devices": count,
        "devices_ok": count == n,
        "rows": total,
        "rows_expected": n * (entries + 1),
        "events": events,
        "ok": ok,
    }


def add_fleet(unit, count: int) -> dict:
    """``count`` devices in ``unit`` with every identifier an inventory is matched on, as
    a large unit's earlier inventories would have left them (hostnames "fleet-…", which no
    phase's prefix matches)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from zhengban.inventory.choices import InventorySource
    from zhengban.inventory.models import Device, DeviceMAC

    started = time.perf_counter()
    now = timezone.now()
    # DeviceMAC has a unit since session 6; without it, earlier code can be measured too.
    fields = {f.name for f in DeviceMAC._meta.fields}
    mac_unit = {"unit": unit} if "unit" in fields else {}
    with transaction.atomic():
        for start in range(0, count, 5000):
            batch = range(start, min(count, start + 5000))
            devices = Device.objects.bulk_create(
                Device(
                    unit=unit,
                    hostname=f"fleet-{i:06d}",
                    agent_device_id=f"fleet-{i:06d}-2025-01-01-00-00-00",
                    hardware_uuid=hashlib.md5(b"uuid%d" % i).hexdigest(),
                    serial_number=f"FLEET{i:08d}",
                    payload_hash=hashlib.sha256(b"fleet%d" % i).hexdigest(),
                    first_seen=now,
                    last_seen=now,
                    last_source=InventorySource.OCS,
                )
                for i in batch
            )
            DeviceMAC.objects.bulk_create(
                DeviceMAC(device=device, mac="0a:" + i.to_bytes(5).hex(":"), **mac_unit)
                for device, i in zip(devices, batch, strict=True)
            )
    if connection.vendor == "postgresql":
        # As autovacuum would soon: without statistics the planner takes the unit for a
        # few rows and reads all of it.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE inventory_device, inventory_devicemac")
    return {"devices": count, "seconds": round(time.perf_counter() - started, 1)}


def volatile(xml: bytes) -> bytes:
    """The same inventory as the agent sends it on its next run: only volatile fields
    differ (free disk space, the uptime in HARDWARE/DESCRIPTION), none that is stored."""
    changed = re.sub(rb"<FREE>(\d+)</FREE>", lambda m: b"<FREE>%d</FREE>" % (int(m[1]) + 7), xml)
    changed = re.sub(
        rb"<DESCRIPTION>([^<]*/)[0-9:-]+ [0-9:]+</DESCRIPTION>",
        rb"<DESCRIPTION>\g<1>00-00-01 02:03:04</DESCRIPTION>",
        changed,
    )
    if changed == xml:
        changed = xml.replace(
            b"</CONTENT>", b"<ACCESSLOG><LOGDATE>2026</LOGDATE></ACCESSLOG></CONTENT>"
        )
    return changed


BOOT_TIME = "2026-11-27 08:00:00"


def glpi_json(xml: bytes) -> bytes:
    """The inventory ``xml`` as a GLPI agent would send it (JSON), with every fact zhengban
    stores; the entries keep their order."""
    from zhengban.inventory import parsers

    doc = parsers.parse_xml(xml).document
    assert doc is not None and doc.os is not None and doc.software is not None
    content: dict = {
        "versionclient": "GLPI-Agent_v1.7",
        "hardware": {"name": doc.hostname, "uuid": doc.hardware_uuid, "memory": doc.memory_mb},
        "bios": {"ssn": doc.serial_number, "smanufacturer": doc.manufacturer},
        "operatingsystem": {
            "full_name": doc.os.name,
            "version": doc.os.version,
            "arch": doc.os.arch,
            "boot_time": BOOT_TIME,
        },
        "networks": [{"description": f"eth{i}", "mac": mac} for i, mac in enumerate(doc.macs)],
        "cpus": [{"name": doc.cpu}] if doc.cpu else [],
        "softwares": [
            {
                key: value
                for key, value in (
                    ("name", s.name),
                    ("version", s.version),
                    ("publisher", s.publisher),
                    ("arch", s.arch),
                    ("install_date", s.install_date.isoformat() if s.install_date else ""),
                    ("guid", s.guid),
                )
                if value
            }
            for s in doc.software
        ],
    }
    for section in ("hardware", "bios"):
        content[section] = {k: v for k, v in content[section].items() if v not in (None, "")}
    body = {"action": "inventory", "deviceid": doc.agent_device_id, "content": content}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def volatile_json(body: bytes) -> bytes:
    """The GLPI agent's next run of an unchanged machine: another boot time."""
    return body.replace(
        f'"boot_time": "{BOOT_TIME}"'.encode(), b'"boot_time": "2026-11-28 08:00:00"'
    )


def service_phase(xmls: list[bytes], unit, entries: int) -> list[dict]:
    """Inflate + parse + store, in this process, as the ingest view does but without its
    byte-identical shortcut: every repeat is parsed (all but the software entries, whose
    raw section is compared by digest; see services.ingest_xml)."""
    from zhengban.inventory import parsers, services

    out = []
    phases = (
        ("first", [zlib.compress(x) for x in xmls]),
        ("repeat", [zlib.compress(x) for x in xmls]),
        ("repeat_volatile", [zlib.compress(volatile(x)) for x in xmls]),
    )
    for phase, bodies in phases:
        lat = []
        started = time.perf_counter()
        for body in bodies:
            t0 = time.perf_counter()
            payload = parsers.decode_body(body, "application/x-compress")
            services.ingest_xml(unit=unit, payload=payload)
            lat.append(time.perf_counter() - t0)
        wall = time.perf_counter() - started
        out.append(row("service", 1, phase, len(bodies), entries, wall, lat, 0))
    return out


def governance_drain() -> dict:
    """Carry out governance's queued reactions (PendingInventory) here and time it: the
    work the ingest no longer does in its transaction."""
    from django.db import connection

    from zhengban.governance.models import PendingInventory
    from zhengban.governance.services import drain_pending_inventories

    pending = PendingInventory.objects.count()
    db_pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            db_pid = cursor.fetchone()[0]
    db0 = _cpu_seconds(db_pid) if db_pid else 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    done = drain_pending_inventories()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    db = (_cpu_seconds(db_pid) - db0) if db_pid else 0.0
    per = max(done, 1)
    return {
        "pending": pending,
        "processed": done,
        "seconds": round(wall, 2),
        "per_inventory_ms": round(wall * 1000 / per, 2),
        "cpu_app_ms": round(cpu * 1000 / per, 2),
        "cpu_db_ms": round(db * 1000 / per, 2),
    }


def row(mode, clients, phase, n, entries, wall, lat, errors) -> dict:
    lat = sorted(lat) or [0.0]
    return {
        "mode": mode,
        "clients": clients,
        "phase": phase,
        "inventories": n,
        "seconds": round(wall, 2),
        "inventories_per_s": round(n / wall, 2),
        "rows_per_s": round(n * entries / wall),
        "p50_ms": round(statistics.median(lat) * 1000, 1),
        "p95_ms": round(lat[max(0, int(len(lat) * 0.95) - 1)] * 1000, 1),
        "errors": errors,
    }


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out


class CpuMeter:
    """CPU seconds spent by the server side of a phase, whatever else loads the machine:
    gunicorn (master and workers) and this database's PostgreSQL backends (their
    processes, read from /proc: the server runs on this machine), and this process (the
    benchmark's own clients). Backends that exit during a phase are not counted; with
    persistent connections (CONN_MAX_AGE) they do not."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid

    def _pg_pids(self) -> list[int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return [r[0] for r in cursor.fetchall()]

    def sample(self) -> dict[str, dict[int, float]]:
        from django.db import connection

        out: dict[str, dict[int, float]] = {"app": {}, "db": {}}
        if self.server_pid:
            for pid in [self.server_pid, *_children(self.server_pid)]:
                out["app"][pid] = _cpu_seconds(pid)
        if connection.vendor == "postgresql":
            out["db"] = {pid: _cpu_seconds(pid) for pid in self._pg_pids()}
        out["client"] = {0: time.process_time()}
        return out

    @staticmethod
    def delta(before: dict, after: dict) -> dict[str, float]:
        return {
            part: round(sum(v - before[part].get(pid, 0.0) for pid, v in after[part].items()), 3)
            for part in after
        }


def http_phase(
    port: int,
    path: str,
    xmls: list[bytes],
    clients: int,
    entries: int,
    meter: CpuMeter | None = None,
    rounds: int = 1,
    as_json: bool = False,
) -> list:
    local = threading.local()
    content_type = "application/x-compress-zlib" if as_json else "application/x-compress"
    agent = "GLPI-Agent_v1.7" if as_json else "OCS-NG_unified_unix_agent_v2.10.0"
    answer = b'"status": "ok"' if as_json else b"no_account_update"
    change = volatile_json if as_json else volatile

    def post(body: bytes) -> tuple[float, bool]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"Content-Type": content_type, "User-Agent": agent}
        for attempt in (0, 1):
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status == 200 and answer in zlib.decompress(data)
                return time.perf_counter() - t0, ok
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                if attempt:
                    return time.perf_counter() - t0, False
        return 0.0, False

    out = []
    phases = (
        ("first", [zlib.compress(x) for x in xmls]),
        # Byte-identical, `rounds` times over: each takes a millisecond or two, and a
        # phase of N alone is too short to time (or to read CPU ticks of) reliably.
        ("repeat", [zlib.compress(x) for x in xmls] * rounds),
        ("repeat_volatile", [zlib.compress(change(x)) for x in xmls]),
    )
    for phase, bodies in phases:
        before = meter.sample() if meter else None
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(post, bodies))
        wall = time.perf_counter() - started
        lat = [r[0] for r in results]
        errors = sum(1 for r in results if not r[1])
        out.append(row("http", clients, phase, len(bodies), entries, wall, lat, errors))
        if meter:
            cpu = CpuMeter.delta(before, meter.sample())
            n = len(bodies)
            # Per inventory, in ms of CPU: load-independent, unlike inventories/s.
            out[-1]["cpu_app_ms"] = round(cpu["app"] * 1000 / n, 2)
            out[-1]["cpu_db_ms"] = round(cpu["db"] * 1000 / n, 2)
            out[-1]["cpu_client_ms"] = round(cpu["client"] * 1000 / n, 2)
            out[-1]["load1"] = round(os.getloadavg()[0], 2)
    return out


def ocs_rows(clients: int, res: dict, n: int) -> list[dict]:
    """bench_ocs.py's figures in the shape of our rows, so one table shows both sides."""
    out = []
    for phase in ("first", "repeat"):
        r = res.get(phase)
        if r:
            out.append(
                {
                    "mode": "ocs-http",
                    "clients": clients,
                    "phase": phase,
                    "inventories": n,
                    "seconds": r["wall_s"],
                    "inventories_per_s": r["inv_per_s"],
                    "rows_per_s": round(r["software_rows_per_s"]),
                    "p50_ms": r["lat_p50_ms"],
                    "p95_ms": r["lat_p95_ms"],
                    "errors": r["errors"],
                }
            )
    return out


def ratio(ours: float, theirs: float | None) -> float | None:
    return round(ours / theirs, 1) if theirs else None


def comparison(results: list[dict], ocs_runs: dict, checks: dict) -> list[dict]:
    """zhengban next to OCS per concurrency and phase, both measured in this run."""
    ocs = {(r["clients"], r["phase"]): r for r in results if r["mode"] == "ocs-http"}
    out = []
    for r in results:
        theirs = ocs.get((r["clients"], r["phase"]))
        if r["mode"] != "http" or theirs is None:
            continue
        run = ocs_runs[r["clients"]]
        v = run.get("verify", {})
        check = checks.get(r["clients"], {})
        out.append(
            {
                "clients": r["clients"],
                "phase": r["phase"],
                "zb_inv_s": r["inventories_per_s"],
                "ocs_inv_s": theirs["inventories_per_s"],
                "x_inv": ratio(r["inventories_per_s"], theirs["inventories_per_s"]),
                "zb_rows_s": r["rows_per_s"],
                "ocs_rows_s": theirs["rows_per_s"],
                "x_rows": ratio(r["rows_per_s"], theirs["rows_per_s"]),
                "zb_p50_ms": r["p50_ms"],
                "ocs_p50_ms": theirs["p50_ms"],
                "zb_p95_ms": r["p95_ms"],
                "ocs_p95_ms": theirs["p95_ms"],
                "zb_errors": r["errors"],
                "ocs_errors": theirs["errors"],
                # Row checks cover the whole run at this concurrency (after all phases).
                "zb_exact": check.get("ok"),
                "ocs_devices": f"{v.get('hardware_rows')}/{v.get('expected_hardware_rows')}",
                "ocs_sw_rows": f"{v.get('software_rows')}/{v.get('expected_software_rows')}",
                "ocs_orphans": run.get("orphan_software_rows"),
                "ocs_exact": v.get("match"),
            }
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", required=True)
    parser.add_argument("--n", type=int, default=200, help="inventories per phase")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="gunicorn workers (0: one per core, as README.md recommends for a host that also "
        "runs its PostgreSQL)",
    )
    parser.add_argument(
        "--worker-class", default="sync", help="gunicorn worker class (sync, gthread)"
    )
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument(
        "--wsgi",
        default="zhengban.wsgi:application",
        help="the WSGI application gunicorn serves (zhengban.wsgi:django_application: "
        "Django's own, without the lean entry for agents' repeats)",
    )
    parser.add_argument(
        "--repeat-rounds",
        type=int,
        default=10,
        help="HTTP: send the byte-identical repeats this many times over (N × rounds)",
    )
    parser.add_argument("--template", default=None)
    parser.add_argument(
        "--fleet",
        type=int,
        default=0,
        help="first give the unit this many other devices (a large unit's lookups)",
    )
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument(
        "--format",
        choices=["xml", "json"],
        default="xml",
        help="what the agents send: OCS XML, or the same inventories as GLPI-agent JSON",
    )
    parser.add_argument(
        "--ocs",
        action="store_true",
        help="also measure the real OCS Inventory server with the same inventories",
    )
    parser.add_argument(
        "--ocs-clients", default=None, help="concurrencies for the OCS side (default: --clients)"
    )
    args = parser.parse_args()
    if args.format == "json" and (args.ocs or not args.skip_service):
        parser.error("--format json is HTTP only (--skip-service) and has no OCS side")
    peer = None
    if args.ocs:
        from _ocs_peer import OcsPeer

        peer = OcsPeer(PEER)
    try:
        return run(args, peer)
    finally:
        if peer is not None:
            peer.close()


def run(args, peer) -> int:
    from _ocs_peer import SEED, VARY, digests

    clients_list = [int(c) for c in args.clients.split(",") if c]
    ocs_clients = [int(c) for c in (args.ocs_clients or args.clients).split(",") if c]
    ocs_setup = None
    if peer is not None:
        # First, so that a fresh install's agent template exists before inputs are built.
        print("OCS peer: setting up (the first time installs Debian packages)…", flush=True)
        ocs_setup = peer.prepare()
        print(f"OCS peer: {ocs_setup}", flush=True)
    env = dict(os.environ)
    subprocess.run([str(BIN / "zhengban"), "migrate", "-v0"], check=True, env=env)
    setup_django()
    from zhengban.inventory import services
    from zhengban.orgs.choices import RegionLevel
    from zhengban.orgs.services import create_region
    from zhengban.orgs.testing import make_unit

    gen = load_peer()
    template = template_path(args.template or (str(peer.template) if peer else None))
    region = create_region(actor=None, code="370000", name="山东省", level=RegionLevel.PROVINCE)
    unit = make_unit(region, "基准测试单位")
    _row, token = services.create_enrollment_token(actor=None, unit=unit)
    fleet = add_fleet(unit, args.fleet) if args.fleet else None
    if fleet:
        print(f"fleet: {fleet}", flush=True)
    results: list[dict] = []
    checks: list[dict] = []
    http_checks: dict[int, dict] = {}
    sent: dict[str, list[str]] = {}  # prefix -> SHA-256 of each XML document sent

    def bodies_for(prefix: str) -> tuple[list[bytes], int]:
        return gen.make_inventories(str(template), args.n, prefix, SEED, VARY)

    entries = 0
    if not args.skip_service:
        xmls, entries = bodies_for("svc")
        results += service_phase(xmls, unit, entries)
        checks.append({"phase": "service", **verify("svc", args.n, entries)})
        print(json.dumps(results[-3:], ensure_ascii=False), flush=True)

    workers = args.workers or (os.cpu_count() or 1)
    port = free_port()
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            args.wsgi,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            args.worker_class,
            "--threads",
            str(args.threads),
            "--keep-alive",
            "30",
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        env={**env, "ALLOWED_HOSTS": "127.0.0.1"},
    )
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        for clients in clients_list:
            prefix = f"c{clients}"
            xmls, entries = bodies_for(prefix)
            sent[prefix] = digests(xmls)
            if args.format == "json":
                xmls = [glpi_json(x) for x in xmls]
            rows = http_phase(
                port,
                f"/ingest/{token}/",
                xmls,
                clients,
                entries,
                CpuMeter(server.pid),
                args.repeat_rounds,
                as_json=args.format == "json",
            )
            del xmls
            results += rows
            check = verify(prefix, args.n, entries)
            http_checks[clients] = check
            checks.append({"phase": f"http C={clients}", **check})
            print(json.dumps(rows, ensure_ascii=False), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)

    # Governance's reaction to the first inventories is queued, as licensing's is (no worker
    # ran during the phases): what it costs to carry out, in this process, one batch after
    # another as the background worker would.
    drain = governance_drain()
    print(json.dumps({"governance_drain": drain}), flush=True)

    # The peer runs only now, with gunicorn gone, so neither side measures under the other.
    ocs_runs: dict[int, dict] = {}
    if peer is not None:
        for clients in ocs_clients:
            prefix = f"c{clients}"
            if prefix not in sent:
                xmls, entries = bodies_for(prefix)
                sent[prefix] = digests(xmls)
                del xmls
            res = peer.run(args.n, clients, prefix, template, sent[prefix])
            ocs_runs[clients] = res
            rows = ocs_rows(clients, res, args.n)
            results += rows
            print(json.dumps(rows, ensure_ascii=False), flush=True)

    for r in results:
        if r["mode"] != "http":
            continue
        if peer is not None:
            phase = ocs_runs.get(r["clients"], {}).get(r["phase"])
            ref = phase["inv_per_s"] if phase else None
        else:
            ref = OCS_REFERENCE.get((r["clients"], r["phase"]))
        r["ocs_inventories_per_s"] = ref
        r["x_ocs"] = ratio(r["inventories_per_s"], ref)

    data = {
        "benchmark": "ingest",
        "format": args.format,
        "n": args.n,
        "entries_per_inventory": entries,
        "workers": workers,
        "worker_class": args.worker_class,
        "threads": args.threads,
        "repeat_rounds": args.repeat_rounds,
        "fleet": fleet,
        "template": str(template),
        "template_sha256": hashlib.sha256(template.read_bytes()).hexdigest(),
        "seed": SEED,
        "vary": VARY,
        "results": results,
        "verification": checks,
        "wsgi": args.wsgi,
        "governance_drain": drain,
    }
    if peer is None:
        data["ocs_reference"] = "shared/peers/ocs/README.md (same machine, same inputs, N=200)"
    else:
        data["ocs"] = {
            "measured": True,
            "url": peer.url,
            "clients": ocs_clients,
            **(ocs_setup or {}),
            "runs": {str(c): res for c, res in ocs_runs.items()},
        }
        data["comparison"] = comparison(results, ocs_runs, http_checks)
    Path(args.json).write_text(json.dumps(data, ensure_ascii=False, indent=2))
    if not all(c["ok"] for c in checks):
        print(json.dumps(checks, ensure_ascii=False), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
