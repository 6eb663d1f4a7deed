"""A transaction that mails someone commits durably, even where a hot path turned
synchronous_commit off: a crash would otherwise redo the work and mail the same people twice."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection, transaction

from zhengban.core import notifications

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="synchronous_commit is a PostgreSQL setting"
)


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def deliver_inside_a_fast_transaction(recipient) -> tuple[str, str]:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        before = synchronous_commit()
        notifications.deliver([notifications.Note(recipient=recipient, subject="测试")])
        return before, synchronous_commit()


@pytest.mark.django_db
def test_a_mail_makes_its_transaction_commit_durably(org, django_capture_on_commit_callbacks):
    org.officer_a.email = "officer@example.cn"
    org.officer_a.save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_inside_a_fast_transaction(org.officer_a) == ("off", "on")
    assert [m.to for m in mail.outbox] == [["officer@example.cn"]]


@pytest.mark.django_db
def test_an_in_app_notification_alone_keeps_the_fast_commit(
    org, django_capture_on_commit_callbacks
):
    org.officer_a.email = ""
    org.officer_a.save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_inside_a_fast_transaction(org.officer_a) == ("off", "off")
    assert mail.outbox == []
