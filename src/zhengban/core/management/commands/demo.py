"""zhengban demo: load (or top up) the demo data and print the demo accounts."""

from django.core.management.base import BaseCommand, CommandParser

from zhengban.core import demo


class Command(BaseCommand):
    help = "载入演示数据（可重复运行，不会重复创建），并列出演示账号。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--only", nargs="*", help="只运行这些步骤（默认全部）")

    def handle(self, *args, only=None, **options) -> None:
        ctx = demo.run(out=self.stdout, only=only)
        if not ctx.accounts:
            return
        self.stdout.write("")
        self.stdout.write(f"演示账号（密码均为 {ctx.password}）：")
        width = max(len(username) for username, _role, _where in ctx.accounts)
        for username, role, where in ctx.accounts:
            self.stdout.write(f"  {username:<{width}}  {role}  {where}")
