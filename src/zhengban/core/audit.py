"""The append-only audit log. Every service that changes data calls `record` inside its own
transaction, so the log entry and the change commit or roll back together."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

from django.db import models
from django.db.models.fields.files import FieldFile

from zhengban.core.choices import AuditAction
from zhengban.core.middleware import current_ip
from zhengban.core.models import AuditLogEntry

# Never copied into the log, whatever model they sit on.
SECRET_FIELDS = frozenset({"password", "key", "secret", "token_hash", "serial_encrypted"})


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, FieldFile):
        return value.name or None
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def snapshot(obj: models.Model | None) -> dict[str, Any] | None:
    """The concrete field values of `obj`, JSON-ready, secrets left out."""
    if obj is None:
        return None
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in SECRET_FIELDS:
            continue
        data[field.attname] = _jsonable(getattr(obj, field.attname))
    return data


def _unit_id_of(obj: models.Model | None) -> int | None:
    if obj is None:
        return None
    if obj._meta.label_lower == "orgs.unit":
        return obj.pk
    return getattr(obj, "unit_id", None)


def record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    object_repr: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    unit_id: int | None = None,
    message: str = "",
    commit: bool = True,
) -> AuditLogEntry:
    """One entry, saved at once; with `commit=False` unsaved, for `record_many`."""
    if action not in AuditAction.values:
        raise ValueError(f"unknown audit action {action!r}")
    actor_id = getattr(actor, "pk", None) if actor is not None else None
    actor_name = getattr(actor, "username", "") if actor is not None else ""
    if before is not None and after is not None:
        # Keep only what changed, plus the identity, so entries stay readable.
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        before = {k: before.get(k) for k in sorted(changed)}
        after = {k: after.get(k) for k in sorted(changed)}
    entry = AuditLogEntry(
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        object_type=object_type or (obj._meta.label_lower if obj is not None else ""),
        object_id=str(object_id if object_id is not None else (obj.pk if obj is not None else "")),
        object_repr=(object_repr if object_repr is not None else str(obj) if obj else "")[:300],
        unit_id=unit_id if unit_id is not None else _unit_id_of(obj),
        before=before,
        after=after,
        ip_address=current_ip.get(),
        message=message[:500],
    )
    if commit:
        entry.save(force_insert=True)
    return entry


def record_many(entries: list[AuditLogEntry]) -> list[AuditLogEntry]:
    """Entries made with `record(..., commit=False)`, saved in one insert (for services that
    change many rows at once, e.g. violations raised from one inventory)."""
    return AuditLogEntry.objects.bulk_create(entries)
