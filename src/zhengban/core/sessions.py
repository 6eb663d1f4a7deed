"""An idle session timeout without a database write on every request.

Django's way (SESSION_SAVE_EVERY_REQUEST) rewrites the session row on each page: three
statements and a commit per request. Here the expiry is pushed forward only once it has
fallen more than SESSION_RENEW_SECONDS behind a full SESSION_COOKIE_AGE, so a session still
ends after that much idle time, give or take SESSION_RENEW_SECONDS, and is written at most
once per SESSION_RENEW_SECONDS.

Use with SESSION_ENGINE = "zhengban.core.sessions" and IdleSessionMiddleware in place of
django.contrib.sessions' SessionMiddleware.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.sessions.backends import db
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class SessionStore(db.SessionStore):
    """The database session store that remembers the expiry it read."""

    stored_expiry: datetime.datetime | None = None

    def _get_session_from_db(self):
        row = super()._get_session_from_db()
        self.stored_expiry = row.expire_date if row is not None else None
        return row


def renewal_due(session, now: datetime.datetime | None = None) -> bool:
    """Whether the stored expiry has fallen far enough behind a full idle period."""
    if not hasattr(session, "stored_expiry"):
        return True  # another engine: renew on every request, as Django would
    if session.stored_expiry is None:
        return False  # nothing stored (a new or unknown session): nothing to renew
    now = now or timezone.now()
    slack = datetime.timedelta(seconds=int(getattr(settings, "SESSION_RENEW_SECONDS", 60)))
    full = now + datetime.timedelta(seconds=session.get_expiry_age())
    return session.stored_expiry < full - slack


class IdleSessionMiddleware(SessionMiddleware):
    """Django's SessionMiddleware, saving an unchanged session only when renewal is due."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = getattr(request, "session", None)
        if (
            session is not None
            and session.accessed
            and not session.modified
            and renewal_due(session)
        ):
            session.modified = True
        return super().process_response(request, response)
