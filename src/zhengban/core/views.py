"""Generic views every app builds on: scoped list pages with filters, sorting, pagination
and XLSX export."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.functional import cached_property
from django_filters.views import FilterView
from django_tables2 import SingleTableMixin
from django_tables2.rows import BoundRows

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.db import query_cache_key
from zhengban.core.exports import build_workbook, xlsx_response
from zhengban.core.filtersets import scope_filter_choices
from zhengban.core.scoping import scope_queryset
from zhengban.core.tables import BoundedRequestConfig


class ScopedQuerysetMixin(LoginRequiredMixin):
    """get_queryset() always passes through the scoping mechanism."""

    model: Any = None
    queryset: Any = None

    def base_queryset(self):
        if self.queryset is not None:
            return self.queryset.all()
        return self.model._default_manager.all()

    def get_queryset(self):
        return scope_queryset(self.base_queryset(), self.request.user)


class CappedCountPaginator(Paginator):
    """Pages a django-tables2 table over a queryset with one bounded COUNT.

    A province-wide list has 100,000 rows: counting them exactly costs more than showing a
    page. The count stops at `count_cap` rows (or just past the requested page, so deeper
    pages stay reachable) and the page says "more than N" beyond that, as large mail and
    code-search products do. With `deferred=True` a page is read in two steps: the ids of
    the page in list order (no annotations, so an index can serve the ordering and OFFSET
    skips cheap rows), then those rows with every join and annotation.
    """

    count_cap = 10_000
    # Lists up to this long read their ids whole (see page()).
    read_whole_below = 1_000
    # The count never reads past this many rows: ?page=99999999999999999999 would otherwise
    # ask the database for a LIMIT no integer column holds (a 500); such a page is past the
    # end like any other and shows the last page.
    max_count_limit = 2**31 - 1

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, **kwargs):
        self.deferred = kwargs.pop("deferred", False)
        super().__init__(object_list, per_page, orphans, allow_empty_first_page, **kwargs)
        self._wanted = 1

    def _queryset(self):
        data = getattr(self.object_list, "data", None)
        queryset = getattr(data, "data", None)
        return queryset if hasattr(queryset, "query") else None

    @property
    def count_limit(self) -> int:
        return min(max(self.count_cap, self._wanted * self.per_page), self.max_count_limit)

    @cached_property
    def count(self) -> int:
        queryset = self._queryset()
        if queryset is None:
            return super().count
        # COUNT(*) over a LIMIT: stops scanning once past the limit; no ORDER BY needed.
        counted = queryset.order_by().values("pk")[: self.count_limit + 1]
        seconds = int(getattr(settings, "LIST_COUNT_CACHE_SECONDS", 0))
        if not seconds:
            return counted.count()
        # Past the cap the page only says "more than N": that answer is reused for a short
        # while per query (the scope and filters are in its SQL), sparing a province-wide
        # scan on every page. Exact counts below the cap are never reused.
        key = query_cache_key("listcount:", counted)
        if key is None:
            return 0  # a filter that can match nothing (Django has no SQL for it)
        hit = cache.get(key)
        if hit is not None:
            return hit
        number = counted.count()
        if number > self.count_limit:
            cache.set(key, number, seconds)
        return number

    @property
    def count_capped(self) -> bool:
        return self._queryset() is not None and self.count > self.count_limit

    @property
    def count_floor(self) -> int:
        return self.count_limit

    def page(self, number):
        try:
            self._wanted = max(1, int(number))
        except (TypeError, ValueError):
            self._wanted = 1
        queryset = self._queryset()
        if not self.deferred or queryset is None:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = min(bottom + self.per_page, self.count)
        if self.count <= self.read_whole_below:
            # A short list is read whole and cut here. With a LIMIT the planner may walk the
            # ordering index of the whole table hoping to meet the few matching rows soon
            # (seen: 74 ms for a unit's 19 devices among 100,000); without one it filters
            # first and sorts the few rows.
            ids = list(queryset.values_list("pk", flat=True))[bottom:top]
        else:
            ids = list(queryset.values_list("pk", flat=True)[bottom:top])
        by_id = queryset.order_by().in_bulk(ids) if ids else {}
        rows = BoundRows(
            data=[by_id[pk] for pk in ids if pk in by_id],
            table=self.object_list.table,
            pinned_data=self.object_list.pinned_data,
        )
        return self._get_page(rows, number, self)


class ObjectListView(ScopedQuerysetMixin, SingleTableMixin, FilterView):
    template_name = "core/object_list.html"
    paginate_by = 50
    paginator_class = CappedCountPaginator
    # Read pages in two steps (see CappedCountPaginator): for big tables with annotations.
    deferred_pages = False
    title: str = ""
    export_name: str = "export"
    # Callable(user) -> bool; None lets anyone who can see the list export it.
    export_permission: Any = None
    actions: list[tuple[str, str]] = []  # (label, url) buttons on top of the list

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET.get("export") == "xlsx":
            return self.export_xlsx(request)
        return super().get(request, *args, **kwargs)

    def get_table(self, **kwargs):
        # As SingleTableMixin, with the bounds of BoundedRequestConfig.
        table = self.get_table_class()(data=self.get_table_data(), **kwargs)
        paginate = self.get_table_pagination(table)
        return BoundedRequestConfig(self.request, paginate=paginate).configure(table)

    def paginate_queryset(self, queryset, page_size):
        # The table pages its rows (one bounded count); ListView would count them again.
        return None, None, queryset, False

    def get_table_pagination(self, table):
        paginate = super().get_table_pagination(table)
        if isinstance(paginate, dict) and self.deferred_pages:
            paginate["deferred"] = True
        return paginate

    def filtered_queryset(self):
        filterset_class = self.get_filterset_class()
        qs = self.get_queryset()
        if filterset_class is None:
            return qs
        filterset = filterset_class(self.request.GET or None, queryset=qs, request=self.request)
        scope_filter_choices(filterset, self.request.user)
        if not filterset.is_bound or filterset.is_valid():
            return filterset.qs
        # As the page (FilterView, strict): a filter it cannot apply shows nothing, so the
        # export must not widen to the whole scope either.
        return qs.none()

    def export_xlsx(self, request: HttpRequest) -> HttpResponse:
        if self.export_permission is not None and not self.export_permission(request.user):
            raise PermissionDenied
        table = self.get_table_class()(self.filtered_queryset())
        # The rows in the page's order (?sort= and the tie-break), all of them.
        BoundedRequestConfig(request, paginate=False).configure(table)
        # django-tables2's as_values() renders plain values (no HTML): headers, then rows.
        values = table.as_values(exclude_columns=getattr(table, "export_exclude", ()))
        headers = next(values)
        rows = values
        content = build_workbook([(str(self.title) or "export", headers, rows)])
        audit.record(
            actor=request.user,
            action=AuditAction.EXPORT,
            object_type=self.model._meta.label_lower,
            object_repr=str(self.title),
            message=request.GET.urlencode()[:500],
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return xlsx_response(f"{self.export_name}-{stamp}.xlsx", content)

    def get_filterset(self, filterset_class):
        filterset = super().get_filterset(filterset_class)
        # Drop-downs offer only what the person may see (see scope_filter_choices).
        scope_filter_choices(filterset, self.request.user)
        return filterset

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["title"] = self.title
        ctx["actions"] = self.get_actions()
        query = self.request.GET.copy()
        query.pop("page", None)
        query["export"] = "xlsx"
        ctx["export_query"] = query.urlencode()
        return ctx

    def get_actions(self) -> list[tuple[str, str]]:
        return list(self.actions)
