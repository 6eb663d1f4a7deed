"""Demo step: a few computers for every demo unit, reported through the real ingest service,
with a later inventory on some of them so the history (the ledger's 附表3) is not empty."""

from __future__ import annotations

import datetime
import random

from django.utils import timezone

from zhengban.core.demo import DemoContext, register
from zhengban.inventory import document as d
from zhengban.inventory.models import Device
from zhengban.inventory.services import ingest_inventory
from zhengban.inventory.simulate import (
    ANTIVIRUS_PROFILES,
    IN_HOUSE,
    OFFICE_PROFILES,
    _document,
    _load_records,
    _software,
)

DEMO_PREFIX = "demo-"


@register("inventory", order=30)
def build(ctx: DemoContext) -> None:
    if Device.objects.filter(agent_device_id__startswith=DEMO_PREFIX).exists():
        ctx.say("  终端已存在，跳过")
        return
    pools = _load_records()
    units = ctx.shared["orgs"]["units"]
    demo_unit = ctx.shared["orgs"]["demo_unit"]
    now = timezone.now()
    serial = 0
    changed = 0
    for index, unit in enumerate(units):
        if unit.is_copyright_bureau and unit != demo_unit:
            continue
        rng = random.Random(f"demo-inventory-{unit.credit_code}")
        profile = {
            "office": list(OFFICE_PROFILES)[index % len(OFFICE_PROFILES)],
            "antivirus": list(ANTIVIRUS_PROFILES)[index % len(ANTIVIRUS_PROFILES)],
            "finance": "财政" in unit.name or "税务" in unit.name,
            "in_house": IN_HOUSE[index % len(IN_HOUSE) : index % len(IN_HOUSE) + 1],
            "unit_name": unit.name,
            "in_house_version": "2.3",
        }
        people = list(unit.people.order_by("pk"))
        count = 12 if unit == demo_unit else rng.randint(2, 6)
        for n in range(count):
            serial += 1
            person = people[n % len(people)] if people else None
            doc = _document(
                rng, pools, profile, 900_000 + serial, person.full_name if person else ""
            )
            doc.agent_device_id = f"{DEMO_PREFIX}{unit.pk}-{n + 1}"
            first = now - datetime.timedelta(days=90 + rng.randint(0, 60))
            result = ingest_inventory(unit=unit, document=doc, received=first)
            if person is not None:
                Device.objects.filter(pk=result.device.pk).update(
                    assigned_user=person, assigned_name=person.full_name
                )
            # A third of the machines reported again later: something installed, something
            # removed, something upgraded.
            if n % 3 == 0 and doc.software:
                software = list(doc.software)
                software.pop(rng.randrange(len(software)))
                extra = pools.get(("windows", "utility"), [])
                if extra and doc.platform() == "windows":
                    software.append(_software(rng.choice(extra)))
                s = software[0]
                software[0] = d.Software(
                    name=s.name,
                    version=f"{s.version}.1",
                    publisher=s.publisher,
                    arch=s.arch,
                    source=s.source,
                    owner=s.owner,
                    kind=s.kind,
                )
                doc.software = list({item.identity: item for item in software}.values())
                ingest_inventory(
                    unit=unit,
                    document=doc,
                    received=now - datetime.timedelta(days=rng.randint(1, 20)),
                )
                changed += 1
    ctx.say(f"  终端 {serial} 台（{changed} 台有变更记录）")
