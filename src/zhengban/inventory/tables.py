import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from zhengban.inventory.models import Device, EnrollmentToken, Installation


class DeviceTable(tables.Table):
    hostname = tables.Column(linkify=("inventory:device_detail", [tables.A("pk")]))
    software_count = tables.Column(verbose_name=_("软件数"), orderable=True)

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


class InstallationTable(tables.Table):
    product = tables.Column(verbose_name=_("识别产品"), empty_values=(), orderable=False)

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

    def render_product(self, record: Installation) -> str:
        return str(record.product) if record.product_id else str(_("未识别"))

    def value_product(self, record: Installation) -> str:
        return self.render_product(record)


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
