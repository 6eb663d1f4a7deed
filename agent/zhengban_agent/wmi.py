"""WMI queries without pywin32: run ``powershell Get-CimInstance`` (or ``wmic``) and parse.

The parsers are pure functions so they are tested on Linux with real ``wmic /format:list``
dumps (``SoftwareLicensingProduct``, ``Win32_OperatingSystem``).
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from typing import Any, Dict, Sequence

Record = Dict[str, Any]

# SoftwareLicensingProduct.LicenseStatus, as documented for the WMI class (slmgr /dli).
LICENSE_STATUS = {
    0: "unlicensed",
    1: "licensed",
    2: "oob_grace",
    3: "oot_grace",
    4: "non_genuine_grace",
    5: "notification",
    6: "extended_grace",
}

_WMI_DATETIME_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})")


def decode_text(data: bytes) -> str:
    """wmic writes UTF-16LE (with BOM when redirected); PowerShell output may be UTF-8."""
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le", errors="replace")
    if len(data) >= 2 and data[1] == 0:
        return data.decode("utf-16-le", errors="replace")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def _list_value(v: str) -> Any:
    """wmic prints arrays as ``{"a","b"}``; return them as lists of strings."""
    if v.startswith("{") and v.endswith("}") and '"' in v:
        return re.findall(r'"((?:[^"\\]|\\.)*)"', v)
    return v


def parse_wmic_list(text: str) -> list[Record]:
    """Parse ``wmic ... get /format:list`` output: ``Name=value`` lines, blank lines between
    instances. Empty values become None; arrays become lists."""
    records: list[Record] = []
    current: Record = {}
    for raw in text.splitlines():
        line = raw.strip("\r\n\ufeff")
        if not line.strip():
            if current:
                records.append(current)
                current = {}
            continue
        if "=" not in line:
            continue
        name, _, value = line.partition("=")
        value = value.strip()
        current[name.strip()] = _list_value(value) if value else None
    if current:
        records.append(current)
    return records


def wmi_datetime(value: Any) -> str | None:
    """``20130813153755.000000+120`` -> ``2013-08-13 15:37:55``; None for unset dates."""
    if not isinstance(value, str):
        return None
    m = _WMI_DATETIME_RE.match(value)
    if not m:
        # PowerShell's ConvertTo-Json writes CIM dates as "/Date(1376401075000)/".
        m2 = re.match(r"^/Date\((\d+)\)/$", value)
        if not m2:
            return None
        ts = datetime.datetime.fromtimestamp(int(m2.group(1)) / 1000, datetime.timezone.utc)
        return ts.strftime("%Y-%m-%d %H:%M:%S")
    y, mo, d, h, mi, s = m.groups()
    if y == "1601":  # the FILETIME epoch: WMI's way of saying "never"
        return None
    return f"{y}-{mo}-{d} {h}:{mi}:{s}"


def as_int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def licenseinfos_from_slp(records: Sequence[Record]) -> list[Record]:
    """GLPI ``licenseinfos`` items from SoftwareLicensingProduct instances that have a key.

    Only the partial product key (last five characters) is ever sent: it identifies which key
    is installed without disclosing the licence itself.
    """
    out: list[Record] = []
    for r in records:
        partial = r.get("PartialProductKey")
        if not partial:
            continue  # licences without an installed key are the unused SKUs of the family
        item: Record = {
            "name": str(r.get("Name") or r.get("Description") or "unknown"),
            "fullname": str(r.get("Description") or r.get("Name") or ""),
            "key": f"XXXXX-XXXXX-XXXXX-XXXXX-{partial}",
        }
        if r.get("ProductKeyID"):
            item["productid"] = str(r["ProductKeyID"])
        desc = str(r.get("Description") or "")
        item["trial"] = "TIMEBASED" in desc.upper() or "TRIAL" in desc.upper()
        status = as_int(r.get("LicenseStatus"))
        if status is not None:
            item["license_status"] = LICENSE_STATUS.get(status, str(status))
        if r.get("ProductKeyChannel"):
            item["channel"] = str(r["ProductKeyChannel"])
        if r.get("ApplicationID"):
            item["application_id"] = str(r["ApplicationID"])
        out.append(item)
    return out


def query(
    wmi_class: str, properties: Sequence[str], where: str = "", timeout: int = 120
) -> list[Record]:
    """Run a WMI query on this Windows machine; [] on any failure or on other systems.

    PowerShell first (wmic is removed from Windows 11 24H2), wmic as the fallback for
    Windows 7 machines without PowerShell 3.
    """
    if sys.platform != "win32":
        return []
    props = ",".join(properties)
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    ps_filter = f' -Filter "{where}"' if where else ""
    script = (
        "[Console]::OutputEncoding=[Text.Encoding]::UTF8;"
        f"@(Get-CimInstance -ClassName {wmi_class}{ps_filter} | Select-Object {props})"
        " | ConvertTo-Json -Depth 3 -Compress"
    )
    try:
        proc = subprocess.run(
            ["powershell", "-NoProfile", "-NonInteractive", "-Command", script],
            capture_output=True,
            timeout=timeout,
            creationflags=flags,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            data = json.loads(decode_text(proc.stdout))
            if isinstance(data, dict):
                data = [data]
            return [dict(d) for d in data if isinstance(d, dict)]
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    cmd = ["wmic", "path", wmi_class]
    if where:
        cmd += ["where", where]
    cmd += ["get", props, "/format:list"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, creationflags=flags)
        if proc.returncode == 0:
            return parse_wmic_list(decode_text(proc.stdout))
    except (OSError, subprocess.SubprocessError):
        pass
    return []
