"""rpm output parsing and the macOS application scan (plistlib on real plist files)."""

from __future__ import annotations

import plistlib

from zhengban_agent.collectors import macos, rpm

RPM_OUTPUT = (
    "bash\t(none)\t5.1.8\t4.oe2203\tx86_64\topenEuler\thttp://openeuler.org\t1700000000\t"
    "7654321\tUnspecified\tThe GNU Bourne Again shell\n"
    "gpg-pubkey\t(none)\tb25e7f66\t5f8a4e8f\t(none)\t(none)\t(none)\t1700000000\t0\t"
    "Public Keys\tgpg(openEuler <openeuler@compass-ci.com>)\n"
    "kylin-office\t2\t3.0\t1\tx86_64\t(none)\tKylin Packager\t1700000000\t100\t"
    "Applications/Office\tOffice suite\twith a tab\n"
    "garbage line without tabs\n"
)


def test_parse_rpm_output() -> None:
    items = rpm.parse_rpm_output(RPM_OUTPUT)
    for item in items:  # install dates depend on the local time zone; check the format only
        assert len(item.pop("install_date")) == 10
    assert items == [
        {
            "name": "bash",
            "version": "5.1.8-4.oe2203",
            "arch": "x86_64",
            "publisher": "openEuler",
            "filesize": 7654321,
            "system_category": "Unspecified",
            "comments": "The GNU Bourne Again shell",
            "from": "rpm",
        },
        {
            "name": "kylin-office",
            "version": "2:3.0-1",
            "arch": "x86_64",
            "publisher": "Kylin Packager",
            "filesize": 100,
            "system_category": "Applications/Office",
            "comments": "Office suite\twith a tab",
            "from": "rpm",
        },
    ]
    assert rpm.QUERY_FORMAT.count("%{") == len(rpm.FIELDS)


def _app(path, info: dict, binary: bool = False) -> None:
    contents = path / "Contents"
    contents.mkdir(parents=True)
    fmt = plistlib.FMT_BINARY if binary else plistlib.FMT_XML
    (contents / "Info.plist").write_bytes(plistlib.dumps(info, fmt=fmt))


def test_macos_applications(tmp_path) -> None:
    apps = tmp_path / "Applications"
    _app(
        apps / "Microsoft Word.app",
        {
            "CFBundleName": "Microsoft Word",
            "CFBundleShortVersionString": "16.78",
            "CFBundleIdentifier": "com.microsoft.Word",
        },
    )
    _app(
        apps / "Adobe Photoshop 2024" / "Adobe Photoshop 2024.app",
        {"CFBundleDisplayName": "Adobe Photoshop 2024", "CFBundleVersion": "25.0.0"},
        binary=True,
    )
    # Helper apps inside a bundle are part of that application, not separate software.
    _app(apps / "Microsoft Word.app" / "Contents" / "Helpers" / "Helper.app", {"CFBundleName": "H"})
    _app(apps / "Utilities" / "Terminal.app", {"CFBundleIdentifier": "com.apple.Terminal"})
    (apps / "Broken.app").mkdir()
    found = [macos.read_app(p) for p in macos.find_apps(str(tmp_path))]
    assert found == [
        {
            "name": "Adobe Photoshop 2024",
            "version": "25.0.0",
            "comments": None,
            "folder": str(apps / "Adobe Photoshop 2024" / "Adobe Photoshop 2024.app"),
            "system_category": "application",
            "from": "mac",
        },
        None,  # Broken.app has no Info.plist
        {
            "name": "Microsoft Word",
            "version": "16.78",
            "comments": "bundle id: com.microsoft.Word",
            "folder": str(apps / "Microsoft Word.app"),
            "system_category": "application",
            "from": "mac",
        },
        {
            "name": "Terminal",
            "version": None,
            "comments": "bundle id: com.apple.Terminal",
            "folder": str(apps / "Utilities" / "Terminal.app"),
            "system_category": "system_component",
            "from": "mac",
        },
    ]


def test_apples_paid_applications_are_applications(tmp_path) -> None:
    apps = tmp_path / "Applications"
    _app(apps / "Final Cut Pro.app", {"CFBundleIdentifier": "com.apple.FinalCut"})
    _app(apps / "Logic Pro X.app", {"CFBundleIdentifier": "com.apple.logic10"})
    # Before macOS 10.15 the system's own apps were in /Applications too.
    _app(apps / "Safari.app", {"CFBundleIdentifier": "com.apple.Safari"})
    _app(
        tmp_path / "System" / "Applications" / "Utilities" / "Terminal.app",
        {"CFBundleIdentifier": "com.apple.Terminal"},
    )
    found = {
        i["name"]: i["system_category"] for i in map(macos.read_app, macos.find_apps(str(tmp_path)))
    }
    assert found == {
        "Final Cut Pro": "application",
        "Logic Pro X": "application",
        "Safari": "system_component",
        "Terminal": "system_component",
    }


def test_a_malformed_info_plist_loses_only_its_own_bundle(tmp_path) -> None:
    apps = tmp_path / "Applications"
    _app(apps / "Good.app", {"CFBundleName": "Good"})
    bad = apps / "Bad.app" / "Contents"
    bad.mkdir(parents=True)
    (bad / "Info.plist").write_bytes(
        b'<?xml version="1.0"?><plist version="1.0"><dict><key>A & B</key></dict></plist>'
    )
    found = [macos.read_app(p) for p in macos.find_apps(str(tmp_path))]
    assert [i and i["name"] for i in found] == [None, "Good"]


# What `ioreg -rd1 -c IOPlatformExpertDevice` prints on a Mac (abridged).
IOREG = """\
+-o MacBookPro18,3  <class IOPlatformExpertDevice, id 0x100000110, registered, matched, active, busy 0 (33 ms), retain 37>
    {
      "IOPlatformSerialNumber" = "C02XK0ABCDEF"
      "manufacturer" = <"Apple Inc.">
      "IOPlatformUUID" = "0a1b2c3d-4E5F-6789-ABCD-EF0123456789"
      "model" = <"MacBookPro18,3">
    }
"""


def test_a_macs_identity_is_its_platform_uuid() -> None:
    assert macos.platform_uuid(IOREG) == "0A1B2C3D-4E5F-6789-ABCD-EF0123456789"
    assert macos.platform_uuid("no such device") is None
