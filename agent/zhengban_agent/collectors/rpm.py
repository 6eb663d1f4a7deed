"""rpm collector (openEuler, Kylin server, NeoKylin): ``rpm -qa --queryformat``."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from typing import Any

FIELDS = (
    "NAME",
    "EPOCH",
    "VERSION",
    "RELEASE",
    "ARCH",
    "VENDOR",
    "PACKAGER",
    "INSTALLTIME",
    "SIZE",
    "GROUP",
    "SUMMARY",
)
# One package per line, fields separated by tabs; SUMMARY is last because it is free text.
QUERY_FORMAT = "\\t".join(f"%{{{f}}}" for f in FIELDS) + "\\n"


def _none(value: str) -> str | None:
    return None if value in ("", "(none)") else value


def parse_rpm_output(text: str) -> list[dict[str, Any]]:
    """Software items from ``rpm -qa --queryformat QUERY_FORMAT`` output."""
    items: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.split("\t", len(FIELDS) - 1)
        if len(parts) != len(FIELDS):
            continue
        row = dict(zip(FIELDS, parts))
        # gpg-pubkey "packages" are the signing keys rpm trusts, not software.
        if row["NAME"] == "gpg-pubkey":
            continue
        version = row["VERSION"]
        if _none(row["RELEASE"]):
            version += "-" + row["RELEASE"]
        if _none(row["EPOCH"]):
            version = f"{row['EPOCH']}:{version}"
        install_date = None
        if row["INSTALLTIME"].isdigit():
            ts = datetime.datetime.fromtimestamp(int(row["INSTALLTIME"]))
            install_date = ts.strftime("%Y-%m-%d")
        items.append(
            {
                "name": row["NAME"],
                "version": version,
                "arch": _none(row["ARCH"]),
                "publisher": _none(row["VENDOR"]) or _none(row["PACKAGER"]),
                "install_date": install_date,
                "filesize": int(row["SIZE"]) if row["SIZE"].isdigit() else None,
                "system_category": _none(row["GROUP"]),
                "comments": _none(row["SUMMARY"]),
                "from": "rpm",
            }
        )
    return items


def collect(inventory: Any, root: str = "/") -> None:
    rpm = shutil.which("rpm")
    if not rpm:
        return
    cmd = [rpm, "-qa", "--queryformat", QUERY_FORMAT]
    if root not in ("", "/"):
        cmd[1:1] = ["--root", root]
    proc = subprocess.run(cmd, capture_output=True, timeout=600, check=False)
    # On Debian-family systems rpm may be installed with an empty database: nothing to add.
    for item in parse_rpm_output(proc.stdout.decode("utf-8", errors="replace")):
        inventory.add_software(**item)
