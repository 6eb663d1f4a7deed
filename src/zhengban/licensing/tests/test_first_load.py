"""The first full recompute into an empty verdict table (PostgreSQL: foreign keys dropped
around one bulk insert and added back, which checks them all). Transactional tests: the
fast path runs only when the recompute has a transaction of its own."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from zhengban.licensing import services
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.models import CompliancePosition, ComplianceResult
from zhengban.licensing.testing import install, make_device, product


def _keys() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'licensing_complianceresult'::regclass AND contype = 'f' "
            "ORDER BY conname"
        )
        return cursor.fetchall()


def _indexes() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'licensing_complianceresult' ORDER BY indexname"
        )
        return cursor.fetchall()


def _verdicts() -> list[tuple]:
    return sorted(
        (r.device.hostname, r.product.key, r.status, r.reason, r.entitlement_id is not None)
        for r in ComplianceResult.objects.select_related("device", "product")
    )


@pytest.mark.django_db(transaction=True)
def test_first_full_recompute_gives_the_same_verdicts_and_keeps_the_keys(org):
    for name in ("pc1", "pc2", "pc3"):
        pc = make_device(org.unit_a, name)
        install(pc, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    install(make_device(org.unit_b, "b1"), "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    ComplianceResult.objects.all().delete()
    services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=2,
    )
    # Creating the entitlement computed unit A; empty the table as a first run finds it.
    ComplianceResult.objects.all().delete()
    CompliancePosition.objects.all().delete()
    keys = _keys() if connection.vendor == "postgresql" else []
    indexes = _indexes() if connection.vendor == "postgresql" else []
    assert services._FirstLoad.applies(True) is (connection.vendor == "postgresql")
    stats = services.recompute_all()
    assert (stats.units, stats.installs, stats.covered, stats.unlicensed) == (2, 4, 2, 2)
    expected = [
        ("b1", "winrar", "unlicensed", "no_entitlement", False),
        ("pc1", "winrar", "covered", "per_device", True),
        ("pc2", "winrar", "covered", "per_device", True),
        ("pc3", "winrar", "unlicensed", "over_quantity", False),
    ]
    assert _verdicts() == expected
    positions = sorted(
        CompliancePosition.objects.values_list("unit__name", "required", "covered", "shortfall")
    )
    assert positions == [("历下区财政局", 3, 2, 1), ("青岛市教育局", 1, 0, 1)]
    if connection.vendor == "postgresql":
        assert len(keys) == 5 and _keys() == keys
        # The primary key and every plain index, as the migrations made them.
        assert len(indexes) >= 6 and _indexes() == indexes
    # Again, with the rows in place: the ordinary path, the same figures.
    services.recompute_all()
    assert _verdicts() == expected


@pytest.mark.django_db(transaction=True)
def test_first_load_still_checks_every_foreign_key(org):
    if connection.vendor != "postgresql":
        pytest.skip("the first-load path is PostgreSQL's")
    pc = make_device(org.unit_a, "pc1")
    inst = install(pc, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    keys, indexes = _keys(), _indexes()
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            load = services._FirstLoad()
            with connection.cursor() as cursor:
                # A verdict naming a unit that does not exist.
                cursor.execute(
                    f"INSERT INTO {load.TEMP} ({load.cols}) "
                    "VALUES (%s, %s, %s, %s, '', 'unlicensed', 'no_entitlement', '', NULL, '')",
                    [inst.pk, 987654321, pc.pk, product("winrar").pk],
                )
            load.finish()
    assert ComplianceResult.objects.count() == 0
    assert _keys() == keys and _indexes() == indexes
