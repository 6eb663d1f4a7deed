"""zhengban settings: one place, read from environment variables.

DATABASE_URL   default: a SQLite file in $ZHENGBAN_DATA_DIR (./data)
SECRET_KEY     required unless DEBUG=1 or under the test runner
DEBUG          0/1
ALLOWED_HOSTS  comma-separated
CACHE_URL      default locmem:// (see cache_from_url)
"""

import os
import secrets
import sys
import tempfile
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


TESTING = "pytest" in sys.modules or (len(sys.argv) > 1 and sys.argv[1] == "test")
DEBUG = env_bool("DEBUG", False)

# Tests never write into the working tree, whichever folder pytest starts in.
_default_data_dir = (
    Path(tempfile.gettempdir()) / "zhengban-test-data" if TESTING else Path.cwd() / "data"
)
DATA_DIR = Path(os.environ.get("ZHENGBAN_DATA_DIR", _default_data_dir)).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
# Without a SECRET_KEY, operator commands (migrate, import, …) still run with a throw-away key,
# but serving refuses to start: see wsgi.py and cli.py.
SECRET_KEY_IS_EPHEMERAL = False
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "insecure-development-key-do-not-use-in-production"
    else:
        SECRET_KEY = secrets.token_urlsafe(50)
        SECRET_KEY_IS_EPHEMERAL = True

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if not DEBUG else "*")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "zhengban.core",
    "zhengban.orgs",
    "zhengban.catalog",
    "zhengban.inventory",
    "zhengban.licensing",
    "zhengban.governance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Agents' inventories (AGENT_PATH_PREFIXES) skip the browser middleware below.
    "zhengban.core.middleware.AgentEndpointMiddleware",
    # Django's SessionMiddleware, writing an unchanged session at most once a minute.
    "zhengban.core.sessions.IdleSessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "zhengban.core.middleware.AuditContextMiddleware",
    # Last, as django-axes requires, so it sees the final authentication result.
    "axes.middleware.AxesMiddleware",
]
# URL prefixes served to agents only (inventory/urls.py: the enrolment token's ingest URL).
AGENT_PATH_PREFIXES = ("/ingest/",)

ROOT_URLCONF = "zhengban.urls"
WSGI_APPLICATION = "zhengban.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "zhengban.core.context_processors.navigation",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'zhengban.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Page queries are short: JIT compilation costs more than it saves (seen: 600 ms of JIT
    # on an 800 ms device-list query).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
    # A database host that does not answer fails a connection in seconds, not minutes: a
    # gunicorn worker connects when it loads (zhengban.wsgi.warm_up) and must not hang.
    DATABASES["default"]["OPTIONS"].setdefault(
        "connect_timeout", int(os.environ.get("DB_CONNECT_TIMEOUT", "10"))
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process and a task worker share the file.
    # Connections persist as on PostgreSQL (CONN_MAX_AGE): reconnecting on every request
    # re-ran these PRAGMAs and lost SQLite's page cache each time.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "orgs.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "zhengban.orgs.backends.RolePermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "zhengban.core.validators.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "zhengban.core.validators.CharacterClassValidator"},
]
if TESTING:
    # Fast hashing in tests; production keeps Django's PBKDF2 default.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "login"

# Idle session timeout: requests push the expiry forward, writing the session only once it
# has fallen SESSION_RENEW_SECONDS behind (core/sessions.py): the timeout holds to within
# that, without a database write on every page.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_TIMEOUT_SECONDS", "1800"))
SESSION_ENGINE = "zhengban.core.sessions"
SESSION_SAVE_EVERY_REQUEST = False
SESSION_RENEW_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Lockout after repeated failed logins (django-axes).
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("LOGIN_LOCKOUT_HOURS", "0.5"))
AXES_LOCKOUT_PARAMETERS = ["username"]
# Lockout is per account: whole government buildings sit behind one NAT address, so locking
# an address would lock out every colleague.
SILENCED_SYSTEM_CHECKS = [
    "axes.W006",
    # SQLite ignores an index's INCLUDE columns, which are there for PostgreSQL alone.
    "models.W040",
]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# Project-wide assets (stylesheet, charts); apps keep theirs in <app>/static/.
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "zhengban.core.pagination.StableOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "zhengban.core.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "zhengban API",
    "DESCRIPTION": "软件正版化管理平台 REST API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

# Background work: Django's tasks API, stored in the database so the embedded default needs
# no extra service. `zhengban db_worker` runs queued tasks.
TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}
if TESTING:
    TASKS["default"]["BACKEND"] = "django_tasks.backends.immediate.ImmediateBackend"


def cache_from_url(url: str) -> dict:
    """CACHE_URL: locmem:// (default), db://table (run `zhengban createcachetable`),
    file:///path, redis://host:6379/0 (shared by all workers), dummy://. Unset or empty:
    locmem://."""
    scheme, _sep, rest = (url or "locmem://").partition("://")
    if scheme == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": rest}
    if scheme == "db":
        return {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": rest or "zhengban_cache",
        }
    if scheme == "file":
        return {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": rest}
    if scheme in {"redis", "rediss", "unix"}:
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    if scheme == "dummy":
        return {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    raise ValueError(f"CACHE_URL: unsupported scheme {scheme!r}")


# The embedded default needs no other service: each web process keeps its own memory cache.
# Several workers behind a proxy share one with CACHE_URL=redis://… or db://….
CACHES = {"default": cache_from_url(os.environ.get("CACHE_URL", ""))}
# Per-page work reused from the cache, each for the seconds set here. All off in tests, which
# expect pages to follow the data at once (the tests of each cache turn it on).
_cached = "0" if TESTING else None
# Home-page figures over a whole scope (the page shows their time).
HOME_CACHE_SECONDS = int(os.environ.get("HOME_CACHE_SECONDS", _cached or "300"))
# A list's "more than 10,000 rows", per query (exact counts never are).
LIST_COUNT_CACHE_SECONDS = int(os.environ.get("LIST_COUNT_CACHE_SECONDS", _cached or "60"))
# Whether a filter's drop-down has too many choices to list (it becomes a number input), per
# scope and model.
FILTER_CHOICES_CACHE_SECONDS = int(os.environ.get("FILTER_CHOICES_CACHE_SECONDS", _cached or "300"))
# A person's menu (links only: every view checks its own permission), keyed by their roles,
# unit and flags, so a role change shows at once (core/navigation.py).
MENU_CACHE_SECONDS = int(os.environ.get("MENU_CACHE_SECONDS", _cached or "300"))
# The unread-notification badge, per person. Delivering and reading forget it at once in the
# process that did it (in every process with a shared CACHE_URL); other processes with their
# own memory cache show the new count within this time.
NOTIFICATION_COUNT_CACHE_SECONDS = int(
    os.environ.get("NOTIFICATION_COUNT_CACHE_SECONDS", _cached or "60")
)

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "zhengban@localhost")
# Links in e-mails must be absolute (a mail client has no current host): scheme, host and
# any path prefix the site is served under, no trailing slash. See core.urls_absolute.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

DJANGO_TABLES2_TEMPLATE = "core/table.html"
# Django's widget templates, with inputs and drop-downs written in Python (core/renderers.py).
FORM_RENDERER = "zhengban.core.renderers.FastWidgetRenderer"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Product limits and defaults that regions may change (see FACTS.md, *configurable*).
ZHENGBAN = {
    "SITE_NAME": _("软件正版化管理平台"),
    "EXPORT_MAX_ROWS": 200_000,
    # zhengban.core.db: agents' most frequent statements prepared on PostgreSQL.
    "PREPARED_STATEMENTS": os.environ.get("DB_PREPARED_STATEMENTS", "1") != "0",
}
