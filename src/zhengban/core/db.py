"""Database helpers: the cache key of a query, and statements prepared on PostgreSQL.

Statements the server runs for nearly every agent request are prepared on PostgreSQL.

Django leaves psycopg's prepared statements off (``prepare_threshold`` None), for poolers
that cannot keep them. An agent's unchanged inventory is one small statement whose parse
and plan cost about as much as running it; prepared once per connection, its PostgreSQL
CPU halves (BENCHMARKS.md, session 8). Only statements run through ``prepared_cursor`` are
prepared; every other query runs as before. ``DB_PREPARED_STATEMENTS=0`` turns this off
for a pooler in transaction mode that does not keep prepared statements (PgBouncer before
1.22, or without ``max_prepared_statements``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

# psycopg prepares a statement once it ran this many times, unless told to at once; this is
# never reached, so only the statements asked for are prepared.
_ONLY_WHEN_ASKED = 1 << 62


def prepared_statements_enabled() -> bool:
    return connection.vendor == "postgresql" and getattr(settings, "ZHENGBAN", {}).get(
        "PREPARED_STATEMENTS", True
    )


class _PreparingCursor(psycopg.Cursor):
    def execute(self, query, params=None, *, prepare=None, binary=None):
        try:
            return super().execute(query, params, prepare=True, binary=binary)
        except psycopg.errors.InvalidSqlStatementName:
            # The server no longer has a statement psycopg prepared (a DISCARD ALL or
            # DEALLOCATE through Django's cursors, which psycopg does not watch; a pooler
            # handing over another session). psycopg would ask for it again on every call:
            # forget them all (no public API for that), and run this one afresh unless the
            # failure aborted a transaction. psycopg then owes the server a DEALLOCATE ALL,
            # sent after the next statement: that must not be the new one's preparation.
            self.connection._prepared.clear()
            if self.connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                raise
            super().execute("DEALLOCATE ALL", prepare=False)  # after it, psycopg flushes
            return super().execute(query, params, prepare=True, binary=binary)


class _PreparedDebugWrapper(CursorDebugWrapper):
    """Logs the statement with its values, as Django logs its own (its way of reading them
    back from the cursor does not work for server-side parameters)."""

    @contextmanager
    def debug_sql(self, sql=None, params=None, use_last_executed_query=False, many=False):
        if sql is not None and params is not None and not many:
            try:
                sql = self.db.ops.compose_sql(sql, params)
            except psycopg.Error:  # a value it cannot write as a literal: log the text alone
                pass
        with super().debug_sql(sql, params, False, many):
            yield


@contextmanager
def prepared_cursor() -> Iterator[Any]:
    """A cursor whose ``execute`` prepares its statement on the connection the first time
    (server-side parameters, ``%s`` placeholders as usual) and runs the prepared one after.
    Errors come as Django's, and the queries show where Django's cursors show them
    (``connection.queries``, ``CaptureQueriesContext``). Elsewhere, or when turned off: a
    plain cursor."""
    if not prepared_statements_enabled():
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    raw = connection.connection
    connection.validate_thread_sharing()
    # Set only while this cursor runs: Django's own cursors bind on the client and are
    # never prepared, and then do not even go through psycopg's count of statements.
    saved = raw.prepare_threshold
    wrapper = _PreparedDebugWrapper if connection.queries_logged else CursorWrapper
    try:
        raw.prepare_threshold = _ONLY_WHEN_ASKED if saved is None else saved
        with wrapper(_PreparingCursor(raw), connection) as cursor:
            yield cursor
    finally:
        raw.prepare_threshold = saved


def query_cache_key(prefix: str, queryset: Any) -> str | None:
    """A cache key naming ``queryset``'s SQL and parameters (so a scope and its filters are
    part of it), or None when the query can match nothing: Django then has no SQL for it
    (``EmptyResultSet``, e.g. ``pk__in=[]`` or ``.none()``), and there is nothing to cache."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return None
    return prefix + hashlib.sha256(repr((sql, params)).encode()).hexdigest()
