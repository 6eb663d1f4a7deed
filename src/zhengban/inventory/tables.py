import datetime
from collections.abc import Iterable
from html import escape

import django_tables2 as tables
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from zhengban.core.tables import DateColumn, DateTimeColumn, FastRowsMixin, numeric_date_pattern
from zhengban.inventory.choices import DeviceStatus
from zhengban.inventory.models import Device, EnrollmentToken, Installation, InstallationEvent


class DeviceTable(FastRowsMixin, tables.Table):
    hostname = tables.Column(linkify=("inventory:device_detail", [tables.A("pk")]))
    # Not sortable: ordering by it counts the installations of every device in scope
    # (25 million rows in a province) for each page.
    software_count = tables.Column(verbose_name=_("软件数"), orderable=False)
    last_seen = DateTimeColumn()
    # 在用, or 已退役 with the day: in the page and the XLSX export alike.
    status = tables.Column(
        verbose_name=_("状态"), accessor="retired", orderable=False, empty_values=()
    )

    class Meta:
        model = Device
        fields = [
            "hostname",
            "status",
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

    def fast_status(self, record: Device) -> str:
        return device_status_label(record.retired)

    def render_status(self, value: datetime.datetime | None) -> str:
        return device_status_label(value)

    def value_status(self, value: datetime.datetime | None) -> str:
        return device_status_label(value)


def device_status_label(retired: datetime.datetime | None) -> str:
    if retired is None:
        return str(DeviceStatus.IN_SERVICE.label)
    day = timezone.localtime(retired).strftime("%Y-%m-%d")
    return _("已退役（%(date)s）") % {"date": day}


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


EVENT_DATE_FORMAT = "Y-m-d H:i"
_EVENT_DATE = numeric_date_pattern(EVENT_DATE_FORMAT)[0]


def event_rows(events: Iterable[InstallationEvent]) -> SafeString:
    """The device page's change history rows, as its template wrote them with
    {% for e in events %} (white space included): in Python, because fifty rows of six
    cells cost the page ~2.5 ms of template work."""
    labels: dict[str, str] = {}
    out = []
    for e in events:
        kind = labels.get(e.event_type)
        if kind is None:
            kind = labels[e.event_type] = escape(e.get_event_type_display())
        # As {{ e.date|date:"Y-m-d H:i" }}: local time, then the format.
        date = timezone.template_localtime(e.date)
        when = _EVENT_DATE.format(date) if date else ""
        product = escape(str(e.product)) if e.product else "—"
        out.append(
            f"\n    <tr><td>{when}</td><td>{kind}</td><td>{escape(e.name)}</td>"
            f"<td>{escape(e.old_version)}</td><td>{escape(e.new_version)}</td>"
            f"<td>{product}</td></tr>\n    "
        )
    return mark_safe("".join(out))


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
