"""The one internal inventory document every way in (GLPI JSON, FusionInventory/OCS XML,
spreadsheets, .reg exports) is normalised into before the ingest service sees it.

Values here are already cleaned: trimmed, control characters removed (PostgreSQL refuses NUL
in text), cut to the column sizes, dates parsed, MAC addresses normalised, junk hardware ids
dropped. ``None`` means "not reported", which matters for partial inventories.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re
from dataclasses import dataclass, field

from zhengban.inventory.choices import DeviceType, InstallationKind, OSActivation

# Column sizes of Installation / Device (kept in one place for the cleaners).
NAME_MAX = 512
VERSION_MAX = 128
MEMORY_MB_MAX = 2_147_483_647  # Device.memory_mb: a positive 32-bit integer column
PUBLISHER_MAX = 255
SHORT_MAX = 32

_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def text(value: object, limit: int = 255) -> str:
    """A clean single-line string: control characters and lone surrogates become spaces."""
    if type(value) is str:
        s = value
    elif value is None:
        return ""
    elif isinstance(value, bool):
        s = "1" if value else "0"
    else:
        s = str(value)
    if not s.isprintable():  # control characters and surrogates are not printable
        s = _CONTROL_RE.sub(" ", s)
    s = s.strip()
    if len(s) > limit:
        s = s[:limit].rstrip()
    return s


_DATE_PATTERNS = [
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$"), ("y", "m", "d")),
    (re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T].*)?$"), ("y", "m", "d")),
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), ("y", "m", "d")),  # Windows InstallDate
    # FusionInventory writes dd/mm/yyyy; US-style month-first dates are told apart when
    # the day cannot be a month.
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T].*)?$"), ("d", "m", "y")),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$"), ("d", "m", "y")),
    (re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"), ("y", "m", "d")),
    # Chinese Excel's long date, as it writes it into CSV files.
    (re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"), ("y", "m", "d")),
]


def parse_date(value: object) -> datetime.date | None:
    """A plausible install date, or None ("N/A", 1970-01-01 placeholders, nonsense)."""
    if type(value) is str and len(value) <= 40:
        return _parse_date_text(value)
    return _parse_date_text(text(value, 40))


@functools.lru_cache(maxsize=65536)
def _typed_repr(kind_type: type, fields: tuple) -> str:
    return repr(fields)


def _fields_repr(fields: tuple) -> str:
    """repr() of an entry's fields, memoised: a fleet's inventories repeat the same entries
    (the parsers even share their strings), and repr was most of content_hash()'s cost; a
    tuple of strings already hashed is looked up for a fraction of that. The kind's type is
    part of the key: a plain "application" equals InstallationKind.APPLICATION but has
    another repr, and the hash must stay what repr() gives."""
    return _typed_repr(type(fields[0]), fields)


def _row_of(software: Software) -> str:
    row = software._row = _fields_repr(software.fields())
    return row


@functools.lru_cache(maxsize=8192)
def _parse_date_text(value: str) -> datetime.date | None:
    # An inventory repeats a few hundred distinct dates thousands of times.
    s = text(value, 40)
    if not s:
        return None
    for pattern, order in _DATE_PATTERNS:
        m = pattern.match(s)
        if not m:
            continue
        parts = dict(zip(order, (int(g) for g in m.groups()), strict=True))
        y, mo, d = parts["y"], parts["m"], parts["d"]
        if mo > 12 and d <= 12:
            mo, d = d, mo
        try:
            date = datetime.date(y, mo, d)
        except ValueError:
            return None
        # Epoch and far-future placeholders are not install dates.
        if date.year < 1980 or date.year > 2100:
            return None
        return date
    return None


_MAC_HEX_RE = re.compile(r"[^0-9a-f]")

# MACs that many machines share, so they identify none: adapters that Windows, VMware and
# VPN or mobile-broadband drivers create with the same address everywhere (the list GLPI
# and OCS keep for the same reason).
_SHARED_MACS = frozenset(
    {
        "204153594eff",  # RAS async adapter
        "02004e435049",  # NCP secure client virtual adapter
        "e2e616200a35",  # WatchGuard Fireware
        "d20a2da004be",  # WatchGuard Fireware
        "d26b252f2ce7",  # WatchGuard Fireware
        "00a0c6000000",  # Qualcomm Gobi mobile broadband
        "33506f453030",  # WAN Miniport (PPPoE)
        "505054503030",  # WAN Miniport (PPTP)
        "0a0027000000",  # VirtualBox host-only
        "028037ec0200",  # Dell Wireless 5530 mobile broadband
        "24b620524153",  # Huawei mobile broadband
        "000bcafe0000",  # Fortinet SSL VPN
        "02004c4f4f50",  # Microsoft loopback adapter ("LOOP")
    }
)
_SHARED_MAC_PREFIXES = (
    "005056c0",  # VMware Workstation's host adapters (vmnet1, vmnet8, …) on every host
    "44455354",  # WAN Miniport / RAS ("DEST")
)


# Migration inventory 0015 calls normalise_mac, hardware_serial and hardware_uuid to clear
# what they reject: keep these names (or give the migration its own copy of the rules).


def normalise_mac(value: object) -> str | None:
    """'AA-BB-CC-DD-EE-FF' → 'aa:bb:cc:dd:ee:ff'; None for junk (zero, broadcast, multicast,
    and the adapters' addresses that many machines share)."""
    s = _MAC_HEX_RE.sub("", text(value, 64).lower())
    # fe:ff:ff:ff:ff:ff is Xen's placeholder for a guest's backend interface.
    if len(s) != 12 or s in ("000000000000", "ffffffffffff", "feffffffffff"):
        return None
    if int(s[:2], 16) & 0x01:  # multicast
        return None
    if s in _SHARED_MACS or s.startswith(_SHARED_MAC_PREFIXES):
        return None
    return ":".join(s[i : i + 2] for i in range(0, 12, 2))


def mac_is_universal(mac: str) -> bool:
    """Burnt-in (universally administered) MACs identify a card; locally administered ones
    (containers, some VMs, randomised Wi-Fi) do not."""
    return not int(mac[:2], 16) & 0x02


# Placeholders that firmware, images and people put where a serial belongs, compared with
# case, spaces and punctuation left out ("To be filled by O.E.M", "OEM_Serial", "N/A").
_JUNK_SERIALS = frozenset(
    {
        "",
        "none",
        "null",
        "nullstring",
        "na",
        "unknown",
        "unknow",
        "invalid",
        "empty",
        "eval",
        "default",
        "defaultstring",
        "defaultsystemserialnumber",
        "tobefilledbyoem",
        "systemserialnumber",
        "systemserialnumb",
        "systemproductname",
        "productname",
        "chassisserialnumber",
        "baseboardserialnumber",
        "notspecified",
        "notapplicable",
        "notavailable",
        "oem",
        "oemserial",
        "serial",
        "serialnumber",
        "serialnumberxxxxxx",
        "iatpass",
        "nnnnnnn",
        "sys1234567890",
        "sys9876543210",
        "sn12345",
        "sn1234567890",
        "mb1234567890",
        "0123456789",
        "12345",
        "123456",
        "1234567",
        "12345678",
        "123456789",
        "1234567890",
        "123456789000",
        "12345678901234567",
        "9876543210",
    }
)
_JUNK_SERIAL_RE = re.compile(r"^(0x)?0+$")
_ID_PUNCTUATION_RE = re.compile(r"[\W_]+")


def uuid_swapped(uuid: str) -> str:
    """The UUID with its first three fields in the other byte order. SMBIOS before 2.6 left
    the order open: Windows and dmidecode print the same machine's UUID in opposite orders,
    so a machine re-imaged from one to the other reports both."""
    if len(uuid) != 36 or uuid[8] != "-" or uuid[13] != "-" or uuid[18] != "-":
        return uuid
    a, b, c, rest = uuid[:8], uuid[9:13], uuid[14:18], uuid[18:]
    a = "".join(reversed([a[i : i + 2] for i in range(0, 8, 2)]))
    return f"{a}-{b[2:]}{b[:2]}-{c[2:]}{c[:2]}{rest}"


def _junk_uuids() -> frozenset[str]:
    listed = (
        "03000200-0400-0500-0006-000700080009",  # AMI's placeholder
        "6AB5B300-538D-1014-9FB5-B0684D007B53",
        "01010101-0101-0101-0101-010101010101",
        "12345678-1234-5678-90AB-CDDEEFAABBCC",
        "00112233-4455-6677-8899-AABBCCDDEEFF",
    )
    # The same placeholder arrives in both byte orders.
    return frozenset(listed) | {uuid_swapped(uuid) for uuid in listed}


_JUNK_UUIDS = _junk_uuids()


# Upper-casing can lengthen a string ("ß" → "SS"): identifiers are cut to their column
# again after it.


def hardware_serial(value: object) -> str:
    s = text(value, 100)
    folded = _ID_PUNCTUATION_RE.sub("", s.lower())
    if folded in _JUNK_SERIALS or _JUNK_SERIAL_RE.match(folded) or len(set(folded)) <= 1:
        return ""
    return s.upper()[:100]


def hardware_uuid(value: object) -> str:
    s = text(value, 64)
    upper = s.upper()
    folded = _ID_PUNCTUATION_RE.sub("", s.lower())
    if (
        folded in _JUNK_SERIALS
        or set(folded) <= {"0", "f"}  # all zeros, all Fs, or a mix of both
        or len(set(folded)) <= 1
        or upper in _JUNK_UUIDS
    ):
        return ""
    return upper[:64]


_LAPTOP_CHASSIS = {
    "notebook",
    "laptop",
    "portable",
    "sub notebook",
    "hand held",
    "convertible",
    "detachable",
    "tablet",
}
_DESKTOP_CHASSIS = {
    "desktop",
    "tower",
    "mini tower",
    "low profile desktop",
    "all in one",
    "space-saving",
    "mini pc",
    "pizza box",
    "lunch box",
    "stick pc",
}
_SERVER_CHASSIS = {
    "server",
    "rack mount chassis",
    "blade",
    "blade enclosure",
    "main server chassis",
    "multi-system chassis",
}


def device_type(*, chassis: object, vmsystem: object, os_name: object) -> str | None:
    vm = text(vmsystem, 50).lower()
    if vm and vm != "physical":
        return DeviceType.VM
    if "android" in text(os_name, 200).lower():
        return DeviceType.MOBILE
    c = text(chassis, 50).lower()
    if c in _LAPTOP_CHASSIS:
        return DeviceType.LAPTOP
    if c in _DESKTOP_CHASSIS:
        return DeviceType.DESKTOP
    if c in _SERVER_CHASSIS:
        return DeviceType.SERVER
    return None


_ACTIVATION = {
    "licensed": OSActivation.LICENSED,
    "unlicensed": OSActivation.UNLICENSED,
    "notification": OSActivation.NOTIFICATION,
    "oob_grace": OSActivation.GRACE,
    "oot_grace": OSActivation.GRACE,
    "non_genuine_grace": OSActivation.GRACE,
    "extended_grace": OSActivation.GRACE,
}


def activation_state(value: object) -> str:
    return _ACTIVATION.get(text(value, 40).lower(), OSActivation.UNKNOWN)


def partial_key(value: object) -> str:
    """Only the last five characters of a product key are kept, whatever was sent."""
    s = text(value, 64).replace("-", "")
    return s[-5:].upper()[-5:] if len(s) >= 5 and not set(s) <= {"X", "x"} else ""


# Windows "system_category" values our agent and GLPI agents send for Uninstall entries.
_KIND_BY_CATEGORY = {
    "application": InstallationKind.APPLICATION,
    "system_component": InstallationKind.SYSTEM_COMPONENT,
    "update": InstallationKind.UPDATE,
    "hidden_no_uninstall": InstallationKind.HIDDEN,
    "hidden": InstallationKind.HIDDEN,
}
_UPDATE_RELEASE_TYPES = {"update", "hotfix", "security update", "service pack"}


def software_kind(*, category: str, release_type: object = None) -> str:
    kind = _KIND_BY_CATEGORY.get(category.lower())
    if kind is not None:
        return kind
    if text(release_type, 40).lower() in _UPDATE_RELEASE_TYPES:
        return InstallationKind.UPDATE
    return InstallationKind.APPLICATION


@dataclass(slots=True)
class Software:
    """One installation as reported. Not changed once made: the XML parser shares equal
    entries between documents, and ``content_hash`` keeps each entry's row in ``_row``."""

    name: str
    version: str = ""
    publisher: str = ""
    arch: str = ""
    install_date: datetime.date | None = None
    source: str = ""
    guid: str = ""
    owner: str = ""
    kind: str = InstallationKind.APPLICATION
    category: str = ""
    # repr(self.fields()), filled by InventoryDocument.content_hash.
    _row: str = field(default="", init=False, repr=False, compare=False)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What makes two reports the same install (the version is what may change).

        Name, architecture, per-user owner and registry key: a 32- and a 64-bit copy, or
        two users' copies, are separate installs. Several versions under one identity
        (Linux kernels) are paired by the ingest service.
        """
        return (self.name, self.arch, self.owner, self.guid)

    def fields(self) -> tuple:
        return (
            self.kind,
            self.name,
            self.publisher,
            self.version,
            self.arch,
            self.install_date,
            self.source,
            self.guid,
            self.owner,
            self.category,
        )


@dataclass(slots=True)
class OperatingSystem:
    name: str  # the full name, e.g. "Microsoft Windows 10 专业版"
    version: str = ""
    edition: str = ""
    arch: str = ""
    publisher: str = ""
    install_date: datetime.date | None = None
    product_id: str = ""
    partial_key: str = ""
    activation: str = OSActivation.UNKNOWN

    def as_software(self) -> Software:
        return Software(
            name=self.name,
            version=self.version,
            publisher=self.publisher,
            arch=self.arch,
            install_date=self.install_date,
            source="os",
            kind=InstallationKind.OS,
            category=self.edition,
        )


@dataclass
class InventoryDocument:
    source: str
    agent_device_id: str = ""
    agent: str = ""
    partial: bool = False
    hostname: str | None = None
    device_type: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    hardware_uuid: str | None = None
    macs: list[str] | None = None
    cpu: str | None = None
    memory_mb: int | None = None
    last_user: str | None = None
    os: OperatingSystem | None = None
    # None: a partial inventory without a software section (keep what is stored).
    software: list[Software] | None = field(default_factory=list)
    # sha256 of the software section's raw bytes when the parser could delimit it exactly
    # (FusionInventory/OCS XML; see ``parsers.software_section``), else "".
    software_digest: str = ""

    def platform(self) -> str:
        """The recogniser's platform hint: windows, linux, macos or ''."""
        name = (self.os.name if self.os else "").lower()
        if "windows" in name:
            return "windows"
        if "mac" in name or "darwin" in name:
            return "macos"
        if name:
            return "linux"
        return ""

    def installations(self) -> list[Software]:
        """The software list with the operating system as one more installation."""
        items = list(self.software or [])
        if self.os is not None:
            items.append(self.os.as_software())
        return items

    def _head(self) -> bytes:
        """Every stored fact of the document except the software list."""
        head = (
            self.agent_device_id,
            self.partial,
            self.hostname,
            self.device_type,
            self.manufacturer,
            self.model,
            self.serial_number,
            self.hardware_uuid,
            tuple(sorted(self.macs)) if self.macs is not None else None,
            self.cpu,
            self.memory_mb,
            self.last_user,
            (
                (
                    self.os.name,
                    self.os.version,
                    self.os.edition,
                    self.os.arch,
                    self.os.product_id,
                    self.os.partial_key,
                    self.os.activation,
                )
                if self.os
                else None
            ),
            self.software is None,
        )
        return repr(head).encode("utf-8", "surrogatepass")

    def quick_key(self, software_digest: str | None = None) -> str:
        """sha256 over the stored facts except the software list, and the raw software
        section's digest: equal keys mean an unchanged inventory, whatever volatile fields
        (uptime, dates of the last run) the rest of the body carries. "" without a digest."""
        digest = self.software_digest if software_digest is None else software_digest
        if not digest:
            return ""
        return hashlib.sha256(self._head() + b"\x1e" + digest.encode()).hexdigest()

    def content_hash(self) -> str:
        """sha256 over every fact the ingest service stores from this document."""
        h = hashlib.sha256()
        h.update(self._head())
        # A shared entry (see Software) keeps its row: a repeat costs an attribute read.
        rows = [s._row or _row_of(s) for s in self.installations()]
        rows.sort()
        h.update("\x1e".join(rows).encode("utf-8", "surrogatepass"))
        return h.hexdigest()
