"""zhengban catalog export|import|check|load-shipped: the catalog exchange format."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from zhengban.catalog.document import CatalogError, load_catalog


class Command(BaseCommand):
    help = (
        "Software catalog exchange (docs/catalog-format.md). "
        "export [FILE]: write the shared catalog (stdout when FILE is - or absent); "
        "import FILE: merge a catalog document (idempotent, keeps local rules and products); "
        "check [PATH ...]: validate catalog files without touching the database; "
        "load-shipped [--force]: (re)load the catalog shipped with zhengban."
    )

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="write the catalog as JSON")
        export.add_argument("file", nargs="?", default="-")
        imp = sub.add_parser("import", help="merge a catalog JSON document")
        imp.add_argument("file")
        imp.add_argument("--user", help="username recorded as the actor in the audit log")
        check = sub.add_parser("check", help="validate catalog files")
        check.add_argument("paths", nargs="*")
        shipped = sub.add_parser("load-shipped", help="load the shipped catalog now")
        shipped.add_argument("--force", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "check":
            try:
                doc = load_catalog(*options["paths"])
            except CatalogError as exc:
                raise CommandError(str(exc)) from exc
            rules = sum(len(p["rules"]) + len(p["swid"]) for p in doc["products"])
            self.stdout.write(
                f"ok: {len(doc['publishers'])} publishers, {len(doc['families'])} families, "
                f"{len(doc['products'])} products, {rules} rules"
            )
            return

        from zhengban.catalog import services

        if action == "export":
            text = json.dumps(services.export_catalog(), ensure_ascii=False, indent=1) + "\n"
            if options["file"] == "-":
                self.stdout.write(text, ending="")
            else:
                try:
                    with open(options["file"], "w", encoding="utf-8") as fh:
                        fh.write(text)
                except OSError as exc:
                    raise CommandError(f"cannot write {options['file']}: {exc.strerror}") from exc
            return
        if action == "load-shipped":
            try:
                result = services.load_shipped_catalog(force=options["force"])
            except (CatalogError, ValidationError) as exc:
                raise CommandError(_message(exc)) from exc
            if result is None:
                self.stdout.write("shipped catalog already loaded")
            else:
                self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
            return

        # import
        path = options["file"]
        try:
            with open(path, "rb") if path != "-" else sys.stdin.buffer as fh:  # noqa: SIM115
                raw = fh.read()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            document = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path}: not valid UTF-8 at byte {exc.start}") from exc
        except ValueError as exc:
            raise CommandError(f"{path}: invalid JSON: {exc}") from exc
        actor = None
        if options.get("user"):
            from django.contrib.auth import get_user_model

            try:
                actor = get_user_model().objects.get(username=options["user"])
            except get_user_model().DoesNotExist as exc:
                raise CommandError(f"no such user: {options['user']}") from exc
        try:
            result = services.import_catalog(document, actor=actor, source=str(path))
        except (ValidationError, PermissionDenied) as exc:
            raise CommandError(_message(exc)) from exc
        self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))


def _message(exc: Exception) -> str:
    messages = getattr(exc, "messages", None)
    return "; ".join(messages) if messages else str(exc)
