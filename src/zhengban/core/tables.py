from __future__ import annotations

import datetime
import json
from html import escape as html_escape
from typing import Any

import django_tables2 as tables
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.db import models
from django.template import Context
from django.template.base import render_value_in_context
from django.urls import NoReverseMatch, reverse
from django.utils import dateformat, formats, timezone
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe
from django_tables2.columns.base import LinkTransform
from django_tables2.data import TableQuerysetData
from django_tables2.rows import BoundRow

from zhengban.core.models import AuditLogEntry
from zhengban.core.pagination import stable_ordering

# The most rows a page shows, whatever ?per_page= asks: one request cannot render a province.
MAX_PER_PAGE = 500


class BoundedRequestConfig(tables.RequestConfig):
    """django-tables2's RequestConfig with bounds: ``?per_page=`` is held to
    1..MAX_PER_PAGE (-1 or 0 made the paginator raise EmptyPage for its own last page, a
    500), and the rows are ordered by the primary key after the sort keys, so rows that tie
    on the sort keys neither repeat nor go missing between pages."""

    def configure(self, table):
        table.request = self.request
        order_by = self.request.GET.getlist(table.prefixed_order_by_field)
        if order_by:
            table.order_by = order_by
        if isinstance(table.data, TableQuerysetData):
            table.data.data = stable_ordering(table.data.data)
        if not self.paginate:
            return table
        kwargs = dict(self.paginate) if hasattr(self.paginate, "items") else {}
        for arg in ("page", "per_page"):
            try:
                kwargs[arg] = int(self.request.GET[getattr(table, f"prefixed_{arg}_field")])
            except (ValueError, KeyError):
                pass  # not a number: the default
        if "per_page" in kwargs:
            kwargs["per_page"] = min(max(kwargs["per_page"], 1), MAX_PER_PAGE)
        silent = kwargs.pop("silent", True)
        if not silent:
            return table.paginate(**kwargs)
        try:
            table.paginate(**kwargs)
        except PageNotAnInteger:
            table.page = table.paginator.page(1)
        except EmptyPage:
            # Past the end (or before the start): the last page, as django-tables2 does.
            table.page = table.paginator.page(table.paginator.num_pages)
        return table


def _json_text(value: Any) -> str:
    # Chinese stays readable in the page and in the export (no \u escapes).
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


class FastRowsMixin:
    """Renders the body of a page in Python for plain columns.

    django-tables2 renders each cell through signature inspection and template lookups,
    about 0.15 ms a cell: 50 rows of 12 columns cost more CPU than the rest of the request.
    Plain columns (a `Column` without a render_ method, a simple field name) are rendered
    here the way django-tables2 and `{{ cell }}` would (choices shown by label, empty
    values as the default, linkify, localisation, escaping); other cells still go through
    django-tables2. A column whose table has a `fast_<name>(record)` method is rendered by
    it here (the text it returns, escaped), whatever its render_ method does for others.
    core/table.html uses `fast_body` when a table has it.
    """

    fast_rows = True

    def _plain(self, bound_column) -> bool:
        if hasattr(self, f"fast_{bound_column.name}"):
            return True
        column = bound_column.column
        accessor = str(bound_column.accessor)
        kind_ok = type(column) is tables.Column or (
            isinstance(column, DateTimeColumn | DateColumn) and not bound_column.link
        )
        return (
            kind_ok
            and not hasattr(self, f"render_{bound_column.name}")
            and "." not in accessor
            and "__" not in accessor
        )

    def fast_body(self) -> SafeString:
        context = Context(autoescape=True)
        # Per column, once per page: how to render it, its <td> attributes, its link and
        # its default (a translated text rendered once, not once per cell).
        plans = [_ColumnPlan(self, column, context) for column in self.columns]
        # get_FOO_display() flattens the field's choices on every call: once per page here.
        self._choice_labels: dict[str, dict | None] = {}
        # Without row_attrs a row's attributes are only its parity class.
        parity_only = not self.row_attrs
        plain_ints = not settings.USE_THOUSAND_SEPARATOR
        out = []
        for row in self.paginated_rows:
            record = row.record
            cells = []
            for plan in plans:
                if not plan.plain:
                    text = render_value_in_context(row.get_cell(plan.column.name), context)
                else:
                    cell = self._fast_cell(row, record, plan)
                    if cell is plan.default:
                        text = plan.default_html
                    elif type(cell) is str:
                        # What conditional_escape does to a plain str, without the lazy-text
                        # check around django's escape() (the page is marked safe as a whole).
                        text = html_escape(cell)
                    elif type(cell) is int and plain_ints:
                        text = str(cell)  # what localize() gives without thousand separators
                    else:
                        text = render_value_in_context(cell, context)
                cells.append(f"{plan.td_open}{text}</td>")
            if parity_only and type(row) is BoundRow:
                attrs = 'class="odd"' if row.row_counter % 2 else 'class="even"'
            else:
                attrs = row.attrs.as_html()
            out.append(f"<tr {attrs}>{''.join(cells)}</tr>\n")
        return mark_safe("".join(out))

    def _fast_cell(self, row, record, plan: _ColumnPlan) -> Any:
        if plan.fast is not None:
            return plan.fast(record)
        name = plan.name
        if isinstance(record, models.Model):
            value = getattr(record, name, None)
            labels = self._labels(record, name)
            if labels is not None:
                # As get_FOO_display(): the label, or the stored value when not a choice.
                value = labels.get(value, value)
                value = str(value) if value is not None else value
        else:
            value = tables.A(name).resolve(record, quiet=True)
        if plan.date_format is not None:
            # As their template: {{ value|date:format|default:default }}.
            text = plan.render_date(value) if value not in (None, "") else ""
            return text or plan.default
        if value in plan.empty_values:
            return plan.default
        if plan.link is not None:
            return plan.linked(value, record, row, self)
        return value

    def _labels(self, record: models.Model, name: str) -> dict | None:
        if name not in self._choice_labels:
            try:
                field = record._meta.get_field(name)
            except FieldDoesNotExist:
                field = None
            choices = getattr(field, "flatchoices", None) if field is not None else None
            # Translated once per page, not once per cell.
            self._choice_labels[name] = (
                {key: str(label) for key, label in choices} if choices else None
            )
        return self._choice_labels[name]


_MARKER = 9_876_543_210_123


class _ColumnPlan:
    """What FastRowsMixin works out once per column and page."""

    def __init__(self, table, bound_column, context: Context) -> None:
        self.column = bound_column
        self.plain = table._plain(bound_column)
        self.fast = getattr(table, f"fast_{bound_column.name}", None) if self.plain else None
        self.td_open = f"<td {bound_column.attrs['td'].as_html()}>"
        self.name = str(bound_column.accessor)
        self.default = bound_column.default if self.plain else None
        self.default_html = render_value_in_context(self.default, context) if self.plain else ""
        self.empty_values = bound_column.column.empty_values
        self.link = bound_column.link if self.plain else None
        column = bound_column.column
        self.date_format = None
        if isinstance(column, DateTimeColumn | DateColumn):
            # The named format resolved once per page, as date_format() does per call.
            self.date_format = formats.get_format(column.date_format)
            self.localtime = isinstance(column, DateTimeColumn)
            self.date_pattern = numeric_date_pattern(self.date_format)
        self._href = self._href_template(bound_column.link) if self.link is not None else None

    def render_date(self, value: Any) -> str:
        # What {{ value|date:format }} gives: local time (for date-times), then the format.
        if self.localtime and hasattr(value, "tzinfo"):
            value = timezone.template_localtime(value)
        if self.date_pattern is not None:
            pattern, needs_time = self.date_pattern
            kind = type(value)
            if kind is datetime.datetime or (kind is datetime.date and not needs_time):
                return pattern.format(value)
        return dateformat.format(value, self.date_format) or ""

    @staticmethod
    def _href_template(link) -> tuple[str, tables.A] | None:
        """For linkify=(view name, [A("pk")]): the URL with a marker where the number goes,
        so a page reverses the URL once instead of once per row."""
        args = link.reverse_args
        if (
            type(link) is not LinkTransform
            or link.url is not None
            or link.attrs
            or set(args) != {"viewname", "args"}
            or not isinstance(args["viewname"], str)
            or len(args["args"]) != 1
            or not isinstance(args["args"][0], tables.A)
        ):
            return None
        try:
            url = reverse(args["viewname"], args=[_MARKER])
        except NoReverseMatch:  # a converter that takes no number: reverse per row
            return None
        if url.count(str(_MARKER)) != 1:
            return None
        return url, args["args"][0]

    def linked(self, value: Any, record: Any, row, table) -> Any:
        if self._href is not None:
            url, accessor = self._href
            number = accessor.resolve(record)
            if type(number) is int:
                # As LinkTransform: <a href="…">value</a>, both escaped.
                href = url.replace(str(_MARKER), str(number))
                return mark_safe(f'<a href="{escape(href)}">{conditional_escape(value)}</a>')
        return self.link(
            value,
            value=value,
            record=record,
            column=self.column.column,
            bound_column=self.column,
            bound_row=row,
            table=table,
        )


# Django's date format characters (django.utils.dateformat), and those that are numbers only.
_FORMAT_CHARS = frozenset("aAbcdDeEfFgGhHiIjlLmMnNoOPrsStTUuwWyYzZ")
_DATE_NUMBERS = {
    "Y": "{0.year:04d}",
    "m": "{0.month:02d}",
    "n": "{0.month}",
    "d": "{0.day:02d}",
    "j": "{0.day}",
}
_TIME_NUMBERS = {"H": "{0.hour:02d}", "G": "{0.hour}", "i": "{0.minute:02d}", "s": "{0.second:02d}"}


def numeric_date_pattern(date_format: str) -> tuple[str, bool] | None:
    """A date format of numbers and literal text only ("Y年n月j日 H:i", "Y-m-d") as a
    str.format pattern giving what dateformat.format() gives, and whether it needs a time;
    None for any other format. A page's dates then cost one format() each instead of a
    DateFormat object per cell."""
    parts = []
    needs_time = False
    for char in date_format:
        if char in _DATE_NUMBERS:
            parts.append(_DATE_NUMBERS[char])
        elif char in _TIME_NUMBERS:
            parts.append(_TIME_NUMBERS[char])
            needs_time = True
        elif char in _FORMAT_CHARS or char in "\\{}":
            return None
        else:
            parts.append(char)
    return "".join(parts), needs_time


class DateTimeColumn(tables.DateTimeColumn):
    """django-tables2's DateTimeColumn that FastRowsMixin renders without a template, and
    that exports a date cell in local time (django-tables2 gives the UTC text)."""

    def __init__(self, format=None, short=True, *args, **kwargs):
        self.date_format = format or ("SHORT_DATETIME_FORMAT" if short else "DATETIME_FORMAT")
        super().__init__(format, short, *args, **kwargs)

    def value(self, value: Any = None, **kwargs: Any) -> Any:
        if isinstance(value, datetime.datetime):
            # The time the page shows: local (a cell holds no time zone), to the second (a
            # cell's day fraction cannot hold microseconds exactly; pages show seconds at most).
            if timezone.is_aware(value):
                value = timezone.localtime(value)
            return value.replace(tzinfo=None, microsecond=0)
        return value


class DateColumn(tables.DateColumn):
    """django-tables2's DateColumn that FastRowsMixin renders without a template, and that
    exports a date cell."""

    def __init__(self, format=None, short=True, *args, **kwargs):
        self.date_format = format or ("SHORT_DATE_FORMAT" if short else "DATE_FORMAT")
        super().__init__(format, short, *args, **kwargs)

    def value(self, value: Any = None, **kwargs: Any) -> Any:
        if isinstance(value, datetime.datetime):
            # The local day, as the page shows it.
            return (timezone.localtime(value) if timezone.is_aware(value) else value).date()
        return value


class AuditLogEntryTable(tables.Table):
    timestamp = DateTimeColumn(
        format="Y-m-d H:i:s", linkify=("core:audit_detail", [tables.A("pk")])
    )

    class Meta:
        model = AuditLogEntry
        fields = [
            "timestamp",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "ip_address",
            "message",
        ]

    def render_before(self, value: Any) -> str:
        return _json_text(value)

    def render_after(self, value: Any) -> str:
        return _json_text(value)

    def value_before(self, value: Any) -> str:
        return _json_text(value)

    def value_after(self, value: Any) -> str:
        return _json_text(value)
