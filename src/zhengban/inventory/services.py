"""Inventory business rules: enrolment tokens, device matching, ingest with change history.

Each public function that changes data is one transaction; those a person calls write an
audit record (agents are not people: their inventories leave InventoryReport rows instead).
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import weakref
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengban.core import audit, hooks
from zhengban.core.choices import AuditAction
from zhengban.core.db import prepared_cursor
from zhengban.inventory import document as d
from zhengban.inventory import parsers
from zhengban.inventory.choices import EventType, InstallationKind, InventorySource
from zhengban.inventory.models import (
    Device,
    DeviceMAC,
    DeviceMove,
    EnrollmentToken,
    Installation,
    InstallationEvent,
    InventoryReport,
)
from zhengban.orgs.models import Department, Unit, User
from zhengban.orgs.services import can_manage_unit

BATCH = 2000
DEFAULT_TOKEN_DAYS = 365
MAX_TOKEN_DAYS = 3650

# --------------------------------------------------------------------------- enrolment


def hash_token(token: str) -> str:
    # Tokens carry 192 random bits, so a plain digest is enough (no slow KDF needed) and
    # lookups stay one indexed equality.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@transaction.atomic
def create_enrollment_token(
    *, actor: User | None, unit: Unit, days: int = DEFAULT_TOKEN_DAYS, label: str = ""
) -> tuple[EnrollmentToken, str]:
    """A new token for ``unit``; returns the row and the token itself (shown only now).

    ``actor`` None means an operator at the console (`zhengban enrollment create`).
    """
    if actor is not None and not can_manage_unit(actor, unit):
        raise PermissionDenied(_("无权为该单位创建注册令牌。"))
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValidationError(_("有效天数应在 1 到 %(max)d 之间。") % {"max": MAX_TOKEN_DAYS})
    token = secrets.token_urlsafe(24)
    row = EnrollmentToken.objects.create(
        unit=unit,
        label=label.strip()[:100],
        token_hash=hash_token(token),
        prefix=token[:8],
        created_by=actor,
        expires=timezone.now() + datetime.timedelta(days=days),
    )
    audit.record(actor=actor, action=AuditAction.CREATE, obj=row, after=audit.snapshot(row))
    return row, token


@transaction.atomic
def revoke_enrollment_token(*, actor: User | None, token: EnrollmentToken) -> EnrollmentToken:
    if actor is not None and not can_manage_unit(actor, token.unit):
        raise PermissionDenied(_("无权撤销该注册令牌。"))
    row = EnrollmentToken.objects.select_for_update().get(pk=token.pk)
    if row.revoked is None:
        before = audit.snapshot(row)
        row.revoked = timezone.now()
        row.save(update_fields=["revoked"])
        audit.record(
            actor=actor,
            action=AuditAction.REVOKE,
            obj=row,
            before=before,
            after=audit.snapshot(row),
        )
    return row


class TokenRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def resolve_token(
    token: str | None, *, now: datetime.datetime | None = None, with_unit: bool = False
) -> EnrollmentToken:
    """The live enrolment token for an ingest URL, or TokenRejected (401 unknown, 403 dead).
    ``with_unit`` joins the unit, for callers that store an inventory in it."""
    if not token or len(token) > 128:
        raise TokenRejected(401, _("缺少或无效的注册令牌。"))
    # The unit is joined only on request: an unchanged repeat needs only its id
    # (``row.unit_id``), and loading a wide Unit row cost more than the rest of its queries.
    rows = EnrollmentToken.objects.select_related("unit") if with_unit else EnrollmentToken.objects
    try:
        row = rows.get(token_hash=hash_token(token))
    except EnrollmentToken.DoesNotExist:
        raise TokenRejected(401, _("缺少或无效的注册令牌。")) from None
    if row.revoked is not None:
        raise TokenRejected(403, _("注册令牌已被撤销。"))
    if row.expires <= (now or timezone.now()):
        raise TokenRejected(403, _("注册令牌已过期。"))
    return row


def touch_token(row: EnrollmentToken, *, now: datetime.datetime | None = None) -> None:
    """Record use at most once a minute, so busy tokens do not turn every ingest into a
    write on one hot row."""
    now = now or timezone.now()
    if row.last_used is None or now - row.last_used > datetime.timedelta(minutes=1):
        EnrollmentToken.objects.filter(pk=row.pk).update(last_used=now)


# --------------------------------------------------------------------------- recognition


def platform_of(os_name: str) -> str:
    name = os_name.lower()
    if "windows" in name:
        return "windows"
    if "mac" in name or "darwin" in name:
        return "macos"
    return "linux" if name else ""


def raw_key(name: str, publisher: str, version: str, platform: str) -> str:
    return hashlib.sha1(
        "\x1f".join((name, publisher, version, platform)).encode("utf-8", "surrogatepass"),
        usedforsecurity=False,
    ).hexdigest()


# An inventory repeats the keys of the fleet's other devices: each is hashed once.
_raw_key_memo = lru_cache(maxsize=32768)(raw_key)

RawKey = tuple[str, str, str, str]  # name, publisher, version, platform

# Raw key → product id, and product key → id, per recogniser: get_recogniser() builds a new
# one whenever the catalog's revision changes, so the ids it holds stay valid as long as it
# lives. A fleet's inventories repeat each other's keys: each is recognised once.
_memos: weakref.WeakKeyDictionary[Any, tuple[dict[RawKey, int | None], dict[str, int | None]]] = (
    weakref.WeakKeyDictionary()
)
KEY_MEMO_MAX = 200_000
_UNSEEN = object()


def recognise_products(*, unit_id: int | None, keys: Iterable[RawKey]) -> dict[RawKey, int | None]:
    """Catalog product id (or None) for each distinct raw (name, publisher, version,
    platform) key. The only place inventory calls the catalog's recogniser."""
    from zhengban.catalog.models import Product
    from zhengban.catalog.services import get_recogniser

    keys = keys if isinstance(keys, list) else list(keys)
    if not keys:
        return {}
    recogniser = get_recogniser(unit_id)
    # A unit's own rules come layered over the shared ones, in a new object per call: its
    # own recogniser (rebuilt with the revision like the shared one) keys the memo then.
    owner = getattr(recogniser, "own", recogniser)
    memo, ids = _memos.get(owner) or _memos.setdefault(owner, ({}, {}))
    # Read once: another thread may clear the memo meanwhile (threaded servers). Keys are
    # not made distinct first: a repeated key is only looked up again, and only the few
    # missing ones need to be distinct.
    result: dict[RawKey, int | None] = {}
    missing = []
    for key in keys:
        value = memo.get(key, _UNSEEN)
        if value is _UNSEEN:
            missing.append(key)
        else:
            result[key] = value
    if missing:
        missing = list(dict.fromkeys(missing))
        found = {key: recogniser.recognise(*key).product for key in missing}
        unknown = {p for p in found.values() if p and p not in ids}
        if unknown:
            known = dict(Product.objects.filter(key__in=unknown).values_list("key", "pk"))
            ids.update({p: known.get(p) for p in unknown})
        new = {key: ids.get(p) if p else None for key, p in found.items()}
        if len(memo) + len(new) > KEY_MEMO_MAX:
            memo.clear()  # crude but O(1) per key; a fleet's keys refill it fast
        memo.update(new)
        result.update(new)
    return result


# --------------------------------------------------------------------------- matching

RANK_AGENT_ID = 1
RANK_UUID_AND_SERIAL = 2
RANK_UUID = 3
RANK_SERIAL = 4
RANK_UNIVERSAL_MAC = 5
RANK_LOCAL_MAC_AND_HOSTNAME = 6
RANK_HOSTNAME_ONLY = 7


def _same_uuid(device: Device, doc: d.InventoryDocument) -> bool:
    """Equal, or equal but for the byte order of the first three fields when the BIOS
    serials agree (one machine read by Windows and by dmidecode on older firmware)."""
    if not doc.hardware_uuid or not device.hardware_uuid:
        return False
    if doc.hardware_uuid == device.hardware_uuid:
        return True
    return (
        bool(doc.serial_number)
        and doc.serial_number == device.serial_number
        and d.uuid_swapped(doc.hardware_uuid) == device.hardware_uuid
    )


def _conflicts(device: Device, doc: d.InventoryDocument) -> bool:
    """Both sides know a hardware id and they differ: certainly another machine."""
    if doc.hardware_uuid and device.hardware_uuid and not _same_uuid(device, doc):
        return True
    return bool(
        doc.serial_number and device.serial_number and doc.serial_number != device.serial_number
    )


def _cloned_without_ids(device: Device, macs: set[str], doc: d.InventoryDocument) -> bool:
    """Same agent id, no hardware id on either side, and burnt-in MACs on both sides that
    share nothing: a disk image (GHOST) copied the agent's id to another machine whose
    firmware only has placeholders. Without this the two machines took turns being one
    device, each report undoing the other's software."""
    if doc.hardware_uuid or doc.serial_number or device.hardware_uuid or device.serial_number:
        return False
    # A clone is renamed; one machine reporting another card (a dock, a USB adapter, a
    # replaced NIC) keeps its name.
    if not doc.hostname or not device.hostname:
        return False
    if doc.hostname.casefold() == device.hostname.casefold():
        return False
    ours = {m for m in macs if d.mac_is_universal(m)}
    theirs = {m for m in doc.macs or () if d.mac_is_universal(m)}
    return bool(ours) and bool(theirs) and ours.isdisjoint(theirs)


def _rank(device: Device, macs: set[str], doc: d.InventoryDocument) -> int | None:
    if _conflicts(device, doc):
        return None
    if doc.agent_device_id and device.agent_device_id == doc.agent_device_id:
        if _cloned_without_ids(device, macs, doc):
            return None
        return RANK_AGENT_ID
    uuid_eq = _same_uuid(device, doc)
    serial_eq = bool(doc.serial_number) and device.serial_number == doc.serial_number
    if uuid_eq and serial_eq:
        return RANK_UUID_AND_SERIAL
    if uuid_eq:
        return RANK_UUID
    if serial_eq:
        return RANK_SERIAL
    shared = macs.intersection(doc.macs or ())
    if any(d.mac_is_universal(m) for m in shared):
        return RANK_UNIVERSAL_MAC
    same_name = bool(doc.hostname) and device.hostname.casefold() == doc.hostname.casefold()
    if shared and same_name:
        return RANK_LOCAL_MAC_AND_HOSTNAME
    if same_name and not _has_identity(doc):
        return RANK_HOSTNAME_ONLY
    return None


def _has_identity(doc: d.InventoryDocument) -> bool:
    return bool(doc.agent_device_id or doc.hardware_uuid or doc.serial_number or doc.macs)


CANDIDATE_LIMIT = 100


def find_candidates(*, unit: Unit, document: d.InventoryDocument, lock: bool = False) -> list:
    """Devices of ``unit`` sharing any identifier with the document, ranked best first, as
    (rank, device) pairs; devices that conflict or share too little are left out."""
    return _candidates(unit, document, lock)[0]


def _candidates(
    unit: Unit, document: d.InventoryDocument, lock: bool
) -> tuple[list[tuple[int, Device]], list[Device]]:
    """``find_candidates``, and every device the query read (conflicting ones too: the
    ingest needs to know whether one of them holds the document's agent id)."""
    if _has_identity(document):
        devices = _candidate_devices(unit, document, lock)
    else:
        devices = _candidate_devices_orm(unit, document, lock)
    macs_by_device: dict[int, set[str]] = defaultdict(set)
    if document.macs and devices:
        # A statement of its own, after the one that locked the devices: at READ COMMITTED
        # it sees what a transaction that held a device before us wrote, which a subquery
        # of the locking statement would not. ``_sync_macs`` reuses the rows.
        rows: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
        for device_id, mac, pk, unit_id in DeviceMAC.objects.filter(
            device_id__in=[x.pk for x in devices]
        ).values_list("device_id", "mac", "pk", "unit_id"):
            macs_by_device[device_id].add(mac)
            rows[device_id].append((mac, pk, unit_id))
        for device in devices:
            device._mac_rows = rows[device.pk]
    ranked = []
    for position, device in enumerate(devices):
        rank = _rank(device, macs_by_device[device.pk], document)
        if rank is not None:
            ranked.append((rank, position, device))
    # Within a rank, devices in service first: a retired duplicate left beside the live
    # record must not be the one a report reinstates (or an import is refused on).
    ranked.sort(key=lambda item: (item[0], item[2].retired is not None, item[1]))
    return [(rank, device) for rank, _pos, device in ranked], devices


def _candidate_devices(unit: Unit, document: d.InventoryDocument, lock: bool) -> list[Device]:
    """The devices of ``unit`` sharing a hardware identifier with the document, those
    sharing an id before those sharing only a MAC, newest report first: the query
    ``_candidate_devices_orm`` builds (for documents without ids) written out, because
    compiling it cost the ORM about a millisecond, twice per inventory."""
    qn = connection.ops.quote_name
    devices_table = qn(Device._meta.db_table)
    conditions: list[str] = []
    params: list[Any] = [getattr(unit, "pk", unit)]
    for column, value in (
        ("agent_device_id", document.agent_device_id),
        ("hardware_uuid", document.hardware_uuid),
        ("serial_number", document.serial_number),
    ):
        if value:
            condition = f"{qn(column)} = %s"
            if column == "agent_device_id":
                # Always true here; SQLite uses the partial unique index (the only one on
                # the agent id) only when the query repeats the index's condition.
                condition = f"({condition} AND NOT ({qn(column)} = ''))"
            conditions.append(condition)
            params.append(value)
    # Devices sharing an id rather than only a MAC come first, the agent id's first of all,
    # as _rank orders them: a MAC that many machines of the unit share (a VPN's virtual
    # adapter) must not push the device out of the limit.
    strong, strong_params = [f"({c}) DESC" for c in conditions], params[1:]
    if document.macs:
        marks = ", ".join(["%s"] * len(document.macs))
        macs = (
            f"SELECT {qn('device_id')} FROM {qn(DeviceMAC._meta.db_table)} "
            f"WHERE {qn('unit_id')} = %s AND {qn('mac')} IN ({marks})"
        )
        if connection.vendor == "postgresql":
            # As an array computed first, the MACs' devices are one more arm of a bitmap OR
            # over the indexes; "id IN (subquery)" made PostgreSQL read every device of the
            # unit and test each (34 ms against 0.5 in a unit of 10,000 devices).
            conditions.append(f"{qn('id')} = ANY(ARRAY({macs}))")
        else:
            conditions.append(f"{qn('id')} IN ({macs})")
        params.append(params[0])
        params.extend(document.macs)
    order = f"{qn('last_seen')} DESC, {qn('id')} ASC"
    if strong and document.macs:
        order = f"{', '.join(strong)}, {order}"
        params.extend(strong_params)
    sql = (
        f"SELECT * FROM {devices_table} WHERE {qn('unit_id')} = %s "
        f"AND ({' OR '.join(conditions)}) ORDER BY {order} LIMIT {CANDIDATE_LIMIT}"
    )
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return list(Device.objects.raw(sql, params))


def _candidate_devices_orm(unit: Unit, document: d.InventoryDocument, lock: bool) -> list[Device]:
    q = Q()
    if document.agent_device_id:
        q |= Q(agent_device_id=document.agent_device_id)
    if document.hardware_uuid:
        q |= Q(hardware_uuid=document.hardware_uuid)
    if document.serial_number:
        q |= Q(serial_number=document.serial_number)
    if document.macs:
        q |= Q(
            pk__in=DeviceMAC.objects.filter(unit=unit, mac__in=document.macs).values("device_id")
        )
    if document.hostname and not _has_identity(document):
        # Only imports without any hardware id fall back on the name (RANK_HOSTNAME_ONLY);
        # the MAC + host name rule finds its candidates through the MACs.
        q |= Q(hostname__iexact=document.hostname)
    if not q:
        return []
    qs = Device.objects.filter(unit=unit).filter(q).order_by("-last_seen", "pk")
    if lock:
        qs = qs.select_for_update()
    return list(qs[:CANDIDATE_LIMIT])


# --------------------------------------------------------------------------- ingest


@dataclass
class IngestResult:
    device: Device
    created: bool = False
    unchanged: bool = False
    installed: int = 0
    removed: int = 0
    version_changed: int = 0
    report: InventoryReport | None = None
    match_rank: int | None = None


def payload_hash(body: bytes, content_type: str = "") -> str:
    """Digest of a body as received, with its media type (the same bytes sent as another
    type are another request): a byte-identical repeat is found before inflating it."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return hashlib.sha256(media.encode("ascii", "replace") + b"\n" + body).hexdigest()


def touch_unchanged_for_token(
    *, token: str, digest: str, received: datetime.datetime | None = None
) -> bool | None:
    """A byte-identical repeat, before anything else: if ``token`` is live and a device of
    its unit last sent exactly the body of ``digest``, move that device's last_seen (and the
    token's last_used, at most once a minute): True. False if the token is live and no
    device was touched; None if the token is not live (missing, unknown, revoked, expired).
    Nothing is written unless True: the caller then checks the token properly (401/403),
    reading nothing of the body before it is known to be live.

    On PostgreSQL this is one statement, committed without waiting for the WAL flush (see
    ``_heartbeat_commit``); elsewhere the same steps through the ORM.
    """
    touched = _touch_for_token(token, {"payload_hash": digest}, {}, received)
    return None if touched is None else touched > 0


def touch_unchanged_agent_for_token(
    *,
    token: str,
    document: d.InventoryDocument,
    software_digest: str,
    digest: str,
    received: datetime.datetime | None = None,
) -> bool:
    """An agent's unchanged inventory whose body differs in volatile fields only (uptime,
    free disk space, boot time: what the OCS, FusionInventory and GLPI agents send every
    day), found with one statement: ``document`` is the body read without its software
    entries (``parsers.parse_xml_quick`` or ``parse_json_quick``), ``software_digest`` its
    software's digest. If
    ``token`` is live and the device of its unit holding the document's agent id last
    stored exactly these facts and this software section (its quick key), move that
    device's last_seen, remember the body's ``digest`` (the same body sent again is then a
    byte-identical repeat) and the token's use: True. False otherwise, with nothing written.

    This is ``touch_unchanged_software`` without ranking candidates, and touches the very
    device it would: an agent id ranks first and is unique in its unit, and an equal key
    means the device's hardware ids are the document's, so it cannot conflict with them.
    """
    key = document.quick_key(software_digest)
    if not key or not document.agent_device_id:
        return False
    touched = _touch_for_token(
        token,
        {"agent_device_id": document.agent_device_id, "quick_key": key},
        {"payload_hash": digest},
        received,
    )
    return bool(touched)


def _touch_for_token(
    token: str,
    where: dict[str, str],
    also: dict[str, str],
    received: datetime.datetime | None,
) -> int | None:
    """If ``token`` is live, move last_seen of the devices of its unit whose columns equal
    ``where``, set ``also`` on them, and record the token's use (at most once a minute).
    The number of devices touched (nothing is written if none), or None if the token is
    not live."""
    if not all(where.values()):
        # An empty value would match every device that never had one (imported devices).
        raise ValueError(f"empty device condition: {where}")
    if not token or len(token) > 128:
        return None
    now = received or timezone.now()
    if connection.vendor != "postgresql":
        try:
            row = resolve_token(token, now=now)
        except TokenRejected:
            return None
        # A retired device's report takes the full path, which reinstates it.
        devices = Device.objects.filter(unit_id=row.unit_id, retired__isnull=True, **where)
        if "agent_device_id" in where:
            devices = devices.exclude(agent_device_id="")  # SQLite's partial unique index
        touched = devices.update(last_seen=Greatest(F("last_seen"), Value(now)), **also)
        if touched:
            touch_token(row, now=now)
        return touched
    qn = connection.ops.quote_name
    tokens = qn(EnrollmentToken._meta.db_table)
    devices = qn(Device._meta.db_table)
    # Column names from this module's own literals, values as parameters.
    # A retired device's report takes the full path, which reinstates it.
    conditions = f" AND {qn('retired')} IS NULL"
    conditions += "".join(f" AND {qn(column)} = %s" for column in where)
    if "agent_device_id" in where:
        conditions += f" AND NOT ({qn('agent_device_id')} = '')"  # the partial unique index
    assignments = "".join(f", {qn(column)} = %s" for column in also)
    sql = f"""
        WITH t AS (
            SELECT id, unit_id FROM {tokens}
            WHERE token_hash = %s AND revoked IS NULL AND expires > %s
        ), d AS (
            UPDATE {devices} SET last_seen = GREATEST(last_seen, %s){assignments}
            WHERE unit_id = (SELECT unit_id FROM t){conditions}
            RETURNING 1
        ), u AS (
            UPDATE {tokens} SET last_used = %s
            WHERE id = (SELECT id FROM t) AND EXISTS (SELECT 1 FROM d)
              AND (last_used IS NULL OR last_used < %s)
            RETURNING 1
        )
        SELECT count(*), (SELECT count(*) FROM t),
               set_config('synchronous_commit', 'off', true)
        FROM d
    """
    params = [
        hash_token(token),
        now,
        now,
        *also.values(),
        *where.values(),
        now,
        now - datetime.timedelta(minutes=1),
    ]
    if connection.in_atomic_block:
        # Inside a caller's transaction: its commit must stay synchronous.
        sql = sql.replace("set_config('synchronous_commit', 'off', true)", "''")
    # Outside one, the statement is its own transaction, and set_config() makes its commit
    # skip the WAL flush as _heartbeat_commit() does: one round trip, not four. Prepared:
    # parsing and planning it cost as much as running it.
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        touched, live, _setting = cursor.fetchone()
    return touched if live else None


def touch_unchanged_software(
    *,
    unit: Unit,
    document: d.InventoryDocument,
    software_digest: str,
    digest: str = "",
    received: datetime.datetime | None = None,
) -> bool | None:
    """``document`` is an inventory read without its software entries
    (``parsers.parse_xml_quick``) and ``software_digest`` its software section's digest. If
    the device it matches last stored exactly these facts and this software section, move
    its last_seen (and remember the body's ``digest``): True. Otherwise the caller parses
    the whole body and ingests it: None if no device of ``unit`` matches the document (its
    first inventory, as far as this unlocked read saw), else False."""
    key = document.quick_key(software_digest)
    if not key:
        return False
    candidates = find_candidates(unit=unit, document=document)
    if not candidates:
        return None
    device = candidates[0][1]
    if device.quick_key != key or device.retired is not None:
        return False  # a retired device's report takes the full path, which reinstates it
    received = received or timezone.now()
    with transaction.atomic():
        _heartbeat_commit()
        # The key is checked again in the UPDATE: a concurrent inventory may have changed it.
        updated = Device.objects.filter(pk=device.pk, quick_key=key, retired__isnull=True).update(
            last_seen=Greatest(F("last_seen"), Value(received)), payload_hash=digest
        )
    return updated > 0


def ingest_xml(
    *,
    unit: Unit,
    payload: bytes,
    user_agent: str = "",
    digest: str = "",
    received: datetime.datetime | None = None,
    quick: tuple[parsers.XmlRequest, str] | None | object = parsers.UNREAD,
) -> parsers.XmlRequest:
    """A FusionInventory/OCS XML body (inflated): PROLOG requests are only parsed;
    inventories are stored (``ingest_inventory``), unless the device's last inventory had
    the same facts and the same raw software section, which is found without parsing the
    software entries and only moves last_seen. ``quick``: ``parsers.parse_xml_quick``'s
    result for this payload, if the caller has it. Raises ``parsers.InventoryError``."""
    if quick is parsers.UNREAD:
        quick = parsers.parse_xml_quick(payload, user_agent=user_agent)
    seen_new: d.InventoryDocument | None = None  # the head no device matched, if any
    if isinstance(quick, tuple):
        head, software_digest = quick
        assert head.document is not None
        touched = touch_unchanged_software(
            unit=unit,
            document=head.document,
            software_digest=software_digest,
            digest=digest,
            received=received,
        )
        if touched:
            return head
        if touched is None:
            seen_new = head.document
    request = parsers.parse_xml(payload, user_agent=user_agent, quick=quick)
    if request.document is not None:
        ingest_inventory(
            unit=unit,
            document=request.document,
            digest=digest,
            received=received,
            # The head is read without what lies between software entries: the unlocked
            # read matched it only if the whole document names the same machine.
            _seen_new=seen_new is not None and _same_identity(seen_new, request.document),
        )
    return request


def _same_identity(head: d.InventoryDocument, doc: d.InventoryDocument) -> bool:
    return (
        head.agent_device_id,
        head.hardware_uuid,
        head.serial_number,
        head.macs,
        head.hostname,
    ) == (doc.agent_device_id, doc.hardware_uuid, doc.serial_number, doc.macs, doc.hostname)


def _heartbeat_commit() -> None:
    """In a transaction that only moves ``last_seen`` (an unchanged repeat): on PostgreSQL,
    commit without waiting for the WAL flush. A crash can then lose the last fraction of a
    second of such heartbeats (the agent reports again), never an inventory; the flush was
    most of an unchanged repeat's cost."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def ingest_inventory(
    *,
    unit: Unit,
    document: d.InventoryDocument,
    received: datetime.datetime | None = None,
    actor: User | None = None,
    message: str = "",
    digest: str = "",
    _seen_new: bool = False,
) -> IngestResult:
    """Store one inventory for a device of ``unit``: one transaction, all or nothing.

    The first inventory of a device is its baseline (no events); later ones record what was
    installed, removed or changed version. An inventory identical to the last one stored
    only moves ``last_seen``. ``actor`` is the person behind an import, if any.

    ``_seen_new`` (``ingest_xml``): a read just before found no device for the document.
    With an agent id, whose uniqueness per unit the database guards, the device is then
    created without reading candidates again; a concurrent first inventory of the same
    agent makes the insert fail, and the retry reads them. On PostgreSQL a document with
    hardware ids is read once all the same, under their locks (``_lock_identity``): another
    agent of the machine holds other agent ids.
    """
    if not _has_identity(document) and not document.hostname:
        # Nothing to find the machine by next time: every send would enrol it again.
        raise parsers.InventoryError(
            "deviceid",
            _("清单中没有任何可识别终端的信息（deviceid、UUID、序列号、MAC 地址或计算机名）。"),
        )
    received = received or timezone.now()
    doc_hash = document.content_hash()
    skip_match = _seen_new and bool(document.agent_device_id)
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _ingest(
                    unit, document, doc_hash, received, actor, message, digest, skip_match
                )
        except IntegrityError as exc:
            # Two first inventories of one agent raced; the loser retries and now finds
            # the device the winner created. Any other violation (a CHECK, a reference)
            # would only fail again.
            if attempt == 2 or not _is_unique_violation(exc):
                raise
            skip_match = False
        except OperationalError as exc:
            # Another writer (a catalog re-apply, a product edit, a re-inventory of the
            # same device) took the same locks in the other order and PostgreSQL aborted
            # this transaction: nothing of it was written, and the next attempt, which
            # reads everything again, goes through once the other has committed. Not
            # within a caller's transaction (an import): its earlier locks would be part
            # of the same cycle again.
            if (
                attempt == 2
                or connection.in_atomic_block
                or getattr(exc.__cause__, "sqlstate", None) not in RETRY_SQLSTATES
            ):
                raise
            skip_match = False
    raise AssertionError("unreachable")


def _is_unique_violation(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate == "23505"
    return "UNIQUE constraint failed" in str(exc)  # SQLite's message; it has no SQLSTATE


# Deadlock detected, serialization failure: the transaction was rolled back whole.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})


_DEVICE_FIELDS = (
    "hostname",
    "device_type",
    "manufacturer",
    "model",
    "cpu",
    "memory_mb",
    "last_user",
)


def _ingest(
    unit: Unit,
    doc: d.InventoryDocument,
    doc_hash: str,
    received: datetime.datetime,
    actor: User | None,
    message: str,
    digest: str,
    skip_match: bool = False,
) -> IngestResult:
    candidates, fetched = ([], []) if skip_match else _candidates(unit, doc, True)
    quick_key = doc.quick_key()
    # Agents only: an import runs every machine of its file in the caller's transaction,
    # so it would hold one lock per new machine until the whole file commits (the server's
    # lock table holds a few thousand) and two imports could deadlock on them.
    if not candidates and actor is None and _lock_identity(unit, doc):
        # Another agent of the same machine (FusionInventory and OCS both installed) may
        # have created its device meanwhile: with the document's identifiers locked, such
        # a device has been committed, and this read sees it.
        candidates, fetched = _candidates(unit, doc, True)
    if not candidates:
        moved_away, namesake = _first_inventory_probe(unit, doc)
        if moved_away:
            # Before any namesake: a machine handed away is not taken back through a record
            # of the same name.
            _refuse_moved_away(unit, doc)
        if namesake is not None:
            candidates = [(RANK_HOSTNAME_ONLY, namesake)]
    created = not candidates
    reinstated = False
    if created:
        device = Device(unit=unit, first_seen=received, last_seen=received)
        rank = None
    else:
        rank, device = candidates[0]
        if actor is not None:
            _refuse_import_over_agent(device, doc, received)
            _refuse_import_of_retired(device)
        elif device.retired is not None:
            # An agent reporting means the machine is in use: nobody hides it from
            # licensing by retiring it. The full path follows (INVENTORY_INGESTED).
            _reinstate(device, actor=None, message=_("退役终端再次上报，自动恢复在用"))
            reinstated = True
        if device.inventory_hash == doc_hash and actor is None and not reinstated:
            touched: dict[str, Any] = {}
            if received > device.last_seen:
                touched["last_seen"] = device.last_seen = received
            if digest != device.payload_hash:
                touched["payload_hash"] = device.payload_hash = digest
            if quick_key != device.quick_key:
                touched["quick_key"] = device.quick_key = quick_key
            if touched:
                _heartbeat_commit()
                Device.objects.filter(pk=device.pk).update(**touched)
            return IngestResult(device=device, unchanged=True, match_rank=rank)
    before = None if created or actor is None else audit.snapshot(device)
    old_platform = None if created else platform_of(device.os_name)

    for name in _DEVICE_FIELDS:
        value = getattr(doc, name)
        if value not in (None, ""):
            setattr(device, name, value)
    if doc.hardware_uuid:
        device.hardware_uuid = doc.hardware_uuid
    if doc.serial_number:
        device.serial_number = doc.serial_number
    if doc.agent_device_id and device.agent_device_id != doc.agent_device_id:
        # A cloned image can carry another machine's agent id: keep ids unique per unit.
        # The candidates' query read every device holding it, unless it hit its limit.
        taken = any(
            other.agent_device_id == doc.agent_device_id for other in fetched if other is not device
        ) or (
            len(fetched) >= CANDIDATE_LIMIT
            and Device.objects.filter(unit=unit, agent_device_id=doc.agent_device_id)
            .exclude(pk=device.pk)
            .exists()
        )
        if not taken:
            device.agent_device_id = doc.agent_device_id
    if doc.os is not None:
        device.os_name = doc.os.name[:255]
        device.os_version = doc.os.version[:100]
        device.os_arch = doc.os.arch
        if doc.os.edition:
            device.os_edition = doc.os.edition[:100]
        if doc.os.product_id:
            device.os_product_id = doc.os.product_id
        if doc.os.partial_key:
            device.os_partial_key = doc.os.partial_key
        if doc.os.activation:
            device.os_activation = doc.os.activation
    device.last_source = doc.source
    device.last_agent = doc.agent
    device.last_seen = max(device.last_seen, received)
    device.inventory_hash = doc_hash
    device.payload_hash = digest
    device.quick_key = quick_key
    device.save()

    if doc.macs is not None:
        _sync_macs(device, doc.macs, new_device=created, rows=getattr(device, "_mac_rows", None))

    result = IngestResult(device=device, created=created, match_rank=rank)
    report = InventoryReport(
        device=device,
        received=received,
        source=doc.source,
        agent=doc.agent,
        partial=doc.partial,
        software_count=len(doc.software) if doc.software is not None else 0,
    )
    changes = _diff_installations(device, doc, received, created)
    result.installed = report.installed = len(changes.installed)
    result.removed = report.removed = len(changes.removed)
    result.version_changed = report.version_changed = len(changes.changed)
    report.save()
    result.report = report
    _write_changes(device, doc, changes, report, received)
    if old_platform is not None and old_platform != platform_of(device.os_name):
        _rekey_installations(device)
    if actor is not None:
        audit.record(
            actor=actor,
            action=AuditAction.IMPORT,
            obj=device,
            before=before,
            after=audit.snapshot(device),
            message=message
            or _("导入软件清单：新增 %(i)d，卸载 %(r)d，版本变更 %(c)d")
            % {"i": result.installed, "r": result.removed, "c": result.version_changed},
        )
    # Higher layers react inside this transaction (licensing recomputes the unit's verdicts,
    # governance raises violations and matches approved requests): all or nothing.
    hooks.fire(hooks.INVENTORY_INGESTED, device=device, report=report)
    return result


STRONG_RANKS = frozenset({RANK_AGENT_ID, RANK_UUID_AND_SERIAL, RANK_UUID, RANK_SERIAL})

IMPORT_SOURCES = frozenset({InventorySource.SPREADSHEET, InventorySource.REGFILE})
# An agent that reported within this many days owns its device's software list.
AGENT_AUTHORITY_DAYS = 30


def _first_inventory_probe(unit: Unit, doc: d.InventoryDocument) -> tuple[bool, Device | None]:
    """What an inventory that matched no device of ``unit`` must still be checked for, in
    one statement (almost every first inventory is neither, and each check alone cost a
    round trip and the ORM's compilation):

    - whether a device moved away from ``unit`` shares its agent id, UUID or serial
      (``_refuse_moved_away`` then decides, on the strong ranks);
    - the one device of ``unit`` imported under the document's host name and known by
      nothing else (no agent id, UUID or serial), which an agent reporting that name takes
      over: units import a machine's list first and install the agent later. It is
      returned locked. A retired one is not: a new machine often keeps the scrapped
      one's name."""
    qn = connection.ops.quote_name
    device_table = qn(Device._meta.db_table)
    parts: list[str] = []
    params: list[Any] = []
    conditions = [
        f"d.{qn(column)} = %s"
        for column, value in (
            ("agent_device_id", doc.agent_device_id),
            ("hardware_uuid", doc.hardware_uuid),
            ("serial_number", doc.serial_number),
        )
        if value
    ]
    if conditions:
        parts.append(
            f"SELECT * FROM (SELECT 0 AS k, d.{qn('id')} AS i "
            f"FROM {qn(DeviceMove._meta.db_table)} m "
            f"JOIN {device_table} d ON d.{qn('id')} = m.{qn('device_id')} "
            f"WHERE m.{qn('from_unit_id')} = %s AND d.{qn('unit_id')} <> %s "
            f"AND ({' OR '.join(conditions)}) LIMIT 1) moved"
        )
        params += [unit.pk, unit.pk]
        params += [v for v in (doc.agent_device_id, doc.hardware_uuid, doc.serial_number) if v]
    if doc.hostname and doc.source not in IMPORT_SOURCES:
        # UPPER on both sides, as Django's iexact compares on PostgreSQL.
        parts.append(
            f"SELECT * FROM (SELECT 1 AS k, d.{qn('id')} AS i FROM {device_table} d "
            f"WHERE d.{qn('unit_id')} = %s AND d.{qn('agent_device_id')} = '' "
            f"AND d.{qn('hardware_uuid')} = '' AND d.{qn('serial_number')} = '' "
            f"AND d.{qn('last_source')} IN (%s, %s) AND d.{qn('retired')} IS NULL "
            f"AND UPPER(d.{qn('hostname')}) = UPPER(%s) LIMIT 2) namesakes"
        )
        params += [unit.pk, *sorted(IMPORT_SOURCES), doc.hostname]
    if not parts:
        return False, None
    # Prepared (PostgreSQL): planning the two arms cost more than running them.
    with prepared_cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    moved = any(k == 0 for k, _i in rows)
    namesakes = [i for k, i in rows if k == 1]
    if len(namesakes) != 1:
        return moved, None
    # Read again under its lock, on the same terms: an import, another agent, a rename or a
    # move may have changed it meanwhile.
    taken = (
        Device.objects.select_for_update()
        .filter(
            pk=namesakes[0],
            unit=unit,
            agent_device_id="",
            hardware_uuid="",
            serial_number="",
            last_source__in=IMPORT_SOURCES,
            retired__isnull=True,
            hostname__iexact=doc.hostname,
        )
        .first()
    )
    return moved, taken


# A document's MACs locked at most, burnt-in ones first: a container host reports one
# locally administered MAC per container, and each advisory lock takes a slot of the
# server's shared lock table (max_locks_per_transaction slots per connection, on average).
MAX_MAC_LOCKS = 16


def identity_lock_keys(unit_id: int, doc: d.InventoryDocument) -> list[int]:
    """The advisory lock keys of the hardware identifiers by which ``doc`` can match
    another agent's device of the unit, sorted: the UUID, the serial, each burnt-in MAC
    (rule 3) and each locally administered MAC with the host name (rule 4). MACs count
    even beside a serial: an agent without dmidecode on the same machine reports only
    those. The agent id needs none: the unique constraint guards it.

    64 bits of BLAKE2b of the unit and the identifier: the same in every worker and
    across restarts (``hash()`` is salted per process) and under our control (PostgreSQL's
    ``hashtext`` is internal and 32-bit). A collision only makes two first inventories
    wait for each other."""
    names = []
    if doc.hardware_uuid:
        names.append(f"uuid\x1f{doc.hardware_uuid}")
    if doc.serial_number:
        names.append(f"serial\x1f{doc.serial_number}")
    hostname = (doc.hostname or "").casefold()
    macs = sorted(doc.macs or (), key=lambda mac: (not d.mac_is_universal(mac), mac))
    for mac in macs[:MAX_MAC_LOCKS]:
        if d.mac_is_universal(mac):
            names.append(f"mac\x1f{mac}")
        elif hostname:
            names.append(f"mac\x1f{mac}\x1f{hostname}")
    keys = set()
    for name in names:
        digest = hashlib.blake2b(
            f"zhengban.device\x1f{unit_id}\x1f{name}".encode("utf-8", "surrogatepass"),
            digest_size=8,
        ).digest()
        keys.add(int.from_bytes(digest, "big", signed=True))
    return sorted(keys)


def _lock_identity(unit: Unit, doc: d.InventoryDocument) -> bool:
    """Before a first inventory creates a device (PostgreSQL): wait for every other
    transaction holding one of the document's identifiers (``identity_lock_keys``), and
    hold them until commit. Nothing locks a device that does not exist yet, so two agents
    of one machine sending their first reports at once each found no device and each
    created one. True if locks were taken: the caller reads the candidates again, in a
    statement of its own (at READ COMMITTED it then sees what the holder committed).

    One statement, the keys in order: two first inventories sharing several identifiers
    never wait for each other crosswise. (The first read also locked the devices it found
    but could not match; a first inventory that waits for such a row while holding a key
    this one waits for is a deadlock, which PostgreSQL breaks and ``ingest_inventory``
    retries.) SQLite has one writer at a time."""
    if connection.vendor != "postgresql":
        return False
    keys = identity_lock_keys(unit.pk, doc)
    if not keys:
        return False
    # ORDER BY: PostgreSQL calls a volatile function of the select list after sorting.
    with prepared_cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k", [keys]
        )
    return True


def _refuse_import_over_agent(
    device: Device, doc: d.InventoryDocument, received: datetime.datetime
) -> None:
    """An import names a device whose agent still reports: the agent's list is the
    complete one, and an import over it would only be undone (with false events both
    times) at its next report."""
    if doc.source not in IMPORT_SOURCES or device.last_source in IMPORT_SOURCES:
        return
    if device.last_seen < received - datetime.timedelta(days=AGENT_AUTHORITY_DAYS):
        return  # the agent has gone quiet: the import is now the best list there is
    raise parsers.InventoryError(
        "hostname",
        _(
            "该终端由客户端上报（最近一次 %(date)s），软件清单以客户端为准，不能用导入覆盖；"
            "客户端停止上报 %(days)d 天后方可导入。"
        )
        % {
            "date": timezone.localtime(device.last_seen).strftime("%Y-%m-%d"),
            "days": AGENT_AUTHORITY_DAYS,
        },
        status=409,
    )


def _refuse_import_of_retired(device: Device) -> None:
    """An import names a retired device: a person's file may be an old one, so it does not
    bring the machine back by itself (an agent's report does); an officer reinstates it
    first, on the device's page."""
    if device.retired is None:
        return
    raise parsers.InventoryError(
        "hostname",
        _(
            "终端“%(name)s”已于 %(date)s 退役，不能导入其软件清单；如仍在使用，请先在终端页面恢复在用。"
        )
        % {"name": device, "date": timezone.localtime(device.retired).strftime("%Y-%m-%d")},
        status=409,
    )


def _refuse_moved_away(unit: Unit, doc: d.InventoryDocument) -> None:
    """An inventory that matches no device of ``unit`` but one moved away from it (by agent
    id, hardware UUID or serial) comes from an agent still holding the old unit's token:
    refuse it rather than enrol the machine a second time in the unit that gave it away.
    Called when ``_first_inventory_probe`` found such a move."""
    q = Q()
    for column, value in (
        ("agent_device_id", doc.agent_device_id),
        ("hardware_uuid", doc.hardware_uuid),
        ("serial_number", doc.serial_number),
    ):
        if value:
            q |= Q(**{f"device__{column}": value})
    if not q:
        return
    moves = (
        DeviceMove.objects.filter(q, from_unit=unit)
        .exclude(device__unit=unit)
        .select_related("device__unit")
        .order_by("-moved", "-pk")[:CANDIDATE_LIMIT]
    )
    for move in moves:
        if _rank(move.device, set(), doc) in STRONG_RANKS:
            raise parsers.InventoryError(
                "token",
                _(
                    "该终端已于 %(date)s 移交到“%(unit)s”，本单位不能再上报它；"
                    "请改用新单位的注册令牌，或在新单位导入。"
                )
                % {
                    "date": timezone.localtime(move.moved).strftime("%Y-%m-%d"),
                    "unit": move.device.unit,
                },
                status=403,
            )


def _rekey_installations(device: Device) -> None:
    """The device changed OS family (re-imaged): recognise the installs it kept again with
    the new platform, so every install's raw key and product follow its device's platform."""
    platform = platform_of(device.os_name)
    rows = list(
        Installation.objects.filter(device=device).values_list(
            "pk", "name", "publisher", "version", "raw_key", "product_id"
        )
    )
    stale = [r for r in rows if r[4] != raw_key(r[1], r[2], r[3], platform)]
    products = recognise_products(
        unit_id=device.unit_id, keys=[(r[1], r[2], r[3], platform) for r in stale]
    )
    updates = [
        Installation(
            pk=pk,
            raw_key=raw_key(name, publisher, version, platform),
            product_id=products.get((name, publisher, version, platform)),
        )
        for pk, name, publisher, version, _key, _product in stale
    ]
    Installation.objects.bulk_update(updates, ["raw_key", "product_id"], batch_size=500)


def _sync_macs(
    device: Device,
    macs: list[str],
    *,
    new_device: bool = False,
    rows: list[tuple[str, int, int]] | None = None,
) -> None:
    """Store the device's MACs as ``macs``. ``rows``: its (mac, pk, unit id) rows as
    ``_candidates`` read them, after locking the device; unchanged, nothing is written."""
    if new_device:
        rows = []
    elif rows is None:
        rows = list(DeviceMAC.objects.filter(device=device).values_list("mac", "pk", "unit_id"))
    have = {mac: pk for mac, pk, _unit in rows}
    want = set(macs)
    gone = [pk for mac, pk in have.items() if mac not in want]
    if gone:
        DeviceMAC.objects.filter(pk__in=gone).delete()
    # A unit out of step (a move written around move_device) is put right here.
    astray = [pk for mac, pk, unit_id in rows if mac in want and unit_id != device.unit_id]
    if astray:
        DeviceMAC.objects.filter(pk__in=astray).update(unit_id=device.unit_id)
    new = [
        DeviceMAC(device=device, unit_id=device.unit_id, mac=mac)
        for mac in sorted(want - set(have))
    ]
    if new:
        DeviceMAC.objects.bulk_create(new)


# Software.fields() order first, so a stored row's first ten values compare with an
# incoming entry's fields() as one tuple; then what the writer needs.
_ROW_FIELDS = (
    "kind",
    "name",
    "publisher",
    "version",
    "arch",
    "install_date",
    "source",
    "guid",
    "owner",
    "category",
    "id",
    "raw_key",
    "product_id",
)
_COMPARED = 10


@dataclass
class _Changes:
    installed: list[d.Software] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], d.Software]] = field(default_factory=list)
    # Same install, same version, other details (publisher, date, kind) differ: no event.
    refreshed: list[tuple[dict[str, Any], d.Software]] = field(default_factory=list)
    baseline: bool = False


def _version_order(version: str) -> tuple:
    parts: list[tuple[int, Any]] = []
    for token in version.replace("-", ".").replace("_", ".").split("."):
        parts.append((0, int(token)) if token.isdigit() else (1, token))
    return tuple(parts)


def _diff_installations(
    device: Device, doc: d.InventoryDocument, received: datetime.datetime, created: bool
) -> _Changes:
    changes = _Changes(baseline=created)
    kinds_replaced: set[str] = set()
    if doc.software is not None:
        kinds_replaced |= set(InstallationKind.values) - {InstallationKind.OS}
    if doc.os is not None:
        kinds_replaced.add(InstallationKind.OS)
    if not kinds_replaced:
        return changes
    incoming = [s for s in doc.installations() if s.kind in kinds_replaced]
    if created:
        changes.installed = incoming
        return changes
    # Most stored rows come back exactly as they were: set those aside by whole-row
    # equality (one tuple compare each), and pair only the few left over by identity.
    # Equal rows are equal-version pairs, which the pairing below would match first
    # anyway, so the events are the same.
    stored: dict[tuple, list[tuple]] = {}
    for values in Installation.objects.filter(device=device, kind__in=kinds_replaced).values_list(
        *_ROW_FIELDS
    ):
        sig = values[:_COMPARED]
        bucket = stored.get(sig)
        if bucket is None:
            stored[sig] = [values]
        else:
            bucket.append(values)
    new_by_id: dict[tuple, list[d.Software]] = defaultdict(list)
    for item in incoming:
        sig = item.fields()
        bucket = stored.get(sig)
        if bucket:
            bucket.pop()
            if not bucket:
                del stored[sig]
        else:
            new_by_id[item.identity].append(item)
    old_by_id: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for bucket in stored.values():
        for values in bucket:
            row = dict(zip(_ROW_FIELDS, values, strict=True))
            old_by_id[(row["name"], row["arch"], row["owner"], row["guid"])].append(row)

    for identity in old_by_id.keys() | new_by_id.keys():
        olds = old_by_id.get(identity, [])
        news = new_by_id.get(identity, [])
        if len(olds) == 1 and len(news) == 1:
            pairs_same, rest_old, rest_new = [], olds, news
            if olds[0]["version"] == news[0].version:
                pairs_same, rest_old, rest_new = [(olds[0], news[0])], [], []
        else:
            # Several versions side by side (kernels): equal versions match first, then
            # the rest pair oldest with oldest as upgrades.
            pool: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in olds:
                pool[row["version"]].append(row)
            pairs_same, rest_new = [], []
            for item in news:
                bucket = pool.get(item.version)
                if bucket:
                    pairs_same.append((bucket.pop(), item))
                else:
                    rest_new.append(item)
            rest_old = [row for bucket in pool.values() for row in bucket]
            rest_old.sort(key=lambda r: _version_order(r["version"]))
            rest_new.sort(key=lambda s: _version_order(s.version))
        for row, item in pairs_same:
            if _row_differs(row, item):
                changes.refreshed.append((row, item))
        paired = min(len(rest_old), len(rest_new))
        changes.changed.extend(zip(rest_old[:paired], rest_new[:paired], strict=True))
        changes.installed.extend(rest_new[paired:])
        changes.removed.extend(rest_old[paired:])
    return changes


_INSERT_FIELDS = (
    "device",
    "kind",
    "name",
    "publisher",
    "version",
    "arch",
    "install_date",
    "source",
    "guid",
    "owner",
    "category",
    "raw_key",
    "product",
    "first_seen",
)


def _insert_installations(rows: list[tuple]) -> None:
    """Insert new rows (tuples in ``_INSERT_FIELDS`` order) without model instances and
    the ORM's per-value compilation, which cost more than the database itself at thousands
    of rows per inventory: COPY on PostgreSQL, one executemany on SQLite. Values were
    validated and cut to size by the parsers."""
    if not rows:
        return
    fields = [Installation._meta.get_field(name) for name in _INSERT_FIELDS]
    table = connection.ops.quote_name(Installation._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    attnames = [f.attname for f in fields]
    if connection.vendor == "postgresql":
        # Binary COPY: ints, dates and timestamps go as PostgreSQL stores them instead of
        # being formatted as text here and parsed there; half the app CPU of the text COPY
        # (bench/installation_write.py). Types from the fields: "varchar(20)" → "varchar".
        types = [f.db_type(connection).split("(", 1)[0] for f in fields]
        # psycopg's own cursor: its errors (a row naming a missing device, checked by a
        # trigger at the end of the COPY) must still reach callers as Django's.
        with connection.cursor() as cursor, connection.wrap_database_errors:
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for values in rows:
                    copy.write_row(values)
        return
    if connection.vendor != "sqlite":
        Installation.objects.bulk_create(
            [Installation(**dict(zip(attnames, values, strict=True))) for values in rows],
            batch_size=BATCH,
        )
        return
    ops = connection.ops
    # Dates and datetimes go through Django's adapters (SQLite stores text); each distinct
    # value is adapted once, as a whole inventory shares one first_seen and few dates.
    adapted: dict[Any, Any] = {}

    def adapter(convert):
        def adapt(value):
            if value is None:
                return None
            try:
                return adapted[value]
            except KeyError:
                result = adapted[value] = convert(value)
                return result

        return adapt

    date_columns = []
    for index, model_field in enumerate(fields):
        internal = model_field.get_internal_type()
        if internal == "DateTimeField":
            date_columns.append((index, adapter(ops.adapt_datetimefield_value)))
        elif internal == "DateField":
            date_columns.append((index, adapter(ops.adapt_datefield_value)))
    if date_columns:
        converted = []
        for values in rows:
            values = list(values)
            for index, adapt in date_columns:
                values[index] = adapt(values[index])
            converted.append(values)
        rows = converted
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows)


_UPDATE_FIELDS = (
    "id",
    "kind",
    "publisher",
    "version",
    "install_date",
    "source",
    "category",
    "raw_key",
    "product",
)


def _update_installations(rows: list[tuple]) -> None:
    """Rewrite changed rows (tuples in ``_UPDATE_FIELDS`` order, the id first).

    A re-inventory changes a few rows; bulk_update spent more on building its CASE WHEN
    expressions than the database on the update. PostgreSQL gets one UPDATE … FROM
    (VALUES …) with typed placeholders; SQLite one executemany of a plain UPDATE."""
    if not rows:
        return
    fields = [Installation._meta.get_field(name) for name in _UPDATE_FIELDS]
    qn = connection.ops.quote_name
    table = qn(Installation._meta.db_table)
    columns = [qn(f.column) for f in fields]
    if connection.vendor == "postgresql":
        # Every placeholder typed (a column of NULLs, no install dates, would be text);
        # varchar without a length, as a cast to varchar(n) would cut silently.
        types = ["date" if f.get_internal_type() == "DateField" else "varchar" for f in fields]
        types[0] = types[-1] = "bigint"  # the id and the product's foreign key
        values_row = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
        assignments = ", ".join(f"{c} = v.{c}" for c in columns[1:])
        head = f"UPDATE {table} SET {assignments} FROM (VALUES "
        tail = f") AS v({', '.join(columns)}) WHERE {table}.{columns[0]} = v.{columns[0]}"
        with connection.cursor() as cursor:
            for start in range(0, len(rows), BATCH):
                chunk = rows[start : start + BATCH]
                cursor.execute(
                    head + ", ".join([values_row] * len(chunk)) + tail,
                    [value for values in chunk for value in values],
                )
        return
    adapt_date = connection.ops.adapt_datefield_value
    date_at = _UPDATE_FIELDS.index("install_date")
    assignments = ", ".join(f"{c} = %s" for c in columns[1:])
    params = []
    for values in rows:
        values = list(values)
        values[date_at] = adapt_date(values[date_at])
        params.append(values[1:] + values[:1])
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {columns[0]} = %s", params)


def _row_differs(row: dict[str, Any], item: d.Software) -> bool:
    return (
        row["kind"] != item.kind
        or row["publisher"] != item.publisher
        or row["install_date"] != item.install_date
        or row["source"] != item.source
        or row["category"] != item.category
    )


def _write_changes(
    device: Device,
    doc: d.InventoryDocument,
    changes: _Changes,
    report: InventoryReport,
    received: datetime.datetime,
) -> None:
    # The platform of the stored OS name: catalog_provider derives it the same way.
    platform = platform_of(device.os_name)

    def key_of(item: d.Software) -> RawKey:
        return (item.name, item.publisher, item.version, platform)

    installed_keys = [(s.name, s.publisher, s.version, platform) for s in changes.installed]
    need = installed_keys + [key_of(s) for _row, s in changes.changed]
    need += [key_of(s) for row, s in changes.refreshed if row["publisher"] != s.publisher]
    products = recognise_products(unit_id=device.unit_id, keys=need)

    device_id = device.pk
    raw = _raw_key_memo
    product_of = products.get
    _insert_installations(
        [
            (
                device_id,
                s.kind,
                s.name,
                s.publisher,
                s.version,
                s.arch,
                s.install_date,
                s.source,
                s.guid,
                s.owner,
                s.category,
                raw(*key),
                product_of(key),
                received,
            )
            for s, key in zip(changes.installed, installed_keys, strict=True)
        ]
    )

    updates = []
    for row, item in changes.changed + changes.refreshed:
        if row["publisher"] == item.publisher and row["version"] == item.version:
            key_value, product_id = row["raw_key"], row["product_id"]
        else:
            key = key_of(item)
            key_value, product_id = _raw_key_memo(*key), products.get(key)
        updates.append(
            (
                row["id"],
                item.kind,
                item.publisher,
                item.version,
                item.install_date,
                item.source,
                item.category,
                key_value,
                product_id,
            )
        )
    _update_installations(updates)
    removed_ids = [row["id"] for row in changes.removed]
    for start in range(0, len(removed_ids), BATCH):
        Installation.objects.filter(pk__in=removed_ids[start : start + BATCH]).delete()

    if changes.baseline:
        return
    events = [
        InstallationEvent(
            device=device,
            report=report,
            event_type=EventType.INSTALLED,
            kind=s.kind,
            name=s.name,
            publisher=s.publisher,
            arch=s.arch,
            owner=s.owner,
            new_version=s.version,
            product_id=products.get(key_of(s)),
            date=received,
        )
        for s in changes.installed
    ]
    events += [
        InstallationEvent(
            device=device,
            report=report,
            event_type=EventType.REMOVED,
            kind=row["kind"],
            name=row["name"],
            publisher=row["publisher"],
            arch=row["arch"],
            owner=row["owner"],
            old_version=row["version"],
            product_id=row["product_id"],
            date=received,
        )
        for row in changes.removed
    ]
    events += [
        InstallationEvent(
            device=device,
            report=report,
            event_type=EventType.VERSION_CHANGED,
            kind=s.kind,
            name=s.name,
            publisher=s.publisher,
            arch=s.arch,
            owner=s.owner,
            old_version=row["version"],
            new_version=s.version,
            product_id=products.get(key_of(s)),
            date=received,
        )
        for row, s in changes.changed
    ]
    InstallationEvent.objects.bulk_create(events, batch_size=BATCH)


# --------------------------------------------------------------------------- devices

DEVICE_EDITABLE_FIELDS = frozenset(
    {"department", "assigned_user", "assigned_name", "asset_number", "device_type"}
)


@transaction.atomic
def update_device(*, actor: User, device: Device, **changes: Any) -> Device:
    """What people maintain about a device (agents never overwrite these)."""
    if not can_manage_unit(actor, device.unit):
        raise PermissionDenied(_("无权修改该终端。"))
    unknown = set(changes) - DEVICE_EDITABLE_FIELDS
    if unknown:
        raise ValidationError(_("不可修改的字段：%(f)s") % {"f": ", ".join(sorted(unknown))})
    row = Device.objects.select_for_update().get(pk=device.pk)
    department = changes.get("department")
    if isinstance(department, Department) and department.unit_id != row.unit_id:
        raise ValidationError(_("部门不属于该终端所在单位。"))
    if changes.get("assigned_user") is not None:
        _check_assigned_user(row, changes["assigned_user"])
    before = audit.snapshot(row)
    for name, value in changes.items():
        setattr(row, name, value)
    row.full_clean(exclude=["unit", "first_seen", "last_seen", "last_source"])
    row.save()
    after = audit.snapshot(row)
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=row, before=before, after=after)
    changed = {
        f.name
        for f in Device._meta.concrete_fields
        if f.attname in after and before.get(f.attname) != after[f.attname]
    }
    if changed:
        # A new assigned person can move per-user seats: licensing re-judges the unit.
        hooks.fire(hooks.DEVICE_CHANGED, device=row, fields=changed)
    return row


def _check_assigned_user(device: Device, person: User) -> None:
    """Governance and per-user licences take the account's devices as the person's own:
    only an active person of the device's unit is given a device. The account a device
    already has may stay, though it was deactivated or moved to another unit since, so that
    other edits still save. Read afresh, not from ``person``."""
    if person.pk == device.assigned_user_id:
        return  # kept as it was (its account may since have moved or been deactivated)
    found = User.objects.filter(pk=person.pk).values_list("unit_id", "is_active").first()
    if found is None or found[0] != device.unit_id:
        raise ValidationError({"assigned_user": _("使用人账号不属于该终端所在单位。")})
    if not found[1]:
        raise ValidationError({"assigned_user": _("使用人账号已停用。")})


# A hand-over's or a retirement's reason (DeviceMove.reason, Device.retired_reason).
REASON_MAX = 200


def _reason(reason: str, missing: str, too_long: str) -> str:
    """The stripped reason a hand-over or a retirement requires."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": missing})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": too_long % {"n": REASON_MAX}})
    return reason


def can_move_device(user: Any, device: Device, unit: Unit | None = None) -> bool:
    """Whoever may manage devices in both the device's unit and ``unit`` (if given)."""
    if not can_manage_unit(user, device.unit):
        return False
    return unit is None or can_manage_unit(user, unit)


@transaction.atomic
def move_device(
    *,
    actor: User,
    device: Device,
    unit: Unit,
    department: Department | None = None,
    reason: str,
) -> Device:
    """Hand a device to another unit (调剂). Its department becomes ``department`` (of the
    new unit) or none; an assigned account of another unit is cleared with its name. The
    old unit's agents' tokens no longer report it (``_refuse_moved_away``)."""
    row = Device.objects.select_for_update().get(pk=device.pk)
    old_unit = row.unit
    if not (can_manage_unit(actor, old_unit) and can_manage_unit(actor, unit)):
        raise PermissionDenied(_("无权在这两个单位之间移交终端。"))
    reason = _reason(reason, _("请填写移交原因。"), _("移交原因不能超过 %(n)d 个字符。"))
    if unit.pk == old_unit.pk:
        raise ValidationError({"unit": _("终端已在该单位，无需移交。")})
    if department is not None and department.unit_id != unit.pk:
        raise ValidationError({"department": _("部门不属于移交后的单位。")})
    if row.agent_device_id:
        # The machine already reports in that unit (its agent was given that unit's token):
        # two records of one agent cannot live in one unit.
        twin = (
            Device.objects.filter(unit=unit, agent_device_id=row.agent_device_id)
            .exclude(pk=row.pk)
            .first()
        )
        if twin is not None:
            raise ValidationError(
                {
                    "unit": _(
                        "“%(unit)s”已有同一客户端上报的终端“%(host)s”（编号 %(pk)d），"
                        "同一终端不能在一个单位登记两次。"
                    )
                    % {"unit": unit, "host": twin.hostname or "-", "pk": twin.pk}
                }
            )
    before = audit.snapshot(row)
    row.unit = unit
    row.department = department
    person = row.assigned_user
    if person is not None and person.unit_id != unit.pk:
        # The account belongs to the old unit: the name recorded for it goes with it.
        row.assigned_user = None
        row.assigned_name = ""
    row.save(update_fields=["unit", "department", "assigned_user", "assigned_name"])
    # Its MACs are looked up by unit (DeviceMAC.unit).
    DeviceMAC.objects.filter(device=row).update(unit=unit)
    now = timezone.now()
    DeviceMove.objects.create(
        device=row, from_unit=old_unit, to_unit=unit, moved=now, actor=actor, reason=reason
    )
    after = audit.snapshot(row)
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=row,
        before=before,
        after=after,
        message=_("移交终端：%(old)s → %(new)s；原因：%(reason)s")
        % {"old": old_unit, "new": unit, "reason": reason},
    )
    changed = {
        f.name
        for f in Device._meta.concrete_fields
        if f.attname in after and before.get(f.attname) != after[f.attname]
    }
    # Licensing re-judges both units: the device's installs and seats leave the old one.
    hooks.fire(hooks.DEVICE_CHANGED, device=row, fields=changed, old_unit_id=old_unit.pk)
    return row


# --------------------------------------------------------------------------- retirement


def can_retire_device(user: Any, device: Device) -> bool:
    """Whoever may edit the unit's devices may retire them and put them back in service."""
    return can_manage_unit(user, device.unit)


@transaction.atomic
def retire_device(*, actor: User, device: Device, reason: str) -> Device:
    """Retire a scrapped, lost or replaced machine (or a duplicate record): it stops
    counting in licensing and in lists; its installs, history and moves are kept. An agent
    report from it puts it back in service (``_ingest``)."""
    row = Device.objects.select_for_update().get(pk=device.pk)
    if not can_retire_device(actor, row):
        raise PermissionDenied(_("无权退役该终端。"))
    reason = _reason(reason, _("请填写退役原因。"), _("退役原因不能超过 %(n)d 个字符。"))
    if row.retired is not None:
        raise ValidationError(
            _("终端“%(name)s”已于 %(date)s 退役。")
            % {"name": row, "date": timezone.localtime(row.retired).strftime("%Y-%m-%d")}
        )
    _set_retirement(
        row,
        timezone.now(),
        reason,
        actor=actor,
        message=_("终端退役；原因：%(reason)s") % {"reason": reason},
    )
    return row


@transaction.atomic
def reinstate_device(*, actor: User, device: Device) -> Device:
    """Put a retired device back in service: its installs count again."""
    row = Device.objects.select_for_update().get(pk=device.pk)
    if not can_retire_device(actor, row):
        raise PermissionDenied(_("无权恢复该终端。"))
    if row.retired is None:
        raise ValidationError(_("终端“%(name)s”在用，无需恢复。") % {"name": row})
    _reinstate(row, actor=actor, message=_("终端恢复在用"))
    return row


def _reinstate(row: Device, *, actor: User | None, message: str) -> None:
    """Clear ``row``'s retirement (locked by the caller), with its audit record, and let
    licensing count its installs again."""
    _set_retirement(row, None, "", actor=actor, message=message)


def _set_retirement(
    row: Device,
    retired: datetime.datetime | None,
    reason: str,
    *,
    actor: User | None,
    message: str,
) -> None:
    """Retire or reinstate ``row`` (locked by the caller) with its audit record; licensing
    re-judges the unit with or without its installs, governance closes or reopens its
    findings ("inventory.device_changed")."""
    before = audit.snapshot(row)
    row.retired = retired
    row.retired_reason = reason
    row.save(update_fields=["retired", "retired_reason"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=row,
        before=before,
        after=audit.snapshot(row),
        message=message,
    )
    hooks.fire(hooks.DEVICE_CHANGED, device=row, fields={"retired"})
