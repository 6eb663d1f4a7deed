"""Windows registry export (.reg) parser and the "Programs and Features" view of Uninstall keys.

Used twice, on purpose:

* by the server, to import ``regedit`` exports uploaded for machines without an agent;
* by the agent's Windows collector, which reads the live registry into the very same
  ``{key_path: {value_name: value}}`` shape and then calls :func:`uninstall_entries`, so that the
  rules deciding what a person sees in Programs and Features exist exactly once
  (:func:`classify_uninstall_entry`).

Values are returned as the Python types ``winreg`` uses: ``str`` for REG_SZ / REG_EXPAND_SZ
(unexpanded), ``list[str]`` for REG_MULTI_SZ, ``int`` for REG_DWORD / REG_QWORD, ``bytes`` for
REG_BINARY and anything else. The default value of a key has the name ``""`` (written ``@``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, NamedTuple

__all__ = [
    "RegParseError",
    "RegValue",
    "UninstallEntry",
    "classify_uninstall_entry",
    "decode_reg_text",
    "parse_reg",
    "parse_reg_typed",
    "uninstall_entries",
]

HEADER_V5 = "Windows Registry Editor Version 5.00"
HEADER_V4 = "REGEDIT4"

# Kinds of Uninstall entries. Only PROGRAM is shown in Programs and Features' main list.
PROGRAM = "program"
SYSTEM_COMPONENT = "system_component"
UPDATE = "update"
HIDDEN_NO_NAME = "hidden_no_name"
HIDDEN_NO_UNINSTALL = "hidden_no_uninstall"
KINDS = (PROGRAM, SYSTEM_COMPONENT, UPDATE, HIDDEN_NO_NAME, HIDDEN_NO_UNINSTALL)

# ReleaseType values that Add/Remove Programs treats as updates (compared case-insensitively,
# exports contain both "Hotfix" and "HotFix").
UPDATE_RELEASE_TYPES = frozenset({"update", "hotfix", "security update", "service pack"})

_GUID_RE = re.compile(
    r"^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$"
)
# Knowledge-base style names of Windows updates: KB2079403, KB917734_WMP10, Q815021.
_KB_KEY_RE = re.compile(r"^(KB|Q)\d{5,}", re.IGNORECASE)
_KB_NAME_RE = re.compile(r"\bKB\d{5,}\b", re.IGNORECASE)
_UNINSTALL_KEY_RE = re.compile(
    r"^(?P<base>.*\\Microsoft\\Windows\\CurrentVersion\\Uninstall)\\(?P<name>[^\\]+)$",
    re.IGNORECASE,
)
_HEX_TYPE_RE = re.compile(r"^hex(?:\(([0-9a-fA-F]+)\))?:", re.IGNORECASE)

REG_TYPE_NAMES = {
    0: "REG_NONE",
    1: "REG_SZ",
    2: "REG_EXPAND_SZ",
    3: "REG_BINARY",
    4: "REG_DWORD",
    5: "REG_DWORD_BIG_ENDIAN",
    6: "REG_LINK",
    7: "REG_MULTI_SZ",
    8: "REG_RESOURCE_LIST",
    9: "REG_FULL_RESOURCE_DESCRIPTOR",
    10: "REG_RESOURCE_REQUIREMENTS_LIST",
    11: "REG_QWORD",
}


class RegParseError(ValueError):
    """The data is not a registry export, or a line of it cannot be understood."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


class RegValue(NamedTuple):
    """A value with its registry type name (``REG_SZ``, ``REG_DWORD``, ...)."""

    type: str
    value: Any


RegDict = Dict[str, Dict[str, Any]]


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def decode_reg_text(data: bytes, encoding: str | None = None) -> str:
    """Decode the bytes of a .reg file.

    regedit writes version 5 files as UTF-16LE with a BOM; REGEDIT4 files and hand-made files
    are in the machine's ANSI code page (GBK on Chinese Windows), sometimes UTF-8.
    """
    if encoding:
        return data.decode(encoding)
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    # UTF-16 without BOM still shows the zero high bytes of the ASCII header.
    if len(data) >= 4 and data[1] == 0 and data[3] == 0:
        return data.decode("utf-16-le")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        # Chinese Windows' ANSI code page is 936 (GBK); gb18030 is its superset.
        return data.decode("gb18030")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _parse_quoted(text: str, pos: int) -> tuple[str, int] | None:
    """Parse a quoted string starting at ``text[pos] == '"'``; return (value, index after).

    Returns None when the closing quote is missing (the string continues on the next line).
    regedit escapes only backslash and double quote; any other backslash is kept as written.
    """
    out = []
    i = pos + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt in '\\"':
                out.append(nxt)
            else:
                out.append(c + nxt)
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    return None


def _hex_bytes(text: str, lineno: int) -> bytes:
    parts = [p.strip() for p in text.replace("\\", "").split(",")]
    parts = [p for p in parts if p]
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError as exc:
        raise RegParseError(f"bad hex data: {exc}", lineno) from None


def _decode_string_bytes(raw: bytes, utf16: bool) -> str:
    if utf16:
        if len(raw) % 2:
            raw = raw[:-1]
        return raw.decode("utf-16-le", errors="replace")
    return raw.decode("gb18030", errors="replace")


def _hex_value(type_id: int, raw: bytes, utf16: bool) -> RegValue:
    name = REG_TYPE_NAMES.get(type_id, f"REG_TYPE_{type_id}")
    if type_id in (1, 2):
        return RegValue(name, _decode_string_bytes(raw, utf16).split("\x00", 1)[0])
    if type_id == 7:
        strings = _decode_string_bytes(raw, utf16).split("\x00")
        while strings and strings[-1] == "":
            strings.pop()
        return RegValue(name, strings)
    if type_id == 4 and len(raw) == 4:
        return RegValue(name, int.from_bytes(raw, "little"))
    if type_id == 5 and len(raw) == 4:
        return RegValue(name, int.from_bytes(raw, "big"))
    if type_id == 11 and len(raw) == 8:
        return RegValue(name, int.from_bytes(raw, "little"))
    return RegValue(name, raw)


def _ends_inside_string(line: str) -> bool:
    """True when the trailing backslash belongs to a quoted string value (e.g. ``"C:\\\\"``)."""
    eq = _value_separator(line)
    if eq is None:
        return False
    rest = line[eq + 1 :].lstrip()
    return rest.startswith('"')


def _value_separator(line: str) -> int | None:
    """Index of the ``=`` after the value name, or None if the line has no value name."""
    if line.startswith("@"):
        rest = line[1:].lstrip()
        return line.index("=") if rest.startswith("=") else None
    if line.startswith('"'):
        parsed = _parse_quoted(line, 0)
        if parsed is None:
            return None
        _, end = parsed
        while end < len(line) and line[end] in " \t":
            end += 1
        if end < len(line) and line[end] == "=":
            return end
    return None


def parse_reg_typed(
    data: bytes | str, encoding: str | None = None
) -> dict[str, dict[str, RegValue]]:
    """Parse a .reg export into ``{key_path: {value_name: RegValue}}``, in file order.

    Key paths are kept as written (``HKEY_LOCAL_MACHINE\\SOFTWARE\\...``). Keys that appear more
    than once are merged (registry names are case-insensitive). ``[-KEY]`` removes a key and its
    subkeys and ``"name"=-`` removes a value, as importing the file would.
    Raises :class:`RegParseError` on anything that is not a registry export.
    """
    text = decode_reg_text(data, encoding) if isinstance(data, bytes) else data
    if text.startswith("\ufeff"):
        text = text[1:]
    stripped = text.lstrip()
    first = stripped.split("\n", 1)[0].strip()
    if first == HEADER_V5:
        utf16 = True
    elif first == HEADER_V4:
        # REGEDIT4 stores hex(2)/hex(7) strings in the ANSI code page, not UTF-16.
        utf16 = False
    else:
        raise RegParseError(
            f"not a registry export: first line must be '{HEADER_V5}' or '{HEADER_V4}'", 1
        )

    result: dict[str, dict[str, RegValue]] = {}
    canonical: dict[str, str] = {}  # lower-case path -> path as first seen
    current: dict[str, RegValue] | None = None
    seen_header = False

    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno = i + 1
        line = lines[i].rstrip()
        i += 1
        # Hex data wraps at about 80 columns with a trailing backslash and indented
        # continuation lines. A quoted string never ends in a lone backslash (it is written
        # "\\"), so a trailing backslash outside a string always means continuation.
        while line.endswith("\\") and not _ends_inside_string(line) and i < len(lines):
            line = line[:-1] + lines[i].strip()
            i += 1
        s = line.strip()
        if not s or s.startswith(";"):
            continue
        if not seen_header:
            seen_header = True  # the header line, already checked
            continue
        if s.startswith("["):
            if not s.endswith("]"):
                raise RegParseError("key line without closing ']'", lineno)
            path = s[1:-1].strip()
            if path.startswith("-"):
                _delete_key(result, canonical, path[1:].strip())
                current = None
                continue
            if not path:
                raise RegParseError("empty key name", lineno)
            low = path.lower()
            if low not in canonical:
                canonical[low] = path
                result[path] = {}
            current = result[canonical[low]]
            continue
        if current is None:
            raise RegParseError("value outside of a key", lineno)
        if s.startswith("@"):
            name = ""
            rest = s[1:].lstrip()
        elif s.startswith('"'):
            parsed = _parse_quoted(s, 0)
            if parsed is None:
                raise RegParseError("unterminated value name", lineno)
            name, end = parsed
            rest = s[end:].lstrip()
        else:
            raise RegParseError(f"cannot understand line: {s[:60]!r}", lineno)
        if not rest.startswith("="):
            raise RegParseError("expected '=' after value name", lineno)
        rest = rest[1:].lstrip()
        if rest == "-":
            current.pop(name, None)
            continue
        if rest.startswith('"'):
            parsed = _parse_quoted(rest, 0)
            # A REG_SZ holding a line break is written raw over several lines by regedit.
            while parsed is None and i < len(lines):
                rest = rest + "\n" + lines[i].rstrip("\r")
                i += 1
                parsed = _parse_quoted(rest, 0)
            if parsed is None:
                raise RegParseError("unterminated string value", lineno)
            current[name] = RegValue("REG_SZ", parsed[0])
            continue
        low = rest.lower()
        if low.startswith("dword:"):
            digits = rest[6:].strip()
            try:
                current[name] = RegValue("REG_DWORD", int(digits, 16))
            except ValueError:
                raise RegParseError(f"bad dword {digits!r}", lineno) from None
            continue
        m = _HEX_TYPE_RE.match(rest)
        if m:
            type_id = int(m.group(1), 16) if m.group(1) else 3
            raw = _hex_bytes(rest[m.end() :], lineno)
            current[name] = _hex_value(type_id, raw, utf16)
            continue
        raise RegParseError(f"unknown value data {rest[:40]!r}", lineno)
    return result


def _delete_key(result: dict[str, Any], canonical: dict[str, str], path: str) -> None:
    low = path.lower()
    for key_low in [k for k in canonical if k == low or k.startswith(low + "\\")]:
        result.pop(canonical.pop(key_low), None)


def parse_reg(data: bytes | str, encoding: str | None = None) -> RegDict:
    """Parse a .reg export into ``{key_path: {value_name: value}}`` (types as ``winreg``)."""
    return {
        key: {name: v.value for name, v in values.items()}
        for key, values in parse_reg_typed(data, encoding).items()
    }


# --------------------------------------------------------------------------------------------
# Programs and Features
# --------------------------------------------------------------------------------------------


@dataclass
class UninstallEntry:
    """One subkey of an Uninstall key, classified as Programs and Features would show it."""

    key_path: str
    key_name: str
    kind: str
    name: str | None = None
    version: str | None = None
    publisher: str | None = None
    install_date: str | None = None  # ISO yyyy-mm-dd when the value is a valid date
    install_location: str | None = None
    uninstall_string: str | None = None
    comments: str | None = None
    url_info_about: str | None = None
    help_link: str | None = None
    estimated_size_kb: int | None = None
    release_type: str | None = None
    parent_key_name: str | None = None
    parent_display_name: str | None = None
    windows_installer: bool = False
    system_component: bool = False
    no_remove: bool = False
    guid: str | None = None
    # Which registry location the entry came from.
    scope: str = "machine"  # machine | user
    user_sid: str | None = None
    view: str | None = None  # "32" for WOW6432Node, "64"/None otherwise
    # True for anything that is a patch of something else, even when Programs and Features
    # lists it (e.g. an XP hotfix key "KB943729" with neither ParentKeyName nor ReleaseType).
    is_update: bool = False
    values: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def visible(self) -> bool:
        """Shown in the main list of Programs and Features."""
        return self.kind == PROGRAM


def _str_value(values: dict[str, Any], name: str) -> str | None:
    """A string value with surrounding blanks removed; None when absent, empty or not text."""
    v = values.get(name)
    if isinstance(v, list):  # REG_MULTI_SZ written where a string is expected
        v = " ".join(v)
    if not isinstance(v, str):
        return None
    v = v.replace("\x00", "").strip()
    return v or None


def _dword_value(values: dict[str, Any], name: str) -> int | None:
    v = values.get(name)
    return v if isinstance(v, int) else None


def _install_date(raw: str | None) -> str | None:
    """InstallDate is written as yyyymmdd by MSI and most installers; keep it only if valid."""
    if not raw:
        return None
    digits = raw.strip()
    m = re.match(r"^(\d{4})(\d{2})(\d{2})$", digits) or re.match(
        r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$", digits
    )
    if not m:
        return None
    y, mo, d = (int(x) for x in m.groups())
    if not (1980 <= y <= 2100 and 1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return f"{y:04d}-{mo:02d}-{d:02d}"


def classify_uninstall_entry(key_name: str, values: dict[str, Any]) -> tuple[str, bool]:
    """Return ``(kind, is_update)`` for one Uninstall subkey, mirroring Programs and Features.

    This is the single place where visibility is decided; both the .reg import and the live
    Windows collector call it. Rules, in the order Windows applies them:
    """
    display_name = _str_value(values, "DisplayName")
    release_type = _str_value(values, "ReleaseType")
    parent_key = _str_value(values, "ParentKeyName")
    is_update = bool(
        parent_key
        or release_type
        or _KB_KEY_RE.match(key_name)
        or (display_name and _KB_NAME_RE.search(display_name))
    )
    # 1. Add/Remove Programs lists an entry only if it has a non-empty DisplayName; keys
    #    without one (IE40, DirectDrawEx, installer leftovers) never appear anywhere.
    if not display_name:
        return HIDDEN_NO_NAME, is_update
    # 2. SystemComponent is a DWORD; any non-zero value hides the entry from every view,
    #    including Installed Updates. A REG_SZ "SystemComponent" (seen in Office 2010's key)
    #    is not a DWORD, so Windows ignores it and the entry stays visible.
    if _dword_value(values, "SystemComponent"):
        return SYSTEM_COMPONENT, is_update
    # 3. Since XP SP2, entries with ParentKeyName are patches of their parent: they are
    #    listed under the parent only with "Show updates" (XP) or in "Installed Updates"
    #    (Vista and later), never in the programs list. ReleaseType Update / Hotfix /
    #    Security Update / Service Pack does the same for updates that name no parent.
    if parent_key or (release_type and release_type.lower() in UPDATE_RELEASE_TYPES):
        return UPDATE, True
    # 4. Windows Installer products (WindowsInstaller=1 on a key named by the ProductCode
    #    GUID) are removed through msiexec with the ProductCode, so ARP shows them even
    #    without an UninstallString.
    if _dword_value(values, "WindowsInstaller") and _GUID_RE.match(key_name):
        return PROGRAM, is_update
    # 5. Any other entry needs an UninstallString: without a command to run, Add/Remove
    #    Programs has nothing to offer and skips it (DisplayName and UninstallString are the
    #    two values every installer documentation calls required).
    if not _str_value(values, "UninstallString"):
        return HIDDEN_NO_UNINSTALL, is_update
    return PROGRAM, is_update


def _location(base_path: str) -> tuple[str, str | None, str | None]:
    """(scope, user SID, view) for the Uninstall key at ``base_path``."""
    parts = base_path.split("\\")
    root = parts[0].upper()
    view = "32" if any(p.lower() == "wow6432node" for p in parts) else None
    if root in ("HKEY_USERS", "HKU") and len(parts) > 1:
        return "user", parts[1], view
    if root in ("HKEY_CURRENT_USER", "HKCU"):
        return "user", None, view
    return "machine", None, view


def make_entry(key_path: str, values: dict[str, Any]) -> UninstallEntry:
    """Build the :class:`UninstallEntry` for the Uninstall subkey at ``key_path``."""
    m = _UNINSTALL_KEY_RE.match(key_path)
    base, key_name = (m.group("base"), m.group("name")) if m else ("", key_path)
    kind, is_update = classify_uninstall_entry(key_name, values)
    scope, sid, view = _location(base)
    size = _dword_value(values, "EstimatedSize")
    guid_match = re.search(r"\{[0-9A-Fa-f-]{36}\}", key_name)
    return UninstallEntry(
        key_path=key_path,
        key_name=key_name,
        kind=kind,
        name=_str_value(values, "DisplayName"),
        version=_str_value(values, "DisplayVersion"),
        publisher=_str_value(values, "Publisher"),
        install_date=_install_date(_str_value(values, "InstallDate")),
        install_location=_str_value(values, "InstallLocation"),
        uninstall_string=_str_value(values, "UninstallString"),
        comments=_str_value(values, "Comments"),
        url_info_about=_str_value(values, "URLInfoAbout"),
        help_link=_str_value(values, "HelpLink"),
        estimated_size_kb=size,
        release_type=_str_value(values, "ReleaseType"),
        parent_key_name=_str_value(values, "ParentKeyName"),
        parent_display_name=_str_value(values, "ParentDisplayName"),
        windows_installer=bool(_dword_value(values, "WindowsInstaller")),
        system_component=bool(_dword_value(values, "SystemComponent")),
        no_remove=bool(_dword_value(values, "NoRemove")),
        guid=guid_match.group(0).upper() if guid_match else None,
        scope=scope,
        user_sid=sid,
        view=view,
        is_update=is_update,
        values=dict(values),
    )


def uninstall_entries(reg: RegDict) -> list[UninstallEntry]:
    """Every direct subkey of any ``...\\CurrentVersion\\Uninstall`` key in ``reg``, classified.

    Works on a whole-registry export too: HKLM, its WOW6432Node view, HKEY_USERS\\<SID> and
    HKEY_CURRENT_USER Uninstall keys are all recognised. Deeper keys (an installer's private
    ``...\\{GUID}\\CustomMessages``) are not entries and are skipped.
    """
    return [
        make_entry(path, values) for path, values in reg.items() if _UNINSTALL_KEY_RE.match(path)
    ]


def programs_and_features(reg: RegDict) -> list[UninstallEntry]:
    """Only the entries a person sees in the programs list, sorted by name like the list."""
    return sorted(
        (e for e in uninstall_entries(reg) if e.visible), key=lambda e: (e.name or "").lower()
    )
