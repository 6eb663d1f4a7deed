"""Devices, what is installed on them, the history of changes, and enrolment tokens.

Device identity (see ``services._candidates`` and ``services._rank`` for the code): an
inventory is matched only against devices of the unit its enrolment token belongs to, in
this order, and a candidate is never accepted when both sides carry a valid hardware UUID
or BIOS serial that differ:

1. the agent's device id (stable for one agent installation);
2. hardware UUID and BIOS serial together, then the UUID alone, then the serial alone
   (these survive re-imaging and agent re-installation; placeholders such as
   "To Be Filled By O.E.M", "OEM_Serial" or AMI's UUID in either byte order are ignored:
   ``document.hardware_serial`` and ``document.hardware_uuid``);
3. a universally administered MAC address (burnt into the network card; the adapters that
   every machine shares, such as VMware Workstation's vmnet or Windows' WAN Miniport, are
   dropped when read: ``document.normalise_mac``);
4. a locally administered MAC address together with the same host name (containers and
   VMs without dmidecode report no serial or UUID, and their MACs are not unique alone);
5. for an import without any hardware id, the same host name;
6. for an agent's first report, the one device imported under its host name and known by
   nothing else (units import a list first and install the agent later);
7. otherwise a new device; on PostgreSQL only after locking the document's UUID, serial
   and MACs in the unit and looking again, so that two agents of one machine (OCS and
   FusionInventory) sending their first reports at once make one device
   (``services._lock_identity``).

A device moved to another unit (``DeviceMove``) is matched in its new unit; an inventory
sent with a token of a unit it was moved away from is refused (403), not enrolled again.
An import naming a device whose agent reported within 30 days is refused (409): the
agent's list is the complete one.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from zhengban.core.scoping import ScopedQuerySet
from zhengban.inventory.choices import (
    DeviceType,
    EventType,
    InstallationKind,
    InventorySource,
    OSActivation,
)


class DeviceQuerySet(ScopedQuerySet):
    def in_service(self) -> DeviceQuerySet:
        """Devices not retired: what licensing judges and lists count by default."""
        return self.filter(retired__isnull=True)


class Device(models.Model):
    # No index of its own: every index in Meta but one leads with the unit.
    unit = models.ForeignKey(
        "orgs.Unit",
        on_delete=models.PROTECT,
        related_name="devices",
        verbose_name=_("单位"),
        db_index=False,
    )
    department = models.ForeignKey(
        "orgs.Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="devices",
        verbose_name=_("部门"),
    )
    assigned_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="devices",
        verbose_name=_("使用人账号"),
    )
    # The 使用人 need not have an account: the ledger records a name.
    assigned_name = models.CharField(_("使用人"), max_length=50, blank=True)
    asset_number = models.CharField(_("资产编号"), max_length=64, blank=True)

    # Identity.
    agent_device_id = models.CharField(_("客户端设备标识"), max_length=255, blank=True)
    hardware_uuid = models.CharField(_("硬件UUID"), max_length=64, blank=True)
    serial_number = models.CharField(_("序列号"), max_length=100, blank=True)

    hostname = models.CharField(_("计算机名"), max_length=255, blank=True)
    device_type = models.CharField(
        _("类型"), max_length=16, choices=DeviceType.choices, default=DeviceType.OTHER
    )
    manufacturer = models.CharField(_("制造商"), max_length=200, blank=True)
    model = models.CharField(_("型号"), max_length=200, blank=True)
    cpu = models.CharField(_("处理器"), max_length=255, blank=True)
    memory_mb = models.PositiveIntegerField(_("内存(MB)"), null=True, blank=True)
    last_user = models.CharField(_("最近登录用户"), max_length=150, blank=True)

    os_name = models.CharField(_("操作系统"), max_length=255, blank=True)
    os_version = models.CharField(_("系统版本"), max_length=100, blank=True)
    os_edition = models.CharField(_("系统版本类型"), max_length=100, blank=True)
    os_arch = models.CharField(_("系统架构"), max_length=32, blank=True)
    os_product_id = models.CharField(_("产品ID"), max_length=64, blank=True)
    # Only the last five characters of a product key are ever stored.
    os_partial_key = models.CharField(_("部分产品密钥"), max_length=5, blank=True)
    os_activation = models.CharField(
        _("激活状态"), max_length=16, choices=OSActivation.choices, blank=True
    )

    first_seen = models.DateTimeField(_("首次发现"))
    last_seen = models.DateTimeField(_("最近上报"), db_index=True)
    last_source = models.CharField(_("最近来源"), max_length=20, choices=InventorySource.choices)
    last_agent = models.CharField(_("客户端版本"), max_length=100, blank=True)
    # sha256 of the last normalised inventory (its software list and the device facts we
    # store): an unchanged repeat is recognised with one comparison and only moves last_seen.
    inventory_hash = models.CharField(_("清单摘要"), max_length=64, blank=True)
    # sha256 of the last body received over HTTP, as received (before inflating) with its
    # media type: a byte-identical repeat is found with one indexed UPDATE, before any
    # parsing (services.payload_hash, ingest.unchanged_repeat).
    payload_hash = models.CharField(_("报文摘要"), max_length=64, blank=True)
    # InventoryDocument.quick_key() of the last inventory (its facts but the software list,
    # and the raw software section's digest): a repeat whose body differs only in volatile
    # fields is found after parsing everything but the software entries.
    quick_key = models.CharField(_("快速比对摘要"), max_length=64, blank=True)
    # A scrapped, lost or replaced machine (or a duplicate record left behind by a new
    # motherboard) stops counting in licensing and lists; its history stays. An agent
    # report from it puts it back in service (services._ingest).
    retired = models.DateTimeField(_("退役时间"), null=True, blank=True)
    retired_reason = models.CharField(_("退役原因"), max_length=200, blank=True)

    objects = DeviceQuerySet.as_manager()
    scope_unit_path = "unit"
    # A 软件使用人 sees the devices in their own use and nothing of colleagues' machines.
    scope_person_path = "assigned_user"

    class Meta:
        ordering = ["hostname", "id"]
        verbose_name = _("终端")
        verbose_name_plural = _("终端")
        indexes = [
            models.Index(fields=["unit", "hardware_uuid"], name="device_unit_uuid"),
            models.Index(fields=["unit", "serial_number"], name="device_unit_serial"),
            models.Index(fields=["unit", "hostname"], name="device_unit_hostname"),
            models.Index(fields=["unit", "payload_hash"], name="device_unit_payload"),
            # The device list's default order: a page is read from the index, not sorted
            # out of every device in scope; with the unit and the retirement in the index
            # (PostgreSQL) a deep page's scope and 在用 checks need no visit to the table.
            models.Index(
                fields=["hostname", "id"],
                name="device_hostname_id",
                include=["unit", "retired"],
            ),
            # Devices known by their name alone (imported without any hardware id): an
            # agent's first report looks for one to take over (services._first_inventory_probe),
            # and must not walk every device of a unit whose agents send no UUID or serial.
            models.Index(
                F("unit"),
                Upper("hostname"),
                name="device_unit_name_only",
                condition=Q(agent_device_id="", hardware_uuid="", serial_number=""),
            ),
        ]
        constraints = [
            # Two concurrent first inventories of one agent must not create two devices. It
            # is also the index of lookups by agent id, which are never by an empty one.
            models.UniqueConstraint(
                fields=["unit", "agent_device_id"],
                condition=~Q(agent_device_id=""),
                name="device_agent_id_unique_per_unit",
            ),
            models.CheckConstraint(
                condition=Q(device_type__in=DeviceType.values), name="device_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(last_source__in=InventorySource.values), name="device_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(os_activation__in=OSActivation.values),
                name="device_os_activation_valid",
            ),
            models.CheckConstraint(
                condition=Q(last_seen__gte=models.F("first_seen")),
                name="device_seen_order",
            ),
            # A retirement always says why, and a device in service carries no stale reason.
            models.CheckConstraint(
                condition=Q(retired__isnull=True, retired_reason="")
                | (Q(retired__isnull=False) & ~Q(retired_reason="")),
                name="device_retired_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.hostname or self.serial_number or f"#{self.pk}"


class DeviceMAC(models.Model):
    """A MAC address a device reported (normalised "aa:bb:cc:dd:ee:ff")."""

    # No index of its own: the unique (device, mac) index leads with it.
    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="macs", db_index=False
    )
    # The device's unit, kept with it (``services.move_device``): inventories are matched
    # within a unit, and some MACs are the same on thousands of machines (VPN and
    # host-only virtual adapters), so the lookup is by (unit, MAC), not by MAC alone.
    unit = models.ForeignKey(
        "orgs.Unit",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("单位"),
        db_index=False,
    )
    mac = models.CharField(_("MAC地址"), max_length=17)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "device__unit"
    scope_person_path = "device__assigned_user"

    class Meta:
        verbose_name = _("MAC地址")
        verbose_name_plural = _("MAC地址")
        indexes = [models.Index(fields=["unit", "mac"], name="devicemac_unit_mac")]
        constraints = [
            models.UniqueConstraint(fields=["device", "mac"], name="device_mac_unique"),
        ]

    def __str__(self) -> str:
        return self.mac


class InventoryReport(models.Model):
    """One accepted inventory that changed something (unchanged repeats only move
    Device.last_seen, so that a fleet reporting daily does not grow this table)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="reports")
    received = models.DateTimeField(_("接收时间"), db_index=True)
    source = models.CharField(_("来源"), max_length=20, choices=InventorySource.choices)
    agent = models.CharField(_("客户端版本"), max_length=100, blank=True)
    partial = models.BooleanField(_("部分清单"), default=False)
    software_count = models.PositiveIntegerField(_("软件条目数"), default=0)
    installed = models.PositiveIntegerField(_("新安装"), default=0)
    removed = models.PositiveIntegerField(_("已卸载"), default=0)
    version_changed = models.PositiveIntegerField(_("版本变更"), default=0)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "device__unit"
    scope_person_path = "device__assigned_user"

    class Meta:
        ordering = ["-received", "-id"]
        verbose_name = _("清单上报")
        verbose_name_plural = _("清单上报")
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=InventorySource.values), name="report_source_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.device} {self.received:%Y-%m-%d %H:%M}"


class Installation(models.Model):
    """One installed piece of software (the operating system too, with kind "os") as the
    device last reported it. Raw fields are kept exactly as reported (trimmed)."""

    # No index of its own: the (device, kind) index serves every per-device lookup, and each
    # index costs on every one of the thousands of rows an inventory writes.
    # Neither reference is a database foreign key: triggers check them once per statement
    # instead of once per row (migration 0012 says how and why).
    device = models.ForeignKey(
        Device,
        on_delete=models.CASCADE,
        related_name="installations",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(_("类别"), max_length=20, choices=InstallationKind.choices)
    name = models.CharField(_("名称"), max_length=512)
    publisher = models.CharField(_("发行商"), max_length=255, blank=True)
    version = models.CharField(_("版本"), max_length=128, blank=True)
    arch = models.CharField(_("架构"), max_length=32, blank=True)
    install_date = models.DateField(_("安装日期"), null=True, blank=True)
    source = models.CharField(_("来源"), max_length=32, blank=True)  # registry, dpkg, rpm, …
    guid = models.CharField(_("GUID/注册表键"), max_length=255, blank=True)
    owner = models.CharField(_("所属用户"), max_length=150, blank=True)  # per-user installs
    category = models.CharField(_("系统分类"), max_length=100, blank=True)
    # The recogniser's memo key, hashed: (name, publisher, version, platform). Not indexed:
    # a lookup by raw record (catalog_provider.apply_products) goes through the (product,
    # name, version) index and checks the key on the few rows it finds; an index of its
    # own, with random inserts all over a province's table, was the dearest of every
    # inventory's index writes (bench/installation_write.py).
    raw_key = models.CharField(_("识别键"), max_length=40)
    # Indexed in Meta with the name and version: serves every lookup by product, the
    # device list's "装有软件" filter (which walks its distinct (product, name) pairs), and
    # lookups by raw record.
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="installations",
        verbose_name=_("识别产品"),
        db_index=False,
        db_constraint=False,
    )
    first_seen = models.DateTimeField(_("首次发现"))

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "device__unit"
    scope_person_path = "device__assigned_user"

    class Meta:
        ordering = ["name", "version", "id"]
        verbose_name = _("软件安装")
        verbose_name_plural = _("软件安装")
        indexes = [
            models.Index(fields=["device", "kind"], name="installation_device_kind"),
            models.Index(
                fields=["product", "name", "version"], name="installation_product_name_ver"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=InstallationKind.values), name="installation_kind_valid"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="installation_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()


class InstallationEvent(models.Model):
    """A change between two inventories of a device: the ledger's 附表3."""

    # No index of its own: the (device, date) index in Meta serves every per-device lookup.
    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    report = models.ForeignKey(
        InventoryReport, on_delete=models.CASCADE, related_name="events", verbose_name=_("清单")
    )
    event_type = models.CharField(_("变更"), max_length=20, choices=EventType.choices)
    kind = models.CharField(_("类别"), max_length=20, choices=InstallationKind.choices)
    name = models.CharField(_("名称"), max_length=512)
    publisher = models.CharField(_("发行商"), max_length=255, blank=True)
    arch = models.CharField(_("架构"), max_length=32, blank=True)
    owner = models.CharField(_("所属用户"), max_length=150, blank=True)
    old_version = models.CharField(_("原版本"), max_length=128, blank=True)
    new_version = models.CharField(_("新版本"), max_length=128, blank=True)
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="installation_events",
        verbose_name=_("识别产品"),
    )
    date = models.DateTimeField(_("发现时间"), db_index=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "device__unit"
    scope_person_path = "device__assigned_user"

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name = _("软件变更")
        verbose_name_plural = _("软件变更")
        indexes = [models.Index(fields=["device", "date"], name="event_device_date")]
        constraints = [
            models.CheckConstraint(
                condition=Q(event_type__in=EventType.values), name="event_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=InstallationKind.values), name="event_kind_valid"
            ),
            # Each event type carries exactly the versions it describes.
            models.CheckConstraint(
                condition=~Q(event_type=EventType.INSTALLED) | Q(old_version=""),
                name="event_installed_no_old_version",
            ),
            models.CheckConstraint(
                condition=~Q(event_type=EventType.REMOVED) | Q(new_version=""),
                name="event_removed_no_new_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_type_display()} {self.name}"


class EnrollmentToken(models.Model):
    """A secret in an ingest URL: whoever holds it may report devices into one unit."""

    unit = models.ForeignKey(
        "orgs.Unit",
        on_delete=models.PROTECT,
        related_name="enrollment_tokens",
        verbose_name=_("单位"),
    )
    label = models.CharField(_("说明"), max_length=100, blank=True)
    # sha256 of the token: the token itself is shown once, at creation.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("令牌前缀"), max_length=8, editable=False)
    created = models.DateTimeField(_("创建时间"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("创建人"),
    )
    expires = models.DateTimeField(_("有效期至"))
    revoked = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    last_used = models.DateTimeField(_("最近使用"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "unit"

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = _("注册令牌")
        verbose_name_plural = _("注册令牌")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.unit})"


class DeviceMove(models.Model):
    """A device handed from one unit to another (调剂). Kept so that an agent still holding
    the old unit's token is told where its device went, instead of enrolling it there
    again as a second device (the ledger would count the machine in both units)."""

    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="moves", verbose_name=_("终端")
    )
    from_unit = models.ForeignKey(
        "orgs.Unit", on_delete=models.PROTECT, related_name="+", verbose_name=_("原单位")
    )
    to_unit = models.ForeignKey(
        "orgs.Unit", on_delete=models.PROTECT, related_name="+", verbose_name=_("新单位")
    )
    moved = models.DateTimeField(_("移交时间"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("经办人"),
    )
    reason = models.CharField(_("移交原因"), max_length=200)

    objects = ScopedQuerySet.as_manager()
    scope_unit_path = "to_unit"
    scope_person_path = "device__assigned_user"

    class Meta:
        ordering = ["-moved", "-id"]
        verbose_name = _("终端移交")
        verbose_name_plural = _("终端移交")

    def __str__(self) -> str:
        return f"{self.device}: {self.from_unit} → {self.to_unit}"
