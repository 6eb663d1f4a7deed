"""Helpers for tests of inventory and of the apps built on it."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

from django.utils import timezone

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


def make_device(
    unit: Unit, hostname: str = "PC", *, seen: datetime.datetime | None = None, **fields: Any
):
    """A device as an inventory would have left it, without installations; ``fields`` set
    any other column."""
    from zhengban.inventory.choices import DeviceType, InventorySource
    from zhengban.inventory.models import Device

    seen = seen or timezone.now()
    fields.setdefault("device_type", DeviceType.DESKTOP)
    fields.setdefault("last_source", InventorySource.ZHENGBAN_AGENT)
    return Device.objects.create(
        unit=unit, hostname=hostname, first_seen=seen, last_seen=seen, **fields
    )


def ingest_file(path: Path | str, *, unit: Unit, **kwargs) -> IngestResult:
    """Parse a JSON or XML inventory file and ingest it into ``unit``."""
    body = Path(path).read_bytes()
    parsed = parsers.parse_inventory(body, None)
    doc = parsed.document if isinstance(parsed, parsers.XmlRequest) else parsed
    assert doc is not None, f"{path} is not an inventory"
    return services.ingest_inventory(unit=unit, document=doc, **kwargs)


def _matrix_device(unit: Unit):
    from django.utils import timezone

    from zhengban.inventory.choices import InventorySource
    from zhengban.inventory.models import Device, Installation

    now = timezone.now()
    device = Device.objects.create(
        unit=unit,
        hostname=f"矩阵终端-{unit.pk}",
        first_seen=now,
        last_seen=now,
        last_source=InventorySource.GLPI_JSON,
    )
    Installation.objects.create(
        device=device,
        kind="application",
        name=f"矩阵软件-{unit.pk}",
        raw_key=services.raw_key(f"矩阵软件-{unit.pk}", "", "", ""),
        first_seen=now,
    )
    return device


def _matrix_installation(unit: Unit):
    return _matrix_device(unit).installations.get()


def _matrix_event(unit: Unit):
    from zhengban.inventory.choices import EventType, InventorySource
    from zhengban.inventory.models import InstallationEvent, InventoryReport

    device = _matrix_device(unit)
    report = InventoryReport.objects.create(
        device=device, received=device.last_seen, source=InventorySource.GLPI_JSON
    )
    return InstallationEvent.objects.create(
        device=device,
        report=report,
        event_type=EventType.INSTALLED,
        kind="application",
        name=f"矩阵变更-{unit.pk}",
        new_version="1.0",
        date=device.last_seen,
    )


def _matrix_token(unit: Unit):
    row, _token = services.create_enrollment_token(
        actor=None, unit=unit, label=f"矩阵令牌-{unit.pk}"
    )
    return row


def _register_matrix() -> None:
    from zhengban.core.testing import register_factory, register_url
    from zhengban.inventory.models import Device, EnrollmentToken, Installation, InstallationEvent

    register_factory(Device, _matrix_device)
    register_factory(Installation, _matrix_installation)
    register_factory(InstallationEvent, _matrix_event)
    register_factory(EnrollmentToken, _matrix_token)
    register_url("inventory:token_revoke", EnrollmentToken)
    register_url("inventory:device_edit", Device)
    register_url("inventory:device_move", Device)
    register_url("inventory:device_retire", Device)
    register_url("inventory:device_reinstate", Device)
    register_url(
        "inventory:ingest",
        skip="agents authenticate with the enrolment token in the URL; the token fixes the unit",
    )


_register_matrix()


def other_connection():
    """A second PostgreSQL connection to the test database, in autocommit, for tests of
    what concurrent transactions see and wait for."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)
