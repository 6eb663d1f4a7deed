from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_filters.filterset import FILTER_FOR_DBFIELD_DEFAULTS

from zhengban.core.choices import AuditAction
from zhengban.core.db import query_cache_key
from zhengban.core.models import AuditLogEntry
from zhengban.core.scoping import scope_queryset

LARGE_CHOICES = 300

# What a yes/no filter takes: the pages' select sends true/false; scripts and API clients
# send 1/0 or yes/no, which Django's NullBooleanSelect would silently read as "any".
_YES_NO = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "2": True,  # NullBooleanSelect's own values before Django 2.2, still in old links
    "false": False,
    "0": False,
    "no": False,
    "off": False,
    "3": False,
}


class YesNoSelect(forms.NullBooleanSelect):
    """Django's yes/no/any select, reading every usual spelling of yes and no."""

    def value_from_datadict(self, data, files, name):
        value = data.get(name)
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return _YES_NO.get(value.strip().lower())
        return None


class BooleanFilter(django_filters.BooleanFilter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", YesNoSelect)
        super().__init__(*args, **kwargs)


class FilterSet(django_filters.FilterSet):
    """The base of every filter set of the product, pages and API alike."""

    FILTER_DEFAULTS = {
        **FILTER_FOR_DBFIELD_DEFAULTS,
        models.BooleanField: {"filter_class": BooleanFilter},
        models.NullBooleanField: {"filter_class": BooleanFilter},
    }


class AuditLogEntryFilterSet(FilterSet):
    actor_name = django_filters.CharFilter(lookup_expr="icontains", label=_("操作人"))
    action = django_filters.ChoiceFilter(choices=AuditAction.choices, label=_("操作"))
    object_type = django_filters.CharFilter(label=_("对象类型"))
    since = django_filters.DateFilter(
        field_name="timestamp", lookup_expr="date__gte", label=_("起始日期")
    )
    until = django_filters.DateFilter(
        field_name="timestamp", lookup_expr="date__lte", label=_("截止日期")
    )

    class Meta:
        model = AuditLogEntry
        fields = ["actor_name", "action", "object_type", "since", "until"]


def scope_filter_choices(
    filterset: django_filters.FilterSet, user: Any, *, widgets: bool = True
) -> None:
    """Narrows every model choice of a filter form to what `user` may see.

    Without this a unit's officer would find every unit and person of the province in the
    drop-downs of a list page (and could probe ids of other units through the API filters).
    `widgets=False` (the API, which renders no form) skips choosing the drop-downs' widgets."""
    for field in filterset.form.fields.values():
        queryset = getattr(field, "queryset", None)
        if queryset is None:
            continue
        model = queryset.model
        if hasattr(queryset, "visible_to"):
            # The model's own rule of what a person sees (the shared catalog's products are
            # everyone's, though their scope path names an owner unit).
            field.queryset = queryset.visible_to(user)
        elif hasattr(model, "scope_unit_path") or hasattr(model, "scope_region_path"):
            field.queryset = scope_queryset(queryset, user)
        # A province has thousands of units and tens of thousands of people: a drop-down of
        # them all would be megabytes of HTML. Past a limit the filter takes the object's
        # number instead (the search box and the region filter narrow lists by name).
        if not widgets:
            continue
        if not isinstance(field.widget, forms.Select) or field.widget.allow_multiple_selected:
            continue
        if _has_many_choices(field.queryset):
            field.widget = forms.NumberInput(attrs={"placeholder": _("编号"), "min": 1})


def _has_many_choices(queryset) -> bool:
    # Unordered: counting up to the limit need not sort every department of a province.
    counted = queryset.order_by()[:LARGE_CHOICES]
    seconds = int(getattr(settings, "FILTER_CHOICES_CACHE_SECONDS", 0))
    if not seconds:
        return counted.count() >= LARGE_CHOICES
    # Only the kind of input depends on it, and a scope's units and departments seldom cross
    # the limit: the answer is kept a while per query (the scope is in its SQL).
    key = query_cache_key("manychoices:", counted)
    if key is None:
        return False  # no choices at all (an account with an empty scope)
    many = cache.get(key)
    if many is None:
        many = counted.count() >= LARGE_CHOICES
        cache.set(key, many, seconds)
    return many
