"""The Windows collector's registry traversal and OS facts, run on Linux over .reg data.

``RegDictReader`` serves a parsed export through the same two calls (``subkeys``/``values``)
that ``WinregReader`` makes against the live registry.
"""

from __future__ import annotations

from conftest import reg_bytes

from zhengban_agent import regfile
from zhengban_agent.collectors import windows
from zhengban_agent.inventory import Inventory
from zhengban_agent.regfile import parse_reg


def test_windows_collector_uses_the_regfile_logic() -> None:
    # One function decides visibility for both the live registry and uploaded .reg files.
    assert windows.uninstall_entries is regfile.uninstall_entries
    assert regfile.make_entry.__globals__["classify_uninstall_entry"] is (
        regfile.classify_uninstall_entry
    )


def test_traversal_matches_reg_import_on_xp_export() -> None:
    reg = parse_reg(reg_bytes("xp-Uninstall.reg"))
    live = windows.collect_uninstall(windows.RegDictReader(reg))
    imported = regfile.uninstall_entries(reg)
    assert len(live) == 534
    assert [(e.key_path, e.kind, e.is_update) for e in live] == [
        (e.key_path, e.kind, e.is_update) for e in imported
    ]


SID = "S-1-5-21-1004336348-1177238915-682003330-1001"
WHOLE_MACHINE = f"""Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\7-Zip]
"DisplayName"="7-Zip 23.01 (x64)"
"DisplayVersion"="23.01"
"Publisher"="Igor Pavlov"
"UninstallString"="C:\\\\Program Files\\\\7-Zip\\\\Uninstall.exe"
"EstimatedSize"=dword:00001000

[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{{26A24AE4-039D-4CA4-87B4-2F32180301F0}}]
"DisplayName"="Java 8 Update 301"
"WindowsInstaller"=dword:00000001
"InstallDate"="20210805"
"Publisher"="Oracle Corporation"

[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Microsoft Visual C++ Runtime]
"DisplayName"="Microsoft Visual C++ 2015 x86 Additional Runtime"
"SystemComponent"=dword:00000001
"UninstallString"="MsiExec.exe /X{{X}}"

[HKEY_USERS\\{SID}\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Teams]
"DisplayName"="Microsoft Teams"
"UninstallString"="C:\\\\Users\\\\zhang\\\\AppData\\\\Local\\\\Microsoft\\\\Teams\\\\Update.exe --uninstall"

[HKEY_USERS\\{SID}_Classes\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Ignored]
"DisplayName"="must not be read"
"UninstallString"="x"

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion]
"ProductName"="Windows 10 Pro"
"EditionID"="Professional"
"DisplayVersion"="23H2"
"CurrentBuildNumber"="22631"
"CurrentMajorVersionNumber"=dword:0000000a
"CurrentMinorVersionNumber"=dword:00000000
"UBR"=dword:00000cd0
"ProductId"="00330-80000-00000-AA123"
"RegisteredOwner"="zhang"
"InstallDate"=dword:65000000

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SoftwareProtectionPlatform]
"BackupProductKeyDefault"="VK7JG-NPHTM-C97JM-9MPGT-3V66T"

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\{SID}]
"ProfileImagePath"=hex(2):43,00,3a,00,5c,00,55,00,73,00,65,00,72,00,73,00,5c,00,7a,00,68,00,61,00,6e,00,67,00,00,00

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment]
"PROCESSOR_ARCHITECTURE"="AMD64"

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Cryptography]
"MachineGuid"="0f3a4c3e-7d55-4b8a-9c0e-1b2d3e4f5a6b"
"""


def test_both_views_and_user_hives() -> None:
    reader = windows.RegDictReader(parse_reg(WHOLE_MACHINE.encode("utf-8")))
    entries = windows.collect_uninstall(reader)
    summary = [(e.name, e.kind, e.scope, e.view, e.user_sid) for e in entries]
    assert summary == [
        ("7-Zip 23.01 (x64)", "program", "machine", None, None),
        ("Java 8 Update 301", "program", "machine", "32", None),
        (
            "Microsoft Visual C++ 2015 x86 Additional Runtime",
            "system_component",
            "machine",
            "32",
            None,
        ),
        ("Microsoft Teams", "program", "user", None, SID),
    ]
    assert windows.user_names(reader) == {SID: "zhang"}

    inv = Inventory()
    for entry in entries:
        inv.add_uninstall_entry(entry, user_names=windows.user_names(reader))
    assert inv.softwares == [
        {
            "name": "7-Zip 23.01 (x64)",
            "version": "23.01",
            "publisher": "Igor Pavlov",
            "arch": "x86_64",
            "system_category": "application",
            "uninstall_string": "C:\\Program Files\\7-Zip\\Uninstall.exe",
            "filesize": 4096 * 1024,
            "from": "registry",
        },
        {
            "name": "Java 8 Update 301",
            "publisher": "Oracle Corporation",
            "install_date": "2021-08-05",
            "arch": "i586",
            "guid": "{26A24AE4-039D-4CA4-87B4-2F32180301F0}",
            "system_category": "application",
            "from": "registry",
        },
        {
            "name": "Microsoft Visual C++ 2015 x86 Additional Runtime",
            "arch": "i586",
            "system_category": "system_component",
            "uninstall_string": "MsiExec.exe /X{X}",
            "from": "registry",
        },
        {
            "name": "Microsoft Teams",
            "arch": "x86_64",
            "system_category": "application",
            "uninstall_string": (
                "C:\\Users\\zhang\\AppData\\Local\\Microsoft\\Teams\\Update.exe --uninstall"
            ),
            "username": "zhang",
            "userid": SID,
            "from": "registry",
        },
    ]


def test_os_facts_from_registry() -> None:
    reader = windows.RegDictReader(parse_reg(WHOLE_MACHINE.encode("utf-8")))
    facts = windows.os_from_registry(reader)
    assert facts == {
        "operatingsystem": {
            "name": "Windows",
            # Build 22631 is Windows 11 although ProductName still says Windows 10.
            "full_name": "Microsoft Windows 11 Pro",
            "kernel_name": "MSWin32",
            "kernel_version": "10.0.22631.3280",
            "version": "23H2",
            "edition": "Professional",
            "arch": "64-bit",
            "install_date": "2023-09-12 06:06:56",  # UTC, from the epoch DWORD
        },
        "hardware": {
            "winprodid": "00330-80000-00000-AA123",
            "winowner": "zhang",
            "winprodkey": "XXXXX-XXXXX-XXXXX-XXXXX-3V66T",
        },
    }
    assert windows.machine_guid(reader) == "0f3a4c3e-7d55-4b8a-9c0e-1b2d3e4f5a6b"


def test_wmi_fills_only_what_the_registry_left_out() -> None:
    # A Chinese Windows answers in its display language; the registry's English name and
    # architecture stay, so a run whose WMI query fails sends the same OS.
    reader = windows.RegDictReader(parse_reg(WHOLE_MACHINE.encode("utf-8")))
    operatingsystem = windows.os_from_registry(reader)["operatingsystem"]
    before = dict(operatingsystem)
    row = {"Caption": "Microsoft Windows 11 专业版", "OSArchitecture": "64 位"}
    windows.os_gaps_from_wmi(operatingsystem, row)
    assert operatingsystem == before
    gaps = {"name": "Windows"}
    windows.os_gaps_from_wmi(gaps, row)
    assert gaps == {
        "name": "Windows",
        "full_name": "Microsoft Windows 11 专业版",
        "arch": "64 位",
    }
    blank = {"name": "Windows"}
    windows.os_gaps_from_wmi(blank, {"Caption": "  ", "OSArchitecture": None})
    assert blank == {"name": "Windows"}


def test_windows_activation_is_the_system_licence_not_an_esu_add_on() -> None:
    win = windows.WINDOWS_APPLICATION_ID
    office = {
        "name": "Office 16, Office16ProPlusVL_KMS_Client edition",
        "application_id": "0ff1ce15",
    }
    system = {
        "name": "Windows(R) 7, Professional edition",
        "fullname": "Windows(R) Operating System, OEM_SLP channel",
        "application_id": win,
        "license_status": "Licensed",
        "key": "XXXXX-XXXXX-XXXXX-XXXXX-22TKD",
    }
    esu = {
        "name": "Windows(R) 7, Client-ESU-Year3 add-on for Enterprise,Professional",
        "fullname": "Windows(R) Operating System, MAK channel",
        "application_id": win,
        "license_status": "Unlicensed",
        "key": "XXXXX-XXXXX-XXXXX-XXXXX-8JQ2T",
    }
    assert windows.windows_licence([office, system, esu]) is system
    assert windows.windows_licence([esu, system]) is system
    # Only the add-on has a key: it is all there is to say.
    assert windows.windows_licence([office, esu]) is esu
    assert windows.windows_licence([office]) is None


def test_imports_without_winreg() -> None:
    # On Linux the module imports and the live reader refuses clearly.
    assert windows.winreg is None
    try:
        windows.WinregReader()
    except RuntimeError as exc:
        assert "only available on Windows" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("WinregReader must not work without winreg")


def test_local_systems_hive_is_read_once() -> None:
    # HKEY_USERS\.DEFAULT and HKEY_USERS\S-1-5-18 are one hive, seen under two names.
    key = "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Agent"
    reg = "Windows Registry Editor Version 5.00\n\n" + "".join(
        f'[HKEY_USERS\\{name}\\{key}]\n"DisplayName"="Deploy Agent"\n"UninstallString"="x"\n\n'
        for name in (".DEFAULT", "S-1-5-18")
    )
    reader = windows.RegDictReader(parse_reg(reg.encode("utf-8")))
    entries = windows.collect_uninstall(reader)
    assert [(e.name, e.user_sid) for e in entries] == [("Deploy Agent", "S-1-5-18")]
