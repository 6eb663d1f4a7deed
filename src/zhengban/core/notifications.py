"""Telling people: an in-app notification and an e-mail, the e-mail sent only once the
transaction commits (nobody is told about a change that was rolled back). Every app's
services notify through here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.mail import EmailMessage, get_connection
from django.db import transaction

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
        # A mail server being down must not undo the change that caused the mail.
        transaction.on_commit(lambda: get_connection(fail_silently=True).send_messages(mails))
    return rows


def notify(
    *, users: Iterable[Any], subject: str, body: str = "", link: str = ""
) -> list[Notification]:
    """The same message to several people (each person once, however often listed)."""
    people = {u.pk: u for u in users if u is not None}.values()
    return deliver(Note(recipient=u, subject=subject, body=body, link=link) for u in people)
