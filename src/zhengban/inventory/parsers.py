"""Parsers from what agents send to the internal document (``document.InventoryDocument``).

- GLPI-agent JSON (``formats/glpi-inventory``), full and partial, validated against the
  shipped schema (``schema/inventory.schema.json``). The software array is checked by a
  checker compiled from the schema's own item definition, because generic JSON Schema
  validation costs about 70 µs per entry and an inventory has thousands.
- FusionInventory / OCS Inventory XML (``<REQUEST>`` with ``QUERY`` PROLOG or INVENTORY),
  read in one streaming expat pass, hardened as defusedxml's (no DTDs, no entities).
- Bodies plain or zlib/gzip-compressed, with limits on compressed and inflated size and on
  the number of entries.

Every rejection is an ``InventoryError`` naming the field, turned into HTTP 400 (413 for
size limits) by the view.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.parsers import expat

import jsonschema
from django.conf import settings
from django.utils.translation import gettext as _
from zhengban_agent import AGENT_NAME as ZHENGBAN_AGENT_PREFIX

from zhengban.inventory import document as d
from zhengban.inventory.choices import InventorySource

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "inventory.schema.json"

DEFAULT_LIMITS = {
    "INVENTORY_MAX_BODY_BYTES": 16 * 1024 * 1024,  # as received (compressed or not)
    "INVENTORY_MAX_INFLATED_BYTES": 64 * 1024 * 1024,  # after zlib/gzip
    "INVENTORY_MAX_SOFTWARE": 20_000,
    "INVENTORY_MAX_NETWORKS": 256,
    # Entries of every other list of the content together (drives, processes, controllers,
    # …): each is checked against the schema, so their number bounds a request's CPU.
    "INVENTORY_MAX_OTHER_ENTRIES": 20_000,
    # Commas and brackets of a JSON body, counted before it is parsed: 64 MB of "[],[],…"
    # parse into 21 million lists (1.7 GB) before any entry count can refuse them.
    # computer_3.json has 9 per software entry; the software and other-entry caps together
    # come to about 400,000.
    "INVENTORY_MAX_JSON_TOKENS": 1_000_000,
    # Every "=" of an XML body, an upper bound on its attributes: expat builds an element's
    # attributes all at once (24 MB of them on one element took 340 MB). Agents send
    # almost none; the samples' largest has 195 "=", in text.
    "INVENTORY_MAX_XML_ATTRIBUTES": 200_000,
}

# Fields kept per XML section (HARDWARE has about 40): a section of a million distinct
# child elements kept them all.
MAX_SECTION_FIELDS = 256


def limit(name: str) -> int:
    return int(getattr(settings, "ZHENGBAN", {}).get(name, DEFAULT_LIMITS[name]))


class InventoryError(Exception):
    """Bad input. ``field`` names where (``content.softwares[3].version``, ``QUERY``, …)."""

    def __init__(self, field: str, message: str, *, status: int = 400) -> None:
        self.field = field
        self.message = message
        self.status = status
        super().__init__(f"{field}: {message}")


# ------------------------------------------------------------------------------------ body

ZLIB_CONTENT_TYPES = frozenset(
    {"application/x-compress-zlib", "application/x-compress", "application/x-zlib"}
)
GZIP_CONTENT_TYPES = frozenset({"application/x-compress-gzip", "application/gzip"})
PLAIN_CONTENT_TYPES = frozenset(
    {"application/json", "application/xml", "text/xml", "text/plain", "application/octet-stream"}
)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_compressed(content_type: str | None) -> bool:
    mt = media_type(content_type)
    return mt in ZLIB_CONTENT_TYPES or mt in GZIP_CONTENT_TYPES


def decode_body(body: bytes, content_type: str | None) -> bytes:
    """The payload: inflated when the Content-Type says compressed, size-limited."""
    if len(body) > limit("INVENTORY_MAX_BODY_BYTES"):
        raise InventoryError(
            "body",
            _("请求体超过 %(limit)d 字节上限。") % {"limit": limit("INVENTORY_MAX_BODY_BYTES")},
            status=413,
        )
    if not body:
        raise InventoryError("body", _("请求体为空。"))
    mt = media_type(content_type)
    if mt in ZLIB_CONTENT_TYPES or mt in GZIP_CONTENT_TYPES:
        return inflate(body)
    if mt and mt not in PLAIN_CONTENT_TYPES:
        raise InventoryError(
            "Content-Type", _("不支持的内容类型 %(type)s。") % {"type": mt}, status=415
        )
    return body


def inflate(body: bytes) -> bytes:
    maximum = limit("INVENTORY_MAX_INFLATED_BYTES")
    # wbits 47: zlib or gzip header, detected automatically.
    inflater = zlib.decompressobj(47)
    try:
        data = inflater.decompress(body, maximum + 1)
    except zlib.error as exc:
        raise InventoryError("body", _("压缩数据无法解压（zlib）：%(err)s") % {"err": exc}) from exc
    if len(data) > maximum or inflater.unconsumed_tail:
        raise InventoryError(
            "body", _("解压后超过 %(limit)d 字节上限。") % {"limit": maximum}, status=413
        )
    if not inflater.eof:
        raise InventoryError("body", _("压缩数据不完整（zlib 流被截断）。"))
    return data


def sniff_body(body: bytes, content_type: str | None) -> str:
    """``sniff`` on a body as received, inflating only its first bytes when compressed."""
    if not is_compressed(content_type):
        return sniff(body)
    try:
        return sniff(zlib.decompressobj(47).decompress(body, 64))
    except zlib.error as exc:
        raise InventoryError("body", _("压缩数据无法解压（zlib）：%(err)s") % {"err": exc}) from exc


def sniff(payload: bytes) -> str:
    """'json' or 'xml' from the first significant byte."""
    head = payload[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return "json"
    if head.startswith(b"<"):
        return "xml"
    raise InventoryError("body", _("无法识别的清单格式：应为 JSON 或 XML。"))


# ------------------------------------------------------------------------------- schema


# The software digests (and so every device's quick key, ``InventoryDocument.quick_key``)
# begin with this: a device whose stored key matches skips the checks of its software
# entries, trusting that they passed when it was stored. Change it whenever those checks
# or the conversion of entries change, so that no key stored under older rules matches.
# The JSON digest also begins with the shipped schema's own digest, so a new schema needs
# no change here.
SOFTWARE_RULES_REVISION = b"software-rules-1\x1e"


@lru_cache(maxsize=1)
def _json_rules_revision() -> bytes:
    return SOFTWARE_RULES_REVISION + hashlib.sha256(SCHEMA_PATH.read_bytes()).digest()


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=1)
def _head_validator() -> jsonschema.protocols.Validator:
    """The full schema with the software array reduced to "an array": items are checked by
    the compiled checker below."""
    schema = copy.deepcopy(_schema())
    schema["properties"]["content"]["properties"]["softwares"] = {"type": "array"}
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
_TYPE_NAMES = {
    "string": "字符串",
    "integer": "整数",
    "number": "数值",
    "boolean": "布尔值",
    "object": "对象",
    "array": "数组",
}


@dataclass(frozen=True)
class _PropCheck:
    json_type: str
    types: tuple[type, ...]
    pattern: re.Pattern[str] | None


@lru_cache(maxsize=1)
def _software_checks() -> tuple[tuple[str, ...], dict[str, _PropCheck]]:
    schema = _schema()
    item = schema["properties"]["content"]["properties"]["softwares"]["items"]
    checks: dict[str, _PropCheck] = {}
    for prop, spec in item["properties"].items():
        if "$ref" in spec:
            ref = spec["$ref"].rsplit("/", 1)[-1]
            spec = {**schema["definitions"][ref], **{k: v for k, v in spec.items() if k != "$ref"}}
        json_type = spec.get("type", "string")
        unknown = set(spec) - {"type", "pattern", "title", "examples", "default", "$comment"}
        if unknown or not isinstance(json_type, str):
            # The compiled checker understands only what the shipped schema uses; a newer
            # schema with other keywords must fail loudly here, not validate loosely.
            raise RuntimeError(f"software schema property {prop!r} uses {sorted(unknown)}")
        pattern = re.compile(spec["pattern"]) if "pattern" in spec else None
        checks[prop] = _PropCheck(json_type, _JSON_TYPES[json_type], pattern)
    return tuple(item.get("required", ())), checks


def _check_softwares(items: list[Any]) -> None:
    if len(items) > limit("INVENTORY_MAX_SOFTWARE"):
        raise InventoryError(
            "content.softwares",
            _("软件条目数 %(n)d 超过上限 %(limit)d。")
            % {"n": len(items), "limit": limit("INVENTORY_MAX_SOFTWARE")},
            status=413,
        )
    required, checks = _software_checks()
    for i, item in enumerate(items):
        where = f"content.softwares[{i}]"
        if not isinstance(item, dict):
            raise InventoryError(where, _("应为对象。"))
        for name in required:
            if name not in item:
                raise InventoryError(f"{where}.{name}", _("缺少必填字段。"))
        for key, value in item.items():
            check = checks.get(key)
            if check is None:
                continue
            ok = isinstance(value, check.types) and not (
                isinstance(value, bool) and check.json_type in ("integer", "number")
            )
            if not ok:
                raise InventoryError(
                    f"{where}.{key}",
                    _("应为%(type)s。") % {"type": _TYPE_NAMES[check.json_type]},
                )
            if check.pattern is not None and not check.pattern.search(value):
                raise InventoryError(
                    f"{where}.{key}",
                    _("格式不正确：%(value)s") % {"value": d.text(value, 60)},
                )


def _schema_error_field(error: jsonschema.ValidationError) -> str:
    parts: list[str] = []
    for p in error.absolute_path:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    field = "".join(parts)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [r for r in error.validator_value if r not in error.instance]
        if missing:
            field = f"{field}.{missing[0]}" if field else missing[0]
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            field = f"{field}.{extra[0]}" if field else extra[0]
    return field or "body"


def _check_other_entries(content: Any) -> None:
    if not isinstance(content, dict):
        return
    cap = limit("INVENTORY_MAX_OTHER_ENTRIES")
    total = 0
    for key, value in content.items():
        if key != "softwares" and isinstance(value, list):
            total += len(value)
            if total > cap:
                raise InventoryError(
                    f"content.{key}",
                    _("软件以外的清单条目合计超过上限 %(limit)d。") % {"limit": cap},
                    status=413,
                )


def validate_json(doc: Any, *, head: bool = True) -> None:
    """Check a GLPI inventory against the schema: the head (everything but the software
    entries; ``head=False`` when ``parse_json_quick`` has just checked it) and the software
    entries."""
    if not isinstance(doc, dict):
        raise InventoryError("body", _("清单应为 JSON 对象。"))
    content = doc.get("content")
    softwares = content.get("softwares") if isinstance(content, dict) else None
    _check_other_entries(content)
    error = jsonschema.exceptions.best_match(_head_validator().iter_errors(doc)) if head else None
    if error is not None:
        raise InventoryError(
            _schema_error_field(error),
            _("不符合 GLPI 清单格式：%(detail)s") % {"detail": error.message[:300]},
        )
    if softwares is not None:
        _check_softwares(softwares)


# --------------------------------------------------------------------------------- JSON


def parse_json(payload: bytes) -> dict[str, Any]:
    maximum = limit("INVENTORY_MAX_JSON_TOKENS")
    # A bound on the values json.loads would build, and so on its memory (characters
    # inside strings count too: a generous bound, not an exact one).
    tokens = payload.count(b",") + payload.count(b"[") + payload.count(b"{")
    if tokens > maximum:
        raise InventoryError(
            "body",
            _("JSON 中的值过多（%(n)d 个分隔符，上限 %(limit)d）。")
            % {"n": tokens, "limit": maximum},
            status=413,
        )
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        # ValueError: bad JSON, bad UTF-8, integers of over 4,300 digits; RecursionError:
        # nesting deeper than the interpreter's limit.
        raise InventoryError("body", _("JSON 无法解析：%(err)s") % {"err": exc}) from exc
    if not isinstance(doc, dict):
        raise InventoryError("body", _("清单应为 JSON 对象。"))
    return doc


NON_COMPUTER_ITEMTYPES = {"NetworkEquipment", "Printer"}
INVENTORY_ACTIONS = {"inventory", "injector"}


def json_software_digest(softwares: list[Any]) -> str:
    """sha256 of a JSON inventory's software array as parsed, written back in one canonical
    form: equal digests mean equal arrays, whatever the body's spacing or other fields.
    Keys keep the sender's order: sorting them costs 40 % more, and a sender that
    changes its key order only misses the shortcut."""
    data = json.dumps(softwares, separators=(",", ":"))  # ASCII: lone surrogates survive
    h = hashlib.sha256(_json_rules_revision())
    h.update(data.encode("ascii"))
    return h.hexdigest()


def parse_json_quick(doc: dict[str, Any]) -> tuple[d.InventoryDocument, str] | None:
    """A GLPI inventory read without its software entries: the document has every other
    fact (validated as ``document_from_json`` validates them) and an empty software list;
    returned with the software array's digest (``json_software_digest``), for the ingest
    to recognise an unchanged inventory whose volatile fields (boot time, free memory)
    changed. None when the document has no full software array, or anything else that
    ``document_from_json`` would refuse: then it decides."""
    content = doc.get("content")
    softwares = content.get("softwares") if isinstance(content, dict) else None
    if not isinstance(softwares, list) or len(softwares) > limit("INVENTORY_MAX_SOFTWARE"):
        return None
    try:
        _check_other_entries(content)
    except InventoryError:
        return None  # refused by the full path, without checking the schema twice
    # The schema first: it makes action and itemtype strings before they are looked up.
    if next(iter(_head_validator().iter_errors(doc)), None) is not None:
        return None
    if (
        doc.get("action", "inventory") not in INVENTORY_ACTIONS
        or doc.get("itemtype") in NON_COMPUTER_ITEMTYPES
    ):
        return None
    try:
        head = _document_from_json(doc, [])
    except InventoryError:  # too many network interfaces: refused by the full path
        return None
    # The entries themselves are not checked here: an equal digest means the very array a
    # stored inventory had, which passed document_from_json's checks then.
    return head, json_software_digest(softwares)


def document_from_json(
    doc: dict[str, Any], *, software_digest: str | None = None, head_checked: bool = False
) -> d.InventoryDocument:
    """Validate a GLPI inventory (action ``inventory``) and normalise it.
    ``software_digest``: ``json_software_digest`` of its software array, if already made.
    ``head_checked``: ``parse_json_quick`` accepted this very document, whose schema check
    of the head (2.6 ms for ``computer_3.json``) need not run again."""
    validate_json(doc, head=not head_checked)
    action = doc.get("action", "inventory")
    if action not in INVENTORY_ACTIONS:
        raise InventoryError(
            "action", _("不支持的操作 %(action)s：只接受计算机清单。") % {"action": action}
        )
    if doc.get("itemtype") in NON_COMPUTER_ITEMTYPES:
        raise InventoryError(
            "itemtype",
            _("不支持的设备类型 %(type)s：只接受计算机清单。") % {"type": doc["itemtype"]},
        )
    content = doc["content"]
    partial = bool(doc.get("partial", False))
    if "softwares" in content or not partial:
        softwares = content.get("softwares") or []
        software = [s for s in map(_software_from_json, softwares) if s]
        document = _document_from_json(doc, software)
        if isinstance(content.get("softwares"), list):
            document.software_digest = software_digest or json_software_digest(softwares)
        return document
    return _document_from_json(doc, None)


def _document_from_json(
    doc: dict[str, Any], software: list[d.Software] | None
) -> d.InventoryDocument:
    """The document of a validated GLPI inventory, with ``software`` as its software."""
    content = doc["content"]
    partial = bool(doc.get("partial", False))
    hardware = content.get("hardware") or {}
    bios = content.get("bios") or {}
    osdata = content.get("operatingsystem")
    agent = d.text(content.get("versionclient"), 100)
    source = (
        InventorySource.ZHENGBAN_AGENT
        if agent.startswith(ZHENGBAN_AGENT_PREFIX)
        else InventorySource.GLPI_JSON
    )
    os_info = None
    if osdata:
        os_name = d.text(osdata.get("full_name") or osdata.get("name"), d.NAME_MAX)
        if os_name:
            os_info = d.OperatingSystem(
                name=os_name,
                version=d.text(osdata.get("version"), d.VERSION_MAX),
                edition=d.text(osdata.get("edition"), 100),
                arch=d.text(osdata.get("arch"), d.SHORT_MAX),
                publisher="Microsoft" if "windows" in os_name.lower() else "",
                install_date=d.parse_date(osdata.get("install_date")),
                product_id=d.text(hardware.get("winprodid"), 64),
                partial_key=d.partial_key(hardware.get("winprodkey")),
                activation=d.activation_state(osdata.get("license_status")),
            )
    cpus = content.get("cpus") or []
    networks = content.get("networks")
    return d.InventoryDocument(
        source=source,
        agent_device_id=d.text(doc.get("deviceid"), 255),
        agent=agent,
        partial=partial,
        hostname=d.text(hardware.get("name"), 255) or None,
        device_type=d.device_type(
            chassis=hardware.get("chassis_type"),
            vmsystem=hardware.get("vmsystem"),
            os_name=os_info.name if os_info else "",
        ),
        manufacturer=d.text(bios.get("smanufacturer"), 200) or None,
        model=d.text(bios.get("smodel"), 200) or None,
        serial_number=d.hardware_serial(bios.get("ssn")) or None,
        hardware_uuid=d.hardware_uuid(hardware.get("uuid")) or None,
        macs=_macs((n.get("mac") for n in networks), "content.networks")
        if networks is not None
        else None,
        cpu=d.text(cpus[0].get("name"), 255) or None if cpus else None,
        memory_mb=_json_memory(hardware.get("memory")),
        last_user=d.text(hardware.get("lastloggeduser"), 150) or None,
        os=os_info,
        software=software,
    )


def _json_memory(value: Any) -> int | None:
    """Megabytes, as the schema's integer; a value no machine has is refused, not stored
    (the column is a positive 32-bit integer)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    if not 0 <= value <= d.MEMORY_MB_MAX:
        raise InventoryError(
            "content.hardware.memory",
            _("内存容量超出范围（0–%(max)d MB）：%(v)d") % {"max": d.MEMORY_MB_MAX, "v": value},
        )
    return value


def _software_from_json(item: dict[str, Any]) -> d.Software | None:
    name = d.text(item.get("name"), d.NAME_MAX)
    if not name:
        return None
    category = d.text(item.get("system_category"), 100)
    return d.Software(
        name=name,
        version=d.text(item.get("version"), d.VERSION_MAX),
        publisher=d.text(item.get("publisher"), d.PUBLISHER_MAX),
        arch=d.text(item.get("arch"), d.SHORT_MAX),
        install_date=d.parse_date(item.get("install_date")),
        source=d.text(item.get("from"), d.SHORT_MAX),
        guid=d.text(item.get("guid"), 255),
        owner=d.text(item.get("username") or item.get("userid"), 150),
        kind=d.software_kind(category=category, release_type=item.get("release_type")),
        category=category,
    )


def _macs(values: Any, field: str) -> list[str]:
    out: set[str] = set()
    for value in values:
        mac = d.normalise_mac(value)
        if mac:
            out.add(mac)
        if len(out) > limit("INVENTORY_MAX_NETWORKS"):
            raise InventoryError(field, _("网络接口数量超过上限。"), status=413)
    return sorted(out)


# ---------------------------------------------------------------------------------- XML


@dataclass
class XmlRequest:
    query: str  # PROLOG or INVENTORY
    device_id: str
    document: d.InventoryDocument | None


class _Forbidden(Exception):
    """A DTD or an entity declaration: refused, as defusedxml does."""


def _forbid(*_args: Any) -> None:
    raise _Forbidden


# Sections of CONTENT read as {field: text} (the first of each; the last field of a name
# wins, as a dict built from an ElementTree element's children).
_FIELD_SECTIONS = frozenset({"HARDWARE", "BIOS", "OPERATINGSYSTEM"})


class _XmlReader:
    """Reads a FusionInventory/OCS request in one streaming pass of expat (no tree): the
    root tag, QUERY, DEVICEID and, from the first CONTENT, what the document needs. Each
    SOFTWARES entry becomes a ``d.Software`` as soon as it closes.

    Text values are what ElementTree's ``.text`` would hold: the character data before an
    element's first child. Hardened like defusedxml with ``forbid_dtd``/``forbid_entities``:
    any DOCTYPE, entity declaration or external entity reference is refused.
    """

    __slots__ = (
        "depth",
        "root",
        "head",
        "content",
        "section",
        "fields",
        "first_wins",
        "field",
        "text",
        "text_depth",
        "sections",
        "versionclient",
        "device_section",
        "hardware_section",
        "cpu",
        "macs",
        "software",
        "software_count",
        "max_software",
        "parser",
        "sw_first",
        "sw_last_close",
        "sw_other",
        "sw_interleaved",
    )

    def __init__(self, max_software: int) -> None:
        self.depth = 0
        self.root = ""
        self.head: dict[str, str] = {}  # QUERY, DEVICEID: first of each
        self.content = 0  # 0 before the first CONTENT, 1 inside it, 2 after it
        self.section = ""
        self.fields: dict[str, str] | None = None
        self.first_wins = False
        self.field = ""
        self.text: str | None = None
        self.text_depth = 0
        self.sections: dict[str, dict[str, str]] = {}
        self.versionclient: str | None = None
        self.device_section = False
        self.hardware_section = False
        self.cpu: str | None = None
        self.macs: list[str | None] = []
        self.software: list[d.Software] = []
        self.software_count = 0
        self.max_software = max_software
        # Byte offsets of the first SOFTWARES' "<" and the last one's "</", and whether
        # another section lies between them (see ``software_section``).
        self.sw_first = -1
        self.sw_last_close = -1
        self.sw_other = False
        self.sw_interleaved = False

    def parse(self, payload: bytes) -> None:
        maximum = limit("INVENTORY_MAX_XML_ATTRIBUTES")
        if payload.count(b"=") > maximum:
            raise InventoryError(
                "body",
                _("XML 中的属性过多（上限 %(limit)d 个“=”）。") % {"limit": maximum},
                status=413,
            )
        # intern=None: expat's name table would keep every distinct element name for the
        # parse (a million distinct tags, 860 MB); without it, parsing is no slower.
        parser = self.parser = expat.ParserCreate(namespace_separator="}", intern=None)
        parser.buffer_text = True
        parser.buffer_size = 65536
        parser.ordered_attributes = True
        parser.StartDoctypeDeclHandler = _forbid
        parser.EntityDeclHandler = _forbid
        parser.UnparsedEntityDeclHandler = _forbid
        parser.ExternalEntityRefHandler = _forbid
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.data
        parser.Parse(payload, True)

    def data(self, chunk: str) -> None:
        if self.text is not None:
            self.text += chunk

    def _close_text(self) -> str:
        text = self.text or ""
        self.text = None
        return text

    def start(self, tag: str, _attrs: Any) -> None:
        depth = self.depth = self.depth + 1
        if self.text is not None:
            # A child element: the parent's text is what came before it.
            self._store_text(self._close_text())
        if depth <= 2:
            if depth == 1:
                self.root = "{" + tag if "}" in tag else tag
            elif tag == "CONTENT":
                if not self.content:
                    self.content = 1
            elif (tag == "QUERY" or tag == "DEVICEID") and tag not in self.head:
                self.field = tag
                self.text, self.text_depth = "", depth
            return
        if self.content != 1:
            return
        if depth == 3:
            self.section = tag
            if tag != "SOFTWARES" and self.sw_first >= 0:
                self.sw_other = True
            if tag == "SOFTWARES":
                if self.sw_first < 0:
                    self.sw_first = self.parser.CurrentByteIndex
                elif self.sw_other:
                    self.sw_interleaved = True
                self.software_count += 1
                self.fields = {} if self.software_count <= self.max_software else None
                self.first_wins = False
            elif tag in _FIELD_SECTIONS:
                if tag == "HARDWARE":
                    self.hardware_section = True
                self.fields = {} if tag not in self.sections else None
                self.first_wins = False
            elif tag == "NETWORKS" or (tag == "CPUS" and self.cpu is None):
                self.fields = {}
                self.first_wins = True
            elif tag == "VERSIONCLIENT" and self.versionclient is None:
                self.field = tag
                self.text, self.text_depth = "", depth
            elif tag == "DEVICE":
                self.device_section = True
        elif depth == 4 and self.fields is not None:
            self.field = tag
            self.text, self.text_depth = "", depth

    def _store_text(self, text: str) -> None:
        depth = self.text_depth
        if depth == 4:
            fields = self.fields
            if fields is not None and not (self.first_wins and self.field in fields):
                if len(fields) < MAX_SECTION_FIELDS or self.field in fields:
                    fields[self.field] = text
        elif depth == 3:
            self.versionclient = text
        else:
            self.head[self.field] = text

    def end(self, tag: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if self.text is not None and depth == self.text_depth:
            self._store_text(self._close_text())
        if depth == 3 and self.content == 1:
            if tag == "SOFTWARES":
                self.sw_last_close = self.parser.CurrentByteIndex
            fields = self.fields
            if fields is not None:
                self.fields = None
                section = self.section
                if section == "SOFTWARES":
                    item = _software_from_xml(fields)
                    if item is not None:
                        self.software.append(item)
                elif section == "NETWORKS":
                    self.macs.append(fields.get("MACADDR"))
                elif section == "CPUS":
                    if "NAME" in fields:
                        self.cpu = fields["NAME"]
                else:
                    self.sections[section] = fields
        elif depth == 2 and tag == "CONTENT" and self.content == 1:
            self.content = 2


def software_section(payload: bytes) -> tuple[int, int, int] | None:
    """Where the software entries lie in an XML body, found by bytes alone: the offsets of
    the first ``<SOFTWARES``, of the last ``</SOFTWARES`` and just after its ``>``; None
    when there is none. The parser confirms that these are exactly the first CONTENT's
    SOFTWARES elements, with no other section between them, before the section's digest
    is trusted (``InventoryDocument.software_digest``)."""
    start = payload.find(b"<SOFTWARES")
    if start < 0:
        return None
    close = payload.rfind(b"</SOFTWARES")
    end = payload.find(b">", close) + 1 if close > start else 0
    if end <= 0:
        return None
    return start, close, end


def _section_digest(payload: bytes, start: int, end: int) -> str:
    h = hashlib.sha256(SOFTWARE_RULES_REVISION)
    h.update(memoryview(payload)[start:end])
    return h.hexdigest()


# The software section's fast path (``software_entries``): the section as plain SOFTWARES
# elements whose children are text-only fields, which is all agents write. Anything else
# (attributes, nested elements, comments, CDATA, character references, CR, "]]>", another
# encoding) is left to the streaming parser, so both give the same entries. The section is
# checked one entry at a time (each piece between two "</SOFTWARES>" on its own), so that
# an entry already seen is neither checked nor read again: a piece cannot hold a
# "</SOFTWARES>", so the pieces are plain exactly when the whole section is.
_SW_FIELD = r"<([A-Z][A-Z0-9_]*)(?:/>|>([^<]*)</\1>)"
_SW_BLOCK_RE = re.compile(r"[ \t\n]*<SOFTWARES>(?:[ \t\n]*" + _SW_FIELD + r")*[ \t\n]*")
_SW_FIELD_RE = re.compile(_SW_FIELD)
# C0 controls XML 1.0 does not allow (expat refuses them; as UTF-8 bytes they are these
# bytes and nothing else), and "&" not starting one of the five predefined entities.
_XML_C0_INVALID = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_XML_OTHER_REF_RE = re.compile(r"&(?!(?:amp|lt|gt|quot|apos);)")
_XML_DECL_RE = re.compile(rb"<\?xml[^>]*?encoding[ \t\r\n]*=[ \t\r\n]*[\"']([^\"']*)[\"']")
SOFTWARE_MEMO_SIZE = 16384
# Entries longer than this are read but not remembered: a token holder must not be able to
# pin SOFTWARE_MEMO_SIZE huge entries in every worker's memory. Real entries are a few
# hundred bytes.
SOFTWARE_MEMO_ENTRY_BYTES = 4096


class _NotPlain(Exception):
    """An entry the fast path cannot read exactly (not cached: the streaming parser reads
    such bodies)."""


def _declares_utf8(payload: bytes) -> bool:
    """The body is UTF-8 by its declaration (or none) and starts as ASCII-based XML does."""
    start = payload[3:] if payload.startswith(b"\xef\xbb\xbf") else payload
    start = start.lstrip(b" \t\r\n")
    if not start.startswith(b"<"):
        return False  # UTF-16 and other encodings without an ASCII prolog
    if not start.startswith(b"<?xml"):
        return True
    end = start.find(b"?>")
    match = _XML_DECL_RE.match(start[: end + 2] if end > 0 else b"")
    return match is None or match[1].strip().lower() in (b"utf-8", b"utf8")


def software_entries(payload: bytes, section: tuple[int, int, int]) -> list[d.Software] | None:
    """The entries of an XML body's software section (``software_section``), read without
    an XML parser, or None when the section is not plain enough for that to be exact.

    Only valid after ``parse_xml_quick`` accepted the same body: that parse proves the
    section sits at the top of the first CONTENT and checks the rest of the document; this
    one checks the section itself as strictly as expat would and cuts it with regular
    expressions. Equal entries are checked and read once per process
    (``_software_from_block``)."""
    if not _declares_utf8(payload):
        return None
    start, _close, end = section
    blocks = payload[start:end].split(b"</SOFTWARES>")
    # The section ends with the last "</SOFTWARES": anything but exactly "</SOFTWARES>"
    # there (spaces, another name) leaves a piece after the last separator.
    if blocks.pop():
        return None
    if len(blocks) > limit("INVENTORY_MAX_SOFTWARE"):
        return None  # the streaming parser raises the limit's error
    try:
        # Entries without a name are None; filter(None, ...) keeps every Software (no
        # __bool__ or __len__, so always true) without a Python-level call per entry.
        read = _software_from_block
        if max(map(len, blocks), default=0) > SOFTWARE_MEMO_ENTRY_BYTES:
            read = _software_from_block_bounded
        return list(filter(None, map(read, blocks)))
    except _NotPlain:
        return None


def _unescape(value: str) -> str:
    if "&" not in value:
        return value
    return (
        value.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


def _read_block(block: bytes) -> d.Software | None:
    """One entry ("<SOFTWARES>" and its fields, with the whitespace before it, up to its
    "</SOFTWARES>"), checked as expat would check it; raises ``_NotPlain`` otherwise.

    A fleet reports the same few thousand entries over and over. The Software returned is
    shared between documents: nothing may change it (none of our code does)."""
    try:
        text = block.decode("utf-8")  # strict: no invalid sequences, no surrogates
    except UnicodeDecodeError:
        raise _NotPlain from None
    if (
        len(block.translate(None, _XML_C0_INVALID)) != len(block)
        or "\ufffe" in text
        or "\uffff" in text
        or "\r" in text  # expat turns CR LF into LF
        or "]]>" in text
        or ("&" in text and _XML_OTHER_REF_RE.search(text))
        or not _SW_BLOCK_RE.fullmatch(text)
    ):
        raise _NotPlain
    pairs = _SW_FIELD_RE.findall(text)  # (tag, text): the last field of a name wins
    if "&" in text:
        return _software_from_xml({tag: _unescape(value) for tag, value in pairs})
    return _software_from_xml(dict(pairs))


_software_from_block = lru_cache(maxsize=SOFTWARE_MEMO_SIZE)(_read_block)


def _software_from_block_bounded(block: bytes) -> d.Software | None:
    if len(block) > SOFTWARE_MEMO_ENTRY_BYTES:
        return _read_block(block)
    return _software_from_block(block)


# "Not read yet", where None is parse_xml_quick's answer for a body it declines.
UNREAD = object()


def parse_xml_quick(payload: bytes, *, user_agent: str = "") -> tuple[XmlRequest, str] | None:
    """An INVENTORY request read without its software entries: the document has every
    other fact and an empty software list; returned with the software section's digest,
    for the ingest service to recognise an unchanged inventory whose other fields changed
    (``services.touch_unchanged_software``). None when the section cannot be cut out
    exactly, or the rest is not a valid inventory: then the full parse decides."""
    section = software_section(payload)
    if section is None:
        return None
    start, _close, end = section
    # An empty SOFTWARES stands in for the section, so the parse proves where it was: at
    # the top of the first CONTENT, not in a comment or another element.
    head = b"".join((payload[:start], b"<SOFTWARES/>", payload[end:]))
    reader = _XmlReader(1)
    try:
        reader.parse(head)
        request = _request(reader, user_agent)
    except (_Forbidden, expat.ExpatError, ValueError, InventoryError):
        return None
    if request.document is None or reader.software_count != 1 or reader.software:
        return None
    return request, _section_digest(payload, start, end)


def parse_xml(
    payload: bytes,
    *,
    user_agent: str = "",
    quick: tuple[XmlRequest, str] | None | object = UNREAD,
) -> XmlRequest:
    """A FusionInventory/OCS request. An inventory is read as its head (everything but the
    software entries, ``parse_xml_quick``; pass its result as ``quick`` if already made)
    plus its software section cut into entries by ``software_entries``; any body that path
    declines is read by the streaming parser, which gives the very same document."""
    if quick is UNREAD:
        quick = parse_xml_quick(payload, user_agent=user_agent)
    if isinstance(quick, tuple):
        head, digest = quick
        section = software_section(payload)
        entries = software_entries(payload, section) if section is not None else None
        if entries is not None and head.document is not None:
            document = dataclasses.replace(head.document, software=entries, software_digest=digest)
            return XmlRequest(head.query, head.device_id, document)
    return _parse_xml_streaming(payload, user_agent=user_agent)


def _parse_xml_streaming(payload: bytes, *, user_agent: str = "") -> XmlRequest:
    reader = _XmlReader(limit("INVENTORY_MAX_SOFTWARE"))
    try:
        reader.parse(payload)
    except _Forbidden as exc:
        raise InventoryError("body", _("XML 含有被禁止的构造（DTD/实体）。")) from exc
    except (expat.ExpatError, ValueError) as exc:
        raise InventoryError("body", _("XML 无法解析：%(err)s") % {"err": exc}) from exc
    request = _request(reader, user_agent)
    section = software_section(payload) if reader.software_count else None
    if (
        request.document is not None
        and section is not None
        and not reader.sw_interleaved
        and (reader.sw_first, reader.sw_last_close) == section[:2]
    ):
        request.document.software_digest = _section_digest(payload, section[0], section[2])
    return request


def _request(reader: _XmlReader, user_agent: str) -> XmlRequest:
    if reader.root != "REQUEST":
        raise InventoryError(
            "REQUEST", _("根元素应为 REQUEST，实际为 %(tag)s。") % {"tag": reader.root}
        )
    query = d.text(reader.head.get("QUERY"), 40).upper()
    device_id = d.text(reader.head.get("DEVICEID"), 255)
    if query == "PROLOG":
        return XmlRequest("PROLOG", device_id, None)
    if query != "INVENTORY":
        raise InventoryError(
            "QUERY",
            _("不支持的请求类型 %(query)s：只接受 PROLOG 和 INVENTORY（计算机清单）。")
            % {"query": query or "-"},
        )
    if not reader.content:
        raise InventoryError("CONTENT", _("缺少 CONTENT 元素。"))
    if reader.device_section and not reader.hardware_section:
        raise InventoryError("CONTENT.DEVICE", _("网络设备清单不受支持：只接受计算机清单。"))
    return XmlRequest("INVENTORY", device_id, _document_from_xml(device_id, reader, user_agent))


def _document_from_xml(device_id: str, reader: _XmlReader, user_agent: str) -> d.InventoryDocument:
    hardware = reader.sections.get("HARDWARE", {})
    bios = reader.sections.get("BIOS", {})
    osdata = reader.sections.get("OPERATINGSYSTEM", {})
    # The OCS unified agent names itself only in its User-Agent header.
    agent = d.text(reader.versionclient or user_agent, 100)
    lowered = agent.lower()
    if lowered.startswith("fusioninventory"):
        source = InventorySource.FUSIONINVENTORY
    elif lowered.startswith("ocs"):
        source = InventorySource.OCS
    else:
        source = InventorySource.XML
    # FusionInventory sends OPERATINGSYSTEM; OCS only HARDWARE/OSNAME and OSVERSION.
    os_name = d.text(osdata.get("FULL_NAME") or osdata.get("NAME"), d.NAME_MAX)
    os_version = d.text(osdata.get("VERSION"), d.VERSION_MAX)
    if not os_name:
        os_name = d.text(hardware.get("OSNAME"), d.NAME_MAX)
        os_version = d.text(hardware.get("OSVERSION"), d.VERSION_MAX)
    os_info = None
    if os_name:
        os_info = d.OperatingSystem(
            name=os_name,
            version=os_version,
            arch=d.text(osdata.get("ARCH"), d.SHORT_MAX),
            publisher="Microsoft" if "windows" in os_name.lower() else "",
            install_date=d.parse_date(osdata.get("INSTALL_DATE")),
            product_id=d.text(hardware.get("WINPRODID"), 64),
            partial_key=d.partial_key(hardware.get("WINPRODKEY")),
        )
    if reader.software_count > limit("INVENTORY_MAX_SOFTWARE"):
        raise InventoryError(
            "CONTENT.SOFTWARES",
            _("软件条目数 %(n)d 超过上限 %(limit)d。")
            % {"n": reader.software_count, "limit": limit("INVENTORY_MAX_SOFTWARE")},
            status=413,
        )
    memory = d.text(hardware.get("MEMORY"), 20)
    cpu = d.text(reader.cpu, 255) or d.text(hardware.get("PROCESSORT"), 255)
    return d.InventoryDocument(
        source=source,
        agent_device_id=device_id,
        agent=agent,
        hostname=d.text(hardware.get("NAME"), 255) or None,
        device_type=d.device_type(
            chassis=hardware.get("CHASSIS_TYPE"),
            vmsystem=hardware.get("VMSYSTEM"),
            os_name=os_name,
        ),
        manufacturer=d.text(bios.get("SMANUFACTURER"), 200) or None,
        model=d.text(bios.get("SMODEL"), 200) or None,
        serial_number=d.hardware_serial(bios.get("SSN")) or None,
        hardware_uuid=d.hardware_uuid(hardware.get("UUID")) or None,
        # No NETWORKS section says nothing about the MACs (as in JSON): the stored ones stay.
        macs=_macs(reader.macs, "CONTENT.NETWORKS") if reader.macs else None,
        cpu=cpu or None,
        # isdigit alone also takes "²", which int() refuses: ASCII digits only.
        memory_mb=int(memory)
        if memory.isascii() and memory.isdigit() and int(memory) <= d.MEMORY_MB_MAX
        else None,
        last_user=d.text(hardware.get("LASTLOGGEDUSER"), 150) or None,
        os=os_info,
        software=reader.software,
    )


def _software_from_xml(f: dict[str, str]) -> d.Software | None:
    name = d.text(f.get("NAME"), d.NAME_MAX)
    if not name:
        return None
    category = d.text(f.get("SYSTEM_CATEGORY"), 100)
    return d.Software(
        name=name,
        version=d.text(f.get("VERSION"), d.VERSION_MAX),
        publisher=d.text(f.get("PUBLISHER"), d.PUBLISHER_MAX),
        # FusionInventory writes ARCH, the OCS unified agent ARCHITECTURE.
        arch=d.text(f.get("ARCH") or f.get("ARCHITECTURE"), d.SHORT_MAX),
        install_date=d.parse_date(f.get("INSTALLDATE")),
        source=d.text(f.get("FROM"), d.SHORT_MAX),
        guid=d.text(f.get("GUID"), 255),
        owner=d.text(f.get("USERNAME"), 150),
        kind=d.software_kind(category=category, release_type=f.get("RELEASE_TYPE")),
        category=category,
    )


# ------------------------------------------------------------------------------ entry


def parse_inventory(
    body: bytes, content_type: str | None, *, user_agent: str = ""
) -> XmlRequest | d.InventoryDocument:
    """Any supported body → an XML request (PROLOG or INVENTORY) or a JSON document.

    JSON CONTACT requests are answered by the view before this is called.
    """
    payload = decode_body(body, content_type)
    if sniff(payload) == "json":
        return document_from_json(parse_json(payload))
    return parse_xml(payload, user_agent=user_agent)
