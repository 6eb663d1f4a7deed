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
- http: gunicorn on loopback, C concurrent clients (default 1, 4, 16), each with one
  keep-alive connection, POSTing to an enrolment token's /ingest/<token>/.
After every phase the database is checked: N devices with the prefix, each with exactly the
template's number of installations (plus one for the operating system), and no change
events (repeats change nothing); a wrong count fails the benchmark.

    .venv/bin/python bench/run.py ingest --db postgres -- --n 200
    .venv/bin/python bench/run.py ingest --db sqlite -- --n 100 --clients 1,4
"""

from __future__ import annotations

import argparse
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
# entries): medians of 3 runs. Used for the ratio unless --ocs-url measures it live.
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
        "devices_ok": count == n,
        "rows": total,
        "rows_expected": n * (entries + 1),
        "events": events,
        "ok": ok,
    }


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


def http_phase(port: int, path: str, xmls: list[bytes], clients: int, entries: int) -> list:
    local = threading.local()

    def post(body: bytes) -> tuple[float, bool]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {
            "Content-Type": "application/x-compress",
            "User-Agent": "OCS-NG_unified_unix_agent_v2.10.0",
        }
        for attempt in (0, 1):
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status == 200 and b"no_account_update" in zlib.decompress(data)
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
        ("repeat", [zlib.compress(x) for x in xmls]),  # byte-identical
        ("repeat_volatile", [zlib.compress(volatile(x)) for x in xmls]),
    )
    for phase, bodies in phases:
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(post, bodies))
        wall = time.perf_counter() - started
        lat = [r[0] for r in results]
        errors = sum(1 for r in results if not r[1])
        out.append(row("http", clients, phase, len(bodies), entries, wall, lat, errors))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", required=True)
    parser.add_argument("--n", type=int, default=200, help="inventories per phase")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (0: 2×cores+1)")
    parser.add_argument("--template", default=None)
    parser.add_argument("--skip-service", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ)
    subprocess.run([str(BIN / "zhengban"), "migrate", "-v0"], check=True, env=env)
    setup_django()
    from zhengban.inventory import services
    from zhengban.orgs.choices import RegionLevel
    from zhengban.orgs.services import create_region
    from zhengban.orgs.testing import make_unit

    peer = load_peer()
    template = template_path(args.template)
    region = create_region(actor=None, code="370000", name="山东省", level=RegionLevel.PROVINCE)
    unit = make_unit(region, "基准测试单位")
    _row, token = services.create_enrollment_token(actor=None, unit=unit)
    results: list[dict] = []
    checks: list[dict] = []

    def bodies_for(prefix: str) -> tuple[list[bytes], int]:
        return peer.make_inventories(str(template), args.n, prefix, 42, 0.10)

    if not args.skip_service:
        xmls, entries = bodies_for("svc")
        results += service_phase(xmls, unit, entries)
        checks.append({"phase": "service", **verify("svc", args.n, entries)})
        print(json.dumps(results[-3:], ensure_ascii=False), flush=True)

    workers = args.workers or (2 * (os.cpu_count() or 1) + 1)
    port = free_port()
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "zhengban.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
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
        for clients in [int(c) for c in args.clients.split(",") if c]:
            prefix = f"c{clients}"
            xmls, entries = bodies_for(prefix)
            rows = http_phase(port, f"/ingest/{token}/", xmls, clients, entries)
            for r in rows:
                ref = OCS_REFERENCE.get((clients, r["phase"].split("_")[0]))
                r["ocs_inventories_per_s"] = ref
                r["x_ocs"] = round(r["inventories_per_s"] / ref, 1) if ref else None
            results += rows
            checks.append({"phase": f"http C={clients}", **verify(prefix, args.n, entries)})
            print(json.dumps(rows, ensure_ascii=False), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    data = {
        "benchmark": "ingest",
        "n": args.n,
        "entries_per_inventory": entries,
        "workers": workers,
        "template": str(template),
        "ocs_reference": "shared/peers/ocs/README.md (same machine, same inputs, N=200)",
        "results": results,
        "verification": checks,
    }
    Path(args.json).write_text(json.dumps(data, ensure_ascii=False, indent=2))
    if not all(c["ok"] for c in checks):
        print(json.dumps(checks, ensure_ascii=False), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
