"""zhengban governance_queue: the administrator's view of governance's inventory queue."""

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from zhengban.governance import testing as t
from zhengban.governance.models import PendingInventory

T1 = t.T0 + datetime.timedelta(days=1)
T2 = t.T0 + datetime.timedelta(days=2)
# 2026-03-05 10:20:30 in Beijing (TIME_ZONE), stored in UTC.
FAILED_AT = datetime.datetime(2026, 3, 5, 2, 20, 30, tzinfo=datetime.UTC)
# The database backend only notes inventories: nothing reacts, the notes stay queued.
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def ingest(gov, software, received):
    return t.ingest_only(gov.org.unit_a, "dev-a1", software, received)


def run(*args):
    out = StringIO()
    call_command("governance_queue", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_an_empty_queue():
    assert run() == "等待处理 0 份清单，处理失败已暂停 0 份。\n"
    assert run("--requeue") == "已重新排队 0 份处理失败的清单。\n"


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_lists_the_set_aside_notes_and_requeues_them(gov):
    first = ingest(gov, [t.WPS], T1)
    second = ingest(gov, [t.WPS, t.SEVEN_ZIP], T2)
    device = first.device
    # Set aside as the drain does when a reaction raises (services._set_aside).
    PendingInventory.objects.filter(report=first.report).update(
        attempts=2, failed_at=FAILED_AT, error="RuntimeError: bad note"
    )
    # A reaction to the device as it stands has no report; a multi-line error stays on one line.
    PendingInventory.objects.create(
        device=device,
        report=None,
        received=T2,
        attempts=1,
        failed_at=FAILED_AT + datetime.timedelta(minutes=1),
        error="ValueError: first line\n  second line",
    )
    assert PendingInventory.objects.filter(report=second.report, failed_at=None).count() == 1

    assert run() == (
        "等待处理 1 份清单，处理失败已暂停 2 份。\n"
        f"终端 PC-dev-a1（ID {device.pk}） 清单 ID {first.report.pk} 处理次数 2 "
        "失败时间 2026-03-05 10:20:30 错误：RuntimeError: bad note\n"
        f"终端 PC-dev-a1（ID {device.pk}） 清单 ID 无 处理次数 1 "
        "失败时间 2026-03-05 10:21:30 错误：ValueError: first line second line\n"
        "排除故障原因后，运行 zhengban governance_queue --requeue 重新处理。\n"
    )

    assert run("--requeue") == "已重新排队 2 份处理失败的清单。\n"
    # Back in the queue, their attempt counts and last errors kept.
    assert list(
        PendingInventory.objects.values_list("report_id", "attempts", "failed_at", "error")
    ) == [
        (first.report.pk, 2, None, "RuntimeError: bad note"),
        (second.report.pk, 0, None, ""),
        (None, 1, None, "ValueError: first line\n  second line"),
    ]
    assert run() == "等待处理 3 份清单，处理失败已暂停 0 份。\n"
