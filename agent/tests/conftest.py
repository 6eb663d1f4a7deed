"""Shared fixtures: the real sample files under /work/shared/formats (or $ZHENGBAN_FORMATS)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

FORMATS = Path(os.environ.get("ZHENGBAN_FORMATS", "/work/shared/formats"))
REG_DIR = FORMATS / "windows-registry"
SCHEMA_PATH = FORMATS / "glpi-inventory" / "inventory.schema.json"


def reg_bytes(name: str) -> bytes:
    return (REG_DIR / name).read_bytes()


@pytest.fixture(scope="session")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def validate(schema):
    jsonschema = pytest.importorskip("jsonschema")
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)

    def check(doc: dict) -> None:
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])

    return check
