"""Hardware and OS basics on Linux (and what is portable of it on macOS).

Everything is read from files under ``root`` (``/etc/os-release``, ``/proc``, ``/sys``) so that
tests can point the collector at a prepared directory tree.
"""

from __future__ import annotations

import os
import platform
import re
import socket
from typing import Any

DMI = "sys/class/dmi/id"

# /sys/class/net/<if>/type values (include/uapi/linux/if_arp.h) -> GLPI network types.
ARPHRD_TYPES = {"1": "ethernet", "772": "loopback", "32": "infiniband", "801": "wifi"}

_CPU_ARCH_RE = re.compile(
    r"^(mips|mips64|alpha|sparc|sparc64|m68k|i\d86|x86_64|powerpc|powerpc64|arm.*|aarch64)$"
)


def read_text(path: str) -> str | None:
    """File content stripped, or None when missing or unreadable (DMI serials are root-only)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            value = fh.read().strip()
    except OSError:
        return None
    return value or None


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines of os-release(5), with shell-style quotes removed."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key.strip()] = value
    return out


def os_info(root: str = "/") -> dict[str, Any]:
    text = read_text(os.path.join(root, "etc/os-release")) or read_text(
        os.path.join(root, "usr/lib/os-release")
    )
    rel = parse_os_release(text or "")
    info: dict[str, Any] = {
        "name": rel.get("NAME") or platform.system(),
        "full_name": rel.get("PRETTY_NAME") or rel.get("NAME") or platform.system(),
        "version": rel.get("VERSION_ID") or rel.get("VERSION") or "",
        "kernel_name": platform.system().lower(),
        "kernel_version": platform.release(),
        "arch": platform.machine(),
    }
    # Kylin/UOS publish their edition (desktop, server, professional) in their own keys.
    edition = rel.get("VARIANT") or rel.get("EDITION") or rel.get("VERSION_CODENAME")
    if edition:
        info["edition"] = edition
    return {k: v for k, v in info.items() if v}


def machine_id(root: str = "/") -> str | None:
    for rel in ("etc/machine-id", "var/lib/dbus/machine-id"):
        value = read_text(os.path.join(root, rel))
        if value and value.strip("0"):
            return value
    return None


def dmi_info(root: str = "/") -> dict[str, dict[str, str]]:
    """BIOS and system identity from /sys/class/dmi/id; serials and UUID need root."""

    def dmi(name: str) -> str | None:
        return read_text(os.path.join(root, DMI, name))

    bios: dict[str, str] = {}
    for src, dst in (
        ("bios_vendor", "bmanufacturer"),
        ("bios_version", "bversion"),
        ("sys_vendor", "smanufacturer"),
        ("product_name", "smodel"),
        ("product_serial", "ssn"),
        ("product_sku", "skunumber"),
        ("board_vendor", "mmanufacturer"),
        ("board_name", "mmodel"),
        ("board_serial", "msn"),
        ("chassis_serial", "enclosureserial"),
        ("chassis_asset_tag", "assettag"),
    ):
        value = dmi(src)
        if value:
            bios[dst] = value
    date = dmi("bios_date")  # MM/DD/YYYY as SMBIOS stores it
    m = re.match(r"^(\d{2})/(\d{2})/(\d{4})$", date or "")
    if m:
        bios["bdate"] = f"{m.group(3)}-{m.group(1)}-{m.group(2)}"
    hardware: dict[str, str] = {}
    uuid = dmi("product_uuid")
    if uuid:
        hardware["uuid"] = uuid.upper()
    return {"bios": bios, "hardware": hardware}


def memory_mb(root: str = "/") -> dict[str, int]:
    out: dict[str, int] = {}
    text = read_text(os.path.join(root, "proc/meminfo")) or ""
    for line in text.splitlines():
        m = re.match(r"^(MemTotal|SwapTotal):\s+(\d+)\s*kB", line)
        if m:
            out["memory" if m.group(1) == "MemTotal" else "swap"] = int(m.group(2)) // 1024
    return out


def cpus(root: str = "/") -> list[dict[str, Any]]:
    """One item per physical package, from /proc/cpuinfo."""
    text = read_text(os.path.join(root, "proc/cpuinfo")) or ""
    packages: dict[str, dict[str, Any]] = {}
    threads: dict[str, int] = {}
    cores: dict[str, set] = {}
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if "processor" not in fields:
            continue
        pid = fields.get("physical id", "0")
        threads[pid] = threads.get(pid, 0) + 1
        cores.setdefault(pid, set()).add(fields.get("core id", fields["processor"]))
        if pid in packages:
            continue
        cpu: dict[str, Any] = {}
        name = fields.get("model name") or fields.get("Processor") or fields.get("cpu model")
        if name:
            cpu["name"] = name
        vendor = fields.get("vendor_id") or fields.get("CPU implementer")
        if vendor:
            cpu["manufacturer"] = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}.get(
                vendor, vendor
            )
        if fields.get("cpu family"):
            cpu["familynumber"] = fields["cpu family"]
        if fields.get("model"):
            cpu["model"] = fields["model"]
        if fields.get("stepping", "").isdigit():
            cpu["stepping"] = int(fields["stepping"])
        mhz = fields.get("cpu MHz")
        if mhz:
            try:
                cpu["speed"] = int(float(mhz))
            except ValueError:
                pass
        arch = platform.machine()
        if _CPU_ARCH_RE.match(arch):
            cpu["arch"] = arch
        packages[pid] = cpu
    result = []
    for pid, cpu in packages.items():
        cpu["core"] = len(cores[pid])
        cpu["thread"] = max(1, threads[pid] // max(1, len(cores[pid])))
        result.append(cpu)
    return result


def networks(root: str = "/") -> list[dict[str, Any]]:
    """Interfaces from /sys/class/net with MAC address, state and type."""
    base = os.path.join(root, "sys/class/net")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    out: list[dict[str, Any]] = []
    for name in names:
        path = os.path.join(base, name)
        item: dict[str, Any] = {"description": name}
        mac = read_text(os.path.join(path, "address"))
        if mac and mac != "00:00:00:00:00:00":
            item["mac"] = mac.lower()
        kind = ARPHRD_TYPES.get(read_text(os.path.join(path, "type")) or "")
        if kind == "ethernet" and os.path.isdir(os.path.join(path, "wireless")):
            kind = "wifi"
        if kind == "ethernet" and os.path.isdir(os.path.join(path, "bridge")):
            kind = "bridge"
        if kind:
            item["type"] = kind
        state = read_text(os.path.join(path, "operstate"))
        if state in ("up", "down", "dormant", "notpresent", "lowerlayerdown", "unknown", "testing"):
            item["status"] = state
        # A physical interface has a "device" link to its bus device; virtual ones do not.
        item["virtualdev"] = not os.path.exists(os.path.join(path, "device"))
        mtu = read_text(os.path.join(path, "mtu"))
        if mtu and mtu.isdigit():
            item["mtu"] = int(mtu)
        out.append(item)
    return out


def ipv4_addresses(root: str = "/") -> dict[str, str]:
    """Interface -> first IPv4 address, from /proc/net/fib_trie's local host routes."""
    text = read_text(os.path.join(root, "proc/net/fib_trie")) or ""
    route = read_text(os.path.join(root, "proc/net/route")) or ""
    # fib_trie does not name interfaces; match addresses to the interface whose routed
    # subnet contains them, using /proc/net/route (destination and mask in little-endian hex).
    subnets = []
    for line in route.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 8 and parts[7] != "00000000":
            dest = socket.inet_ntoa(bytes.fromhex(parts[1])[::-1])
            mask = socket.inet_ntoa(bytes.fromhex(parts[7])[::-1])
            subnets.append((parts[0], dest, mask))
    addrs: dict[str, str] = {}
    last_ip = None
    for line in text.splitlines():
        m = re.match(r"^\s*\|--\s+(\d+\.\d+\.\d+\.\d+)", line)
        if m:
            last_ip = m.group(1)
            continue
        if "/32 host LOCAL" in line and last_ip and not last_ip.startswith("127."):
            for iface, dest, mask in subnets:
                if _in_subnet(last_ip, dest, mask) and iface not in addrs:
                    addrs[iface] = last_ip
    return addrs


def _in_subnet(ip: str, dest: str, mask: str) -> bool:
    def n(a: str) -> int:
        return int.from_bytes(socket.inet_aton(a), "big")

    return n(ip) & n(mask) == n(dest) & n(mask)


def collect(inventory: Any, root: str = "/") -> None:
    inventory.operatingsystem.update(os_info(root))
    inventory.operatingsystem.setdefault("fqdn", socket.getfqdn())
    inventory.hardware.update(memory_mb(root))
    dmi = dmi_info(root)
    inventory.bios.update(dmi["bios"])
    inventory.hardware.update(dmi["hardware"])
    inventory.cpus.extend(cpus(root))
    nets = networks(root)
    ips = ipv4_addresses(root)
    for net in nets:
        if net["description"] in ips:
            net["ipaddress"] = ips[net["description"]]
    inventory.networks.extend(nets)
    inventory.machine_id = machine_id(root)
