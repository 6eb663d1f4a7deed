#!/usr/bin/env python3
"""Page response times at province scale.

Builds (or reuses, with --reuse) a simulated province in the database named by DATABASE_URL,
starts gunicorn on loopback, signs in people of several roles and requests the key pages
with C concurrent clients, each on its own keep-alive connection. Reports p50/p95/max per
page and the number of database queries each page made (from a single extra request with
query logging), as JSON (--json).

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
    """(cookie, path) lists per page name, drawn from the simulated province."""
    from django.urls import NoReverseMatch, reverse

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
    args = parser.parse_args()
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
            lat, errors = hammer(port, pairs, args.clients, args.requests)
            lat.sort()
            results.append(
                {
                    "page": name,
                    "requests": len(lat),
                    "errors": errors,
                    "p50_ms": round(statistics.median(lat) * 1000, 1),
                    "p95_ms": round(lat[int(len(lat) * 0.95) - 1] * 1000, 1),
                    "max_ms": round(lat[-1] * 1000, 1),
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
