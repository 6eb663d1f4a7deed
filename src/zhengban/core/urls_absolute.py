"""Absolute links for e-mails and other messages read outside the site.

A page can use relative links; an e-mail cannot, since its reader's mail client has no
current host. Call `absolute_url(reverse(...))` wherever a message body gets a link.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings


def absolute_url(path: str) -> str:
    """`path` (as reverse() returns it) under settings.SITE_URL.

    SITE_URL may carry a path prefix (a site served under /zhengban/): when reverse() has
    already put that prefix in (FORCE_SCRIPT_NAME, or a call inside a request), it is not
    added twice. A path that names another host ("//host/…", "https://…") is refused, so a
    caller cannot be tricked into mailing a link off the site."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        raise ValueError(f"not a path on this site: {path!r}")
    base = urlsplit(settings.SITE_URL)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise ValueError(f"SITE_URL must be http(s)://host[:port][/prefix]: {settings.SITE_URL!r}")
    prefix = base.path.rstrip("/")
    if not path.startswith("/"):
        path = "/" + path
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :] or "/"
    return f"{base.scheme}://{base.netloc}{prefix}{path}"
