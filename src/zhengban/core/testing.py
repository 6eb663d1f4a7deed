"""What the scoping matrix (src/zhengban/tests/test_scoping_matrix.py) needs from each app.

The matrix walks every URL of the project. For each URL that takes an object id it builds an
object in another unit ("unit B"), then checks that a person of unit A gets 404 and can change
nothing. To build that object it needs a factory for the view's model, and apps supply them
here. An app registers, in its own `testing.py` (imported automatically by the matrix):

    from zhengban.core.testing import register_factory, register_url

    # A factory gets unit B and returns a new, saved object belonging to it (or to its
    # region, for region-level models). Its str() should be distinctive: the matrix looks for
    # it on unit A's pages, so a generic name like "办公室" would give false alarms.
    register_factory(Device, lambda unit: Device.objects.create(unit=unit, name=f"{unit}-PC"))

    # Only for views that do not declare their model (function views), or whose URL has more
    # than one argument, or an argument that is not an object id:
    register_url("inventory:device_history", Device)
    register_url("orgs:submission_unit", Unit, kwargs=lambda unit: {"pk": unit.pk, "year": 2024})
    register_url("orgs:import_report", skip="report ids are random per upload, kept in cache")

    # A model every signed-in person may read (e.g. the shared software catalogue) belongs to
    # no unit: say so, with the reason, and the matrix skips its URLs. Who may *change* it is
    # a permission question for the app's own tests.
    register_unscoped(Product, "the software catalogue is national reference data")

Class-based views (`model` or `queryset`) and DRF viewsets (`queryset`) need no
`register_url`: the matrix reads their model. A URL the matrix cannot resolve to a factory
makes it fail with a message naming the URL, so a new endpoint cannot be left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.apps import apps
from django.db import models
from django.utils.module_loading import module_has_submodule

Factory = Callable[[Any], models.Model]


@dataclass(frozen=True)
class UrlSpec:
    model: type[models.Model] | None = None
    # obj -> URL kwargs; default {"<the one argument>": obj.pk}
    kwargs: Callable[[models.Model], dict[str, Any]] | None = None
    skip: str = ""


_factories: dict[type[models.Model], Factory] = {}
_urls: dict[str, UrlSpec] = {}
_unscoped: dict[type[models.Model], str] = {}


def register_factory(model: type[models.Model], factory: Factory) -> None:
    _factories[model] = factory


def register_url(
    url_name: str,
    model: type[models.Model] | None = None,
    *,
    kwargs: Callable[[models.Model], dict[str, Any]] | None = None,
    skip: str = "",
) -> None:
    if (model is None) == (not skip):
        raise ValueError("register_url needs either a model or a reason to skip")
    _urls[url_name] = UrlSpec(model=model, kwargs=kwargs, skip=skip)


def register_unscoped(model: type[models.Model], reason: str) -> None:
    if not reason:
        raise ValueError("register_unscoped needs the reason the model belongs to no unit")
    _unscoped[model] = reason


def unscoped() -> dict[type[models.Model], str]:
    return dict(_unscoped)


def factories() -> dict[type[models.Model], Factory]:
    return dict(_factories)


def url_specs() -> dict[str, UrlSpec]:
    return dict(_urls)


def load_app_registrations() -> None:
    """Imports `testing` from every zhengban app so that their registrations run."""
    for config in apps.get_app_configs():
        if config.name.startswith("zhengban.") and module_has_submodule(config.module, "testing"):
            import_module(f"{config.name}.testing")


def set_audit_log_triggers(*, enabled: bool) -> None:
    """Adds or drops the append-only triggers of the audit log.

    Tests with `django_db(transaction=True)` (live server, browser) end with a flush that
    deletes every row, which the triggers rightly refuse; such tests drop them for the flush
    and put them back afterwards (see the fixture in orgs/tests/test_browser.py)."""
    from django.db import connection

    migration = import_module("zhengban.core.migrations.0003_auditlog_append_only")
    vendor = connection.vendor
    drop = {"sqlite": migration.SQLITE_REVERSE, "postgresql": migration.POSTGRES_REVERSE}
    create = {"sqlite": migration.SQLITE, "postgresql": migration.POSTGRES}
    with connection.cursor() as cursor:
        for sql in drop.get(vendor, []):
            cursor.execute(sql)
        if enabled:
            for sql in create.get(vendor, []):
                cursor.execute(sql)
