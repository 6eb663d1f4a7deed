import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhengban.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402  (after Django is set up)

if settings.SECRET_KEY_IS_EPHEMERAL:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Production refuses to start without one "
        "(set DEBUG=1 for a development server)."
    )
