"""Entry script for PyInstaller: ``__main__.py`` uses relative imports, which fail when it is
run as a top-level script, so the frozen executable starts here instead."""

import sys

from zhengban_agent.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
