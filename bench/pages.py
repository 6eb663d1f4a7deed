#!/usr/bin/env python3
"""Page response times at province scale.

Builds (or reuses, with --reuse) a simulated province in the database named by DATABASE_URL,
starts gunicorn on loopback, signs in people of several roles and requests the key pages
with C concurrent clients, each on its own keep-alive connection. Reports p50/p95/max per
page and the number of database queries each page made (from a single extra request with
query logging, after one request to warm per-process caches), as JSON (--json).

Latencies depend on whatever else runs on the machine; the CPU each request costs does much
less. So for every page the run also records the on-CPU time (/proc/<pid>/schedstat) of the
gunicorn workers and of their PostgreSQL backends, per request (`web_cpu_ms`, `db_cpu_ms`,
`server_cpu_ms`), the benchmark client's own CPU per request (`client_cpu_ms`) and the load
average around the run.

    .venv/bin/python bench/run.py pages --db postgres -- --scale 1.0 --clients 10
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def zhengban(*args: str, env: dict) -> None:
    subprocess.run([str(BIN / "zhengban"), *args], check=True, env=env)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhengban.settings")
    import django

    django.setup()


def session_cookie(username: str) -> str:
    """A signed-in session for `username`, made the way django.contrib.auth.login makes it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from zhengban.orgs.models import User

    user = User.objects.get(username=username)
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.set_expiry(3600)
    store.save()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def pick_targets(rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """(cookie, path) lists per page name, drawn from the simulated province (the same
    people and devices on every run over the same database)."""
    from django.db import connection
    from django.urls import NoReverseMatch, reverse

    if connection.vendor == "postgresql":
        # ORDER BY random() below: seeded, and rows read in one order (no parallel workers,
        # whose random() the seed does not reach; no scan joining another one midway), so
        # runs of different code compare like for like.
        with connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
            cursor.execute("SET synchronize_seqscans = off")
            cursor.execute("SELECT setseed(0.42)")

    from zhengban.orgs.choices import Role
    from zhengban.orgs.models import RoleGrant

    province_supervisor = (
        RoleGrant.objects.filter(role=Role.SUPERVISOR, user__unit__region__level="province")
        .select_related("user")
        .first()
    )
    officers = list(
        RoleGrant.objects.filter(role=Role.SAM_OFFICER).select_related("user").order_by("?")[:20]
    )
    cookies = {g.user.username: session_cookie(g.user.username) for g in officers}
    sup = session_cookie(province_supervisor.user.username)
    targets: dict[str, list[tuple[str, str]]] = {
        "home (supervisor)": [(sup, reverse("core:home"))],
        "home (officer)": [(cookies[g.user.username], reverse("core:home")) for g in officers],
        "unit list (supervisor)": [(sup, reverse("orgs:unit_list"))],
    }
    try:
        device_list = reverse("inventory:device_list")
    except NoReverseMatch:
        return targets
    from zhengban.inventory.models import Device

    targets["device list (supervisor)"] = [(sup, device_list)]
    targets["device list, page 200 (supervisor)"] = [(sup, device_list + "?page=200")]
    targets["device list (officer)"] = [(cookies[g.user.username], device_list) for g in officers]
    ids = list(Device.objects.order_by("?").values_list("pk", "unit_id")[:200])
    officer_by_unit = {g.user.unit_id: cookies[g.user.username] for g in officers}
    targets["device page (supervisor)"] = [
        (sup, reverse("inventory:device_detail", args=[pk])) for pk, _ in ids
    ]
    own = [
        (officer_by_unit[u], reverse("inventory:device_detail", args=[pk]))
        for pk, u in Device.objects.filter(unit_id__in=list(officer_by_unit)).values_list(
            "pk", "unit_id"
        )[:200]
    ]
    if own:
        targets["device page (officer)"] = own
    return targets


def cpu_ns(pid: int) -> int | None:
    """Nanoseconds process `pid` has spent on a CPU so far."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def child_pids(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces: the parent pid follows its closing ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


class CpuMeter:
    """On-CPU time of the web workers and their database backends during one run.

    Database backends come and go (CONN_MAX_AGE): they are looked up every 0.2 s and a
    backend first seen during the run counts from zero."""

    def __init__(self, server_pid: int) -> None:
        self.workers = child_pids(server_pid) or [server_pid]
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.kind: dict[int, str] = {}
        self.own: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _backends(self) -> list[int]:
        from django.db import connection

        if connection.vendor != "postgresql":
            return []
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, pid = pg_backend_pid() FROM pg_stat_activity"
                " WHERE datname = current_database() AND backend_type = 'client backend'"
            )
            rows = cursor.fetchall()
        # This benchmark's own connections (the main one, the sampler's) are not the server's.
        self.own.update(pid for pid, mine in rows if mine)
        return [pid for pid, _mine in rows if pid not in self.own]

    def _sample(self, starting: bool = False) -> None:
        pids = [(pid, "web") for pid in self.workers] + [(pid, "db") for pid in self._backends()]
        for pid, kind in pids:
            value = cpu_ns(pid)
            if value is None:
                continue
            if pid not in self.first:
                self.first[pid] = value if starting else 0
                self.kind[pid] = kind
            self.last[pid] = value

    def _run(self) -> None:
        from django.db import connection

        try:
            self._backends()  # learn this thread's own backend before any sample counts it
            while not self._stop.wait(0.2):
                self._sample()
        finally:
            connection.close()

    def __enter__(self) -> CpuMeter:
        self._backends()  # learn the main thread's own backend first
        self._sample(starting=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def ms(self, kind: str) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last if self.kind[p] == kind) / 1e6


def hammer(
    port: int, targets: list[tuple[str, str]], clients: int, requests: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    per_client = max(1, requests // clients)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        for _ in range(per_client):
            cookie, path = rng.choice(targets)
            started = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookie})
            resp = conn.getresponse()
            resp.read()
            mine.append(time.perf_counter() - started)
            if resp.status != 200:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0]


def query_count(cookie: str, path: str) -> int:
    """Queries one request makes, measured in-process with Django's test client."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    name, value = cookie.split("=", 1)
    client.cookies[name] = value
    client.get(path, HTTP_HOST="127.0.0.1")  # warm per-process caches, as the workers are
    with CaptureQueriesContext(connection) as ctx:
        client.get(path, HTTP_HOST="127.0.0.1")
    return len(ctx.captured_queries)


def one_request(cookie: str, path: str, times: int = 5) -> dict[str, float]:
    """One request at a time, in-process: median wall and Python CPU time (the web worker's
    share; the database's own CPU is in the wall time only). With C clients on few cores,
    p95 is roughly C times this."""
    from django.test import Client

    client = Client()
    name, value = cookie.split("=", 1)
    client.cookies[name] = value
    client.get(path, HTTP_HOST="127.0.0.1")  # warm
    walls, cpus = [], []
    for _ in range(times):
        wall, cpu = time.perf_counter(), time.process_time()
        client.get(path, HTTP_HOST="127.0.0.1")
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "single_ms": round(statistics.median(walls) * 1000, 1),
        "single_cpu_ms": round(statistics.median(cpus) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--requests", type=int, default=300, help="requests per page")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--reuse", action="store_true", help="use the database as it is")
    parser.add_argument(
        "--single", type=int, default=5, help="sequential in-process requests per page (0: none)"
    )
    parser.add_argument(
        "--only", action="append", default=[], help="pages whose name contains this (repeatable)"
    )
    parser.add_argument(
        "--cache-url",
        help="CACHE_URL for the server and this process (default: the environment's, else "
        "each worker's own memory); a shared cache is emptied first so every run starts cold",
    )
    args = parser.parse_args()
    if args.cache_url:
        os.environ["CACHE_URL"] = args.cache_url
    # A throw-away key if none is set: the server refuses to start without one, and it must
    # be the key the session cookies made here are signed with.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    env = dict(os.environ)
    build_s = None
    if not args.reuse:
        zhengban("migrate", "-v0", env=env)
        started = time.perf_counter()
        zhengban("simulate", "--scale", str(args.scale), env=env)
        build_s = round(time.perf_counter() - started, 1)
    setup_django()
    cache_url = os.environ.get("CACHE_URL", "locmem://")
    if args.cache_url:
        from django.core.cache import cache

        cache.clear()
    rng = random.Random(7)
    targets = pick_targets(rng)
    if args.only:
        targets = {k: v for k, v in targets.items() if any(o in k for o in args.only)}
    port = free_port()
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "zhengban.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--threads",
            "1",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        env={**env, "ALLOWED_HOSTS": "127.0.0.1"},
    )
    results = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        for name, pairs in targets.items():
            hammer(port, pairs, 2, 10)  # warm caches and connections
            load_before = os.getloadavg()[0]
            client_cpu = time.process_time()
            with CpuMeter(server.pid) as meter:
                lat, errors = hammer(port, pairs, args.clients, args.requests)
            client_cpu = time.process_time() - client_cpu
            lat.sort()
            n = len(lat)
            results.append(
                {
                    "page": name,
                    "requests": n,
                    "errors": errors,
                    "p50_ms": round(statistics.median(lat) * 1000, 1),
                    "p95_ms": round(lat[int(len(lat) * 0.95) - 1] * 1000, 1),
                    "max_ms": round(lat[-1] * 1000, 1),
                    "web_cpu_ms": round(meter.ms("web") / n, 1),
                    "db_cpu_ms": round(meter.ms("db") / n, 1),
                    "server_cpu_ms": round((meter.ms("web") + meter.ms("db")) / n, 1),
                    "client_cpu_ms": round(client_cpu * 1000 / n, 1),
                    "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                    "queries": query_count(*pairs[0]),
                    **(one_request(*pairs[0], times=args.single) if args.single else {}),
                }
            )
            print(json.dumps(results[-1], ensure_ascii=False), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    from zhengban.orgs.models import Unit

    counts = {"units": Unit.objects.count()}
    try:
        from zhengban.inventory.models import Device, Installation

        counts["devices"] = Device.objects.count()
        counts["installations"] = Installation.objects.count()
    except ImportError:
        pass
    Path(args.json).write_text(
        json.dumps(
            {
                "benchmark": "pages",
                "clients": args.clients,
                "workers": args.workers,
                "cache_url": cache_url,
                "scale": args.scale,
                "build_s": build_s,
                "counts": counts,
                "results": results,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
