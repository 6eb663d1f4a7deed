"""The .reg parser and the Programs and Features rules, on real regedit exports.

Expected numbers were worked out independently of this parser: the exports were converted with
``iconv -f utf-16 -t utf-8`` and counted with grep and a separate line-based script (keys at
depth ``Uninstall\\<name>``, DisplayName present and non-empty, ``SystemComponent=dword:1``,
ParentKeyName or an update ReleaseType, WindowsInstaller=dword:1 on a GUID key, UninstallString).
"""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import reg_bytes

from zhengban_agent.regfile import (
    HIDDEN_NO_NAME,
    HIDDEN_NO_UNINSTALL,
    PROGRAM,
    SYSTEM_COMPONENT,
    UPDATE,
    RegParseError,
    RegValue,
    parse_reg,
    parse_reg_typed,
    programs_and_features,
    uninstall_entries,
)

UNINSTALL = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"


def kinds(name: str) -> Counter:
    return Counter(e.kind for e in uninstall_entries(parse_reg(reg_bytes(name))))


def by_key(name: str) -> dict:
    return {e.key_name: e for e in uninstall_entries(parse_reg(reg_bytes(name)))}


# -- counts on the real exports ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "keys", "values"),
    [
        ("xp-Uninstall.reg", 536, 6449),
        ("10_russian-Uninstall.reg", 3, 27),
        ("mssql-Uninstall.reg", 8, 94),
        ("mssql_engine-Uninstall.reg", 3, 9),
    ],
)
def test_every_key_and_value_is_parsed(name: str, keys: int, values: int) -> None:
    reg = parse_reg_typed(reg_bytes(name))
    assert len(reg) == keys
    assert sum(len(v) for v in reg.values()) == values


def test_xp_programs_and_features_counts() -> None:
    # 534 entries: the root Uninstall key and {0001B4FD-...}\CustomMessages are not entries.
    assert kinds("xp-Uninstall.reg") == Counter(
        {
            PROGRAM: 62,  # 35 with an UninstallString + 27 Windows Installer products
            UPDATE: 298,
            HIDDEN_NO_NAME: 116,
            SYSTEM_COMPONENT: 57,
            HIDDEN_NO_UNINSTALL: 1,  # KB892130, WGA validation tool, no UninstallString
        }
    )
    entries = uninstall_entries(parse_reg(reg_bytes("xp-Uninstall.reg")))
    assert len(entries) == 534
    assert sum(e.visible for e in entries) == 62
    assert sum(e.is_update for e in entries) == 334
    assert sum(e.is_update for e in entries if e.name) == 331


def test_other_exports_counts() -> None:
    assert kinds("10_russian-Uninstall.reg") == Counter({PROGRAM: 2})
    # The SQL Server keys of these exports have no UninstallString: ARP would not list them.
    assert kinds("mssql-Uninstall.reg") == Counter({PROGRAM: 4, HIDDEN_NO_UNINSTALL: 3})
    assert kinds("mssql_engine-Uninstall.reg") == Counter({HIDDEN_NO_UNINSTALL: 2})


def test_visible_lists() -> None:
    assert [
        e.name for e in programs_and_features(parse_reg(reg_bytes("10_russian-Uninstall.reg")))
    ] == [
        "1C Предприятие 7.7",
        "КриптоПро CSP",
    ]
    assert [e.name for e in programs_and_features(parse_reg(reg_bytes("mssql-Uninstall.reg")))] == [
        "FusionInventory Agent 2.4.x-build-26 (x64 edition)",
        "Git version 2.12.2.2",
        "Mozilla Firefox 57.0.2 (fr)",
        "Strawberry Perl (64-bit)",
    ]


def test_xp_individual_rules() -> None:
    e = by_key("xp-Uninstall.reg")
    # ParentKeyName + ReleaseType "Security Update"
    assert (e["KB2079403"].kind, e["KB2079403"].is_update) == (UPDATE, True)
    assert e["KB2079403"].parent_key_name == "OperatingSystem"
    assert e["KB2079403"].install_date == "2010-08-16"
    # ReleaseType "Hotfix" without ParentKeyName
    assert e["KB969084"].kind == UPDATE and e["KB969084"].parent_key_name is None
    # ReleaseType written unexpanded as "%HOTFIX%", but a ParentKeyName makes it an update
    assert e["KB2564958"].kind == UPDATE
    # SystemComponent=1 wins over the update markers
    assert (e["KB950759"].kind, e["KB950759"].is_update) == (SYSTEM_COMPONENT, True)
    # An XP hotfix with neither ParentKeyName nor ReleaseType is listed as a program,
    # but is still recognised as an update by its KB key name
    assert (e["KB943729"].kind, e["KB943729"].is_update) == (PROGRAM, True)
    # ReleaseType "Software Update" is not one that ARP hides
    assert (e["KB968930"].kind, e["KB968930"].is_update) == (PROGRAM, True)
    # A REG_SZ SystemComponent="" is not the DWORD Windows reads
    office = e["Office14.PROPLUS"]
    assert (office.kind, office.system_component) == (PROGRAM, False)
    assert office.values["SystemComponent"] == ""
    assert len(office.values["ProductCodes"]) == 18
    assert office.values["ProductCodes"][0] == "{90140000-0011-0000-0000-0000000FF1CE}"
    # MSI product without UninstallString stays visible
    oo = e["{8B2E50B7-E372-4045-A5FC-3E6A30A6C871}"]
    assert (oo.kind, oo.name, oo.windows_installer) == (PROGRAM, "O&O DiskImage Workstation", True)
    assert oo.guid == "{8B2E50B7-E372-4045-A5FC-3E6A30A6C871}"
    assert e["KB892130"].kind == HIDDEN_NO_UNINSTALL
    assert e["Connection Manager"].kind == HIDDEN_NO_NAME
    assert e["CCleaner"].name == "CCleaner (remove only)" and e["CCleaner"].kind == PROGRAM
    # An empty DisplayName is no name
    key = "{90140000-0011-0000-0000-0000000FF1CE}_Office14.PROPLUS_{DC6A88F2-14D6-468F-9E68-CBF7779FEE00}"
    assert e[key].kind == HIDDEN_NO_NAME
    assert "CustomMessages" not in e


def test_value_types_and_decoding() -> None:
    reg = parse_reg_typed(reg_bytes("10_russian-Uninstall.reg"))
    key = UNINSTALL + r"\{50F91F80-D397-437C-B0C8-62128DE3B55E}"
    values = reg[key]
    assert values["Publisher"] == RegValue("REG_SZ", "Компания КриптоПро")
    assert values["HelpLink"] == RegValue("REG_EXPAND_SZ", "https://support.cryptopro.ru/")
    assert values["Version"] == RegValue("REG_DWORD", 0x05002EE0)
    assert values["InstallLocation"].value == "C:\\Program Files (x86)\\Crypto Pro\\CSP\\"
    assert reg[UNINSTALL][""] == RegValue("REG_SZ", "")
    entry = by_key("10_russian-Uninstall.reg")["{50F91F80-D397-437C-B0C8-62128DE3B55E}"]
    assert entry.install_date == "2021-07-24"
    assert entry.uninstall_string == "MsiExec.exe /I{50F91F80-D397-437C-B0C8-62128DE3B55E}"


# -- format variants -----------------------------------------------------------------------

V5_SAMPLE = (
    "Windows Registry Editor Version 5.00\r\n\r\n"
    "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\WPS]\r\n"
    '"DisplayName"="WPS Office (11.1)"\r\n'
    '"Quoted"="say \\"hi\\" to C:\\\\dir\\\\"\r\n'
    '"UninstallString"="\\"C:\\\\Program Files\\\\WPS\\\\uninst.exe\\" /S"\r\n'
    '"Multi"=hex(7):61,00,00,00,62,00,\\\r\n'
    "  00,00,00,00\r\n"
    '"Qword"=hex(b):01,00,00,00,01,00,00,00\r\n'
    '"Bin"=hex:de,ad,be,ef\r\n'
    '"Gone"="x"\r\n'
    '"Gone"=-\r\n'
    '"Lines"="one\r\ntwo"\r\n'
    "@=dword:0000000a\r\n"
    "\r\n"
    "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Dropped]\r\n"
    '"a"="b"\r\n'
    "[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Dropped]\r\n"
)

EXPECTED_V5 = {
    r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\WPS": {
        "DisplayName": "WPS Office (11.1)",
        "Quoted": 'say "hi" to C:\\dir\\',
        "UninstallString": '"C:\\Program Files\\WPS\\uninst.exe" /S',
        "Multi": ["a", "b"],
        "Qword": 0x100000001,
        "Bin": b"\xde\xad\xbe\xef",
        "Lines": "one\ntwo",
        "": 10,
    }
}


@pytest.mark.parametrize(
    "encoded",
    [
        b"\xff\xfe" + V5_SAMPLE.encode("utf-16-le"),
        b"\xef\xbb\xbf" + V5_SAMPLE.encode("utf-8"),
        V5_SAMPLE.encode("utf-8"),
        V5_SAMPLE.replace("\r\n", "\n").encode("utf-8"),
    ],
    ids=["utf16-bom", "utf8-bom", "utf8", "lf"],
)
def test_v5_encodings_and_value_syntax(encoded: bytes) -> None:
    assert parse_reg(encoded) == EXPECTED_V5


def test_regedit4_ansi_gbk() -> None:
    text = (
        "REGEDIT4\r\n\r\n"
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Kingsoft]\r\n"
        '"DisplayName"="金山办公软件"\r\n'
        '"UninstallString"="C:\\\\WPS\\\\uninst.exe"\r\n'
        # REGEDIT4 expands strings are ANSI bytes: "%ProgramFiles%\\金山" in GBK, NUL-ended
        '"Path"=hex(2):'
        + ",".join(f"{b:02x}" for b in "%ProgramFiles%\\金山".encode("gbk"))
        + ",00\r\n"
    )
    reg = parse_reg(text.encode("gbk"))
    values = reg[UNINSTALL + "\\Kingsoft"]
    assert values == {
        "DisplayName": "金山办公软件",
        "UninstallString": "C:\\WPS\\uninst.exe",
        "Path": "%ProgramFiles%\\金山",
    }
    assert [e.kind for e in uninstall_entries(reg)] == [PROGRAM]


def test_keys_are_case_insensitive_and_merged() -> None:
    text = (
        "Windows Registry Editor Version 5.00\n\n"
        "[HKEY_LOCAL_MACHINE\\Software\\A]\n"
        '"x"="1"\n\n'
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\a]\n"
        '"y"="2"\n'
    )
    assert parse_reg(text.encode()) == {"HKEY_LOCAL_MACHINE\\Software\\A": {"x": "1", "y": "2"}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a registry export"),
        (b"hello world\n", "not a registry export"),
        (b'REGEDIT4\n\n"a"="b"\n', "line 3: value outside of a key"),
        (b'REGEDIT4\n\n[HKEY_X]\n"a"=dword:zz\n', "line 4: bad dword"),
        (b'REGEDIT4\n\n[HKEY_X]\n"a"=hex:0g\n', "line 4: bad hex data"),
        (b"REGEDIT4\n\n[HKEY_X\n", "line 3: key line without closing"),
        (b'REGEDIT4\n\n[HKEY_X]\n"a"="open\n', "line 4: unterminated string value"),
        (b"REGEDIT4\n\n[HKEY_X]\nfoo\n", "line 4: cannot understand line"),
    ],
)
def test_bad_input_raises_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(RegParseError) as exc:
        parse_reg(data)
    assert message in str(exc.value)
