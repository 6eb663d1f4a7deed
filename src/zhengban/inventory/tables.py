import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from zhengban.core.tables import DateColumn, DateTimeColumn, FastRowsMixin
from zhengban.inventory.models import Device, EnrollmentToken, Installation


class DeviceTable(FastRowsMixin, tables.Table):
    hostname = tables.Column(linkify=("inventory:device_detail", [tables.A("pk")]))
    # Not sortable: ordering by it counts the installations of every device in scope
    # (25 million rows in a province) for each page.
    software_count = tables.Column(verbose_name=_("软件数"), orderable=False)
    last_seen = DateTimeColumn()

    class Meta:
        model = Device
        fields = [
            "hostname",
            "unit",
            "department",
            "assigned_name",
            "device_type",
            "os_name",
            "os_version",
            "serial_number",
            "asset_number",
            "software_count",
            "last_seen",
            "last_source",
        ]


class InstallationTable(FastRowsMixin, tables.Table):
    # Plain column (rendered by FastRowsMixin): the product, or the default when none.
    product = tables.Column(verbose_name=_("识别产品"), default=_("未识别"), orderable=False)
    install_date = DateColumn()

    class Meta:
        model = Installation
        fields = [
            "name",
            "version",
            "publisher",
            "kind",
            "arch",
            "owner",
            "install_date",
            "source",
            "product",
        ]

    def value_product(self, record: Installation) -> str:
        return str(record.product) if record.product_id else str(_("未识别"))


class EnrollmentTokenTable(tables.Table):
    prefix = tables.Column(verbose_name=_("令牌前缀"))
    status = tables.TemplateColumn(
        template_name="inventory/_token_status.html",
        verbose_name=_("状态"),
        orderable=False,
    )
    actions = tables.TemplateColumn(
        template_name="inventory/_token_actions.html",
        verbose_name="",
        orderable=False,
        exclude_from_export=True,
    )

    class Meta:
        model = EnrollmentToken
        fields = ["prefix", "unit", "label", "created", "created_by", "expires", "last_used"]
        sequence = [
            "prefix",
            "unit",
            "label",
            "status",
            "created",
            "created_by",
            "expires",
            "last_used",
            "actions",
        ]
