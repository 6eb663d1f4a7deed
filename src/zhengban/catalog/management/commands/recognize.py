"""zhengban recognize [FILE|-]: recognise raw install records given as JSON Lines."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from zhengban.catalog.document import CatalogError, load_catalog
from zhengban.catalog.recognition import UNRECOGNISED, Recogniser

HELP = """Recognise raw install records.

Input: JSON Lines (UTF-8), one object per line with "name", "publisher", "version" and
optional "platform" (windows | linux | macos) and "swid". Blank lines are skipped.

Output: one JSON line per input line, in the same order, with exactly the keys
family, product, edition, version, category, license_model, domestic, rule.
"family" is null when the record is not recognised (also for empty, oversized or
otherwise malformed names). Invalid UTF-8 bytes are replaced before parsing.

A line that is not valid JSON, or not a JSON object, still gets an output line (all
keys null) so that output lines stay aligned with input lines; the error, with its line
number, goes to standard error, and the command exits with status 1 after processing
all lines. Exit status 0 means every line was read.

The rules come from the database (the shipped catalog is loaded by `zhengban migrate`),
or from catalog files with --catalog."""

NULL_LINE = json.dumps(UNRECOGNISED.as_dict(), ensure_ascii=False)
BATCH = 5000


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any):
        from argparse import RawDescriptionHelpFormatter

        return super().create_parser(
            prog_name, subcommand, formatter_class=RawDescriptionHelpFormatter, **kwargs
        )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", nargs="?", default="-", help="JSON Lines file, or - (stdin)")
        parser.add_argument(
            "--catalog",
            action="append",
            help="use these catalog JSON files/directories instead of the database",
        )
        parser.add_argument("--output", "-o", help="write here instead of standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        recogniser = self._recogniser(options.get("catalog"))
        path = options["file"]
        try:
            source = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        out_file = None
        if options.get("output"):
            try:
                out_file = open(options["output"], "w", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise CommandError(f"cannot write {options['output']}: {exc.strerror}") from exc
        write = out_file.write if out_file is not None else self.stdout.write
        errors = 0
        try:
            errors = self._run(recogniser, source, write)
        finally:
            if source is not sys.stdin.buffer:
                source.close()
            if out_file is not None:
                out_file.close()
        if errors:
            raise CommandError(f"{errors} input line(s) were not JSON objects (see above)")

    def _recogniser(self, catalog_paths: list[str] | None):
        if catalog_paths:
            try:
                return Recogniser(load_catalog(*catalog_paths))
            except CatalogError as exc:
                raise CommandError(f"catalog error: {exc}") from exc
        from zhengban.catalog.services import get_recogniser

        return get_recogniser()

    def _run(self, recogniser: Recogniser, source, write) -> int:
        errors = 0
        rendered: dict[Any, str] = {}
        batch: list[str] = []
        recognise = recogniser.recognise_record
        for lineno, raw in enumerate(source, start=1):
            text = raw.decode("utf-8", "replace")
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except ValueError as exc:
                record = None
                errors += 1
                sys.stderr.write(f"line {lineno}: invalid JSON: {exc}\n")
            else:
                if not isinstance(record, dict):
                    errors += 1
                    sys.stderr.write(f"line {lineno}: not a JSON object\n")
                    record = None
            if record is None:
                batch.append(NULL_LINE)
            else:
                result = recognise(record)
                line = rendered.get(result)
                if line is None:
                    # Lone surrogates cannot be encoded; the engine strips them, but be safe.
                    line = json.dumps(result.as_dict(), ensure_ascii=False)
                    line = line.encode("utf-8", "replace").decode("utf-8")
                    rendered[result] = line
                batch.append(line)
            if len(batch) >= BATCH:
                write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            write("\n".join(batch) + "\n")
        return errors
