"""The province simulator is deterministic for a seed: the same seed and size give the same
province (compared by content, since database ids differ between runs; dates are relative
to the day of the build)."""

import hashlib
import io

import pytest
from django.db import transaction

from zhengban.core.simulation import SimulationContext, SimulationSize, parts, run_all

TINY = SimulationSize(cities=1, counties=2, units=12, devices=40)


def digest() -> dict[str, str]:
    from zhengban.governance.models import Violation
    from zhengban.inventory.models import Device, Installation, InstallationEvent
    from zhengban.licensing.models import ComplianceResult, Entitlement
    from zhengban.orgs.models import Unit, User

    tables = {
        "units": Unit.objects.values_list("name", "credit_code", "unit_type", "headcount"),
        "people": User.objects.values_list("username", "full_name", "department__name"),
        "devices": Device.objects.values_list("hostname", "unit__name", "os_name", "serial_number"),
        "installations": Installation.objects.values_list(
            "device__hostname", "name", "version", "product__key"
        ),
        "events": InstallationEvent.objects.values_list(
            "device__hostname", "event_type", "name", "old_version", "new_version"
        ),
        "entitlements": Entitlement.objects.values_list(
            "unit__name", "product__key", "metric", "quantity"
        ),
        "verdicts": ComplianceResult.objects.values_list(
            "installation__device__hostname", "installation__name", "status", "reason"
        ),
        "violations": Violation.objects.values_list("device__hostname", "kind", "software_name"),
    }
    out = {}
    for name, rows in tables.items():
        rows = sorted(tuple(str(v) for v in row) for row in rows)
        out[name] = f"{len(rows)}:{hashlib.sha256(repr(rows).encode()).hexdigest()[:16]}"
    return out


def simulate_once(seed: int) -> dict[str, str]:
    with transaction.atomic():
        run_all(SimulationContext(seed=seed, size=TINY, out=io.StringIO()))
        result = digest()
        transaction.set_rollback(True)
    return result


@pytest.mark.django_db
def test_same_seed_same_province_and_every_part_contributes():
    first = simulate_once(7)
    second = simulate_once(7)
    assert first == second
    assert [p.name for p in parts()] == ["orgs", "inventory", "licensing", "governance"]
    counts = {name: int(value.split(":")[0]) for name, value in first.items()}
    assert counts["units"] == 12
    assert counts["devices"] == 40
    assert all(counts[name] > 0 for name in ("installations", "events", "entitlements"))
    assert simulate_once(8)["installations"] != first["installations"]
