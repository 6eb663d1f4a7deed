import gc
import io
import logging
import os
import re

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhengban.settings")
django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402  (after Django is set up)
from django.core import signals  # noqa: E402
from django.middleware.security import SecurityMiddleware  # noqa: E402

if settings.SECRET_KEY_IS_EPHEMERAL:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Production refuses to start without one "
        "(set DEBUG=1 for a development server)."
    )

# inventory/urls.py's ingest URL, as Django's <str:token> converter matches it.
_INGEST_PATH = re.compile(r"/ingest/([^/]+)/")


def _security_headers() -> list[tuple[str, str]]:
    """The headers SecurityMiddleware adds to every response (they follow settings only),
    so the lean answer carries exactly what Django's would."""
    from django.http import HttpRequest, HttpResponse

    response = SecurityMiddleware(lambda request: HttpResponse()).process_response(
        HttpRequest(), HttpResponse()
    )
    return [(k, v) for k, v in response.items() if k.lower() != "content-type"]


class AgentApplication:
    """Django's WSGI application, with a lean entry for the request agents send most: an
    unchanged repeat of an inventory (the machine did not change: the very same body, or
    one whose volatile fields alone differ) to ``/ingest/<token>/``. That request is
    answered here with the very service call the ingest view makes
    (``inventory.ingest.unchanged_repeat``: the token must be live and a device of its unit
    must have stored exactly this), without building a Django request or running the
    middleware; a daily fleet sends mostly these.

    Everything else, and any repeat that is not one (first inventories, unknown, expired or
    revoked tokens, oversized or chunked bodies, errors), goes to Django unchanged, with the
    body already read handed on (and what was learnt of it, so no statement runs twice and
    the body is not inflated again)."""

    def __init__(self, django_app) -> None:
        self.django_app = django_app
        self.headers: list[tuple[str, str]] | None = None

    def __call__(self, environ, start_response):
        if (
            environ.get("REQUEST_METHOD") == "POST"
            and environ.get("PATH_INFO", "").startswith("/ingest/")
            and not settings.SECURE_SSL_REDIRECT
        ):
            answer = self._lean(environ)
            if answer is not None:
                body, content_type = answer
                if self.headers is None:
                    self.headers = _security_headers()
                start_response(
                    "200 OK",
                    [
                        ("Content-Type", content_type),
                        ("Content-Length", str(len(body))),
                        *self.headers,
                    ],
                )
                return [body]
        return self.django_app(environ, start_response)

    def _lean(self, environ) -> tuple[bytes, str] | None:
        from zhengban.inventory import ingest, parsers

        match = _INGEST_PATH.fullmatch(environ["PATH_INFO"])
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if match is None or not 0 < length <= min(
            parsers.limit("INVENTORY_MAX_BODY_BYTES"), settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        ):
            return None
        body = environ["wsgi.input"].read(length)
        # Django reads the body again if this is no repeat.
        environ["wsgi.input"] = io.BytesIO(body)
        if len(body) != length:
            return None
        # As Django's handler does: connections past their age are closed around requests.
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            carried, reply = ingest.unchanged_repeat(
                match[1],
                body,
                environ.get("CONTENT_TYPE", ""),
                environ.get("HTTP_USER_AGENT", ""),
            )
        except Exception:
            # Django answers (and logs) it as it would any request.
            return None
        finally:
            signals.request_finished.send(sender=self.__class__)
        if reply is None:
            environ[ingest.CARRIED_KEY] = carried
        return reply


def warm_up() -> None:
    """Under gunicorn, do when a worker (or, with --preload, the master, whose copy the
    workers then share) loads the application what its first request would otherwise do,
    with an agent waiting: build the catalog's recogniser (about 1.5 s of CPU, once per
    worker and catalog revision), and load the URLconf, which imports every app's views and
    compiles the URL patterns in front of the agents' one (0.1 to 0.2 s more, once per
    worker: most of a worker's first inventory after the recogniser). Then move what is
    loaded by now (Django, the apps, the URLconf, the recogniser) out of the cyclic garbage
    collector's reach (``gc.freeze``): its full collections otherwise walk all of it again
    and again, 2.8 % of a worker's CPU on first inventories, 0.9 % frozen (BENCHMARKS.md,
    session 9). Frozen objects are still freed by reference counting; only a cycle among
    them (say in a recogniser a catalog change replaced) is kept until the worker ends."""
    if not os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn"):
        return
    from django.db import connections
    from django.urls import resolve, reverse

    from zhengban.catalog.services import get_recogniser

    resolve(reverse("inventory:ingest", args=["warm-up"]))
    try:
        get_recogniser()
    except Exception:  # noqa: BLE001 (no database yet, before migrate: built on first use)
        logging.getLogger(__name__).warning("recogniser not built at start", exc_info=True)
    finally:
        # A preloading master must not hand its connection down to the workers it forks.
        connections.close_all()
    gc.collect()
    gc.freeze()


warm_up()
application = AgentApplication(django_application)
