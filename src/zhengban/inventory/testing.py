"""Helpers for tests of inventory and of the apps built on it."""

from __future__ import annotations

import os
from pathlib import Path

from zhengban.inventory import parsers, services
from zhengban.inventory.services import IngestResult
from zhengban.orgs.models import Unit

# The shared formats directory lies beside the repository, in development and in CI.
REPO_DIR = Path(__file__).resolve().parents[3]
SHARED_DIR = Path(os.environ.get("ZHENGBAN_SHARED_DIR", REPO_DIR.parent / "shared"))
FORMATS_DIR = SHARED_DIR / "formats"
GLPI_EXAMPLES = FORMATS_DIR / "glpi-inventory" / "examples"
XML_SAMPLES = FORMATS_DIR / "glpi-inventory" / "xml-samples"
REGISTRY_SAMPLES = FORMATS_DIR / "windows-registry"


def ingest_file(path: Path | str, *, unit: Unit, **kwargs) -> IngestResult:
    """Parse a JSON or XML inventory file and ingest it into ``unit``."""
    body = Path(path).read_bytes()
    parsed = parsers.parse_inventory(body, None)
    doc = parsed.document if isinstance(parsed, parsers.XmlRequest) else parsed
    assert doc is not None, f"{path} is not an inventory"
    return services.ingest_inventory(unit=unit, document=doc, **kwargs)
