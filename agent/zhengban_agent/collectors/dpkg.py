"""dpkg collector (Debian family: Kylin, UOS, Deepin): reads ``/var/lib/dpkg/status`` directly.

Reading the status file rather than running ``dpkg-query`` keeps the agent working where the
tool is missing or locked, and lets tests run it on any root directory.
"""

from __future__ import annotations

import datetime
import os
import re
from typing import Any, Iterator

STATUS_FILE = "var/lib/dpkg/status"
# dpkg's journal: records written since the status file was last rewritten (dpkg folds them
# in every so often, and at its next run after an interruption); dpkg-query reads both.
UPDATES_DIR = "var/lib/dpkg/updates"
INFO_DIR = "var/lib/dpkg/info"
# Only fully installed packages count, as ``ii`` in ``dpkg-query -W -f '${db:Status-Abbrev}'``:
# "deinstall ok config-files" (rc) are removed packages that left configuration behind, and
# half-installed / unpacked packages are not usable software.
INSTALLED = "installed"  # the third word of Status: want, error flag, status

_EMAIL_RE = re.compile(r"\s*<[^>]*>\s*")


def parse_status(text: str) -> Iterator[dict[str, str]]:
    """Yield the stanzas of a dpkg status file as ``{Field: value}`` (continuation lines are
    joined with newlines, field names kept as written)."""
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, None
            continue
        if line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        last = name.strip()
        fields[last] = value.strip()
    if fields:
        yield fields


def publisher_from_maintainer(maintainer: str) -> str:
    """``Debian Python Team <team+python@tracker.debian.org>`` -> ``Debian Python Team``."""
    name = _EMAIL_RE.sub(" ", maintainer).strip()
    return name or maintainer.strip()


def _install_date(root: str, package: str, arch: str) -> str | None:
    """dpkg rewrites ``info/<pkg>.list`` (``<pkg>:<arch>.list`` for Multi-Arch: same packages)
    when it unpacks the package, so its mtime is the install or last upgrade date."""
    info = os.path.join(root, INFO_DIR)
    for name in (f"{package}:{arch}.list", f"{package}.list"):
        try:
            mtime = os.stat(os.path.join(info, name)).st_mtime
        except OSError:
            continue
        return datetime.datetime.fromtimestamp(mtime).strftime("%Y-%m-%d")
    return None


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _records(root: str) -> list[dict[str, str]]:
    """Every package's current record, as dpkg-query sees it: the status file, then the
    journal's files (named by number) in order, each record replacing the package's."""
    records: dict[tuple[str, str], dict[str, str]] = {}
    for st in parse_status(_read(os.path.join(root, STATUS_FILE))):
        records[(st.get("Package", ""), st.get("Architecture", ""))] = st
    updates = os.path.join(root, UPDATES_DIR)
    try:
        journal = sorted((n for n in os.listdir(updates) if n.isdigit()), key=int)
    except OSError:
        journal = []
    for name in journal:
        try:
            text = _read(os.path.join(updates, name))
        except OSError:
            continue
        for st in parse_status(text):
            records[(st.get("Package", ""), st.get("Architecture", ""))] = st
    return list(records.values())


def installed_packages(root: str = "/") -> list[dict[str, Any]]:
    """Software items for every package dpkg has installed: status ``installed`` whatever
    is wanted of it (``ii``, and ``hi`` for a package held with ``apt-mark hold``, as
    people hold WPS or a kernel: still on disk, still to be licensed)."""
    items: list[dict[str, Any]] = []
    for st in _records(root):
        words = st.get("Status", "").split()
        if len(words) != 3 or words[2] != INSTALLED:
            continue
        package = st.get("Package", "")
        if not package:
            continue
        arch = st.get("Architecture", "")
        size = st.get("Installed-Size", "")
        description = st.get("Description", "").split("\n", 1)[0]
        items.append(
            {
                "name": package,
                "version": st.get("Version"),
                "publisher": publisher_from_maintainer(st.get("Maintainer", "")) or None,
                "arch": arch or None,
                "install_date": _install_date(root, package, arch),
                "comments": description or None,
                "system_category": st.get("Section") or None,
                # Installed-Size is in KiB.
                "filesize": int(size) * 1024 if size.isdigit() else None,
                "from": "dpkg",
            }
        )
    return items


def collect(inventory: Any, root: str = "/") -> None:
    if not os.path.exists(os.path.join(root, STATUS_FILE)):
        return
    for item in installed_packages(root):
        inventory.add_software(**item)
