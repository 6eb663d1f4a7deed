"""The inventory document, in the GLPI-agent JSON format that zhengban's ingest URL accepts.

Schema: ``formats/glpi-inventory/inventory.schema.json``. Besides the schema's standard software
fields we fill the ones the server's recognition and licensing need: ``from`` (registry, dpkg,
rpm, mac), ``system_category`` (application, system_component, update, hidden_no_uninstall),
``guid`` (MSI ProductCode), ``username``/``userid`` for per-user installs.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import sys
import uuid
from typing import Any

from . import AGENT_NAME, __version__
from .regfile import PROGRAM, SYSTEM_COMPONENT, UninstallEntry

# system_category values for Windows Uninstall entries.
CATEGORY_APPLICATION = "application"
CATEGORY_SYSTEM_COMPONENT = "system_component"
CATEGORY_UPDATE = "update"
CATEGORY_HIDDEN = "hidden_no_uninstall"

# Namespace for deriving the device id: systemd asks applications not to expose machine-id
# itself, but an application-specific hash of it (sd_id128_get_machine_app_specific).
DEVICE_NAMESPACE = uuid.UUID("7d0f4a8e-3c55-4f4e-9a43-7a6b0b3e1d52")


def software_category(entry: UninstallEntry) -> str:
    """The ``system_category`` sent for an Uninstall entry (entries without a name are never
    sent: they have nothing to recognise)."""
    if entry.is_update:
        return CATEGORY_UPDATE
    if entry.kind == PROGRAM:
        return CATEGORY_APPLICATION
    if entry.kind == SYSTEM_COMPONENT:
        return CATEGORY_SYSTEM_COMPONENT
    return CATEGORY_HIDDEN


def device_id_from_machine_id(machine_id: str) -> str:
    """Stable device id that survives renaming the host but never reveals the machine id."""
    return str(uuid.uuid5(DEVICE_NAMESPACE, machine_id.strip().lower()))


class Inventory:
    """Mutable collection of the sections; :meth:`to_dict` renders the JSON document."""

    def __init__(self) -> None:
        self.hardware: dict[str, Any] = {}
        self.operatingsystem: dict[str, Any] = {}
        self.bios: dict[str, Any] = {}
        self.softwares: list[dict[str, Any]] = []
        self.networks: list[dict[str, Any]] = []
        self.cpus: list[dict[str, Any]] = []
        self.memories: list[dict[str, Any]] = []
        self.licenseinfos: list[dict[str, Any]] = []
        self.machine_id: str | None = None
        self.errors: list[str] = []

    # -- software -------------------------------------------------------------------------

    def add_software(self, **fields: Any) -> None:
        """Add one software item; empty and None fields are left out."""
        item = {k: v for k, v in fields.items() if v is not None and v != ""}
        if not item.get("name"):
            return
        self.softwares.append(item)

    def add_uninstall_entry(
        self,
        entry: UninstallEntry,
        user_names: dict[str, str] | None = None,
        native_arch: str = "x86_64",
    ) -> None:
        """Add a Windows Uninstall entry. Every named entry is kept, hidden ones marked by
        ``system_category``, because licensing must see system components and updates too."""
        if not entry.name:
            return
        username = None
        if entry.scope == "user":
            username = (user_names or {}).get(entry.user_sid or "") or entry.user_sid
        size = entry.estimated_size_kb * 1024 if entry.estimated_size_kb else None
        self.add_software(
            name=entry.name,
            version=entry.version,
            publisher=entry.publisher,
            install_date=entry.install_date,
            arch="i586" if entry.view == "32" else native_arch,
            guid=entry.guid,
            system_category=software_category(entry),
            release_type=entry.release_type,
            uninstall_string=entry.uninstall_string,
            url_info_about=entry.url_info_about,
            helplink=entry.help_link,
            comments=entry.comments,
            folder=entry.install_location,
            filesize=size,
            no_remove=entry.no_remove or None,
            username=username,
            userid=entry.user_sid,
            **{"from": "registry"},
        )

    # -- document -------------------------------------------------------------------------

    def device_id(self) -> str:
        if self.machine_id:
            return device_id_from_machine_id(self.machine_id)
        # Without a machine id, fall back on what GLPI agents use: name and MAC addresses.
        macs = sorted(n["mac"] for n in self.networks if n.get("mac"))
        seed = "|".join([self.hardware.get("name", socket.gethostname())] + macs)
        return str(uuid.UUID(hashlib.sha256(seed.encode()).hexdigest()[:32]))

    def to_dict(self, tag: str | None = None) -> dict[str, Any]:
        content: dict[str, Any] = {
            "versionclient": f"{AGENT_NAME}_v{__version__}",
            "hardware": self.hardware,
            "operatingsystem": self.operatingsystem,
            "softwares": self.softwares,
        }
        for name in ("bios", "networks", "cpus", "memories", "licenseinfos"):
            section = getattr(self, name)
            if section:
                content[name] = section
        doc: dict[str, Any] = {
            "action": "inventory",
            "deviceid": self.device_id(),
            "itemtype": "Computer",
            "content": content,
        }
        if tag:
            doc["tag"] = tag
        return doc


def to_json_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")


def collect_inventory(root: str = "/") -> Inventory:
    """Run the collectors for the platform this agent runs on."""
    inv = Inventory()
    inv.hardware["name"] = socket.gethostname().split(".")[0]
    if sys.platform == "win32":  # pragma: no cover - needs Windows
        from .collectors import windows

        _guarded(inv, "windows", lambda: windows.collect(inv))
    elif sys.platform == "darwin":  # pragma: no cover - needs macOS
        from .collectors import macos, system

        _guarded(inv, "system", lambda: system.collect(inv, root))
        _guarded(inv, "mac", lambda: macos.collect(inv, root))
    else:
        from .collectors import dpkg, rpm, system

        _guarded(inv, "system", lambda: system.collect(inv, root))
        _guarded(inv, "dpkg", lambda: dpkg.collect(inv, root))
        _guarded(inv, "rpm", lambda: rpm.collect(inv, root))
    if "arch" not in inv.operatingsystem:
        inv.operatingsystem["arch"] = platform.machine()
    return inv


def _guarded(inv: Inventory, name: str, fn: Any) -> None:
    """One collector failing must not lose the others' data: record the error and go on."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - any failure of a collector is reported, not fatal
        inv.errors.append(f"{name}: {type(exc).__name__}: {exc}")
