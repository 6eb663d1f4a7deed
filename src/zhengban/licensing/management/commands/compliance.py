"""zhengban compliance recompute: recompute every install's verdict and the positions.

``--due`` is the scheduled daily run (cron or a systemd timer, see README): only the units
whose entitlements crossed a term boundary since the last scheduled run."""

from __future__ import annotations

import datetime
import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "合规计算:recompute 全量重算所有单位的授权合规状况(可限定单位)。"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        recompute = sub.add_parser("recompute", help="重算合规状况")
        recompute.add_argument("--unit", type=int, action="append", help="只重算指定单位 ID")
        recompute.add_argument("--as-of", help="按指定日期判断授权期限(YYYY-MM-DD,默认今天)")
        recompute.add_argument("--json", help="把统计写入此 JSON 文件")
        recompute.add_argument("--quiet", action="store_true", help="不显示进度条")
        recompute.add_argument(
            "--due",
            action="store_true",
            help="只重算授权期限(订阅起止、升级权截止)在上次定时重算以来到期或生效的单位",
        )
        recompute.add_argument(
            "--days",
            type=int,
            default=1,
            help="与 --due 一起用:至少回看的天数(默认 1;上次定时重算更早时从那天起)",
        )

    def handle(self, *args, **options):
        from zhengban.licensing import services

        as_of = None
        if options.get("as_of"):
            try:
                as_of = datetime.date.fromisoformat(options["as_of"])
            except ValueError as exc:
                raise CommandError("--as-of 必须是 YYYY-MM-DD 格式的日期") from exc
        if options.get("due"):
            if options.get("unit"):
                raise CommandError("--due 不能与 --unit 同时使用")
            if options["days"] < 1:
                raise CommandError("--days 必须大于等于 1")
            due = services.recompute_due(as_of=as_of, days=options["days"])
            self.stdout.write(
                f"按期限变化重算({due.since.isoformat()} 至 {due.as_of.isoformat()}):"
                f"{due.entitlements} 项授权、{due.units} 个单位,更新 {due.written} 条结果。"
            )
            if options.get("json"):
                with open(options["json"], "w", encoding="utf-8") as fh:
                    json.dump(
                        {
                            **vars(due),
                            "since": due.since.isoformat(),
                            "as_of": due.as_of.isoformat(),
                        },
                        fh,
                        ensure_ascii=False,
                        indent=2,
                    )
            return
        if options.get("unit"):
            from zhengban.orgs.models import Unit

            units = set(Unit.objects.filter(pk__in=options["unit"]).values_list("id", flat=True))
            missing = set(options["unit"]) - units
            if missing:
                raise CommandError("未找到单位:" + "、".join(str(u) for u in sorted(missing)))
            written = services.recompute_units(units, as_of=as_of)
            self.stdout.write(f"已重算 {len(units)} 个单位,更新 {written} 条结果。")
            return
        stats = services.recompute_all(
            as_of=as_of, progress=None if options["quiet"] else self._progress
        )
        self.stdout.write(
            f"已重算 {stats.units:,} 个单位、{stats.installs:,} 个需授权的安装:"
            f"已授权 {stats.covered:,},未授权 {stats.unlicensed:,},用时 {stats.seconds:.1f} 秒。"
        )
        if options.get("json"):
            with open(options["json"], "w", encoding="utf-8") as fh:
                json.dump(vars(stats), fh, ensure_ascii=False, indent=2)

    def _progress(self, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        bar = "█" * filled + "·" * (width - filled)
        end = "\n" if done >= total else ""
        self.stderr.write(f"\r  合规重算 [{bar}] {done:>7,}/{total:,} 个单位{end}", ending="")
        self.stderr.flush()
