"""THE scoping matrix: every URL of the project, walked from Django's resolver, so endpoints
that later apps add are covered without anyone listing them here.

- Every URL that takes an object id: an object is built in unit B (by the factory its app
  registered, see zhengban/core/testing.py); people of unit A get 404 for it (or the 403 they
  get for any id, a page their role never opens), and POST/PUT/PATCH/DELETE change nothing.
- Every URL without arguments (list pages, API lists, home, ...): nothing of unit B shows, not
  in the HTML, not in the JSON, and not in the page's XLSX export.
- Within unit A, for every model that names its person (`scope_person_path`): an object of
  a colleague is 404 and absent from lists, JSON and exports for the 软件使用人 `staff_a`,
  while the unit's officer sees it; the staff member still sees their own device.

A URL whose model has no factory, or that the walker cannot understand, fails the test with
a message saying what to register.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from openpyxl import load_workbook

from zhengban.core import testing as registry
from zhengban.core.models import AuditLogEntry
from zhengban.core.scoping import person_paths
from zhengban.core.views import ObjectListView
from zhengban.orgs.choices import Role
from zhengban.orgs.models import Unit, User
from zhengban.orgs.testing import OrgTree, make_person, make_unit

# Imported for its registrations (core and orgs); other apps' testing.py load below.
from zhengban.tests import factories  # noqa: F401

registry.load_app_registrations()

MARK = "矩阵乙"  # in unit B's name, so anything showing unit B's name is caught
MISSING_PK = 987654321
WRITE_METHODS = ("post", "put", "patch", "delete")
# Who plays unit A: a unit officer (unit subtree), a staff member, and a supervisor of
# another city (region subtree).
A_USERS = ("officer_a", "staff_a", "supervisor_a")
# Denied writes: forbidden, not found, or method not allowed. Nothing else.
DENIED = {403, 404, 405}


@dataclass
class Endpoint:
    name: str  # namespaced URL name
    arguments: tuple[str, ...]
    callback: Any
    route: str

    @property
    def view_class(self) -> Any:
        return getattr(self.callback, "view_class", None) or getattr(self.callback, "cls", None)

    @property
    def is_api(self) -> bool:
        return hasattr(self.callback, "cls")


def _walk(patterns, namespace: str = "", prefix: str = "", args: tuple = ()) -> Iterator:
    for p in patterns:
        route = prefix + str(p.pattern)
        own = tuple(p.pattern.regex.groupindex)
        if isinstance(p, URLResolver):
            ns = f"{namespace}:{p.namespace}" if p.namespace and namespace else p.namespace
            yield from _walk(p.url_patterns, ns or namespace, route, args + own)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            yield Endpoint(name or "", args + own, p.callback, route)


def all_endpoints() -> list[Endpoint]:
    seen, out = set(), []
    for ep in _walk(get_resolver().url_patterns):
        if "format" in ep.arguments:
            continue  # DRF's ".json" duplicates of the same view
        if ep.route.startswith(("media/", "static/")):
            continue
        key = (ep.name, ep.arguments)
        if key not in seen:
            seen.add(key)
            out.append(ep)
    return out


def model_of(ep: Endpoint) -> type[models.Model] | None:
    view = ep.view_class
    if view is None:
        return None
    queryset = getattr(view, "queryset", None)
    if queryset is not None:
        return queryset.model
    return getattr(view, "model", None)


@dataclass
class ObjectCase:
    endpoint: Endpoint
    model: type[models.Model]
    kwargs: Any  # obj -> kwargs


def object_cases() -> tuple[list[ObjectCase], list[str]]:
    """Every URL with arguments, resolved to a model and kwargs; and the problems found."""
    specs = registry.url_specs()
    factories_ = registry.factories()
    unscoped = registry.unscoped()
    cases, problems = [], []
    for ep in all_endpoints():
        if not ep.arguments:
            continue
        spec = specs.get(ep.name)
        if spec is not None and spec.skip:
            continue
        if not ep.name:
            problems.append(f"{ep.route}: give the URL a name so the matrix can test it")
            continue
        model = spec.model if spec is not None else model_of(ep)
        if model is None:
            problems.append(
                f"{ep.name} ({ep.route}): cannot tell its model; call "
                f"zhengban.core.testing.register_url({ep.name!r}, Model) in your app's "
                "testing.py (or register_url(name, skip='why') if its argument is no object id)"
            )
            continue
        if model in unscoped:
            continue
        if model not in factories_:
            problems.append(
                f"{ep.name} ({ep.route}): no factory for {model._meta.label}; call "
                "zhengban.core.testing.register_factory(Model, fn) in your app's testing.py"
            )
            continue
        if spec is not None and spec.kwargs is not None:
            kwargs = spec.kwargs
        elif len(ep.arguments) == 1:
            argument = ep.arguments[0]

            def kwargs(obj, argument=argument):
                return {argument: obj.pk}

        else:
            problems.append(
                f"{ep.name} ({ep.route}): several arguments {ep.arguments}; register "
                "kwargs=lambda obj: {...} with zhengban.core.testing.register_url"
            )
            continue
        cases.append(ObjectCase(ep, model, kwargs))
    return cases, problems


@dataclass
class World:
    org: OrgTree
    unit_b: Unit
    objects: dict[type[models.Model], models.Model]

    @property
    def needles(self) -> list[str]:
        """Text that must not appear on unit A's pages."""
        texts = {self.unit_b.name, MARK}
        texts |= {str(obj) for obj in self.objects.values() if len(str(obj)) >= 4}
        return sorted(texts)


@pytest.fixture
def world(org) -> World:
    unit_b = make_unit(org.city_b, f"{MARK}测试局")
    objects = {model: factory(unit_b) for model, factory in registry.factories().items()}
    return World(org=org, unit_b=unit_b, objects=objects)


def counts() -> dict[str, int]:
    """Rows per table of our apps (the audit log may grow: refusals can be recorded)."""
    out = {}
    for model in apps.get_models():
        label = model._meta.label
        if model is AuditLogEntry:
            continue
        if model.__module__.startswith("zhengban.") or label in ("authtoken.Token",):
            out[label] = model._default_manager.count()
    return out


def state(world: World) -> dict[str, Any]:
    rows = {}
    for model, obj in world.objects.items():
        rows[model._meta.label] = list(model._default_manager.filter(pk=obj.pk).values())
    return {"counts": counts(), "rows": rows}


def write_payload(obj: models.Model) -> dict[str, Any]:
    """What a curious user might send: the object's own fields, text ones changed."""
    data: dict[str, Any] = {"role": "staff", "reason": "篡改", "action": "submit"}
    for field in obj._meta.concrete_fields:
        if field.primary_key or field.name in ("password", "path"):
            continue
        value = getattr(obj, field.attname)
        if isinstance(field, (models.CharField, models.TextField)):
            data[field.name] = "篡改"
        elif isinstance(field, models.BooleanField):
            data[field.name] = not value
        elif isinstance(field, (models.IntegerField, models.ForeignKey)) and value is not None:
            data[field.name] = value
    return data


def test_every_url_with_an_object_id_is_covered():
    cases, problems = object_cases()
    assert problems == [], "\n".join(problems)
    # The walk is not vacuous: it finds the pages and the API routes.
    names = {case.endpoint.name for case in cases}
    assert {"orgs:unit_detail", "orgs:person_detail", "unit-detail", "person-detail"} <= names


@pytest.mark.django_db
@pytest.mark.parametrize("username", A_USERS)
def test_objects_of_another_unit_are_404_and_unchangeable(world, client, username):
    # URLs with problems fail test_every_url_with_an_object_id_is_covered; test the rest.
    cases, _problems = object_cases()
    client.force_login(User.objects.get(username=username))
    failures = []
    for case in cases:
        obj = world.objects[case.model]
        url = reverse(case.endpoint.name, kwargs=case.kwargs(obj))
        status = client.get(url).status_code
        if status != 404:
            missing = {k: MISSING_PK for k in case.kwargs(obj)}
            missing_status = client.get(reverse(case.endpoint.name, kwargs=missing)).status_code
            # A page the role never opens answers 403 for every id, a POST-only one 405:
            # the same answer as for an id that does not exist leaks nothing.
            if not (status in (403, 405) and missing_status == status):
                failures.append(f"GET {url} ({case.endpoint.name}): {status}, expected 404")
        payload = write_payload(obj)
        for method in WRITE_METHODS:
            before = state(world)
            if method == "post":
                response = client.post(url, payload)
            else:
                response = getattr(client, method)(
                    url, json.dumps(payload), content_type="application/json"
                )
            after = state(world)
            if response.status_code not in DENIED:
                failures.append(f"{method.upper()} {url}: {response.status_code}")
            if after != before:
                failures.append(f"{method.upper()} {url}: changed the database")
    assert failures == [], "\n".join(failures)


def list_endpoints() -> list[Endpoint]:
    return [ep for ep in all_endpoints() if not ep.arguments and ep.name != "logout"]


def _row_ids(body: Any, model: type[models.Model]) -> set[Any]:
    """The ids an API list answers with: "id", or the primary key's own name (a compliance
    verdict is keyed by its installation)."""
    results = body["results"] if isinstance(body, dict) and "results" in body else body
    key = "id" if model._meta.pk.name == "id" else model._meta.pk.name
    return {row.get(key) for row in results if isinstance(row, dict)}


def _found(text: str, needles: list[str]) -> list[str]:
    return [needle for needle in needles if needle in text]


@pytest.mark.django_db
@pytest.mark.parametrize("username", A_USERS)
def test_lists_and_pages_show_nothing_of_another_unit(world, client, username):
    client.force_login(User.objects.get(username=username))
    ids_by_model = {model: obj.pk for model, obj in world.objects.items()}
    failures = []
    for ep in list_endpoints():
        url = reverse(ep.name)
        response = client.get(url)
        if response.status_code >= 500:
            failures.append(f"GET {url}: {response.status_code}")
            continue
        text = response.content.decode("utf-8", errors="replace")
        found = _found(text, world.needles)
        if found:
            failures.append(f"GET {url} ({ep.name}) shows {found}")
        model = model_of(ep)
        if ep.is_api and response.status_code == 200 and model in ids_by_model:
            if ids_by_model[model] in _row_ids(response.json(), model):
                failures.append(f"GET {url}: lists unit B's {model._meta.label}")
    assert failures == [], "\n".join(failures)


def export_endpoints() -> list[Endpoint]:
    unscoped = registry.unscoped()
    return [
        ep
        for ep in list_endpoints()
        if ep.view_class is not None
        and issubclass(ep.view_class, ObjectListView)
        and model_of(ep) not in unscoped
    ]


def _export(client, ep: Endpoint) -> tuple[str, int, str]:
    """The list page's XLSX export: its URL, status and every cell's text."""
    url = reverse(ep.name) + "?export=xlsx"
    response = client.get(url)
    if response.status_code != 200:
        return url, response.status_code, ""
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    text = "\n".join(
        str(cell)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
        if cell is not None
    )
    return url, 200, text


@pytest.mark.django_db
@pytest.mark.parametrize("username", A_USERS)
def test_xlsx_exports_are_scoped_the_same_way(world, client, username):
    client.force_login(User.objects.get(username=username))
    failures = []
    for ep in export_endpoints():
        url, status, text = _export(client, ep)
        if status == 403:
            continue
        if status != 200:
            failures.append(f"GET {url}: {status}")
            continue
        found = _found(text, world.needles)
        if found:
            failures.append(f"{url} exports {found}")
    assert failures == [], "\n".join(failures)


@pytest.mark.django_db
def test_the_checks_are_not_vacuous(world, client):
    """The same pages do show unit B to someone who may see it, so absence above means
    something."""
    client.force_login(world.org.sysadmin)
    assert MARK in client.get(reverse("orgs:unit_list")).content.decode()
    response = client.get(reverse("orgs:unit_list") + "?export=xlsx")
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    assert any(MARK in str(c) for row in sheet.iter_rows(values_only=True) for c in row)
    assert export_endpoints(), "no list page found"
    unit = world.objects[Unit]
    assert client.get(reverse("unit-detail", kwargs={"pk": unit.pk})).status_code == 200


# ------------------------------------------------------------------------------ within a unit
# A 软件使用人 (staff_a) and the unit's officer (officer_a) share unit A's scope; models that
# name their person show the staff member only their own rows.


def person_models() -> list[type[models.Model]]:
    return [model for model in registry.factories() if person_paths(model)]


def _give_to(obj: models.Model, person: User) -> None:
    """Makes `person` the one `obj` belongs to, along the first of its person paths."""
    *hops, last = person_paths(type(obj))[0].split("__")
    owner = obj
    for hop in hops:
        owner = getattr(owner, hop)
    setattr(owner, last, person)
    owner.save(update_fields=[last])


@dataclass
class Colleagues:
    org: OrgTree
    colleague: User
    objects: dict[type[models.Model], models.Model]

    @property
    def needles(self) -> list[str]:
        return sorted({str(obj) for obj in self.objects.values() if len(str(obj)) >= 4})


@pytest.fixture
def colleagues(org) -> Colleagues:
    objects = {model: registry.factories()[model](org.unit_a) for model in person_models()}
    # Made after the factories, so that no campaign they open already holds a self-report of
    # the colleague (one per person and campaign).
    colleague = make_person("colleague_a", org.unit_a, Role.STAFF, full_name="同事甲")
    for obj in objects.values():
        _give_to(obj, colleague)
    return Colleagues(org=org, colleague=colleague, objects=objects)


def test_models_that_name_their_person_are_covered():
    # Those with pages or API routes (a URL of any other would fail the walk above for want
    # of a factory): the tests below build one of each for a colleague.
    assert sorted(model._meta.label for model in person_models()) == [
        "governance.PendingInventory",
        "governance.SelfReport",
        "governance.SoftwareRequest",
        "governance.Violation",
        "inventory.Device",
        "inventory.Installation",
        "inventory.InstallationEvent",
        "licensing.Allocation",
        "licensing.ComplianceResult",
    ]


def _object_get(client, case: ObjectCase, obj: models.Model) -> tuple[str, int, int]:
    url = reverse(case.endpoint.name, kwargs=case.kwargs(obj))
    missing = {k: MISSING_PK for k in case.kwargs(obj)}
    missing_url = reverse(case.endpoint.name, kwargs=missing)
    return url, client.get(url).status_code, client.get(missing_url).status_code


@pytest.mark.django_db
def test_a_colleagues_objects_are_404_for_staff_and_visible_to_the_officer(colleagues, client):
    cases = [case for case in object_cases()[0] if case.model in colleagues.objects]
    assert {case.model for case in cases} == set(colleagues.objects)
    failures = []
    client.force_login(colleagues.org.officer_a)
    for case in cases:
        url, status, missing = _object_get(client, case, colleagues.objects[case.model])
        # The officer is not refused the object itself: 200 (or whatever the page answers for
        # any id, such as 405 for a POST-only URL), never the 404 of an unknown id.
        if status == 404 or (status != 200 and status != missing):
            failures.append(f"officer_a GET {url}: {status}")
    client.force_login(colleagues.org.staff_a)
    for case in cases:
        obj = colleagues.objects[case.model]
        url, status, missing = _object_get(client, case, obj)
        if status != 404 and not (status in (403, 405) and missing == status):
            failures.append(f"staff_a GET {url} ({case.endpoint.name}): {status}, expected 404")
        payload = write_payload(obj)
        for method in WRITE_METHODS:
            before = {"counts": counts(), "row": list(type(obj).objects.filter(pk=obj.pk).values())}
            if method == "post":
                response = client.post(url, payload)
            else:
                response = getattr(client, method)(
                    url, json.dumps(payload), content_type="application/json"
                )
            after = {"counts": counts(), "row": list(type(obj).objects.filter(pk=obj.pk).values())}
            if response.status_code not in DENIED:
                failures.append(f"staff_a {method.upper()} {url}: {response.status_code}")
            if after != before:
                failures.append(f"staff_a {method.upper()} {url}: changed the database")
    assert failures == [], "\n".join(failures)


@pytest.mark.django_db
def test_lists_show_staff_nothing_of_a_colleague_and_the_officer_all(colleagues, client):
    ids_by_model = {model: obj.pk for model, obj in colleagues.objects.items()}
    failures, officer_saw = [], set()
    for username in ("staff_a", "officer_a"):
        client.force_login(User.objects.get(username=username))
        for ep in list_endpoints():
            url = reverse(ep.name)
            response = client.get(url)
            if response.status_code >= 500:
                failures.append(f"{username} GET {url}: {response.status_code}")
                continue
            found = _found(response.content.decode("utf-8", errors="replace"), colleagues.needles)
            model = model_of(ep)
            listed = False
            if response.status_code == 200 and model in ids_by_model:
                listed = ids_by_model[model] in _listed_ids(ep, response, model)
            if username == "staff_a":
                if found:
                    failures.append(f"staff_a GET {url} ({ep.name}) shows {found}")
                if listed:
                    failures.append(f"staff_a GET {url}: lists a colleague's {model.__name__}")
            elif model in ids_by_model and response.status_code == 200:
                officer_saw.add(model)
                if not listed:
                    failures.append(f"officer_a GET {url}: misses the {model.__name__}")
    assert failures == [], "\n".join(failures)
    # The officer's lists of devices, software, history, requests, violations, allocations
    # and compliance verdicts were all read and all showed the colleague's object (the
    # inventory queue is the platform's, and self-reports have pages only).
    assert sorted(m.__name__ for m in officer_saw) == [
        "Allocation",
        "ComplianceResult",
        "Device",
        "Installation",
        "InstallationEvent",
        "SoftwareRequest",
        "Violation",
    ]


def _listed_ids(ep: Endpoint, response: Any, model: type[models.Model]) -> set[Any]:
    """The ids a list page (its table's page) or an API list (its results) shows."""
    if ep.is_api:
        return _row_ids(response.json(), model)
    table = response.context["table"]
    return {row.record.pk for row in table.page.object_list}


@pytest.mark.django_db
def test_exports_leave_out_a_colleagues_rows_for_staff(colleagues, client):
    failures, officer_found = [], set()
    for username in ("staff_a", "officer_a"):
        client.force_login(User.objects.get(username=username))
        for ep in export_endpoints():
            url, status, text = _export(client, ep)
            if status == 403:
                continue
            if status != 200:
                failures.append(f"{username} GET {url}: {status}")
                continue
            found = _found(text, colleagues.needles)
            if username == "staff_a" and found:
                failures.append(f"staff_a {url} exports {found}")
            if username == "officer_a":
                officer_found |= set(found)
    assert failures == [], "\n".join(failures)
    # Not vacuous: the officer's exports carry the colleague's device.
    assert str(colleagues.objects[_device_model()]) in officer_found


def _device_model() -> type[models.Model]:
    from zhengban.inventory.models import Device

    return Device


@pytest.mark.django_db
def test_staff_see_exactly_their_own_device(org, client):
    from zhengban.inventory.models import Device
    from zhengban.inventory.testing import make_device
    from zhengban.licensing.testing import install

    colleague = make_person("colleague_a", org.unit_a, Role.STAFF, full_name="同事甲")
    own = make_device(org.unit_a, "本人终端", assigned_user=org.staff_a)
    theirs = make_device(org.unit_a, "同事终端", assigned_user=colleague)
    unassigned = make_device(org.unit_a, "公用终端")
    for device, n in ((own, 2), (theirs, 3), (unassigned, 1)):
        for i in range(n):
            install(device, None, f"{device.hostname}软件{i}", "1.0")

    def seen(username: str) -> tuple[list[str], int, int, list[str]]:
        client.force_login(User.objects.get(username=username))
        devices = client.get(reverse("device-list")).json()
        installs = client.get(reverse("installation-list")).json()
        sheet = load_workbook(
            io.BytesIO(client.get(reverse("inventory:device_list") + "?export=xlsx").content),
            read_only=True,
        ).active
        exported = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
        return (
            [row["hostname"] for row in devices["results"]],
            devices["count"],
            installs["count"],
            sorted(exported),
        )

    assert seen("staff_a") == (["本人终端"], 1, 2, ["本人终端"])
    assert seen("officer_a") == (
        ["公用终端", "同事终端", "本人终端"],
        3,
        6,
        ["公用终端", "同事终端", "本人终端"],
    )
    client.force_login(org.staff_a)
    assert client.get(reverse("inventory:device_detail", args=[own.pk])).status_code == 200
    for other in (theirs, unassigned):
        assert client.get(reverse("inventory:device_detail", args=[other.pk])).status_code == 404
    assert Device.objects.visible_to(org.staff_a).get() == own
