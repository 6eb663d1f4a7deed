"""The API's pagination and ordering, and the stable ordering every paged list shares. A
module of its own: DRF imports the default pagination and filter classes while its views
load, so it must not import views itself."""

from __future__ import annotations

from typing import Any

from django.db.models import F, OrderBy
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """LimitOffset pages with bounds: a page holds at most ``max_limit`` rows (one request
    cannot ask for a whole province), and an offset past what a database offset can hold
    reads as the end of the list instead of failing."""

    max_limit = 1000
    max_offset = 2**31 - 1

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), self.max_offset)


def _key_name(key: Any) -> tuple[str | None, bool]:
    """An ordering key's field name (None for other expressions) and whether it descends."""
    if isinstance(key, str):
        return key.lstrip("-"), key.startswith("-")
    if isinstance(key, OrderBy):
        inner = key.expression
        return (inner.name if isinstance(inner, F) else None), key.descending
    if isinstance(key, F):
        return key.name, False
    return None, False


def stable_ordering(queryset):
    """``queryset`` ordered as it is, then by its primary key (in the direction of the first
    key) unless the key is already there. Rows that tie on every ordering key come back in
    any order, and not the same order for each LIMIT/OFFSET: without the tie-break a paged
    list can repeat or skip rows between pages (seen on PostgreSQL)."""
    query = queryset.query
    # Grouped rows (values().annotate()) have no primary key to order by; a union cannot
    # be re-ordered by a column of one side.
    if query.group_by is not None or query.combinator:
        return queryset
    model = queryset.model
    ordering = list(query.order_by)
    if not ordering and query.default_ordering:
        ordering = list(model._meta.ordering)
    pk_names = {"pk", model._meta.pk.name, model._meta.pk.attname}
    names = [_key_name(key)[0] for key in ordering]
    if any(name in pk_names for name in names) or "?" in names:
        return queryset
    descending = _key_name(ordering[0])[1] if ordering else False
    return queryset.order_by(*ordering, "-pk" if descending else "pk")


class StableOrderingFilter(OrderingFilter):
    """DRF's ``?ordering=`` with the primary key as the last key: the API is offset-paged."""

    def filter_queryset(self, request, queryset, view):
        return stable_ordering(super().filter_queryset(request, queryset, view))
