"""The scheduled daily recompute (``zhengban compliance recompute --due``) on the real database."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from zhengban.core.models import AuditLogEntry
from zhengban.licensing import services, tasks
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.models import ComplianceResult
from zhengban.licensing.testing import install, make_device, product


def _statuses() -> list[tuple[str, str, str, str]]:
    return sorted(
        (r.device.hostname, r.product.key, r.status, r.reason)
        for r in ComplianceResult.objects.select_related("device", "product")
    )


@pytest.fixture
def subscriptions(org):
    """unit_a: a subscription that ended yesterday; unit_b: one that ended four days ago,
    both computed as they stood before their end; unit_a_child: a perpetual licence."""
    today = timezone.localdate()
    a = make_device(org.unit_a, "a1")
    b = make_device(org.unit_b, "b1")
    c = make_device(org.unit_a_child, "c1")
    for pc in (a, b, c):
        install(pc, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    for unit, end, term in (
        (org.unit_a, today - datetime.timedelta(days=1), Term.SUBSCRIPTION),
        (org.unit_b, today - datetime.timedelta(days=4), Term.SUBSCRIPTION),
        (org.unit_a_child, None, Term.PERPETUAL),
    ):
        services.create_entitlement(
            actor=None,
            unit=unit,
            product=product("winrar"),
            metric=Metric.PER_DEVICE,
            term=term,
            start=datetime.date(2025, 1, 1) if end else None,
            end=end,
            quantity=1,
        )
    # As the last inventories left them: each computed before its term ended.
    services.recompute_units(
        [org.unit_a.pk, org.unit_a_child.pk], as_of=today - datetime.timedelta(days=1)
    )
    services.recompute_units([org.unit_b.pk], as_of=today - datetime.timedelta(days=5))
    assert _statuses() == [
        ("a1", "winrar", "covered", "per_device"),
        ("b1", "winrar", "covered", "per_device"),
        ("c1", "winrar", "covered", "per_device"),
    ]
    return today


def test_due_turns_yesterdays_expired_subscription_unlicensed_and_leaves_the_rest(
    org, subscriptions
):
    today = subscriptions
    out = io.StringIO()
    call_command("compliance", "recompute", "--due", stdout=out)
    since = (today - datetime.timedelta(days=1)).isoformat()
    assert out.getvalue() == (
        f"按期限变化重算({since} 至 {today.isoformat()}):1 项授权、1 个单位,更新 1 条结果。\n"
    )
    assert _statuses() == [
        ("a1", "winrar", "unlicensed", "expired"),
        # Its boundary lies before the window: not recomputed (still as last computed).
        ("b1", "winrar", "covered", "per_device"),
        ("c1", "winrar", "covered", "per_device"),
    ]
    entry = AuditLogEntry.objects.get(message__startswith="due ")
    assert entry.message == (
        f"due as_of={today.isoformat()} since={since} entitlements=1 units=1 written=1"
    )
    assert services.last_due_run() == today


def test_due_catches_up_from_the_last_scheduled_run(org, subscriptions):
    today = subscriptions
    # The last scheduled run judged by six days ago: the window reaches back to it.
    AuditLogEntry.objects.create(
        action="update",
        object_type="licensing.complianceresult",
        message=f"due as_of={(today - datetime.timedelta(days=6)).isoformat()} since=x",
    )
    stats = services.recompute_due()
    assert (stats.since, stats.as_of, stats.entitlements, stats.units, stats.written) == (
        today - datetime.timedelta(days=6),
        today,
        2,
        2,
        2,
    )
    assert _statuses() == [
        ("a1", "winrar", "unlicensed", "expired"),
        ("b1", "winrar", "unlicensed", "expired"),
        ("c1", "winrar", "covered", "per_device"),
    ]


def test_due_with_days_and_boundaries_of_start_and_upgrade(org):
    today = timezone.localdate()
    pc = make_device(org.unit_b, "b1")
    install(pc, "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    # Starts today: valid from today on.
    services.create_entitlement(
        actor=None,
        unit=org.unit_b,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.SUBSCRIPTION,
        start=today,
        end=today + datetime.timedelta(days=365),
        quantity=1,
    )
    services.recompute_units([org.unit_b.pk], as_of=today - datetime.timedelta(days=1))
    assert _statuses() == [("b1", "winrar", "unlicensed", "not_yet_valid")]
    stats = services.recompute_due(days=3)
    assert (stats.since, stats.entitlements, stats.units, stats.written) == (
        today - datetime.timedelta(days=3),
        1,
        1,
        1,
    )
    assert _statuses() == [("b1", "winrar", "covered", "per_device")]
    # Upgrade rights that ended two days ago count as a boundary within three days.
    ents = services.entitlements_with_boundary(today - datetime.timedelta(days=3), today)
    assert ents.count() == 1
    ent = ents.get()
    ent.upgrade_until = today - datetime.timedelta(days=2)
    ent.start = None
    ent.save(update_fields=["upgrade_until", "start"])
    assert (
        services.entitlements_with_boundary(today - datetime.timedelta(days=1), today).count() == 0
    )
    assert (
        services.entitlements_with_boundary(today - datetime.timedelta(days=2), today).count() == 1
    )


def test_due_task_and_command_errors(org, subscriptions):
    result = tasks.recompute_due.enqueue(days=1)
    assert result.return_value == {
        "since": (subscriptions - datetime.timedelta(days=1)).isoformat(),
        "as_of": subscriptions.isoformat(),
        "entitlements": 1,
        "units": 1,
        "written": 1,
    }
    with pytest.raises(CommandError, match="--days 必须大于等于 1"):
        call_command("compliance", "recompute", "--due", "--days", "0")
    with pytest.raises(CommandError, match="--due 不能与 --unit 同时使用"):
        call_command("compliance", "recompute", "--due", "--unit", str(org.unit_a.pk))
