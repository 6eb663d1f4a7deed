"""Generic views every app builds on: scoped list pages with filters, sorting, pagination
and XLSX export."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django_filters.views import FilterView
from django_tables2 import SingleTableMixin

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.exports import build_workbook, xlsx_response
from zhengban.core.filtersets import scope_filter_choices
from zhengban.core.scoping import scope_queryset


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


class ObjectListView(ScopedQuerysetMixin, SingleTableMixin, FilterView):
    template_name = "core/object_list.html"
    paginate_by = 50
    title: str = ""
    export_name: str = "export"
    # Callable(user) -> bool; None lets anyone who can see the list export it.
    export_permission: Any = None
    actions: list[tuple[str, str]] = []  # (label, url) buttons on top of the list

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET.get("export") == "xlsx":
            return self.export_xlsx(request)
        return super().get(request, *args, **kwargs)

    def filtered_queryset(self):
        filterset_class = self.get_filterset_class()
        qs = self.get_queryset()
        if filterset_class is None:
            return qs
        filterset = filterset_class(self.request.GET or None, queryset=qs, request=self.request)
        scope_filter_choices(filterset, self.request.user)
        return filterset.qs if filterset.is_bound and filterset.is_valid() else qs

    def export_xlsx(self, request: HttpRequest) -> HttpResponse:
        if self.export_permission is not None and not self.export_permission(request.user):
            raise PermissionDenied
        table = self.get_table_class()(self.filtered_queryset())
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
