"""Transactional tests (live server + real agents) end with Django flushing every table;
the audit log's append-only triggers refuse that. Around the teardown of such tests the
triggers are lifted and put back, using the very SQL of the core migration.

(This belongs in the project-wide conftest: any app's transactional test needs it.)
"""

from __future__ import annotations

import importlib

import pytest
from pytest_django.plugin import blocking_manager_key

_append_only = importlib.import_module("zhengban.core.migrations.0003_auditlog_append_only")


def _run(sql_by_vendor: dict[str, list[str]]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in sql_by_vendor.get(connection.vendor, []):
            cursor.execute(sql)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    marker = item.get_closest_marker("django_db")
    transactional = marker is not None and (
        marker.kwargs.get("transaction") or (len(marker.args) > 0 and marker.args[0])
    )
    if not transactional:
        yield
        return
    blocker = item.config.stash[blocking_manager_key]
    with blocker.unblock():
        _run({"sqlite": _append_only.SQLITE_REVERSE, "postgresql": _append_only.POSTGRES_REVERSE})
    try:
        yield
    finally:
        with blocker.unblock():
            _run({"sqlite": _append_only.SQLITE, "postgresql": _append_only.POSTGRES})
