"""Windows collector: Uninstall keys (both registry views and every loaded user hive), OS,
licensing and hardware.

Registry access goes through a small reader interface so that the traversal is exercised on
Linux with real .reg exports (:class:`RegDictReader`); on Windows :class:`WinregReader` reads the
live registry. Either way the entries are classified by
:func:`zhengban_agent.regfile.uninstall_entries`, the same function the server uses on uploaded
.reg files.
"""

from __future__ import annotations

import datetime
from typing import Any

from .. import wmi
from ..regfile import RegDict, UninstallEntry, uninstall_entries

try:  # winreg exists only on Windows; the module must still import elsewhere.
    import winreg  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the platform
    winreg = None  # type: ignore[assignment]

UNINSTALL = r"Microsoft\Windows\CurrentVersion\Uninstall"
HKLM = "HKEY_LOCAL_MACHINE"
HKU = "HKEY_USERS"
NT_CURRENT_VERSION = HKLM + r"\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
PROFILE_LIST = NT_CURRENT_VERSION + r"\ProfileList"


class RegDictReader:
    """Reads a parsed registry export (``parse_reg`` output) as if it were a live registry."""

    def __init__(self, reg: RegDict) -> None:
        self._values = {k.lower(): v for k, v in reg.items()}
        self._children: dict[str, list[str]] = {}
        for path in reg:
            parts = path.split("\\")
            for i in range(1, len(parts)):
                parent = "\\".join(parts[:i]).lower()
                kids = self._children.setdefault(parent, [])
                if parts[i] not in kids:
                    kids.append(parts[i])

    def subkeys(self, path: str) -> list[str]:
        return list(self._children.get(path.lower(), []))

    def values(self, path: str) -> dict[str, Any]:
        return dict(self._values.get(path.lower(), {}))


class WinregReader:  # pragma: no cover - needs Windows
    """Live registry, always through the 64-bit view so that a 32-bit frozen agent on 64-bit
    Windows sees the native keys; the 32-bit view is read explicitly via WOW6432Node."""

    def __init__(self) -> None:
        if winreg is None:
            raise RuntimeError("winreg is only available on Windows")
        self._roots = {HKLM: winreg.HKEY_LOCAL_MACHINE, HKU: winreg.HKEY_USERS}
        self._access = winreg.KEY_READ | getattr(winreg, "KEY_WOW64_64KEY", 0)

    def _open(self, path: str):
        root, _, sub = path.partition("\\")
        return winreg.OpenKey(self._roots[root], sub, 0, self._access)

    def subkeys(self, path: str) -> list[str]:
        try:
            with self._open(path) as key:
                count = winreg.QueryInfoKey(key)[0]
                return [winreg.EnumKey(key, i) for i in range(count)]
        except OSError:
            return []

    def values(self, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            with self._open(path) as key:
                count = winreg.QueryInfoKey(key)[1]
                for i in range(count):
                    try:
                        name, value, _type = winreg.EnumValue(key, i)
                    except OSError:
                        continue
                    out[name] = value
        except OSError:
            pass
        return out


def uninstall_roots(reader: Any) -> list[str]:
    """Every Uninstall key Programs and Features reads: HKLM in both views, and each user hive
    loaded under HKEY_USERS (logged-on users and service accounts)."""
    roots = [
        HKLM + "\\SOFTWARE\\" + UNINSTALL,
        HKLM + "\\SOFTWARE\\WOW6432Node\\" + UNINSTALL,
    ]
    for sid in reader.subkeys(HKU):
        # <SID>_Classes is the user's class registration hive, not a profile; .DEFAULT is
        # LocalSystem's hive, which S-1-5-18 names too: read once, under its SID.
        if sid.lower().endswith("_classes") or sid.upper() == ".DEFAULT":
            continue
        roots.append(f"{HKU}\\{sid}\\Software\\{UNINSTALL}")
    return roots


def read_uninstall_keys(reader: Any) -> RegDict:
    """The Uninstall subkeys as ``{key_path: values}``, the shape ``parse_reg`` returns."""
    reg: RegDict = {}
    for root in uninstall_roots(reader):
        for sub in reader.subkeys(root):
            path = f"{root}\\{sub}"
            reg[path] = reader.values(path)
    return reg


def collect_uninstall(reader: Any) -> list[UninstallEntry]:
    """Classified Uninstall entries of the machine ``reader`` reads."""
    return uninstall_entries(read_uninstall_keys(reader))


def user_names(reader: Any) -> dict[str, str]:
    """SID -> user name, from the profile directory names in ProfileList."""
    names: dict[str, str] = {}
    for sid in reader.subkeys(PROFILE_LIST):
        path = reader.values(f"{PROFILE_LIST}\\{sid}").get("ProfileImagePath")
        if isinstance(path, str) and path:
            names[sid] = path.rstrip("\\").rsplit("\\", 1)[-1]
    return names


def os_from_registry(reader: Any) -> dict[str, Any]:
    """Operating system facts from ``HKLM\\...\\Windows NT\\CurrentVersion``."""
    v = reader.values(NT_CURRENT_VERSION)
    env = reader.values(HKLM + r"\SYSTEM\CurrentControlSet\Control\Session Manager\Environment")
    product = str(v.get("ProductName") or "Windows").strip()
    build = str(v.get("CurrentBuildNumber") or v.get("CurrentBuild") or "").strip()
    # Windows 11 kept "Windows 10" in ProductName; build 22000 is the first Windows 11.
    if build.isdigit() and int(build) >= 22000 and "Windows 10" in product:
        product = product.replace("Windows 10", "Windows 11")
    major = v.get("CurrentMajorVersionNumber")
    minor = v.get("CurrentMinorVersionNumber")
    if isinstance(major, int) and isinstance(minor, int):
        kernel = f"{major}.{minor}.{build}"
    else:
        kernel = f"{v.get('CurrentVersion', '')}.{build}".strip(".")
    ubr = v.get("UBR")
    os_info: dict[str, Any] = {
        "name": "Windows",
        "full_name": product if product.startswith("Microsoft") else f"Microsoft {product}",
        "kernel_name": "MSWin32",
        "kernel_version": kernel + (f".{ubr}" if isinstance(ubr, int) else ""),
        "version": str(
            v.get("DisplayVersion") or v.get("ReleaseId") or v.get("CurrentVersion") or ""
        ),
    }
    if v.get("EditionID"):
        os_info["edition"] = str(v["EditionID"])
    if v.get("CSDVersion"):
        os_info["service_pack"] = str(v["CSDVersion"])
    arch = str(env.get("PROCESSOR_ARCHITECTURE") or "")
    os_info["arch"] = {"AMD64": "64-bit", "ARM64": "ARM 64-bit", "x86": "32-bit"}.get(arch, arch)
    install = v.get("InstallDate")
    if isinstance(install, int) and install > 0:
        ts = datetime.datetime.fromtimestamp(install, datetime.timezone.utc)
        os_info["install_date"] = ts.strftime("%Y-%m-%d %H:%M:%S")
    hardware: dict[str, Any] = {}
    for src, dst in (
        ("ProductId", "winprodid"),
        ("RegisteredOwner", "winowner"),
        ("RegisteredOrganization", "wincompany"),
    ):
        if v.get(src):
            hardware[dst] = str(v[src])
    # slmgr keeps the installed key here (Windows 8 and later, readable by administrators).
    # Only its last five characters are sent, like WMI's PartialProductKey.
    spp = reader.values(NT_CURRENT_VERSION + r"\SoftwareProtectionPlatform")
    backup = spp.get("BackupProductKeyDefault")
    if isinstance(backup, str) and len(backup.strip()) >= 5:
        hardware["winprodkey"] = "XXXXX-XXXXX-XXXXX-XXXXX-" + backup.strip()[-5:]
    return {"operatingsystem": {k: x for k, x in os_info.items() if x}, "hardware": hardware}


def os_gaps_from_wmi(operatingsystem: dict[str, Any], row: dict[str, Any]) -> None:
    """WMI's ``Win32_OperatingSystem`` fills only what the registry left out. Its Caption
    and OSArchitecture are in the display language ("Microsoft Windows 10 专业版",
    "64 位"): taken over the registry's, a run whose WMI query failed would send the
    English name again, and the server would see the OS removed and another installed."""
    for field, column in (("full_name", "Caption"), ("arch", "OSArchitecture")):
        value = str(row.get(column) or "").strip()
        if value and not operatingsystem.get(field):
            operatingsystem[field] = value


def machine_guid(reader: Any) -> str | None:
    value = reader.values(HKLM + r"\SOFTWARE\Microsoft\Cryptography").get("MachineGuid")
    return str(value) if value else None


def collect(inventory: Any) -> None:  # pragma: no cover - needs Windows
    """Fill ``inventory`` (an :class:`~zhengban_agent.inventory.Inventory`) on Windows."""
    reader = WinregReader()
    names = user_names(reader)
    facts = os_from_registry(reader)
    # The 64-bit view holds native programs; WOW6432Node entries are marked i586 by the
    # inventory. On 32-bit Windows there is only the one, 32-bit, view.
    native = {"64-bit": "x86_64", "ARM 64-bit": "aarch64"}.get(
        facts["operatingsystem"].get("arch", ""), "i586"
    )
    for entry in collect_uninstall(reader):
        inventory.add_uninstall_entry(entry, user_names=names, native_arch=native)
    inventory.operatingsystem.update(facts["operatingsystem"])
    inventory.hardware.update(facts["hardware"])
    inventory.machine_id = machine_guid(reader)
    _collect_wmi(inventory)


def _collect_wmi(inventory: Any) -> None:  # pragma: no cover - needs Windows
    # No LastBootUpTime (the format's boot_time): the server keeps nothing of it, and left
    # out, an unchanged machine sends the very same body every day, which the server
    # recognises before reading it (one statement instead of parsing every program).
    os_rows = wmi.query(
        "Win32_OperatingSystem",
        ["Caption", "Version", "OSArchitecture", "CSDVersion", "InstallDate"],
    )
    if os_rows:
        os_gaps_from_wmi(inventory.operatingsystem, os_rows[0])
    cs = wmi.query(
        "Win32_ComputerSystem",
        ["Name", "Domain", "Manufacturer", "Model", "TotalPhysicalMemory", "UserName"],
    )
    if cs:
        row = cs[0]
        mem = wmi.as_int(row.get("TotalPhysicalMemory"))
        if mem:
            inventory.hardware["memory"] = mem // (1024 * 1024)
        if row.get("Domain"):
            inventory.hardware["workgroup"] = str(row["Domain"])
        if row.get("UserName"):
            inventory.hardware["lastloggeduser"] = str(row["UserName"])
        if row.get("Manufacturer"):
            inventory.bios["smanufacturer"] = str(row["Manufacturer"])
        if row.get("Model"):
            inventory.bios["smodel"] = str(row["Model"])
    bios = wmi.query(
        "Win32_BIOS", ["SerialNumber", "SMBIOSBIOSVersion", "Manufacturer", "ReleaseDate"]
    )
    if bios:
        row = bios[0]
        if row.get("SerialNumber"):
            inventory.bios["ssn"] = str(row["SerialNumber"]).strip()
        if row.get("SMBIOSBIOSVersion"):
            inventory.bios["bversion"] = str(row["SMBIOSBIOSVersion"])
        if row.get("Manufacturer"):
            inventory.bios["bmanufacturer"] = str(row["Manufacturer"])
        date = wmi.wmi_datetime(row.get("ReleaseDate"))
        if date:
            inventory.bios["bdate"] = date[:10]
    product = wmi.query("Win32_ComputerSystemProduct", ["UUID"])
    if product and product[0].get("UUID"):
        inventory.hardware["uuid"] = str(product[0]["UUID"])
    for row in wmi.query(
        "Win32_Processor",
        ["Name", "Manufacturer", "NumberOfCores", "NumberOfLogicalProcessors", "MaxClockSpeed"],
    ):
        cpu: dict[str, Any] = {"name": str(row.get("Name") or "").strip()}
        if row.get("Manufacturer"):
            cpu["manufacturer"] = str(row["Manufacturer"])
        for src, dst in (
            ("NumberOfCores", "core"),
            ("NumberOfLogicalProcessors", "thread"),
            ("MaxClockSpeed", "speed"),
        ):
            n = wmi.as_int(row.get(src))
            if n:
                cpu[dst] = n
        inventory.cpus.append(cpu)
    for row in wmi.query(
        "Win32_PhysicalMemory",
        ["Capacity", "DeviceLocator", "Manufacturer", "SerialNumber", "Speed", "PartNumber"],
    ):
        mem_item: dict[str, Any] = {}
        cap = wmi.as_int(row.get("Capacity"))
        if cap:
            mem_item["capacity"] = cap // (1024 * 1024)
        for src, dst in (
            ("DeviceLocator", "caption"),
            ("Manufacturer", "manufacturer"),
            ("SerialNumber", "serialnumber"),
            ("PartNumber", "model"),
        ):
            if row.get(src):
                mem_item[dst] = str(row[src]).strip()
        if row.get("Speed"):
            mem_item["speed"] = f"{row['Speed']} MT/s"
        inventory.memories.append(mem_item)
    for row in wmi.query(
        "Win32_NetworkAdapterConfiguration",
        ["Description", "MACAddress", "IPAddress", "IPSubnet", "DefaultIPGateway", "DHCPServer"],
        where="IPEnabled=TRUE",
    ):
        net: dict[str, Any] = {"description": str(row.get("Description") or "network adapter")}
        if row.get("MACAddress"):
            net["mac"] = str(row["MACAddress"]).lower()
        ips = row.get("IPAddress") or []
        if isinstance(ips, str):
            ips = [ips]
        v4 = [ip for ip in ips if "." in ip]
        v6 = [ip for ip in ips if ":" in ip]
        if v4:
            net["ipaddress"] = v4[0]
        if v6:
            net["ipaddress6"] = v6[0]
        gw = row.get("DefaultIPGateway")
        if isinstance(gw, list) and gw:
            net["ipgateway"] = gw[0]
        if row.get("DHCPServer"):
            net["ipdhcp"] = str(row["DHCPServer"])
        net["type"] = "ethernet"
        net["status"] = "up"
        inventory.networks.append(net)
    slp = wmi.query(
        "SoftwareLicensingProduct",
        [
            "Name",
            "Description",
            "ApplicationID",
            "LicenseStatus",
            "PartialProductKey",
            "ProductKeyChannel",
            "ProductKeyID",
        ],
        where="PartialProductKey IS NOT NULL",
    )
    inventory.licenseinfos.extend(wmi.licenseinfos_from_slp(slp))
    item = windows_licence(inventory.licenseinfos)
    if item is not None:
        inventory.operatingsystem["license_status"] = item.get("license_status")
        inventory.hardware["winprodkey"] = item["key"]


def windows_licence(licenseinfos: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The licence that says whether Windows itself is activated: the one with Windows'
    ApplicationID, but not an add-on sharing it (Windows 7's Extended Security Updates,
    "Client-ESU-Year1 add-on for …", are activated with keys of their own)."""
    own = [i for i in licenseinfos if i.get("application_id") == WINDOWS_APPLICATION_ID]
    for item in own:
        name = f"{item.get('name', '')} {item.get('fullname', '')}".lower()
        if "add-on" not in name and "esu" not in name:
            return item
    return own[0] if own else None


# SoftwareLicensingProduct.ApplicationID of Windows itself (Office uses 0ff1ce15-...).
WINDOWS_APPLICATION_ID = "55c92734-d682-4d71-983e-d6ec3f16059f"
