"""The `zhengban` console command: Django's management entry point with our settings."""

import os
import sys

SERVING_COMMANDS = {"runserver"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhengban.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    if len(sys.argv) > 1 and sys.argv[1] in SERVING_COMMANDS and settings.SECRET_KEY_IS_EPHEMERAL:
        sys.stderr.write(
            "SECRET_KEY is not set. Production refuses to start without one "
            "(set DEBUG=1 for a development server).\n"
        )
        sys.exit(2)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
