import datetime

import django_filters
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhengban.core.filtersets import BooleanFilter, FilterSet
from zhengban.inventory.choices import DeviceStatus, DeviceType
from zhengban.inventory.models import Device, EnrollmentToken, Installation
from zhengban.orgs.models import Unit


class DeviceFilterSet(FilterSet):
    # Without ?status= the page lists devices in service (a retired machine is out of every
    # list unless asked for); the API keeps all devices (DeviceApiFilterSet).
    default_status = DeviceStatus.IN_SERVICE

    status = django_filters.ChoiceFilter(
        choices=DeviceStatus.choices, method="in_status", label=_("状态"), empty_label=None
    )
    q = django_filters.CharFilter(method="search", label=_("搜索"))
    unit = django_filters.ModelChoiceFilter(
        queryset=Unit.objects.all(), method="in_unit", label=_("单位")
    )
    device_type = django_filters.ChoiceFilter(choices=DeviceType.choices, label=_("类型"))
    os = django_filters.CharFilter(
        field_name="os_name", lookup_expr="icontains", label=_("操作系统")
    )
    # Bounded: a date further back than datetime can hold is an error, not a crash.
    stale_days = django_filters.NumberFilter(
        method="stale", label=_("超过N天未上报"), min_value=0, max_value=36500, decimal_places=0
    )
    software = django_filters.CharFilter(method="has_software", label=_("装有软件"))
    unrecognised = BooleanFilter(method="has_unrecognised", label=_("有未识别软件"))
    hostname = django_filters.CharFilter(lookup_expr="iexact", label=_("计算机名"))

    class Meta:
        model = Device
        fields = [
            "status",
            "q",
            "unit",
            "department",
            "device_type",
            "os",
            "stale_days",
            "software",
        ]

    def __init__(self, data=None, *args, request=None, **kwargs):
        if not (data or {}).get("status"):
            # The default applies when the parameter is absent (or empty), as if chosen.
            data = data.copy() if data is not None else QueryDict(mutable=True)
            data["status"] = self.default_status
        super().__init__(data, *args, request=request, **kwargs)
        user = getattr(request, "user", None)
        if user is not None:
            # Choices never list units (or departments) the person may not see.
            self.filters["unit"].queryset = Unit.objects.visible_to(user)
            self.filters["department"].queryset = self.filters["department"].queryset.visible_to(
                user
            )

    def in_status(self, queryset, name, value):
        if value == DeviceStatus.IN_SERVICE:
            return queryset.in_service()
        if value == DeviceStatus.RETIRED:
            return queryset.filter(retired__isnull=False)
        return queryset

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(hostname__icontains=value)
            | Q(serial_number__iexact=value)
            | Q(asset_number__iexact=value)
            | Q(assigned_name__icontains=value)
        )

    def in_unit(self, queryset, name, value):
        # A unit filter covers its affiliated bodies too, as the org tree does elsewhere.
        return queryset.filter(unit__path__startswith=value.path) if value else queryset

    def stale(self, queryset, name, value):
        if value is None:
            return queryset
        cutoff = timezone.now() - datetime.timedelta(days=int(value))
        return queryset.filter(last_seen__lt=cutoff)

    def has_software(self, queryset, name, value):
        # Devices with an install whose raw name or recognised product's name contains the
        # term. Matched as "any row in a set of products, or any row with one of these
        # names", both served by the (product, name) index, rather than a LIKE over every
        # install of every device in scope (seconds at a province's 13 million rows).
        products = list(
            Installation.product.field.related_model.objects.filter(
                name__icontains=value
            ).values_list("pk", flat=True)
        )
        pairs = installed_names_containing(value)
        names = sorted({n for _p, n in pairs})
        if len(names) > MAX_MATCHED_NAMES:
            # A term that broad matches most devices: the plain predicate finds a page of
            # them soon, and the index lookup would list most names of the province.
            match = Q(name__icontains=value) | Q(product__in=products)
        else:
            match = Q(product__in=products)
            recognised = sorted({p for p, _n in pairs if p is not None})
            if recognised:
                # Every row with one of these names has one of these products (the pairs
                # came from the rows themselves), so the product column narrows the index
                # range without changing the answer.
                match |= Q(product__in=recognised, name__in=names)
            unrecognised = sorted({n for p, n in pairs if p is None})
            if unrecognised:
                match |= Q(product__isnull=True, name__in=unrecognised)
            if not products and not pairs:
                return queryset.none()
        return queryset.filter(pk__in=Installation.objects.filter(match).values("device_id"))

    def has_unrecognised(self, queryset, name, value):
        if value is None:
            return queryset
        match = Exists(
            Installation.objects.filter(
                device=OuterRef("pk"), product__isnull=True, kind__in=["application", "os"]
            )
        )
        return queryset.filter(match if value else ~match)


class EnrollmentTokenFilterSet(FilterSet):
    class Meta:
        model = EnrollmentToken
        fields = ["unit"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        user = getattr(request, "user", None)
        if user is not None:
            self.filters["unit"].queryset = Unit.objects.visible_to(user)


# Past this many distinct names the term is too broad for looking names up to pay.
MAX_MATCHED_NAMES = 2000


def installed_names_containing(term: str) -> list[tuple[int | None, str]]:
    """The distinct (product id, raw name) pairs of installations whose raw name contains
    ``term``, case-insensitive as Django's icontains on this database.

    A province has millions of installs but few distinct names. On PostgreSQL the
    (product, name) index is walked one distinct pair at a time (a "loose index scan":
    one descent per pair, not one row per install); elsewhere a DISTINCT scan does."""
    table = connection.ops.quote_name(Installation._meta.db_table)
    product = connection.ops.quote_name(Installation._meta.get_field("product").column)
    column = connection.ops.quote_name("name")
    lhs = connection.ops.lookup_cast("icontains", "CharField") % column
    rhs = connection.operators["icontains"] % "%s"
    pattern = f"%{connection.ops.prep_for_like_query(term)}%"
    if connection.vendor == "postgresql":
        sql = f"""
            WITH RECURSIVE pairs(product_id, name) AS (
                (SELECT {product}, {column} FROM {table} WHERE {product} IS NOT NULL
                 ORDER BY {product}, {column} LIMIT 1)
                UNION ALL
                SELECT n.p, n.n FROM pairs CROSS JOIN LATERAL (
                    SELECT i.{product} AS p, i.{column} AS n FROM {table} i
                    WHERE (i.{product}, i.{column}) > (pairs.product_id, pairs.name)
                    ORDER BY i.{product}, i.{column} LIMIT 1
                ) n
            ), bare(name) AS (
                -- Ordered by the product too: PostgreSQL does not take "IS NULL" as fixing
                -- the index's first column, and ordered by the name alone it sorted every
                -- unrecognised row after each name (seconds), not one index step.
                (SELECT {column} FROM {table} WHERE {product} IS NULL
                 ORDER BY {product}, {column} LIMIT 1)
                UNION ALL
                SELECT n.n FROM bare CROSS JOIN LATERAL (
                    SELECT i.{column} AS n FROM {table} i
                    WHERE i.{product} IS NULL AND i.{column} > bare.name
                    ORDER BY i.{product}, i.{column} LIMIT 1
                ) n
            )
            SELECT product_id, {column} FROM pairs WHERE {lhs} {rhs}
            UNION ALL
            SELECT NULL, {column} FROM bare WHERE {lhs} {rhs}
        """
        params = [pattern, pattern]
    else:
        sql = f"SELECT DISTINCT {product}, {column} FROM {table} WHERE {lhs} {rhs}"
        params = [pattern]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(p, n) for p, n in cursor.fetchall()]
