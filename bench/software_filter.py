#!/usr/bin/env python3
"""The device list's "装有软件" filter (DeviceFilterSet.has_software) on an existing database.

Runs the device list's own queries, as DeviceListView and CappedCountPaginator issue them:
the capped count (COUNT over LIMIT 10,001) and then the first page's ids (50 by hostname,
id; read whole, without LIMIT, when the count is at most 1,000, as the paginator does),
for a province supervisor (every device) and for SAM officers (their unit's devices), with
a common and a rare term, plus a term only raw names contain. Per read: the median wall time
of --repeats runs (warm cache) and the rows; also this process's CPU and the database's
(its backend, from /proc) per read. Needs a grown database, e.g. a copy of the province:

    createdb -h 127.0.0.1 -U postgres -T zb_prov zb_i_prov
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/zb_i_prov \\
        .venv/bin/python bench/software_filter.py --json bench/results/software-filter-zb_i.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import time
from pathlib import Path


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhengban.settings")
    import django

    django.setup()


def backend_cpu(pid: int | None) -> float:
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--officers", type=int, default=3)
    parser.add_argument("--terms", default="winrar,天正,x64,执法记录仪")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    setup_django()

    from django.db import connection
    from django.test import RequestFactory

    from zhengban.core.scoping import scope_queryset
    from zhengban.core.views import CappedCountPaginator
    from zhengban.inventory.filtersets import DeviceFilterSet
    from zhengban.inventory.views import DeviceListView
    from zhengban.orgs.choices import Role
    from zhengban.orgs.models import RoleGrant

    pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
    supervisor = (
        RoleGrant.objects.filter(role=Role.SUPERVISOR, user__unit__region__level="province")
        .select_related("user")
        .order_by("id")
        .first()
        .user
    )
    officers = [
        g.user
        for g in RoleGrant.objects.filter(role=Role.SAM_OFFICER)
        .select_related("user")
        .order_by("id")[: args.officers]
    ]
    factory = RequestFactory()
    cap = CappedCountPaginator.count_cap
    per_page = DeviceListView.paginate_by
    whole_below = CappedCountPaginator.read_whole_below

    def filtered(user, term):
        request = factory.get("/inventory/devices/", {"software": term})
        request.user = user
        base = scope_queryset(DeviceListView.queryset.all(), user)
        return DeviceFilterSet(request.GET, queryset=base, request=request).qs

    def timed(fn):
        walls, apps, dbs, result = [], [], [], None
        for _ in range(args.repeats):
            db0, app0, t0 = backend_cpu(pid), time.process_time(), time.perf_counter()
            result = fn()
            walls.append(time.perf_counter() - t0)
            apps.append(time.process_time() - app0)
            dbs.append(backend_cpu(pid) - db0)
        return (
            round(statistics.median(walls) * 1000, 1),
            round(statistics.median(apps) * 1000, 1),
            round(statistics.median(dbs) * 1000, 1),
            result,
        )

    results = []
    scopes = [("supervisor", [supervisor])] + [("officer", officers)]
    for term in [t for t in args.terms.split(",") if t]:
        for scope, users in scopes:
            for read in ("count", "page"):
                walls, apps, dbs, rows = [], [], [], []
                for user in users:
                    total = filtered(user, term).order_by().values("pk")[: cap + 1].count()

                    def run(user=user, read=read, total=total, term=term):
                        qs = filtered(user, term)
                        if read == "count":
                            return qs.order_by().values("pk")[: cap + 1].count()
                        # As the paginator reads a first page once it knows the count: a
                        # short list whole (no LIMIT), a longer one with LIMIT.
                        if total <= whole_below:
                            return len(list(qs.values_list("pk", flat=True))[:per_page])
                        return len(list(qs.values_list("pk", flat=True)[:per_page]))

                    wall, app, db, n = timed(run)
                    walls.append(wall)
                    apps.append(app)
                    dbs.append(db)
                    rows.append(n)
                row = {
                    "term": term,
                    "scope": scope,
                    "read": read,
                    "users": len(users),
                    "ms": round(statistics.median(walls), 1),
                    "ms_max": max(walls),
                    "cpu_app_ms": round(statistics.median(apps), 1),
                    "cpu_db_ms": round(statistics.median(dbs), 1),
                    "rows": rows,
                    "load1": round(os.getloadavg()[0], 2),
                }
                results.append(row)
                print(json.dumps(row, ensure_ascii=False), flush=True)
    out = {
        "benchmark": "software_filter",
        "label": args.label,
        "database": connection.settings_dict["NAME"],
        "repeats": args.repeats,
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "results": results,
    }
    Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
