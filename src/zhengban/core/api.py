"""Base classes for API viewsets: every queryset passes through the scoping mechanism."""

from rest_framework import viewsets

from zhengban.core.scoping import scope_queryset


class ScopedViewSetMixin:
    def get_queryset(self):
        return scope_queryset(super().get_queryset(), self.request.user)


class ScopedReadOnlyViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass
