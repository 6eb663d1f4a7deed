"""``core.db.prepared_cursor``: on PostgreSQL its statements are prepared once per
connection and run prepared after; Django's own cursors are left as they were."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.test.utils import CaptureQueriesContext

from zhengban.core.db import prepared_cursor

pytestmark = pytest.mark.django_db

SQL = "SELECT CAST(%s AS integer) + 1, 'prepared-cursor-test'"


def prepared(tag: str = "prepared-cursor-test") -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            [f"%{tag}%"],
        )
        return cursor.fetchall()


def run(value: int, sql: str = SQL) -> int:
    with prepared_cursor() as cursor:
        cursor.execute(sql, [value])
        return cursor.fetchone()[0]


def test_statements_are_prepared_once_and_logged(settings):
    with CaptureQueriesContext(connection) as queries:
        assert [run(n) for n in range(7)] == [1, 2, 3, 4, 5, 6, 7]
    assert [q["sql"] for q in queries.captured_queries][-1].startswith(
        "SELECT CAST(6 AS integer) + 1"
    )
    assert len(queries.captured_queries) == 7
    if connection.vendor != "postgresql":
        return
    assert prepared() == [("SELECT CAST($1 AS integer) + 1, 'prepared-cursor-test'", 7)]
    # Django's own cursors still bind on the client and are never prepared.
    assert connection.connection.prepare_threshold is None
    for _ in range(10):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1, 'prepared-cursor-test-plain'")
    assert len(prepared()) == 1
    # Errors come as Django's.
    with pytest.raises(IntegrityError), prepared_cursor() as cursor:
        cursor.execute(
            "INSERT INTO inventory_installation (device_id) VALUES (%s) -- prepared-cursor-test",
            [None],
        )


def test_turned_off_nothing_is_prepared(settings):
    settings.ZHENGBAN = {**settings.ZHENGBAN, "PREPARED_STATEMENTS": False}
    sql = SQL.replace("prepared-cursor-test", "prepared-cursor-off")
    assert [run(n, sql) for n in range(7)] == [1, 2, 3, 4, 5, 6, 7]
    if connection.vendor == "postgresql":
        assert prepared("prepared-cursor-off") == []


@pytest.mark.django_db(transaction=True)
def test_statements_the_server_lost_are_prepared_again():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    assert run(1) == 2
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler or a DISCARD ALL would
    assert prepared() == []
    # Outside a transaction the statement runs afresh, prepared again, and stays so.
    assert [run(2), run(3)] == [3, 4]
    assert prepared() == [("SELECT CAST($1 AS integer) + 1, 'prepared-cursor-test'", 2)]
    # Inside one the failure aborted it: raised, as Django's; the next transaction runs.
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(ProgrammingError), transaction.atomic():
        run(4)
    assert [run(5), run(6)] == [6, 7]
    assert prepared() == [("SELECT CAST($1 AS integer) + 1, 'prepared-cursor-test'", 2)]
    assert connection.connection.prepare_threshold is None
