"""Demo step: the demo units get contracts and entitlements for the software they run, with a
few gaps (a short office licence, a lapsed antivirus subscription, PCs without OEM Windows),
then their compliance is computed."""

from __future__ import annotations

import random

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.demo import DemoContext, register
from zhengban.licensing.models import Contract
from zhengban.licensing.services import recompute_all
from zhengban.licensing.simulate import plan_licences, write_plan

DEMO_PREFIX = "DEMO"


@register("licensing", order=40)
def build(ctx: DemoContext) -> None:
    if Contract.objects.filter(number__startswith=f"{DEMO_PREFIX}-").exists():
        ctx.say("  合同与授权已存在，跳过")
        return
    orgs = ctx.shared["orgs"]
    units = [u for u in orgs["units"] if not u.is_copyright_bureau or u == orgs["demo_unit"]]
    bureau = next(
        (b for b in orgs.get("bureaus", {}).values() if b.region_id == orgs["province"].pk), None
    )
    # Seeded per demo so that every run tells the same story.
    plan = plan_licences(
        random.Random("demo-licensing"),
        sorted(u.pk for u in units),
        today=ctx.today,
        framework_owner=bureau.pk if bureau else None,
        site_unit=None,
        number_prefix=DEMO_PREFIX,
    )
    contracts, entitlements = write_plan(plan)
    stats = recompute_all()
    audit.record(
        actor=None,
        action=AuditAction.IMPORT,
        object_type="licensing.entitlement",
        object_repr="demo licences",
        message=f"demo: {contracts} contracts, {entitlements} entitlements",
    )
    ctx.say(
        f"  合同 {contracts} 份，授权 {entitlements} 条；需授权安装 {stats.installs} 个，"
        f"未授权 {stats.unlicensed} 个"
    )
