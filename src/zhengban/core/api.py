"""Base classes for API viewsets: every queryset passes through the scoping mechanism, and so
do the choices of their filters."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import viewsets

from zhengban.core.filtersets import scope_filter_choices
from zhengban.core.pagination import StableOrderingFilter
from zhengban.core.scoping import scope_queryset


class ScopedDjangoFilterBackend(DjangoFilterBackend):
    """`?unit=<id of another unit>` is refused as an invalid choice, exactly like an id that
    does not exist, so filters cannot be used to probe what exists elsewhere."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            scope_filter_choices(filterset, request.user, widgets=False)
        return filterset


class ScopedViewSetMixin:
    filter_backends = [ScopedDjangoFilterBackend, StableOrderingFilter]

    def get_queryset(self):
        return scope_queryset(super().get_queryset(), self.request.user)


class ScopedReadOnlyViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass
