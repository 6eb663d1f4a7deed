#!/usr/bin/env python3
"""Compliance recompute: a full province, then incremental updates.

    .venv/bin/python bench/run.py compliance --db postgres [-- --devices 100000 --units 5000]
    DATABASE_URL=postgres://…/province .venv/bin/python bench/compliance.py --existing --json F

``--cases`` runs only some incremental cases (e.g. ``--skip-full --cases drain,mixed``).
``--existing`` measures a province built by ``zhengban simulate`` instead of building one
(the incremental samples change it: a WinRAR install on each sampled device, the mixed
case's changes, and sampled entitlements cut to one seat; measure a copy, or run the full
cases first).

Builds a synthetic province straight into the tables (regions, units, devices, installs of
the shipped catalog's products, entitlements with realistic gaps), then measures:
- full: ``recompute_all`` of every unit (twice; the second run replaces existing rows);
- queue: what an ingest's transaction pays for licensing now: ``queue_inventory_recompute``
  (a queue row, and a drain task unless one is waiting);
- drain: one device's software changes and is queued, then the task's drain of that one
  request, in its own transaction (commit included) (median, p95);
- mixed: the same drain, each sample a random device and a change drawn from the mix of
  a province's re-inventories (``MIX``), as the ingest writes it (installs, removed
  installs with their report and events): median, p95 and how many took the fast path,
  also per kind of change;
- sync: the same change recomputed at once by ``recompute_after_inventory`` (no commit);
- entitlement: one unit's entitlement quantity changes, then ``recompute_units``;
- burst: ``--burst`` devices change and are queued at once (random devices of the whole
  province, then the devices of a few units), then one drain: total time and devices/s.
Other apps' reactions to LICENSING_RECOMPUTED are left out unless ``--reactions``. Beside
each latency, figures a shared machine's load does not move: the median number of queries,
and the mean CPU time per sample of this process and (PostgreSQL, where /proc shows it) of
the server backend.
Writes {"benchmark": "compliance", "results": [...]} to --json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhengban.settings")

# (product key, installed name template, raw version, share of devices)
COMMERCIAL = [
    ("microsoft-office-professional-plus", "Microsoft Office 专业增强版 {v}", "16.0.4266", 0.55),
    ("wps-office-professional", "WPS Office 专业版", "12.1.0", 0.25),
    ("wps-office-personal", "WPS Office 个人版", "12.1.0", 0.08),
    ("winrar", "WinRAR 6.24 (64-bit)", "6.24.0", 0.20),
    ("qianxin-tianqing", "奇安信天擎终端安全管理系统", "10.0", 0.70),
    ("adobe-acrobat-pro", "Adobe Acrobat Pro DC", "23.0", 0.05),
]
FREE = ["7zip", "foxit-reader", "bandizip", "kaspersky-free", "unrar", "libreoffice"]

# The "mixed" case: what one re-inventory changes, weighted as a province's inventories
# do (most re-inventories that change anything add or drop a free tool or an unlicensed
# utility; a sizeable minority touch a licensed office suite). Weights in percent:
# - free: a free product installed (7-Zip, Foxit Reader, Bandizip, …)                 25
# - winrar: an unlicensed utility installed (WinRAR: commercial, no entitlement)        15
# - office-install: Office installed (per-device licence, limited quantity)             15
# - office-remove: Office removed (a seat freed)                                        10
# - office-upgrade: Office 2016/2019 replaced by a later version (a new name: removed
#   and installed, as the agent reports it)                                             10
# - acrobat: Adobe Acrobat installed, or removed where present (commercial, unbought)    5
# - wps: WPS Office Professional installed (a site licence where bought)                10
# - antivirus: 奇安信天擎 swapped for Kaspersky Free, or back (regional site licence)    10
MIX = [
    ("free", 25),
    ("winrar", 15),
    ("office-install", 15),
    ("office-remove", 10),
    ("office-upgrade", 10),
    ("acrobat", 5),
    ("wps", 10),
    ("antivirus", 10),
]


def build(devices: int, units: int, seed: int) -> dict:
    from django.db.models import CharField, Value
    from django.db.models.functions import Cast, Concat
    from django.utils import timezone

    from zhengban.catalog.models import Product
    from zhengban.inventory.models import Device
    from zhengban.licensing.models import Entitlement
    from zhengban.licensing.services import _bulk_insert
    from zhengban.orgs.models import Region, Unit

    rng = random.Random(seed)
    now = timezone.now()
    province = Region.objects.create(
        code="390000", name="江海省", level="province", path="/390000/"
    )
    cities = [
        Region.objects.create(
            code=f"39{c:02d}00",
            name=f"市{c}",
            level="city",
            parent=province,
            path=f"/390000/39{c:02d}00/",
        )
        for c in range(1, 13)
    ]
    Unit.objects.bulk_create(
        Unit(
            name=f"单位{i}",
            credit_code=f"11390000MB{i:07d}X"[:18],
            unit_type="government_agency",
            region=cities[i % len(cities)],
        )
        for i in range(units)
    )
    unit_ids = list(Unit.objects.order_by("id").values_list("id", flat=True))
    Unit.objects.update(path=Concat(Value("/"), Cast("id", CharField()), Value("/")))
    # Units have uneven sizes, as in a province: a few big bureaus, many small bodies.
    weights = [rng.paretovariate(1.3) for _ in unit_ids]
    owners = rng.choices(unit_ids, weights=weights, k=devices)
    Device.objects.bulk_create(
        (
            Device(
                unit_id=owners[i],
                hostname=f"PC-{i:06d}",
                device_type="server" if i % 50 == 0 else "desktop",
                assigned_name=f"人员{i}" if i % 3 else "",
                first_seen=now,
                last_seen=now,
                last_source="zhengban_agent",
            )
            for i in range(devices)
        ),
        batch_size=5000,
    )
    device_rows = list(Device.objects.order_by("id").values_list("id", "unit_id"))
    products = dict(Product.objects.values_list("key", "id"))
    rows = []
    os_versions = [("10", "10.0.19045"), ("11", "10.0.22631"), ("7", "6.1.7601")]
    office_versions = ["2016", "2019", "2021"]
    oem_rows = []
    for device_id, unit_id in device_rows:
        label, raw = rng.choice(os_versions)
        name = f"Microsoft Windows {label} 专业版"
        rows.append((device_id, "os", name, raw, products["windows-pro"]))
        if rng.random() < 0.8:  # most PCs came with their OEM licence
            oem_rows.append((device_id, unit_id, label))
        for key, template, version, share in COMMERCIAL:
            if rng.random() < share:
                rows.append(
                    (
                        device_id,
                        "application",
                        template.format(v=rng.choice(office_versions)),
                        version,
                        products[key],
                    )
                )
        for key in rng.sample(FREE, 3):
            rows.append((device_id, "application", key, "1.0", products[key]))
        rows.append((device_id, "application", f"内部系统{rng.randint(1, 50)}", "1.0", None))
    install_rows = [
        (
            device_id,
            kind,
            name,
            "",
            version,
            "",
            "",
            "",
            "",
            "",
            hashlib.sha1(f"{name}|{version}".encode()).hexdigest(),
            product_id,
            now,
        )
        for device_id, kind, name, version, product_id in rows
    ]
    from zhengban.inventory.models import Installation

    _bulk_insert(
        Installation,
        (
            "device_id",
            "kind",
            "name",
            "publisher",
            "version",
            "arch",
            "source",
            "guid",
            "owner",
            "category",
            "raw_key",
            "product_id",
            "first_seen",
        ),
        install_rows,
    )
    ents = [
        Entitlement(
            unit_id=unit_id,
            product_id=products["windows-pro"],
            versions=[label],
            metric="oem",
            term="perpetual",
            quantity=1,
            oem_device_id=device_id,
            source_type="preinstalled",
        )
        for device_id, unit_id, label in oem_rows
    ]
    per_unit = {}
    for _device_id, unit_id in device_rows:
        per_unit[unit_id] = per_unit.get(unit_id, 0) + 1
    for unit_id, count in per_unit.items():
        # Office bought for roughly the PCs that have it, some units short.
        quantity = max(1, int(count * 0.55 * rng.uniform(0.6, 1.1)))
        ents.append(
            Entitlement(
                unit_id=unit_id,
                product_id=products["microsoft-office-professional-plus"],
                versions=["2019"],
                downgrade=True,
                metric="per_device",
                term="perpetual",
                quantity=quantity,
            )
        )
        if rng.random() < 0.7:
            ents.append(
                Entitlement(
                    unit_id=unit_id,
                    product_id=products["wps-office-professional"],
                    metric="site",
                    term="perpetual",
                )
            )
    # The province's antivirus: one region-wide site licence, a year's subscription.
    bureau = unit_ids[0]
    ents.append(
        Entitlement(
            unit_id=bureau,
            product_id=products["qianxin-tianqing"],
            metric="site",
            term="subscription",
            start=timezone.localdate().replace(month=1, day=1),
            end=timezone.localdate().replace(month=12, day=31),
            site_region=province,
        )
    )
    Entitlement.objects.bulk_create(ents, batch_size=5000)
    return {
        "units": units,
        "devices": devices,
        "installs": len(install_rows),
        "entitlements": len(ents),
        "device_ids": [d for d, _ in device_rows],
        "products": products,
    }


def existing() -> dict:
    from zhengban.catalog.models import Product
    from zhengban.inventory.models import Device, Installation
    from zhengban.licensing.models import Entitlement
    from zhengban.orgs.models import Unit

    return {
        "units": Unit.objects.count(),
        "devices": Device.objects.count(),
        "installs": Installation.objects.count(),
        "entitlements": Entitlement.objects.count(),
        "device_ids": list(Device.objects.values_list("id", flat=True)),
        "products": dict(Product.objects.values_list("key", "id")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=5_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2014)
    parser.add_argument("--burst", type=int, default=2000, help="devices queued per burst")
    parser.add_argument(
        "--skip-full", action="store_true", help="skip the full recomputes (already done)"
    )
    parser.add_argument(
        "--reactions",
        action="store_true",
        help="keep other apps' LICENSING_RECOMPUTED handlers (governance) in the timings",
    )
    parser.add_argument(
        "--cases",
        default="queue,drain,mixed,sync,burst,entitlement",
        help="comma-separated incremental cases to run (default: all)",
    )
    parser.add_argument(
        "--existing",
        action="store_true",
        help="measure the database as it is (e.g. built by `zhengban simulate`), build nothing",
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from zhengban.core import hooks
    from zhengban.inventory.models import Device, Installation
    from zhengban.licensing import services
    from zhengban.licensing.choices import RecomputeReason
    from zhengban.licensing.models import RecomputeRequest

    call_command("migrate", verbosity=0)
    if not args.reactions:
        hooks._handlers.pop(hooks.LICENSING_RECOMPUTED, None)
    started = time.perf_counter()
    data = existing() if args.existing else build(args.devices, args.units, args.seed)
    build_s = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    print(
        f"built {data['devices']:,} devices, {data['installs']:,} installs, "
        f"{data['entitlements']:,} entitlements in {build_s:.1f} s",
        file=sys.stderr,
    )

    results = []
    for run in () if args.skip_full else ("full (first)", "full (again)"):
        t = time.perf_counter()
        stats = services.recompute_all()
        seconds = time.perf_counter() - t
        results.append(
            {
                "case": run,
                "devices": data["devices"],
                "units": stats.units,
                "assessed_installs": stats.installs,
                "covered": stats.covered,
                "unlicensed": stats.unlicensed,
                "seconds": round(seconds, 2),
            }
        )
        print(results[-1], file=sys.stderr)

    rng = random.Random(args.seed)
    winrar = data["products"]["winrar"]
    units_of = dict(Device.objects.values_list("id", "unit_id"))

    def change(device_ids: list[int]) -> None:
        # What an ingest does first: one install appears on each device.
        Installation.objects.bulk_create(
            Installation(
                device_id=device_id,
                kind="application",
                name="WinRAR 7.01 (64-bit)",
                version="7.01.0",
                raw_key="bench",
                product_id=winrar,
                first_seen=timezone.now(),
            )
            for device_id in device_ids
        )

    def queue(device_ids: list[int]) -> None:
        RecomputeRequest.objects.bulk_create(
            RecomputeRequest(unit_id=units_of[d], device_id=d, reason=RecomputeReason.INVENTORY)
            for d in device_ids
        )

    cases = set(args.cases.split(","))
    meter = Meter(connection)
    for device_id in rng.sample(data["device_ids"], args.samples if "queue" in cases else 0):
        with transaction.atomic():
            device = Device.objects.get(pk=device_id)
            with meter:
                services.queue_inventory_recompute(device=device)
    if "queue" in cases:
        results.append(_latency("queue one inventory (in the ingest transaction)", meter))
    RecomputeRequest.objects.all().delete()

    meter = Meter(connection)
    for device_id in rng.sample(data["device_ids"], args.samples if "drain" in cases else 0):
        change([device_id])
        queue([device_id])
        with meter:
            stats = services.drain_recompute_queue()
        assert stats.requests == 1, stats
    if "drain" in cases:
        results.append(_latency("drain after one inventory (incremental)", meter))
    if "mixed" in cases:
        # Its own random stream: the other cases sample as they did before it existed.
        results.append(mixed(data, args.samples, random.Random(args.seed + 1)))
        print(results[-1], file=sys.stderr)

    meter = Meter(connection)
    for device_id in rng.sample(data["device_ids"], args.samples if "sync" in cases else 0):
        with transaction.atomic():
            change([device_id])
            with meter:
                services.recompute_after_inventory(device_ids=[device_id])
    if "sync" in cases:
        results.append(_latency("recompute_after_inventory (sync, no commit)", meter))

    # Bursts: many inventories queued before the worker gets to them.
    by_unit: dict[int, list[int]] = {}
    for device_id, unit_id in units_of.items():
        by_unit.setdefault(unit_id, []).append(device_id)
    few_units = sorted(by_unit, key=lambda u: -len(by_unit[u]))[:5]
    bursts = [
        ("burst, random devices", rng.sample(data["device_ids"], min(args.burst, data["devices"]))),
        ("burst, five largest units", [d for u in few_units for d in by_unit[u]][: args.burst]),
    ]
    for case, device_ids in bursts if "burst" in cases else ():
        change(device_ids)
        queue(device_ids)
        t = time.perf_counter()
        stats = services.drain_recompute_queue()
        seconds = time.perf_counter() - t
        results.append(
            {
                "case": case,
                "devices": len(device_ids),
                "units": len({units_of[d] for d in device_ids}),
                "batches": stats.batches,
                "verdicts_written": stats.written,
                "seconds": round(seconds, 3),
                "devices_per_s": round(len(device_ids) / seconds, 1),
            }
        )
        print(results[-1], file=sys.stderr)

    from zhengban.licensing.models import Entitlement

    ent_ids = list(
        Entitlement.objects.filter(metric="per_device").values_list("id", "unit_id")[: args.samples]
    )
    if "entitlement" not in cases:
        ent_ids = []
    meter = Meter(connection)
    for ent_id, unit_id in ent_ids:
        with transaction.atomic():
            Entitlement.objects.filter(pk=ent_id).update(quantity=1)
            with meter:
                services.recompute_units([unit_id])
    if "entitlement" in cases:
        results.append(_latency("incremental after one entitlement", meter))
    out = {
        "benchmark": "compliance",
        "build_seconds": round(build_s, 1),
        "data": {k: data[k] for k in ("units", "devices", "installs", "entitlements")},
        "results": results,
    }
    Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def mixed(data: dict, samples: int, rng: random.Random) -> dict:
    """The "mixed" case: ``samples`` drains, each after one device's re-inventory drawn
    from ``MIX`` and written as the ingest writes it."""
    from django.db import connection
    from django.utils import timezone

    from zhengban.inventory.models import Device, Installation, InstallationEvent, InventoryReport
    from zhengban.licensing import services
    from zhengban.licensing.choices import RecomputeReason
    from zhengban.licensing.models import RecomputeRequest

    products = data["products"]
    office = products["microsoft-office-professional-plus"]
    holders: dict[int, set[int]] = {}
    for device_id, product_id in Installation.objects.filter(
        product_id__in=[office, products["adobe-acrobat-pro"], products["qianxin-tianqing"]]
    ).values_list("device_id", "product_id"):
        holders.setdefault(product_id, set()).add(device_id)
    units_of = dict(Device.objects.values_list("id", "unit_id"))
    kinds = [k for k, _w in MIX]
    weights = [w for _k, w in MIX]

    def install(device_id: int, key: str, name: str, version: str) -> None:
        Installation.objects.create(
            device_id=device_id,
            kind="application",
            name=name,
            version=version,
            raw_key="bench",
            product_id=products[key],
            first_seen=timezone.now(),
        )
        if products[key] in holders:
            holders[products[key]].add(device_id)

    def remove(device_id: int, key: str) -> InventoryReport | None:
        now = timezone.now()
        rows = list(Installation.objects.filter(device_id=device_id, product_id=products[key]))
        if not rows:
            return None
        report = InventoryReport.objects.create(
            device_id=device_id, received=now, source="zhengban_agent", removed=len(rows)
        )
        InstallationEvent.objects.bulk_create(
            InstallationEvent(
                device_id=device_id,
                report=report,
                event_type="removed",
                kind=row.kind,
                name=row.name,
                old_version=row.version,
                product_id=row.product_id,
                date=now,
            )
            for row in rows
        )
        Installation.objects.filter(pk__in=[r.pk for r in rows]).delete()
        holders.get(products[key], set()).discard(device_id)
        return report

    def pick(product_id: int | None = None, without: int | None = None) -> int:
        if product_id is not None and holders.get(product_id):
            return rng.choice(sorted(holders[product_id]))
        while True:
            device_id = rng.choice(data["device_ids"])
            if without is None or device_id not in holders.get(without, ()):
                return device_id

    meter = Meter(connection)
    # kind → (ms, queries, client CPU ms) per sample
    by_kind: dict[str, list[tuple[float, int, float]]] = {k: [] for k in kinds}
    fast = grouped = 0
    for _ in range(samples):
        kind = rng.choices(kinds, weights)[0]
        report = None
        if kind == "free":
            device_id = pick()
            key = rng.choice(FREE)
            install(device_id, key, key, "2.0")
        elif kind == "winrar":
            device_id = pick()
            install(device_id, "winrar", "WinRAR 7.01 (64-bit)", "7.01.0")
        elif kind == "office-install":
            device_id = pick(without=office)
            install(
                device_id,
                "microsoft-office-professional-plus",
                "Microsoft Office 专业增强版 2019",
                "16.0.10827",
            )
        elif kind == "office-remove":
            device_id = pick(office)
            report = remove(device_id, "microsoft-office-professional-plus")
        elif kind == "office-upgrade":
            device_id = pick(office)
            report = remove(device_id, "microsoft-office-professional-plus")
            install(
                device_id,
                "microsoft-office-professional-plus",
                "Microsoft Office 专业增强版 2021",
                "16.0.14332",
            )
        elif kind == "acrobat":
            device_id = pick()
            if device_id in holders.get(products["adobe-acrobat-pro"], ()):
                report = remove(device_id, "adobe-acrobat-pro")
            else:
                install(device_id, "adobe-acrobat-pro", "Adobe Acrobat Pro DC", "24.0")
        elif kind == "wps":
            device_id = pick()
            install(device_id, "wps-office-professional", "WPS Office 专业版", "12.1.0")
        else:
            device_id = pick()
            if device_id in holders.get(products["qianxin-tianqing"], ()):
                report = remove(device_id, "qianxin-tianqing")
                install(device_id, "kaspersky-free", "Kaspersky Free", "21.3")
            else:
                report = remove(device_id, "kaspersky-free")
                install(device_id, "qianxin-tianqing", "奇安信天擎终端安全管理系统", "10.0")
        RecomputeRequest.objects.create(
            unit_id=units_of[device_id],
            device_id=device_id,
            report=report,
            reason=RecomputeReason.INVENTORY,
        )
        cpu = meter.client_cpu
        with meter:
            stats = services.drain_recompute_queue()
        assert stats.requests == 1, stats
        fast += getattr(stats, "fast_units", 0)
        grouped += getattr(stats, "group_units", 0)
        by_kind[kind].append(
            (meter.wall[-1] * 1000, meter.queries[-1], (meter.client_cpu - cpu) * 1000)
        )
    out = _latency("drain after one inventory (mixed changes)", meter)
    # Units judged from their changed devices alone (a change of nothing assessed, e.g. a
    # free tool, counts here), or from their changed groups' stored verdicts; the rest
    # took the slow path (the unit's devices and installs read).
    out["fast_path"] = fast
    out["group_path"] = grouped
    out["by_kind"] = {
        k: {
            "samples": len(v),
            "median_ms": round(statistics.median(x[0] for x in v), 2),
            "max_ms": round(max(x[0] for x in v), 2),
            "queries_median": statistics.median(x[1] for x in v),
            "client_cpu_ms_mean": round(statistics.mean(x[2] for x in v), 2),
        }
        for k, v in by_kind.items()
        if v
    }
    return out


class Meter:
    """Times each ``with`` block: wall clock, and the load-independent figures beside it
    (a shared machine's load moves the wall clock): queries sent, this process's CPU time
    and, on PostgreSQL when /proc shows it, the server backend's CPU time (counted in
    clock ticks, so only its mean over many samples means anything)."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.wall: list[float] = []
        self.queries: list[int] = []
        self.client_cpu = 0.0
        self.server_cpu: float | None = None
        self._stat: Path | None = None
        connection.ensure_connection()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                stat = Path(f"/proc/{cursor.fetchone()[0]}/stat")
            if stat.exists():
                self._stat, self.server_cpu = stat, 0.0

    def _server(self) -> float:
        if self._stat is None:
            return 0.0
        # utime and stime, after the command name (which may hold spaces) in parentheses.
        fields = self._stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _count(self, execute, sql, params, many, context):
        self._n += 1
        return execute(sql, params, many, context)

    def __enter__(self) -> Meter:
        self._n = 0
        self._wrapper = self.connection.execute_wrapper(self._count)
        self._wrapper.__enter__()
        self._server0 = self._server()
        self._cpu0 = time.process_time()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall.append(time.perf_counter() - self._t0)
        self.client_cpu += time.process_time() - self._cpu0
        if self.server_cpu is not None:
            self.server_cpu += self._server() - self._server0
        self._wrapper.__exit__(*exc)
        self.queries.append(self._n)


def _latency(case: str, meter: Meter) -> dict:
    ms = sorted(t * 1000 for t in meter.wall)
    n = len(ms)
    out = {
        "case": case,
        "samples": n,
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(n * 0.95) - 1], 2),
        "max_ms": round(ms[-1], 2),
        "queries_median": statistics.median(meter.queries),
        "client_cpu_ms_mean": round(meter.client_cpu * 1000 / n, 2),
    }
    if meter.server_cpu is not None:
        out["server_cpu_ms_mean"] = round(meter.server_cpu * 1000 / n, 2)
    out["load_average"] = os.getloadavg()[0]
    return out


if __name__ == "__main__":
    sys.exit(main())
