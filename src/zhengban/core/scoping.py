"""The one mechanism that limits what a person sees: every view, export and API endpoint
gets its querysets through `ScopedQuerySet.visible_to(user)` (or `scope_queryset`).

A model declares where its unit is, as a lookup path:
    scope_unit_path = ""            # the model is the Unit itself
    scope_unit_path = "unit"        # Device.unit
    scope_unit_path = "device__unit"
or, for region-level objects, `scope_region_path` ("" for Region itself).

A model whose rows belong to one person (a device and what it reports, a request, a
self-report) also declares who that person is, as one path or several (any one matching):
    scope_person_path = "assigned_user"            # Device.assigned_user
    scope_person_path = "device__assigned_user"
    scope_person_path = ("person", "assignee")
The paths follow foreign keys forward only, so the filter never repeats a row. A person whose
roles give no unit-wide view (a 软件使用人) sees only their own rows of such models; models
without the attribute (the unit's specs, catalogue, people) show them the whole unit.

The user object supplies `scope` (a `Scope`), computed by the orgs app from roles and unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Q
from django.http import Http404


@dataclass(frozen=True)
class Scope:
    """What a person may see: everything, a region subtree, a unit subtree, or nothing;
    within a unit subtree, possibly only their own rows (``person_id``)."""

    kind: str  # "all" | "region" | "unit" | "none"
    region_path: str = ""  # e.g. "/370000/370100/"
    unit_path: str = ""  # e.g. "/12/40/"
    region_id: int | None = None
    unit_id: int | None = None
    # Set when only the person's own rows of models with `scope_person_path` are visible.
    person_id: int | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls("all")

    @classmethod
    def nothing(cls) -> Scope:
        return cls("none")


def user_scope(user: Any) -> Scope:
    if user is None or not getattr(user, "is_authenticated", False):
        return Scope.nothing()
    return getattr(user, "scope", Scope.nothing())


def _join(prefix: str, lookup: str) -> str:
    return f"{prefix}__{lookup}" if prefix else lookup


def person_paths(model: type[models.Model]) -> tuple[str, ...]:
    """The paths `model` names its person by (empty: its rows belong to no one person)."""
    paths = getattr(model, "scope_person_path", None)
    if paths is None:
        return ()
    return (paths,) if isinstance(paths, str) else tuple(paths)


def _person_q(model: type[models.Model], scope: Scope) -> Q | None:
    paths = person_paths(model) if scope.person_id is not None else ()
    if not paths:
        return None
    q = Q()
    for path in paths:
        q |= Q(**{path: scope.person_id})
    return q


def _place_q(model: type[models.Model], scope: Scope) -> Q:
    unit_path = getattr(model, "scope_unit_path", None)
    region_path = getattr(model, "scope_region_path", None)
    if unit_path is not None:
        if scope.kind == "region":
            return Q(**{_join(unit_path, "region__path__startswith"): scope.region_path})
        return Q(**{_join(unit_path, "path__startswith"): scope.unit_path})
    if region_path is not None:
        if scope.kind == "region":
            return Q(**{_join(region_path, "path__startswith"): scope.region_path})
        # A unit's people see their own region (for display) and nothing else.
        return Q(**{_join(region_path, "pk"): scope.region_id})
    raise TypeError(f"{model.__name__} declares no scope_unit_path or scope_region_path")


def scope_q(model: type[models.Model], scope: Scope) -> Q | None:
    """A filter for `model` under `scope`; None means no restriction."""
    if scope.kind == "all":
        return None
    if scope.kind == "none":
        return Q(pk__in=[])
    q = _place_q(model, scope)
    person = _person_q(model, scope)
    return q if person is None else q & person


def scope_queryset(queryset: models.QuerySet, user: Any) -> models.QuerySet:
    q = scope_q(queryset.model, user_scope(user))
    return queryset if q is None else queryset.filter(q)


def get_visible_or_404(queryset: models.QuerySet, user: Any, **lookup: Any) -> Any:
    try:
        return scope_queryset(queryset, user).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


class ScopedQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> ScopedQuerySet:
        return scope_queryset(self, user)
