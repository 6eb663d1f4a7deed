"""``services.dispose`` locks the entitlement FOR NO KEY UPDATE: a concurrent drain that
holds the unit lock and commits verdicts referencing the entitlement takes FOR KEY SHARE on
it, which must not wait for the disposal (that waits for the unit lock in turn: a deadlock)."""

from __future__ import annotations

import datetime

import psycopg
import pytest
from django.db import connection

from zhengban.core import hooks
from zhengban.licensing import services
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.testing import product

# Committed rows: another connection must see the entitlement to try locking it.
pytestmark = pytest.mark.django_db(transaction=True)


def try_lock(other, pk: int, mode: str) -> str:
    try:
        with other.transaction():
            row = other.execute(
                f"SELECT id FROM licensing_entitlement WHERE id = %s FOR {mode} NOWAIT", [pk]
            ).fetchone()
            return "granted" if row == (pk,) else "no row"
    except psycopg.errors.LockNotAvailable:
        return "busy"


def test_dispose_leaves_key_share_locks_free(org, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row lock modes are PostgreSQL's")
    ent = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=3,
    )
    seen = []

    def probe(**_kw) -> None:
        # Inside dispose's transaction, after the recompute took the unit locks; another
        # session, as a drain's verdict insert would be.
        params = connection.get_connection_params()
        with psycopg.connect(autocommit=True, **params) as other:
            seen.append((try_lock(other, ent.pk, "KEY SHARE"), try_lock(other, ent.pk, "UPDATE")))

    monkeypatch.setitem(hooks._handlers, hooks.LICENSING_RECOMPUTED, [probe])
    services.dispose(
        actor=None,
        entitlement=ent,
        method="scrap",
        date=datetime.date(2026, 1, 5),
        quantity=1,
        reason="随硬件报废",
    )
    # FOR KEY SHARE (a verdict's foreign-key check) is granted; FOR UPDATE shows the row is
    # still locked by the disposal.
    assert seen == [("granted", "busy")]
