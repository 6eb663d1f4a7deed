"""zhengban simulate: build a believable province, deterministic for a seed."""

import json
import time

from django.core.management.base import BaseCommand, CommandError

from zhengban.core.simulation import SimulationContext, SimulationSize, parts, run_all


class Command(BaseCommand):
    help = (
        "生成一个模拟省份（行政区划、版权局、单位、人员、终端与软件、历史变更…），"
        "同一种子生成相同数据。默认规模：12 个市、80 个县、5,000 个单位、100,000 台终端。"
    )

    def add_arguments(self, parser):
        default = SimulationSize()
        parser.add_argument("--seed", type=int, default=2014, help="随机种子（默认 2014）")
        parser.add_argument(
            "--scale", type=float, default=1.0, help="整体缩放，如 0.01 生成 1%% 规模"
        )
        parser.add_argument("--cities", type=int, help=f"市数（默认 {default.cities}）")
        parser.add_argument("--counties", type=int, help=f"县数（默认 {default.counties}）")
        parser.add_argument("--units", type=int, help=f"单位数（默认 {default.units}）")
        parser.add_argument("--devices", type=int, help=f"终端数（默认 {default.devices}）")
        parser.add_argument(
            "--only",
            action="append",
            help="只运行指定部分（可重复）：" + "、".join(p.name for p in parts()),
        )
        parser.add_argument("--json", help="把各部分耗时与规模写入此 JSON 文件")

    def handle(self, *args, **options):
        if options["scale"] <= 0:
            raise CommandError("--scale 必须大于 0")
        size = SimulationSize().scaled(options["scale"])
        for name in ("cities", "counties", "units", "devices"):
            if options[name] is not None:
                if options[name] < 1:
                    raise CommandError(f"--{name} 必须至少为 1")
                setattr(size, name, options[name])
        from zhengban.orgs.models import Region
        from zhengban.orgs.simulate import PROVINCE

        if Region.objects.filter(code=PROVINCE[0]).exists():
            raise CommandError(
                f"数据库中已有模拟省份（{PROVINCE[1]} {PROVINCE[0]}）。请使用新的数据库。"
            )
        ctx = SimulationContext(seed=options["seed"], size=size, out=self.stderr)
        only = set(options["only"] or []) or None
        unknown = (only or set()) - {p.name for p in parts()}
        if unknown:
            raise CommandError("未知的部分：" + "、".join(sorted(unknown)))
        started = time.perf_counter()
        run_all(ctx, only)
        # Bulk loads leave the planner's statistics empty: refresh them, as an operator would
        # after loading data.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        total = round(time.perf_counter() - started, 2)
        summary = {
            "seed": ctx.seed,
            "size": vars(size),
            "timings_s": ctx.timings,
            "total_s": total,
        }
        if options["json"]:
            with open(options["json"], "w", encoding="utf-8") as fh:
                json.dump(summary, fh, ensure_ascii=False, indent=2)
        self.stdout.write(self.style.SUCCESS(f"模拟省份已生成，用时 {total:.1f} 秒。"))
