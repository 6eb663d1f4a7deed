"""Telling people: an in-app notification and an e-mail, the e-mail sent only once the
transaction commits (nobody is told about a change that was rolled back). Every app's
services notify through here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone

from zhengban.core.models import Notification
from zhengban.core.urls_absolute import absolute_url


@dataclass(frozen=True)
class Note:
    """One message to one person. `email_body` replaces the default mail text (the body,
    then the absolute link), e.g. to greet the person by name; it must make its own links
    absolute (`core.urls_absolute.absolute_url`)."""

    recipient: Any  # orgs.User: core sits below orgs and does not import it
    subject: str
    body: str = ""
    link: str = ""
    email_body: str | None = None


def deliver(notes: Iterable[Note]) -> list[Notification]:
    """All the notes' notifications in one insert; one e-mail per address and text, sent
    after commit. People without an address get the in-app notification only."""
    notes = [n for n in notes if n.recipient is not None]
    rows = Notification.objects.bulk_create(
        [
            Notification(recipient=n.recipient, subject=n.subject[:200], body=n.body, link=n.link)
            for n in notes
        ]
    )
    forget_unread({n.recipient.pk for n in notes})
    messages: dict[tuple[str, str, str], EmailMessage] = {}
    for note in notes:
        address = note.recipient.email
        if not address:
            continue
        # The page link is relative; the mail's must name the site (SITE_URL).
        link = absolute_url(note.link) if note.link else ""
        text = note.email_body if note.email_body is not None else f"{note.body}\n\n{link}"
        key = (address, note.subject, text.strip())
        if key not in messages:
            messages[key] = EmailMessage(subject=note.subject, body=key[2], to=[address])
    if messages:
        mails = list(messages.values())
        _commit_durably()
        # A mail server being down must not undo the change that caused the mail.
        transaction.on_commit(lambda: get_connection(fail_silently=True).send_messages(mails))
    return rows


def _commit_durably() -> None:
    """Hot paths (the ingest, licensing's queue drain) commit with synchronous_commit off:
    a crash may lose their last fraction of a second, and they are simply redone. A mail,
    once sent, cannot be taken back, so a transaction that sends one waits for its commit to
    reach the disk; otherwise the redo would mail the same people twice."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO ON")


def notify(
    *, users: Iterable[Any], subject: str, body: str = "", link: str = ""
) -> list[Notification]:
    """The same message to several people (each person once, however often listed)."""
    people = {u.pk: u for u in users if u is not None}.values()
    return deliver(Note(recipient=u, subject=subject, body=body, link=link) for u in people)


def _unread_key(user_id: int) -> str:
    return f"notifications:unread:{user_id}"


def unread_count(user: Any) -> int:
    """The person's unread notifications (the badge on every page), reused for
    NOTIFICATION_COUNT_CACHE_SECONDS: delivering and reading forget it at once in this
    process (and everywhere with a shared CACHE_URL); other processes with their own memory
    cache show a new count within that time."""
    seconds = int(getattr(settings, "NOTIFICATION_COUNT_CACHE_SECONDS", 0))
    if not seconds:
        return Notification.objects.filter(recipient=user, read_at__isnull=True).count()
    key = _unread_key(user.pk)
    count = cache.get(key)
    if count is None:
        count = Notification.objects.filter(recipient=user, read_at__isnull=True).count()
        cache.set(key, count, seconds)
    return count


def forget_unread(user_ids: Iterable[int]) -> None:
    keys = [_unread_key(pk) for pk in user_ids]
    if not keys:
        return
    cache.delete_many(keys)
    # Again once committed: a page counting meanwhile saw the rows before the commit.
    transaction.on_commit(lambda: cache.delete_many(keys))


def mark_all_read(*, user: Any) -> int:
    """Marks the person's unread notifications read; returns how many. One UPDATE, so one
    transaction by itself."""
    count = Notification.objects.filter(recipient=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    forget_unread([user.pk])
    return count
