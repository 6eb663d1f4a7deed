"""`zhengban token create|revoke --user NAME`: API tokens for machines and scripts."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from zhengban.orgs import services
from zhengban.orgs.models import User


class Command(BaseCommand):
    help = "Create, rotate or revoke the API token of an account."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="print a new token for the account")
        create.add_argument("--user", required=True, help="username")
        create.add_argument(
            "--rotate", action="store_true", help="replace the account's existing token"
        )
        revoke = sub.add_parser("revoke", help="delete the account's token")
        revoke.add_argument("--user", required=True, help="username")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = User.objects.get(username=options["user"])
        except User.DoesNotExist as exc:
            raise CommandError(f"没有用户名为 {options['user']!r} 的账号。") from exc
        try:
            if options["action"] == "create":
                # The operator at the console acts on the installation, not as an account.
                key = services.issue_token(actor=None, user=user, rotate=options["rotate"])
                self.stdout.write(key)
            else:
                services.revoke_token(actor=None, user=user)
                self.stdout.write(f"已撤销 {user.username} 的API令牌。")
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
