import os
import subprocess
import sys

import pytest

MESSAGE = "SECRET_KEY is not set. Production refuses to start without one"


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(extra)
    return env


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "zhengban", "runserver", "--noreload"],
        [sys.executable, "-c", "import zhengban.wsgi"],
    ],
)
def test_production_refuses_to_serve_without_secret_key(argv, tmp_path):
    result = subprocess.run(
        argv, env=_env(ZHENGBAN_DATA_DIR=str(tmp_path)), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert MESSAGE in result.stderr


def test_operator_commands_run_without_secret_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "zhengban", "check"],
        env=_env(ZHENGBAN_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(("given", "expected"), [(None, 10), ("3", 3)])
def test_postgresql_connections_give_up_in_seconds(tmp_path, given, expected):
    # An unanswering database host must not hang a gunicorn worker that connects as it
    # loads (zhengban.wsgi.warm_up) past its boot timeout.
    extra = {"DATABASE_URL": "postgres://nobody@192.0.2.1:5432/none"}
    if given is not None:
        extra["DB_CONNECT_TIMEOUT"] = given
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=_env(
            ZHENGBAN_DATA_DIR=str(tmp_path),
            DJANGO_SETTINGS_MODULE="zhengban.settings",
            DEBUG="1",
            **extra,
        ),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str({"options": "-c jit=off", "connect_timeout": expected})
