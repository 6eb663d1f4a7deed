"""dpkg collector: exactly the ``ii`` packages of this machine, and the status-file rules."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from zhengban_agent.collectors import dpkg


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs a dpkg-based system")
def test_matches_dpkg_query_on_this_machine() -> None:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = set()
    for line in out.splitlines():
        abbrev, _, package = line.partition(" ")
        # db:Status-Abbrev is three characters: want, status, error flag ("ii " when clean,
        # "hi " when held); the second says installed.
        if line[1:2] == "i":
            expected.add(package.strip())
    items = dpkg.installed_packages("/")
    assert {i["name"] for i in items} == expected
    # dpkg-query lists one line per installed architecture; so do we.
    assert len(items) == sum(1 for line in out.splitlines() if line[1:2] == "i")


STATUS = """\
Package: wps-office
Status: install ok installed
Priority: optional
Section: editors
Installed-Size: 1500000
Maintainer: Kingsoft Office Corporation <wps@kingsoft.com>
Architecture: amd64
Version: 11.1.0.11719
Description: WPS Office, is the office suite.
 Second description line.

Package: libfoo1
Status: install ok installed
Multi-Arch: same
Maintainer: Kylin Team <team@kylinos.cn>
Architecture: i386
Version: 1.2-3
Description: foo library

Package: removed-app
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: held-app
Status: hold ok installed
Architecture: amd64
Version: 2.0
Maintainer: someone@example.com

Package: broken-app
Status: install reinstreq half-installed
Architecture: amd64
Version: 0.1
"""


def test_status_rules_and_fields(tmp_path) -> None:
    (tmp_path / "var/lib/dpkg/info").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(STATUS, encoding="utf-8")
    stamp = time.mktime((2024, 3, 5, 12, 0, 0, 0, 0, -1))
    for name in ("wps-office.list", "libfoo1:i386.list"):
        path = tmp_path / "var/lib/dpkg/info" / name
        path.write_text("/.\n")
        os.utime(path, (stamp, stamp))
    assert dpkg.installed_packages(str(tmp_path)) == [
        {
            "name": "wps-office",
            "version": "11.1.0.11719",
            "publisher": "Kingsoft Office Corporation",
            "arch": "amd64",
            "install_date": "2024-03-05",
            "comments": "WPS Office, is the office suite.",
            "system_category": "editors",
            "filesize": 1500000 * 1024,
            "from": "dpkg",
        },
        {
            "name": "libfoo1",
            "version": "1.2-3",
            "publisher": "Kylin Team",
            "arch": "i386",
            "install_date": "2024-03-05",
            "comments": "foo library",
            "system_category": None,
            "filesize": None,
            "from": "dpkg",
        },
        # Held (apt-mark hold, "hi"): installed all the same.
        {
            "name": "held-app",
            "version": "2.0",
            "publisher": "someone@example.com",
            "arch": "amd64",
            "install_date": None,
            "comments": None,
            "system_category": None,
            "filesize": None,
            "from": "dpkg",
        },
    ]


def test_publisher_from_maintainer() -> None:
    assert dpkg.publisher_from_maintainer("Debian Python Team <x@y.org>") == "Debian Python Team"
    assert dpkg.publisher_from_maintainer("<only@mail.org>") == "<only@mail.org>"


def test_the_journal_dpkg_has_not_folded_in_yet_counts(tmp_path) -> None:
    # What dpkg leaves in updates/ while it runs (it folds the journal into the status
    # file every so often) or after an interrupted run; dpkg-query reads both.
    status_dir = tmp_path / "var/lib/dpkg"
    (status_dir / "updates").mkdir(parents=True)
    (status_dir / "status").write_text(
        "Package: heldpkg\nStatus: install ok half-configured\nArchitecture: amd64\n"
        "Version: 1.0\n\n"
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36\n\n"
        "Package: goneapp\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3\n",
        encoding="utf-8",
    )
    updates = status_dir / "updates"
    (updates / "0000").write_text(
        "Package: newpkg\nStatus: install ok installed\nArchitecture: all\nVersion: 0.1\n",
        encoding="utf-8",
    )
    (updates / "0001").write_text(
        "Package: heldpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.1\n\n"
        "Package: goneapp\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 3\n",
        encoding="utf-8",
    )
    # Applied in number order, not name order, and dpkg's own temporary file is not read.
    (updates / "10").write_text(
        "Package: newpkg\nStatus: install ok installed\nArchitecture: all\nVersion: 0.2\n",
        encoding="utf-8",
    )
    (updates / "9").write_text(
        "Package: newpkg\nStatus: install ok installed\nArchitecture: all\nVersion: 0.15\n",
        encoding="utf-8",
    )
    (updates / "tmp.i").write_text(
        "Package: half-written\nStatus: install ok installed\nArchitecture: all\n",
        encoding="utf-8",
    )
    items = dpkg.installed_packages(str(tmp_path))
    assert sorted((i["name"], i["version"]) for i in items) == [
        ("heldpkg", "1.1"),
        ("libc6", "2.36"),
        ("newpkg", "0.2"),
    ]
