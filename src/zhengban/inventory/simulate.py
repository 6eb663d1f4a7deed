"""Simulator part: devices with realistic software, a few months of history, and the problems
a real province has (home editions, unlicensed commercial software, cracked activators,
stale devices, units that never reported).

Every distinct software record goes through the same normalisation as a real inventory
(`document.Software`, recognition memoised per raw key); the baseline inventories are then
written in bulk (COPY on PostgreSQL), because 100,000 devices one transaction at a time
would take an hour. The history rounds go through the real `ingest_inventory` service, so
the events they leave are exactly what real agents would cause.
"""

from __future__ import annotations

import datetime
import json
import random
from dataclasses import dataclass
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.simulation import SimulationContext, register
from zhengban.inventory import document as d
from zhengban.inventory.choices import DeviceType, InstallationKind, InventorySource, OSActivation
from zhengban.inventory.models import Device, DeviceMAC, Installation, InventoryReport
from zhengban.inventory.services import ingest_inventory, raw_key, recognise_products
from zhengban.orgs.models import Unit

RECORDS = Path(__file__).resolve().parent / "simdata" / "records.jsonl"


@dataclass(frozen=True)
class Raw:
    name: str
    publisher: str
    version: str
    category: str
    kind: str = InstallationKind.APPLICATION
    source: str = "registry"


def _load_records() -> dict[tuple[str, str], list[Raw]]:
    """Real-world spellings by (platform, category)."""
    pools: dict[tuple[str, str], list[Raw]] = {}
    for line in RECORDS.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        kind = (
            InstallationKind.UPDATE if r["category"] == "update" else InstallationKind.APPLICATION
        )
        source = "dpkg" if r["platform"] == "linux" else "registry"
        pools.setdefault((r["platform"], r["category"]), []).append(
            Raw(r["name"], r["publisher"], r["version"], r["category"], kind, source)
        )
    return pools


MS = "Microsoft Corporation"
WINDOWS_OS = [
    # (name, version, edition, weight); home editions are a real problem in the field.
    ("Microsoft Windows 10 专业版", "10.0.19045", "Professional", 46),
    ("Microsoft Windows 11 专业版", "10.0.22631", "Professional", 16),
    ("Microsoft Windows 7 旗舰版", "6.1.7601", "Ultimate", 12),
    ("Microsoft Windows 10 企业版 LTSC", "10.0.17763", "EnterpriseS", 6),
    ("Microsoft Windows 10 企业版", "10.0.19045", "Enterprise", 5),
    ("Microsoft Windows 7 专业版", "6.1.7601", "Professional", 6),
    ("Microsoft Windows 10 家庭中文版", "10.0.19045", "CoreCountrySpecific", 3),
    ("Microsoft Windows 11 家庭中文版", "10.0.22631", "CoreCountrySpecific", 2),
    ("Microsoft Windows Server 2016 Standard", "10.0.14393", "ServerStandard", 2),
    ("Microsoft Windows Server 2019 Datacenter", "10.0.17763", "ServerDatacenter", 2),
]
LINUX_OS = [
    ("Kylin V10 SP1", "V10", "Desktop", "KylinSoft", 45),
    ("UnionTech OS Desktop 20 Pro", "20", "Professional", "UnionTech", 30),
    ("Deepin 20.9", "20.9", "Community", "Deepin", 5),
    ("openEuler 22.03 LTS", "22.03", "Server", "openEuler", 10),
    ("Kylin Linux Advanced Server V10", "V10", "Server", "KylinSoft", 10),
]
OFFICE_PROFILES = {
    # A unit's standard office suite; problems are added per device.
    "wps": [Raw("WPS Office 2019 专业增强版", "Kingsoft Corp.", "11.8.2.12085", "office")],
    "ms2016": [Raw("Microsoft Office Professional Plus 2016", MS, "16.0.4266.1001", "office")],
    "ms2019": [
        Raw("Microsoft Office Professional Plus 2019 - zh-cn", MS, "16.0.10396.20023", "office")
    ],
    "ms2010": [Raw("Microsoft Office 专业增强版 2010", MS, "14.0.7015.1000", "office")],
}
OFFICE_PROBLEMS = [
    Raw("Microsoft Office 家庭和学生版 2021 - zh-cn", MS, "16.0.14332.20255", "office"),
    Raw("WPS Office (11.1.0.14309)", "Kingsoft Corp.", "11.1.0.14309", "office"),
    Raw("WinRAR 6.24 (64-bit)", "win.rar GmbH", "6.24.0", "compression"),
    Raw("KMSpico", "", "10.2.0", "other"),
    Raw("Adobe Photoshop 2023", "Adobe Inc.", "24.0.0", "design"),
]
ANTIVIRUS_PROFILES = {
    "tianqing": Raw(
        "奇安信天擎", "奇安信网神信息技术（北京）股份有限公司", "10.0.0.3800", "antivirus"
    ),
    "huorong": Raw("火绒终端安全管理系统", "北京火绒网络科技有限公司", "2.0.14.0", "antivirus"),
    "360": Raw("360安全卫士", "360安全中心", "13.0.0.2003", "antivirus"),
    "sep": Raw(
        "Symantec Endpoint Protection", "Symantec Corporation", "14.3.558.0000", "antivirus"
    ),
}
IN_HOUSE = [
    "财政预算管理一体化系统客户端",
    "公文交换系统",
    "协同办公系统客户端",
    "电子档案管理系统",
    "不动产登记业务系统",
    "社保经办业务系统",
    "政务外网接入客户端",
    "执法记录仪管理软件",
]
MANUFACTURERS = [
    ("LENOVO", ["ThinkCentre M720t", "ThinkCentre M930t", "ThinkPad E14", "开天 M740J"]),
    ("HUAWEI", ["擎云 B730", "MateBook B5-430", "擎云 W515"]),
    ("Tsinghua Tongfang", ["超翔 Z8000", "清华同方 超越E500"]),
    ("Great Wall", ["长城 世恒 TD120A2", "长城 UF712"]),
    ("Dell Inc.", ["OptiPlex 7080", "Latitude 5420", "PowerEdge R740"]),
    ("HP", ["ProDesk 480 G7", "EliteBook 840 G8"]),
    ("Inspur", ["NF5280M5", "CE520"]),
]
LIB_STEMS = (
    "acl attr audit blkid bz2 cap crypt curl dbus drm elf expat ffi freetype gcrypt glib2.0 "
    "gmp gnutls gpg-error gssapi icu idn2 jpeg krb5 lz4 lzma mount ncurses nettle nss3 "
    "p11-kit pam pcre2 png16 pulse python3.8 qt5core qt5gui qt5widgets readline seccomp "
    "selinux smartcols sqlite3 ssl systemd tasn1 tiff tinfo udev unistring uuid x11 xau "
    "xcb xdmcp xext xml2 xrender xss xt z zstd dtkcore dtkgui dtkwidget gsettings-qt "
    "kysdk-base ukui-log4qt peony-extensions kylin-nm-base"
).split()
LINUX_TOOLS = (
    "bash coreutils util-linux systemd dbus openssh-client sudo tar gzip grep sed findutils "
    "procps psmisc net-tools iproute2 iputils-ping curl wget vim-tiny nano less man-db "
    "cups cups-filters network-manager pulseaudio xserver-xorg xserver-xorg-video-all "
    "firmware-linux-free linux-base grub-common grub-efi-amd64 plymouth lightdm fonts-noto-cjk "
    "fonts-wqy-microhei python3 perl ca-certificates apt dpkg gnupg tzdata locales"
).split()


def _windows_noise(pools, rng: random.Random, os_name: str) -> list[Raw]:
    items = []
    items += rng.sample(
        pools.get(("windows", "runtime"), []), k=min(12, len(pools.get(("windows", "runtime"), [])))
    )
    for year, ver in (
        ("2008", "9.0.30729"),
        ("2010", "10.0.40219"),
        ("2012", "11.0.61030"),
        ("2013", "12.0.40664"),
        ("2015-2022", "14.36.32532"),
    ):
        for arch in ("x86", "x64"):
            if rng.random() < 0.7:
                items.append(
                    Raw(
                        f"Microsoft Visual C++ {year} Redistributable ({arch}) - {ver}",
                        MS,
                        ver,
                        "runtime",
                    )
                )
    items += rng.sample(
        pools.get(("windows", "driver"), []), k=min(8, len(pools.get(("windows", "driver"), [])))
    )
    # Windows 7 lists every hotfix under Uninstall; later Windows lists far fewer. The KBs
    # come from one fixed pool, as a fleet patched from one update server would show.
    win7 = "Windows 7" in os_name
    pool = WIN7_UPDATES if win7 else WIN10_UPDATES
    k = rng.randint(60, 220) if win7 else rng.randint(5, 25)
    items += pool[: min(k, len(pool))]
    return items


def _linux_package_pool() -> list[Raw]:
    """One distribution's package set: fixed names and versions, shared by every device."""
    rng = random.Random("linux-packages")
    maintainer = "Kylin Team <packaging@kylinos.cn>"
    items = [Raw(name, maintainer, "1.0-1kylin1", "utility", source="dpkg") for name in LINUX_TOOLS]
    for stem in LIB_STEMS:
        for suffix in ("", "-dev", "-common", "-data", "-bin", "-plugins"):
            items.append(
                Raw(
                    f"lib{stem}{suffix}",
                    maintainer,
                    f"{rng.randint(1, 9)}.{rng.randint(0, 30)}-1kylin{rng.randint(1, 3)}",
                    "runtime",
                    source="dpkg",
                )
            )
    return items


LINUX_PACKAGES = _linux_package_pool()
WIN7_UPDATES = [
    Raw(
        f"Security Update for Windows 7 (KB{2_500_000 + i * 1_377})",
        MS,
        "1",
        "update",
        InstallationKind.UPDATE,
    )
    for i in range(240)
]
WIN10_UPDATES = [
    Raw(
        f"Security Update for Microsoft Windows (KB{5_000_000 + i * 911})",
        MS,
        "1",
        "update",
        InstallationKind.UPDATE,
    )
    for i in range(30)
]


def _linux_packages(pools, rng: random.Random) -> list[Raw]:
    want = rng.randint(100, 400)
    items = rng.sample(LINUX_PACKAGES, k=min(want, len(LINUX_PACKAGES)))
    for category in (
        "office",
        "browser",
        "communication",
        "document_reader",
        "input_method",
        "utility",
        "antivirus",
        "media",
    ):
        items += _pick(pools, rng, "linux", category, rng.randint(1, 3))
    return items


def _pick(pools, rng, platform: str, category: str, k: int) -> list[Raw]:
    pool = pools.get((platform, category), [])
    return rng.sample(pool, k=min(k, len(pool))) if pool else []


def _software(raw: Raw, owner: str = "") -> d.Software:
    """The same cleaning every real inventory's entries get."""
    return d.Software(
        name=d.text(raw.name, d.NAME_MAX),
        version=d.text(raw.version, d.VERSION_MAX),
        publisher=d.text(raw.publisher, d.PUBLISHER_MAX),
        arch="x86_64",
        source=raw.source,
        owner=owner,
        kind=raw.kind,
    )


def _weighted(rng, options):
    return rng.choices(options, weights=[o[-1] for o in options])[0]


def _document(rng, pools, unit_profile, serial: int, person_name: str) -> d.InventoryDocument:
    linux = rng.random() < 0.30
    maker, models_ = rng.choice(MANUFACTURERS)
    model = rng.choice(models_)
    server = "Server" in model or "NF5" in model or "PowerEdge" in model or rng.random() < 0.03
    vm = not server and rng.random() < 0.04
    device_type = (
        DeviceType.SERVER
        if server
        else DeviceType.VM
        if vm
        else (DeviceType.LAPTOP if rng.random() < 0.2 else DeviceType.DESKTOP)
    )
    mac = f"00:1a:{(serial >> 24) & 0xFF:02x}:{(serial >> 16) & 0xFF:02x}:{(serial >> 8) & 0xFF:02x}:{serial & 0xFF:02x}"
    items: list[d.Software] = []
    if linux:
        name, version, edition, publisher, _w = _weighted(rng, LINUX_OS)
        os_ = d.OperatingSystem(
            name=name,
            version=version,
            edition=edition,
            arch="x86_64",
            publisher=publisher,
            activation=OSActivation.LICENSED,
        )
        items = [_software(r) for r in _linux_packages(pools, rng)]
        hostname = f"kylin-pc-{serial:06d}" if "Kylin" in name else f"uos-pc-{serial:06d}"
    else:
        name, version, edition, _w = _weighted(rng, WINDOWS_OS)
        activation = OSActivation.LICENSED if rng.random() < 0.93 else OSActivation.NOTIFICATION
        os_ = d.OperatingSystem(
            name=name,
            version=version,
            edition=edition,
            arch="64-bit",
            publisher=MS,
            product_id=f"00331-{serial % 100000:05d}-00000-AA{serial % 1000:03d}",
            partial_key=f"{serial % 99999:05d}"[-5:].replace("0", "X"),
            activation=activation,
        )
        apps: list[Raw] = list(OFFICE_PROFILES[unit_profile["office"]])
        apps.append(ANTIVIRUS_PROFILES[unit_profile["antivirus"]])
        if rng.random() < 0.08:
            apps.append(rng.choice(OFFICE_PROBLEMS))
        for category, k in (
            ("browser", rng.randint(1, 3)),
            ("document_reader", rng.randint(1, 2)),
            ("input_method", 1),
            ("compression", 1),
            ("utility", rng.randint(1, 4)),
            ("media", rng.randint(0, 2)),
        ):
            apps += _pick(pools, rng, "windows", category, k)
        if unit_profile["finance"]:
            apps += _pick(pools, rng, "windows", "industry", 2)
        if rng.random() < 0.1:
            apps += _pick(pools, rng, "windows", "design", 1)
        if server:
            apps += _pick(pools, rng, "windows", "database", 2) + _pick(
                pools, rng, "windows", "middleware", 1
            )
        for tool in unit_profile["in_house"]:
            apps.append(
                Raw(
                    tool,
                    unit_profile["unit_name"],
                    unit_profile["in_house_version"],
                    "other",
                )
            )
        items = [_software(r) for r in apps + _windows_noise(pools, rng, name)]
        # Chat clients install per user, under HKEY_USERS.
        owner = f"WIN\\{person_name}" if person_name else "WIN\\user"
        items += [
            _software(r, owner=owner)
            for r in _pick(pools, rng, "windows", "communication", rng.randint(1, 3))
        ]
        hostname = f"DESKTOP-{serial:06X}"
    # One entry per identity: the agent reports each install once.
    unique: dict[tuple, d.Software] = {}
    for item in items:
        unique.setdefault(item.identity, item)
    return d.InventoryDocument(
        source=InventorySource.ZHENGBAN_AGENT,
        agent_device_id=f"sim-{serial:08d}",
        agent="zhengban-agent/sim",
        hostname=hostname,
        device_type=device_type,
        manufacturer=maker,
        model=model,
        serial_number=f"SN{serial:010d}",
        hardware_uuid=f"{serial:08X}-0000-4000-8000-{serial:012X}",
        macs=[mac],
        cpu="Intel(R) Core(TM) i5-10500 CPU @ 3.10GHz" if not linux else "Phytium FT-2000/4",
        memory_mb=rng.choice([8192, 16384, 16384, 32768]),
        last_user=person_name,
        os=os_,
        software=list(unique.values()),
    )


def _copy_installations(rows: list[tuple]) -> None:
    columns = (
        "device_id",
        "kind",
        "name",
        "publisher",
        "version",
        "arch",
        "install_date",
        "source",
        "guid",
        "owner",
        "category",
        "raw_key",
        "product_id",
        "first_seen",
    )
    table = Installation._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


@register("inventory", order=30)
def simulate_inventory(ctx: SimulationContext) -> None:
    rng = ctx.rng("inventory")
    pools = _load_records()
    orgs = ctx.shared["orgs"]
    units = {u.pk: u for u in Unit.objects.filter(pk__in=orgs["unit_ids"])}
    people_by_unit: dict[int, list[int]] = orgs["people_by_unit"]
    from zhengban.orgs.models import User

    names = dict(
        User.objects.filter(unit_id__in=list(units))
        .values_list("pk", "full_name")
        .iterator(chunk_size=20_000)
    )
    now = timezone.now()
    # ~3 % of units never reported: the bureau must see them.
    silent = set(rng.sample(sorted(units), k=len(units) * 3 // 100))
    plan: list[tuple[int, int]] = []  # (unit_id, person_id)
    for unit_id, people in people_by_unit.items():
        if unit_id in silent:
            continue
        plan += [(unit_id, person) for person in people]
    rng.shuffle(plan)
    plan = plan[: ctx.size.devices]
    # If people are fewer than devices asked for, some people have two machines.
    while len(plan) < ctx.size.devices and plan:
        plan.append(plan[len(plan) % max(1, len(plan))])
    plan.sort()
    profiles = {}
    for unit_id, unit in units.items():
        profiles[unit_id] = {
            "office": rng.choices(list(OFFICE_PROFILES), weights=[50, 20, 20, 10])[0],
            "antivirus": rng.choices(list(ANTIVIRUS_PROFILES), weights=[40, 30, 20, 10])[0],
            "finance": "财政" in unit.name or "税务" in unit.name or rng.random() < 0.1,
            "in_house": rng.sample(IN_HOUSE, k=rng.choice([0, 0, 1, 2])),
            "unit_name": unit.name,
            "in_house_version": f"{rng.randint(1, 5)}.{rng.randint(0, 9)}",
        }

    product_memo: dict[tuple, int | None] = {}
    key_memo: dict[tuple, str] = {}
    total = len(plan)
    chunk = 1000
    for start in range(0, total, chunk):
        batch = plan[start : start + chunk]
        with transaction.atomic():
            docs = []
            devices = []
            for offset, (unit_id, person_id) in enumerate(batch):
                serial = start + offset + 1
                doc = _document(rng, pools, profiles[unit_id], serial, names.get(person_id, ""))
                first = now - datetime.timedelta(
                    days=rng.randint(60, 200), minutes=rng.randint(0, 1440)
                )
                stale = rng.random() < 0.05
                last = (
                    first + datetime.timedelta(days=rng.randint(0, 20))
                    if stale
                    else now - datetime.timedelta(hours=rng.randint(1, 160))
                )
                docs.append((doc, first))
                devices.append(
                    Device(
                        unit_id=unit_id,
                        department_id=None,
                        assigned_user_id=person_id,
                        assigned_name=names.get(person_id, ""),
                        asset_number=f"ZC{serial:08d}",
                        agent_device_id=doc.agent_device_id,
                        hardware_uuid=doc.hardware_uuid,
                        serial_number=doc.serial_number,
                        hostname=doc.hostname,
                        device_type=doc.device_type,
                        manufacturer=doc.manufacturer,
                        model=doc.model,
                        cpu=doc.cpu,
                        memory_mb=doc.memory_mb,
                        last_user=doc.last_user,
                        os_name=doc.os.name,
                        os_version=doc.os.version,
                        os_edition=doc.os.edition,
                        os_arch=doc.os.arch,
                        os_product_id=doc.os.product_id,
                        os_partial_key=doc.os.partial_key,
                        os_activation=doc.os.activation,
                        first_seen=first,
                        last_seen=max(first, last),
                        last_source=doc.source,
                        last_agent=doc.agent,
                        inventory_hash=doc.content_hash(),
                    )
                )
            Device.objects.bulk_create(devices)
            DeviceMAC.objects.bulk_create(
                [
                    DeviceMAC(device=dev, unit_id=dev.unit_id, mac=mac)
                    for dev, (doc, _f) in zip(devices, docs)
                    for mac in doc.macs
                ]
            )
            InventoryReport.objects.bulk_create(
                [
                    InventoryReport(
                        device=dev,
                        received=first,
                        source=doc.source,
                        agent=doc.agent,
                        software_count=len(doc.software),
                    )
                    for dev, (doc, first) in zip(devices, docs)
                ]
            )
            # Simulated units have no in-house catalog entries of their own, so the shared
            # recogniser decides for all; one call per chunk for the keys not seen yet.
            need = {
                (s.name, s.publisher, s.version, doc.platform())
                for doc, _first in docs
                for s in doc.installations()
            } - product_memo.keys()
            if need:
                product_memo.update(recognise_products(unit_id=None, keys=need))
                key_memo.update({key: raw_key(*key) for key in need})
            rows = []
            for dev, (doc, first) in zip(devices, docs):
                platform = doc.platform()
                for s in doc.installations():
                    key = (s.name, s.publisher, s.version, platform)
                    rows.append(
                        (
                            dev.pk,
                            s.kind,
                            s.name,
                            s.publisher,
                            s.version,
                            s.arch,
                            s.install_date,
                            s.source,
                            s.guid,
                            s.owner,
                            s.category,
                            key_memo[key],
                            product_memo[key],
                            first,
                        )
                    )
            _copy_installations(rows)
        ctx.progress("devices", min(start + chunk, total), total)

    # History: a sample of devices report changes over the following months through the
    # real ingest service (installs, removals, upgrades → events, the ledger's 附表3).
    sample_ids = list(
        Device.objects.filter(unit_id__in=list(units)).order_by("pk").values_list("pk", flat=True)
    )
    sample_ids = rng.sample(sample_ids, k=max(1, len(sample_ids) // 100)) if sample_ids else []
    extra = [
        r
        for r in pools.get(("windows", "utility"), []) + pools.get(("windows", "communication"), [])
    ]
    rounds = 3
    done = 0
    for device in Device.objects.filter(pk__in=sample_ids).select_related("unit").order_by("pk"):
        doc = _rebuild_document(device)
        for round_no in range(rounds):
            software = list(doc.software)
            for _ in range(rng.randint(0, 2)):
                if software:
                    software.pop(rng.randrange(len(software)))
            for raw in rng.sample(extra, k=min(len(extra), rng.randint(1, 3))):
                software.append(_software(raw))
            for _ in range(rng.randint(0, 2)):
                if software:
                    i = rng.randrange(len(software))
                    s = software[i]
                    software[i] = d.Software(
                        name=s.name,
                        version=f"{s.version}.{round_no + 1}",
                        publisher=s.publisher,
                        arch=s.arch,
                        source=s.source,
                        owner=s.owner,
                        kind=s.kind,
                    )
            unique: dict[tuple, d.Software] = {}
            for item in software:
                unique.setdefault(item.identity, item)
            doc.software = list(unique.values())
            when = device.first_seen + datetime.timedelta(days=20 * (round_no + 1))
            ingest_inventory(unit=device.unit, document=doc, received=min(when, now))
        done += 1
        if done % 50 == 0 or done == len(sample_ids):
            ctx.progress("history", done, len(sample_ids))
    ctx.shared["inventory"] = {"silent_unit_ids": sorted(silent), "devices": total}
    audit.record(
        actor=None,
        action=AuditAction.IMPORT,
        object_type="inventory.device",
        object_repr="simulated devices",
        message=f"simulated: {total} devices, {len(sample_ids)} with {rounds} rounds of history",
    )


def _rebuild_document(device: Device) -> d.InventoryDocument:
    """The device's current state as an inventory document, as its agent would send it."""
    software = []
    os_ = None
    for row in Installation.objects.filter(device=device).order_by("pk"):
        if row.kind == InstallationKind.OS:
            os_ = d.OperatingSystem(
                name=row.name,
                version=row.version,
                edition=row.category,
                arch=row.arch,
                publisher=row.publisher,
                product_id=device.os_product_id,
                partial_key=device.os_partial_key,
                activation=device.os_activation,
            )
            continue
        software.append(
            d.Software(
                name=row.name,
                version=row.version,
                publisher=row.publisher,
                arch=row.arch,
                install_date=row.install_date,
                source=row.source,
                guid=row.guid,
                owner=row.owner,
                kind=row.kind,
                category=row.category,
            )
        )
    return d.InventoryDocument(
        source=device.last_source,
        agent_device_id=device.agent_device_id,
        agent=device.last_agent,
        hostname=device.hostname,
        device_type=device.device_type,
        manufacturer=device.manufacturer,
        model=device.model,
        serial_number=device.serial_number,
        hardware_uuid=device.hardware_uuid,
        macs=list(device.macs.values_list("mac", flat=True)),
        cpu=device.cpu,
        memory_mb=device.memory_mb,
        last_user=device.last_user,
        os=os_,
        software=software,
    )
