"""macOS collector: application bundles' ``Contents/Info.plist`` read with plistlib."""

from __future__ import annotations

import os
import plistlib
import re
import subprocess
import sys
from typing import Any

APP_DIRS = ("Applications", "Applications/Utilities", "System/Applications")
# Apple's applications sold in the App Store (lower case): the rest of com.apple.* comes
# with macOS (Safari, Mail and, before macOS 10.15, many more in /Applications) or free.
APPLE_PAID_BUNDLES = frozenset(
    {
        "com.apple.finalcut",
        "com.apple.logic10",
        "com.apple.motionapp",
        "com.apple.compressor",
        "com.apple.mainstage3",
    }
)


def read_app(bundle: str) -> dict[str, Any] | None:
    """Software item for one ``.app`` bundle, or None if its Info.plist is unreadable."""
    plist = os.path.join(bundle, "Contents", "Info.plist")
    try:
        with open(plist, "rb") as fh:
            info = plistlib.load(fh)  # handles both XML and binary plists
    except Exception:  # noqa: BLE001 - expat, plistlib and OS errors: one bad bundle is skipped
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
        # Apple's own programs come with the system, except its paid ones, which must be
        # licensed like any other.
        "system_category": "system_component"
        if str(bundle_id or "").startswith("com.apple.")
        and str(bundle_id).lower() not in APPLE_PAID_BUNDLES
        else "application",
        "from": "mac",
    }


_PLATFORM_UUID_RE = re.compile(r'"IOPlatformUUID"\s*=\s*"([0-9A-Fa-f-]{36})"')


def platform_uuid(ioreg_output: str) -> str | None:
    """The machine's hardware UUID from ``ioreg -rd1 -c IOPlatformExpertDevice``: a Mac
    has no /etc/machine-id, and its host name is neither unique nor stable."""
    match = _PLATFORM_UUID_RE.search(ioreg_output)
    return match.group(1).upper() if match else None


def _read_platform_uuid() -> str | None:
    try:
        out = subprocess.run(
            ["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return platform_uuid(out)


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
    if sys.platform == "darwin" and os.path.abspath(root) == "/":
        # Sent as the hardware UUID, which the server matches devices by before the host
        # name. The device id stays as it was (a Mac that reported before keeps its id).
        uuid = _read_platform_uuid()
        if uuid:
            inventory.hardware.setdefault("uuid", uuid)
    for bundle in find_apps(root):
        item = read_app(bundle)
        if item:
            inventory.add_software(**item)
