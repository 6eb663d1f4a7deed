"""zhengban enrollment create|list|revoke: agent enrolment tokens, for scripts.

    zhengban enrollment create --unit CODE [--days N] [--label TEXT] [--base-url URL]

prints the new token's ingest URL (and nothing else) on standard output.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from zhengban.inventory import services
from zhengban.inventory.models import EnrollmentToken
from zhengban.orgs.models import Unit


def _unit(code: str) -> Unit:
    """A unit by its 统一社会信用代码 (or its id, for scripts that know it)."""
    q = Q(credit_code=code.strip().upper())
    if code.strip().isdigit():
        q |= Q(pk=int(code))
    units = list(Unit.objects.filter(q)[:2])
    if len(units) != 1:
        raise CommandError(f"no unit with credit code or id {code!r}")
    return units[0]


class Command(BaseCommand):
    help = (
        "Agent enrolment tokens. create --unit CODE [--days N]: print a new token's ingest "
        "URL; list [--unit CODE]; revoke PREFIX."
    )

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token and print its ingest URL")
        create.add_argument("--unit", required=True, help="unit credit code (or id)")
        create.add_argument("--days", type=int, default=services.DEFAULT_TOKEN_DAYS)
        create.add_argument("--label", default="")
        create.add_argument(
            "--base-url",
            default=None,
            help="site URL agents reach, e.g. https://zhengban.example.gov.cn "
            "(default: settings ZHENGBAN['BASE_URL'] or http://127.0.0.1:8000)",
        )
        listing = sub.add_parser("list", help="list tokens")
        listing.add_argument("--unit", default=None)
        revoke = sub.add_parser("revoke", help="revoke the token whose prefix is given")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            unit = _unit(options["unit"])
            try:
                _row, token = services.create_enrollment_token(
                    actor=None, unit=unit, days=options["days"], label=options["label"]
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
            base = (
                options["base_url"]
                or getattr(settings, "ZHENGBAN", {}).get("BASE_URL")
                or "http://127.0.0.1:8000"
            )
            self.stdout.write(base.rstrip("/") + reverse("inventory:ingest", args=[token]))
        elif action == "list":
            rows = EnrollmentToken.objects.select_related("unit").order_by("unit__name", "created")
            if options["unit"]:
                rows = rows.filter(unit=_unit(options["unit"]))
            now = timezone.now()
            for row in rows:
                state = "revoked" if row.revoked else "expired" if row.expires <= now else "active"
                self.stdout.write(
                    f"{row.prefix}\t{row.unit.credit_code}\t{state}\t"
                    f"{row.expires:%Y-%m-%d}\t{row.label}"
                )
        elif action == "revoke":
            rows = list(EnrollmentToken.objects.filter(prefix=options["prefix"])[:2])
            if len(rows) != 1:
                raise CommandError(f"no single token with prefix {options['prefix']!r}")
            services.revoke_enrollment_token(actor=None, token=rows[0])
            self.stdout.write(f"revoked {rows[0].prefix}")
