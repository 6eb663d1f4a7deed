"""The 系统管理员's page of governance's inventory queue: the set-aside notes, their errors,
and requeueing them (all, or one) through services.requeue_failed_inventories."""

import datetime
import re

import pytest
from django.test import Client, override_settings

from zhengban.core.choices import AuditAction
from zhengban.core.models import AuditLogEntry
from zhengban.governance import services, tasks
from zhengban.governance import testing as t
from zhengban.governance.choices import RuleKind, ViolationKind, ViolationStatus
from zhengban.governance.models import PendingInventory, Violation

T1 = t.T0 + datetime.timedelta(days=1)
T2 = t.T0 + datetime.timedelta(days=2)
# 2026-03-05 10:20:30 in Beijing (TIME_ZONE), stored in UTC.
FAILED_AT = datetime.datetime(2026, 3, 5, 2, 20, 30, tzinfo=datetime.UTC)
# The database backend only notes inventories: nothing reacts until the test drains.
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
SCRIPT_ERROR = 'ValueError: <script>alert("x")</script>'
QUEUE = "/governance/inventory-queue/"
REQUEUE_ALL = "/governance/inventory-queue/requeue/"


def requeue_one_url(note: PendingInventory) -> str:
    return f"/governance/inventory-queue/{note.pk}/requeue/"


def pending():
    return list(PendingInventory.objects.values_list("report_id", "attempts", "failed_at", "error"))


def prohibited():
    return sorted(
        Violation.objects.filter(kind=ViolationKind.PROHIBITED).values_list(
            "unit__name", "product__key", "status", "first_seen"
        )
    )


def drain_tasks_waiting():
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        task_path=tasks.process_pending_inventories.module_path, status="READY"
    ).count()


@pytest.fixture
def queue(gov, monkeypatch):
    """Two notes set aside by a drain (one per unit, one with markup in its error) and one
    still waiting behind them."""
    for unit in (gov.org.unit_a, gov.org.unit_b):
        spec = services.create_spec(actor=None, unit=unit, name="规范")
        services.add_rule(
            actor=None, spec=spec, kind=RuleKind.PROHIBITED, family=t.product("360-safe").family
        )
    with override_settings(TASKS=DATABASE_TASKS):
        bad_a = t.ingest_only(gov.org.unit_a, "dev-a1", [t.WPS, t.SAFE_360], T1).report
        bad_b = t.ingest_only(gov.org.unit_b, "dev-b1", [t.WPS, t.SAFE_360], T1).report

        def crash(**kwargs):
            if kwargs["report"] == bad_a:
                raise ValueError('<script>alert("x")</script>')
            raise RuntimeError("bad note")

        monkeypatch.setattr(services, "process_inventory", crash)
        assert services.drain_pending_inventories(now=FAILED_AT) == 2
        monkeypatch.undo()  # the cause is fixed; the notes stay set aside until requeued
        waiting = t.ingest_only(gov.org.unit_a, "dev-a1", [t.WPS, t.SAFE_360, t.SEVEN_ZIP], T2)
    assert pending() == [
        (bad_a.pk, 1, FAILED_AT, SCRIPT_ERROR),
        (bad_b.pk, 1, FAILED_AT, "RuntimeError: bad note"),
        (waiting.report.pk, 0, None, ""),
    ]
    assert prohibited() == []
    return {
        "a": PendingInventory.objects.get(report=bad_a),
        "b": PendingInventory.objects.get(report=bad_b),
        "waiting": PendingInventory.objects.get(report=waiting.report),
    }


def page(client, user):
    client.force_login(user)
    return client.get(QUEUE)


@pytest.mark.django_db
def test_the_page_lists_exactly_the_set_aside_notes(client, gov, queue):
    response = page(client, gov.org.sysadmin)
    assert response.status_code == 200
    table = response.context["table"]
    assert [
        (
            row.record.pk,
            str(row.record.device),
            str(row.record.device.unit),
            row.record.attempts,
            row.record.failed_at,
            row.record.error,
        )
        for row in table.rows
    ] == [
        (queue["a"].pk, "PC-dev-a1", "历下区财政局", 1, FAILED_AT, SCRIPT_ERROR),
        (queue["b"].pk, "PC-dev-b1", "青岛市教育局", 1, FAILED_AT, "RuntimeError: bad note"),
    ]
    assert (response.context["waiting"], response.context["failed"]) == (1, 2)
    html = response.content.decode()
    assert "等待处理 1 份清单，处理失败已暂停 2 份。" in html
    # The error is shown escaped, never run.
    assert "ValueError: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert "RuntimeError: bad note" in html
    # Each device links to its page; each note has its own requeue form, and one for all.
    for note in (queue["a"], queue["b"]):
        assert f'<a href="/inventory/devices/{note.device_id}/">PC-dev-' in html
        assert f'action="{requeue_one_url(note)}"' in html
    assert f'action="{REQUEUE_ALL}"' in html
    forms = re.findall(r'<form method="post" action="/governance/inventory-queue/.*?</form>', html)
    assert len(forms) == 3 and all('name="csrfmiddlewaretoken"' in f for f in forms)
    # The menu of the 系统管理员 has the page.
    assert f'<a href="{QUEUE}">待处理清单队列</a>' in html
    # A filter narrows the list like the other lists.
    client.force_login(gov.org.sysadmin)
    filtered = client.get(QUEUE, {"q": "bad note"}).context["table"]
    assert [row.record.pk for row in filtered.rows] == [queue["b"].pk]


@pytest.mark.django_db
def test_a_superuser_sees_the_page_too(client, gov, queue):
    from zhengban.orgs.models import User

    root = User.objects.create_superuser("root", "root@example.com", "x")
    assert page(client, root).status_code == 200


@pytest.mark.django_db
def test_no_one_else_opens_the_page_sees_it_in_the_menu_or_requeues(client, gov, queue):
    others = (
        gov.staff,
        gov.org.officer_a,
        gov.org.head_a,
        gov.org.supervisor_province,
        gov.org.secadmin,
        gov.org.audit_admin,
    )
    before = pending()
    for user in others:
        assert page(client, user).status_code == 403, user
        assert client.get(QUEUE + "?export=xlsx").status_code == 403, user
        assert client.post(REQUEUE_ALL).status_code == 403, user
        assert client.post(requeue_one_url(queue["a"])).status_code == 403, user
        home = client.get("/")
        assert home.status_code == 200
        assert QUEUE not in home.content.decode(), user
    assert pending() == before
    # (Their sign-ins are logged; nothing about the queue is.)
    assert not AuditLogEntry.objects.filter(object_type="governance.pendinginventory").exists()
    # The service refuses them too, whoever calls it.
    with pytest.raises(services.PermissionDenied):
        services.requeue_failed_inventories(actor=gov.org.officer_a)
    assert pending() == before


@pytest.mark.django_db
def test_requeue_needs_the_csrf_token(gov, queue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(gov.org.sysadmin)
    before = pending()
    assert client.post(REQUEUE_ALL).status_code == 403
    assert client.post(requeue_one_url(queue["a"])).status_code == 403
    assert client.get(REQUEUE_ALL).status_code == 405
    assert pending() == before


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_requeue_one_note_then_the_drain_processes_it(client, gov, queue):
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.all().delete()
    note = queue["a"]
    client.force_login(gov.org.sysadmin)
    response = client.post(requeue_one_url(note), follow=True)
    assert response.redirect_chain == [(QUEUE, 302)]
    assert [str(m) for m in response.context["messages"]] == ["已重新排队 1 份处理失败的清单。"]
    # Only that note is back in the queue, its attempt count and last error kept.
    assert pending() == [
        (note.report_id, 1, None, SCRIPT_ERROR),
        (queue["b"].report_id, 1, FAILED_AT, "RuntimeError: bad note"),
        (queue["waiting"].report_id, 0, None, ""),
    ]
    assert [row.record.pk for row in response.context["table"].rows] == [queue["b"].pk]
    [entry] = AuditLogEntry.objects.filter(object_type="governance.pendinginventory")
    assert (
        entry.actor_id,
        entry.actor_name,
        entry.action,
        entry.object_id,
        entry.object_repr,
        entry.unit_id,
        entry.before,
        entry.after,
        entry.message,
    ) == (
        gov.org.sysadmin.pk,
        "sysadmin",
        AuditAction.UPDATE,
        str(note.pk),
        f"{note.device_id} 2026-03-03 09:00",
        gov.org.unit_a.pk,
        {"failed_at": "2026-03-05T02:20:30+00:00"},
        {"failed_at": None},
        "requeued",
    )
    # A drain was asked for, and the worker running it reacts to the requeued note.
    assert drain_tasks_waiting() == 1
    assert tasks.process_pending_inventories.call() == {"inventories": 2}
    assert pending() == [(queue["b"].report_id, 1, FAILED_AT, "RuntimeError: bad note")]
    assert prohibited() == [("历下区财政局", "360-safe", ViolationStatus.OPEN, T1)]

    # Requeueing a note no longer set aside changes nothing and writes nothing.
    assert services.requeue_failed_inventories(actor=gov.org.sysadmin, ids=[note.pk]) == 0
    assert AuditLogEntry.objects.filter(object_type="governance.pendinginventory").count() == 1
    # A note that is gone is a 404.
    assert client.post(requeue_one_url(note)).status_code == 404


@pytest.mark.django_db
def test_requeue_all_runs_the_drain_at_once_with_the_immediate_backend(client, gov, queue):
    client.force_login(gov.org.sysadmin)
    response = client.post(REQUEUE_ALL, follow=True)
    assert response.redirect_chain == [(QUEUE, 302)]
    assert [str(m) for m in response.context["messages"]] == ["已重新排队 2 份处理失败的清单。"]
    # Requeued and drained (the waiting note with them): nothing left, both violations there.
    assert pending() == []
    assert prohibited() == [
        ("历下区财政局", "360-safe", ViolationStatus.OPEN, T1),
        ("青岛市教育局", "360-safe", ViolationStatus.OPEN, T1),
    ]
    assert sorted(
        AuditLogEntry.objects.filter(object_type="governance.pendinginventory").values_list(
            "object_id", "actor_id", "unit_id", "before", "after"
        )
    ) == sorted(
        [
            (
                str(queue["a"].pk),
                gov.org.sysadmin.pk,
                gov.org.unit_a.pk,
                {"failed_at": "2026-03-05T02:20:30+00:00"},
                {"failed_at": None},
            ),
            (
                str(queue["b"].pk),
                gov.org.sysadmin.pk,
                gov.org.unit_b.pk,
                {"failed_at": "2026-03-05T02:20:30+00:00"},
                {"failed_at": None},
            ),
        ]
    )
    html = response.content.decode()
    assert "等待处理 0 份清单，处理失败已暂停 0 份。" in html
    assert f'action="{REQUEUE_ALL}"' not in html
    # Nothing left to requeue.
    response = client.post(REQUEUE_ALL, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["没有需要重新排队的清单。"]


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_the_command_line_shares_the_service_and_its_audit(gov, queue):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("governance_queue", "--requeue", stdout=out)
    assert out.getvalue() == "已重新排队 2 份处理失败的清单。\n"
    assert [r[2] for r in pending()] == [None, None, None]
    # The system itself (no person) requeued them.
    assert sorted(
        AuditLogEntry.objects.filter(object_type="governance.pendinginventory").values_list(
            "object_id", "actor_id", "actor_name", "action", "message"
        )
    ) == sorted(
        [
            (str(queue["a"].pk), None, "", AuditAction.UPDATE, "requeued"),
            (str(queue["b"].pk), None, "", AuditAction.UPDATE, "requeued"),
        ]
    )
    assert tasks.process_pending_inventories.call() == {"inventories": 3}
    assert pending() == []
