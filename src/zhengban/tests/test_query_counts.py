"""Query-count baselines: no page's number of database queries grows with the rows it shows.

Every URL without arguments (list pages, home, API lists) is requested by the first person
who may open it, once with one object of every registered model in the viewer's unit and
once with four more of each: the two counts must be equal (no N+1), and equal to the baseline
kept in `query_baselines.json`, so a page that starts to need more queries is noticed.

After a deliberate change, refresh the baselines with
    ZHENGBAN_UPDATE_QUERY_BASELINES=1 .venv/bin/python -m pytest src/zhengban/tests/test_query_counts.py
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from zhengban.core import testing as registry
from zhengban.tests import factories  # noqa: F401  (core and orgs registrations)
from zhengban.tests.test_scoping_matrix import all_endpoints

registry.load_app_registrations()

BASELINES = Path(__file__).with_name("query_baselines.json")
VIEWERS = ("supervisor_p", "officer_a", "staff_a", "head_a", "sysadmin", "secadmin", "auditadmin")
# Not pages a person lists: logout, the ingest protocol endpoints and the like answer GET with
# a redirect or an error whatever the data.
SKIP = {"logout"}


def list_endpoints() -> list[str]:
    return sorted(
        ep.name
        for ep in all_endpoints()
        if not ep.arguments and ep.name and ep.name not in SKIP and "openapi" not in ep.name
    )


def measure(client: Client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, HTTP_ACCEPT="text/html,application/json")
    return response.status_code, len(ctx.captured_queries)


def viewer_for(url: str, users) -> tuple[Client, str] | None:
    for username in VIEWERS:
        client = Client()
        client.force_login(users[username])
        status, _ = measure(client, url)
        if status == 200:
            return client, username
    return None


def add_rows(region, first: int, times: int) -> None:
    """One object of every registered model in each of `times` new city-level units (a
    city, so region-level factories can build child regions under it)."""
    from zhengban.orgs.testing import make_unit

    for n in range(first, first + times):
        unit = make_unit(region, f"查询计数单位{n}")
        for factory in registry.factories().values():
            factory(unit)


@pytest.mark.django_db
def test_query_counts_do_not_grow_with_rows_and_match_baselines(org):
    from zhengban.orgs.models import User

    users = {u.username: u for u in User.objects.all()}
    # The province supervisor, the first viewer tried, sees all of these.
    add_rows(org.city_a, 0, 1)
    first: dict[str, tuple[str, int]] = {}
    for name in list_endpoints():
        url = reverse(name)
        found = viewer_for(url, users)
        if found is None:
            continue
        client, username = found
        measure(client, url)  # warm per-process caches (catalog revision, content types)
        first[name] = (username, measure(client, url)[1])
    add_rows(org.city_a, 1, 4)
    grown = {}
    measured = {}
    for name, (username, before) in first.items():
        client = Client()
        client.force_login(users[username])
        url = reverse(name)
        measure(client, url)
        status, after = measure(client, url)
        assert status == 200, f"{name} answered {status} for {username} after more rows"
        measured[name] = {"viewer": username, "queries": after}
        if after != before:
            grown[name] = (before, after)
    assert grown == {}, f"query counts grew with the number of rows: {grown}"

    if os.environ.get("ZHENGBAN_UPDATE_QUERY_BASELINES") == "1":
        BASELINES.write_text(json.dumps(measured, ensure_ascii=False, indent=1, sort_keys=True))
    baselines = json.loads(BASELINES.read_text()) if BASELINES.exists() else {}
    changed = {
        name: (baselines.get(name), value)
        for name, value in measured.items()
        if baselines.get(name) != value
    }
    assert changed == {}, (
        "query counts differ from query_baselines.json (baseline, now); if intended, refresh "
        f"with ZHENGBAN_UPDATE_QUERY_BASELINES=1: {changed}"
    )
