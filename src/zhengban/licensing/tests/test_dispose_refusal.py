"""``services.dispose`` itself refuses a disposal once nothing is left, and one of more
licences than are left (the page and the API check first; other callers rely on this)."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError

from zhengban.core.models import AuditLogEntry
from zhengban.licensing import services
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.models import AssetDisposal
from zhengban.licensing.testing import product

TODAY = datetime.date(2025, 6, 1)
ALL_DISPOSED = ["该授权已全部处置。"]
TOO_MANY = ["处置数量超过剩余许可数。"]


def make(unit, quantity):
    return services.create_entitlement(
        actor=None,
        unit=unit,
        product=product("winrar"),
        metric=Metric.PER_DEVICE if quantity else Metric.SITE,
        term=Term.PERPETUAL,
        quantity=quantity,
    )


def dispose(ent, quantity=None, method="scrap"):
    return services.dispose(
        actor=None,
        entitlement=ent,
        method=method,
        date=TODAY,
        quantity=quantity,
        reason="到期报废",
    )


def refused(ent, quantity=None) -> list[str]:
    rows, audits = AssetDisposal.objects.count(), AuditLogEntry.objects.count()
    with pytest.raises(ValidationError) as exc:
        dispose(ent, quantity)
    assert (AssetDisposal.objects.count(), AuditLogEntry.objects.count()) == (rows, audits)
    return exc.value.messages


def test_nothing_left_after_disposing_of_all(org):
    ent = make(org.unit_a, 3)
    dispose(ent)
    assert refused(ent) == ALL_DISPOSED
    assert refused(ent, 1) == ALL_DISPOSED


def test_quantities_add_up_to_all(org):
    ent = make(org.unit_a, 3)
    dispose(ent, 2)
    assert refused(ent, 2) == TOO_MANY
    dispose(ent, 1)
    assert services.remaining_quantity(ent) == 0
    assert refused(ent, 1) == ALL_DISPOSED
    assert refused(ent) == ALL_DISPOSED
    assert list(AssetDisposal.objects.order_by("id").values_list("quantity", flat=True)) == [
        2,
        1,
    ]


def test_unlimited_entitlement_is_disposed_of_once(org):
    ent = make(org.unit_a, None)
    dispose(ent)
    assert refused(ent) == ALL_DISPOSED


def test_a_stale_copy_of_the_entitlement_is_read_afresh(org):
    """The caller's object may carry prefetched disposals from before the last one."""
    ent = make(org.unit_a, 2)
    stale = type(ent).objects.prefetch_related("disposals").get(pk=ent.pk)
    assert services.remaining_quantity(stale) == 2
    dispose(ent)
    assert refused(stale, 1) == ALL_DISPOSED
