"""macOS collector: application bundles' ``Contents/Info.plist`` read with plistlib."""

from __future__ import annotations

import os
import plistlib
from typing import Any

APP_DIRS = ("Applications", "Applications/Utilities", "System/Applications")


def read_app(bundle: str) -> dict[str, Any] | None:
    """Software item for one ``.app`` bundle, or None if its Info.plist is unreadable."""
    plist = os.path.join(bundle, "Contents", "Info.plist")
    try:
        with open(plist, "rb") as fh:
            info = plistlib.load(fh)  # handles both XML and binary plists
    except (OSError, plistlib.InvalidFileException, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    name = (
        info.get("CFBundleDisplayName")
        or info.get("CFBundleName")
        or os.path.basename(bundle)[: -len(".app")]
    )
    version = info.get("CFBundleShortVersionString") or info.get("CFBundleVersion")
    bundle_id = info.get("CFBundleIdentifier")
    return {
        "name": str(name),
        "version": str(version) if version else None,
        "comments": f"bundle id: {bundle_id}" if bundle_id else None,
        "folder": bundle,
        "system_category": "system_component"
        if str(bundle_id or "").startswith("com.apple.")
        else "application",
        "from": "mac",
    }


def find_apps(root: str = "/", depth: int = 2) -> list[str]:
    """Bundles in the standard application folders, looking one folder deep for suites
    (``/Applications/Microsoft Office/...app``) but never inside a bundle."""
    found: list[str] = []
    seen = set()

    def walk(path: str, level: int) -> None:
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return
        for name in names:
            full = os.path.join(path, name)
            if name.endswith(".app"):
                real = os.path.realpath(full)
                if real not in seen and os.path.isdir(full):
                    seen.add(real)
                    found.append(full)
            elif level < depth and os.path.isdir(full) and not os.path.islink(full):
                walk(full, level + 1)

    for d in APP_DIRS:
        walk(os.path.join(root, d), 1)
    return found


def collect(inventory: Any, root: str = "/") -> None:
    for bundle in find_apps(root):
        item = read_app(bundle)
        if item:
            inventory.add_software(**item)
