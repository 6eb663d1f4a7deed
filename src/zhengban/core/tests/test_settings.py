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
