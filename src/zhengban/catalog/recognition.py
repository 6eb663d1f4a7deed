"""Recognition engine: raw install records → catalog products.

Pure Python (no Django) so that benchmarks and the catalog authors' evaluation run anywhere.
The Django side (``services.get_recogniser``) builds a :class:`Recogniser` from the database
rules; ``Recogniser.from_files`` builds one from catalog JSON files.

Speed strategy (a province has millions of installs but only some hundred thousand distinct
raw strings):
- results are memoised per raw ``(name, publisher, version, platform)`` tuple, so a seen key
  costs one dict lookup;
- name matching is memoised separately per ``(name, publisher, platform)``: new versions of a
  known program only pay for version extraction;
- swid / exact / package / normalized rules are dict lookups; pattern rules are pre-filtered
  by a literal that every match must contain (found by parsing the regex), indexed by its
  first two characters, so only the few patterns whose literal occurs in the name are run.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .document import (
    DEFAULT_PRIORITY,
    PATTERN_FLAGS,
    RULE_TYPES,
    compile_pattern,
    load_catalog,
)

try:  # Python 3.11+
    import re._parser as _sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse  # type: ignore[no-redef]

# Longer names are truncated before normalisation: real DisplayNames stay far below this,
# and the cap bounds the cost of hostile input (a 10 kB name).
MAX_NAME_CHARS = 512
MAX_VERSION_CHARS = 64
DEFAULT_MAX_MEMO = 1_000_000

FIELDS = (
    "family",
    "product",
    "edition",
    "version",
    "category",
    "license_model",
    "domestic",
    "rule",
)


class Recognition(NamedTuple):
    """The outcome for one raw record; ``family`` is None when nothing matched.

    A named tuple rather than a frozen dataclass: it is built once per distinct key, and a
    tuple is built in C where a frozen dataclass pays one object.__setattr__ per field.
    """

    family: str | None
    product: str | None
    edition: str | None
    version: str | None
    category: str | None
    license_model: str | None
    domestic: bool | None
    rule: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "product": self.product,
            "edition": self.edition,
            "version": self.version,
            "category": self.category,
            "license_model": self.license_model,
            "domestic": self.domestic,
            "rule": self.rule,
        }

    @property
    def recognised(self) -> bool:
        return self.family is not None


UNRECOGNISED = Recognition(None, None, None, None, None, None, None, None)

# --------------------------------------------------------------------------- normalisation

# One str.translate table does all character clean-up in a single C-level pass:
# - format characters (zero-width, bidi, BOM), lone surrogates (what invalid UTF-8 becomes under
#   surrogateescape) and trademark signs carry no meaning in a product name: dropped;
# - white-space controls separate words: become a space;
# - any other control character is dropped, so that "Win\x00RAR" still reads "winrar".
_CLEAN_TABLE: dict[int, str | None] = {}
for _lo, _hi in ((0x00, 0x08), (0x0E, 0x1B), (0x7F, 0x84), (0x86, 0x9F)):
    _CLEAN_TABLE.update(dict.fromkeys(range(_lo, _hi + 1)))
for _lo, _hi in ((0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0xD800, 0xDFFF)):
    _CLEAN_TABLE.update(dict.fromkeys(range(_lo, _hi + 1)))
_CLEAN_TABLE.update(dict.fromkeys(map(ord, "\u00ad\ufeff®©™℠")))
_CLEAN_TABLE.update(dict.fromkeys(map(ord, "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029"), " "))
del _lo, _hi
# str.translate looks every character up in the table: for the usual name without any such
# character, one regex scan over a character class is several times cheaper.
_DIRTY_RE = re.compile(
    "["
    + "".join(re.escape(chr(c)) for c in sorted(_CLEAN_TABLE) if not 0xD800 <= c <= 0xDFFF)
    + "\ud800-\udfff]"
)


def _clean_chars(value: str) -> str:
    return value.translate(_CLEAN_TABLE) if _DIRTY_RE.search(value) else value


def clean_text(value: str) -> str:
    """The *clean* form: NFKC, lower case, no control characters, white space collapsed."""
    if len(value) > MAX_NAME_CHARS:
        value = value[:MAX_NAME_CHARS]
    if not value.isascii():
        value = unicodedata.normalize("NFKC", _clean_chars(value))
        if not value.isprintable():  # NFKC can in principle produce a control character
            value = _clean_chars(value)
    elif not value.isprintable():
        value = _clean_chars(value)
    return " ".join(value.lower().split())


_BRACKETS_RE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|【[^【】]*】|〔[^〔〕]*〕")
_A = r"(?<![a-z0-9.])"  # start of an ASCII token, also right after CJK text
_Z = r"(?![a-z0-9])"
# One look-behind for all ASCII-token alternatives: sre then tests it once per position
# instead of once per alternative (twice as fast). No two alternatives can match at the same
# position, so their order does not matter.
_NOISE_RE = re.compile(
    _A
    + "(?:"
    + "|".join(
        [
            # version-like tokens: 1.2, v7.0, 11.1.0.11294, 5.6.6-2build1
            r"v?\d+(?:\.\d+)+(?:[-+~][0-9a-z.+~-]*)?" + _Z,
            r"v\d+" + _Z,
            r"(?:build|rev|release|r)\s*\d+" + _Z,
            # years
            r"(?:19|20)\d\d(?!\d)",
            # bitness
            r"(?:x64|x86|x86_64|amd64|arm64|win64|win32|ia32|i386|(?:64|32)\s*-?\s*bits?)"
            + r"(?:\s*edition)?"
            + _Z,
            # language tags
            r"(?:zh|en|ja|ko|de|fr|es|ru|it|pt)[-_](?:cn|tw|hk|sg|us|gb|jp|kr|de|fr|es|ru|it|br|pt)"
            + _Z,
            r"(?:chinese\s*\(?(?:simplified|traditional)\)?|(?:simplified|traditional)\s*chinese"
            + r"|english|chs|cht|mui)"
            + _Z,
        ]
    )
    + ")"
    + r"|(?:64|32)\s*位"
    + r"|(?:简体|繁体|繁體)?中文版|简体中文|繁体中文|繁體中文|英文版|多语言版"
)
_EDGE_PUNCT = " -_:;,./|·—–~+"


# Every match of _NOISE_RE contains a digit or a match of this gate (whose branches start with
# literals, so sre scans for it fast): names without either skip the slow _NOISE_RE.
_ANY_DIGIT_RE = re.compile(r"[0-9]")
_NOISE_GATE_RE = re.compile(
    r"(?:zh|en|ja|ko|de|fr|es|ru|it|pt)[-_]|chinese|simplified|traditional|english|chs|cht|mui"
    r"|中文版|简体中文|繁体中文|繁體中文|英文版|多语言版"
)


def normalize_name(clean: str) -> str:
    """The *normalized* form of an already clean name (see docs/catalog-format.md)."""
    if "(" in clean or "[" in clean or "【" in clean or "〔" in clean:
        clean = _BRACKETS_RE.sub(" ", _BRACKETS_RE.sub(" ", clean))
    if _ANY_DIGIT_RE.search(clean) or _NOISE_GATE_RE.search(clean):
        text = _NOISE_RE.sub(" ", clean)
    else:
        text = clean
    text = " ".join(text.split()).strip(_EDGE_PUNCT)
    # A dash left dangling in the middle ("adobe reader xi - ") after removals.
    text = text.replace(" - ", " ").replace(" -", " ").strip(_EDGE_PUNCT)
    return " ".join(text.split())


_PUB_EMAIL_RE = re.compile(r"<[^>]*>|\([^()]*\)")
_PUB_SUFFIX_RE = re.compile(
    r"(?:,?\s*(?:co\.?,?\s*ltd\.?|ltd\.?|limited|inc\.?|incorporated|corporation|corp\.?|llc|gmbh"
    r"|s\.r\.o\.?|ag|s\.a\.?|b\.v\.?|plc|company|co\.?))+\s*$"
)
_PUB_ZH_SUFFIX_RE = re.compile(r"(?:股份有限公司|有限责任公司|有限公司|集团|公司)$")


def publisher_key(clean_publisher: str) -> str:
    """Lookup key for publisher aliases: no e-mail, brackets, legal-form suffix or spaces."""
    text = _PUB_EMAIL_RE.sub(" ", clean_publisher).strip(" ,.")
    text = _PUB_SUFFIX_RE.sub("", text).strip(" ,.")
    text = _PUB_ZH_SUFFIX_RE.sub("", text)
    return re.sub(r"[\s,.]+", "", text)


_CJK_RE = re.compile(r"[\u3400-\u9fff]")

# ------------------------------------------------------------------------------- versions

_DOTTED_RE = re.compile(r"\d+(?:\.\d+)+")
_YEAR_RE = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
_PLAIN_VERSION_RE = re.compile(r"^\d+(?:\.\d+)*$")
_EPOCH_RE = re.compile(r"^\d+:")
_UPSTREAM_END_RE = re.compile(r"[+~]")
_DIGITS_RE = re.compile(r"\d+")


def _sanitize(value: Any, limit: int) -> str:
    if type(value) is str:  # the usual case first: one check instead of four
        if len(value) > limit:
            value = value[:limit]
        if not value.isascii() or not value.isprintable():
            value = _clean_chars(value)
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    elif not isinstance(value, str):
        return ""
    if len(value) > limit:
        value = value[:limit]
    if not value.isascii() or not value.isprintable():
        value = _clean_chars(value)
    return value.strip()


def extract_version(raw_version: Any, clean_name: str, platform: str) -> str | None:
    """Version of the install: from the version field, else from the name."""
    version = _sanitize(raw_version, MAX_VERSION_CHARS)
    if version:
        if _PLAIN_VERSION_RE.match(version):
            return version
        if platform == "linux":
            # Debian/RPM: drop the epoch, the packaging revision and +dfsg/~ubuntu suffixes
            # to get the upstream version.
            version = _EPOCH_RE.sub("", version)
            if "-" in version:
                version = version.rsplit("-", 1)[0]
            version = _UPSTREAM_END_RE.split(version, maxsplit=1)[0] or version
            return version
        match = _DOTTED_RE.search(version)
        return match.group(0) if match else version
    match = _DOTTED_RE.search(clean_name)
    if match:
        return match.group(0)
    match = _YEAR_RE.search(clean_name)
    return match.group(0) if match else None


def version_tuple(version: str | None) -> tuple[int, ...]:
    if not version:
        return ()
    return tuple(map(int, _DIGITS_RE.findall(version)[:8]))


_EDITIONS = {
    "professional plus": "Professional Plus",
    "专业增强版": "Professional Plus",
    "home and student": "Home and Student",
    "家庭和学生版": "Home and Student",
    "home and business": "Home and Business",
    "小型企业版": "Small Business",
    "small business": "Small Business",
    "professional": "Professional",
    "pro": "Professional",
    "专业版": "Professional",
    "enterprise": "Enterprise",
    "企业版": "Enterprise",
    "standard": "Standard",
    "标准版": "Standard",
    "ultimate": "Ultimate",
    "旗舰版": "Ultimate",
    "home": "Home",
    "家庭版": "Home",
    "家庭普通版": "Home Basic",
    "家庭高级版": "Home Premium",
    "personal": "Personal",
    "个人版": "Personal",
    "express": "Express",
    "community": "Community",
    "社区版": "Community",
    "education": "Education",
    "教育版": "Education",
    "ltsc": "LTSC",
    "ltsb": "LTSB",
    "developer": "Developer",
    "开发版": "Developer",
    "datacenter": "Datacenter",
    "数据中心版": "Datacenter",
}
_EDITION_RE = re.compile(
    "|".join(
        (_A + re.escape(k) + _Z) if k.isascii() else re.escape(k)
        for k in sorted(_EDITIONS, key=len, reverse=True)
    )
)


# sre cannot skip ahead on an alternation whose branches start with a look-behind, so
# _EDITION_RE tries every branch at every position. This gate (bare literals: sre skips to
# their first characters) finds every name _EDITION_RE can match, and few others.
_EDITION_GATE = re.compile("|".join(re.escape(k) for k in sorted(_EDITIONS, key=len, reverse=True)))


def extract_edition(clean_name: str) -> str | None:
    if _EDITION_GATE.search(clean_name) is None:
        return None
    match = _EDITION_RE.search(clean_name)
    return _EDITIONS[match.group(0)] if match else None


# ------------------------------------------------------------------------- family derivation

_SLUG_RE = re.compile(r"[\W_]+")
_PKG_PREFIXES = ("python3-", "python-", "fonts-", "gir1.2-", "lib")
_PKG_SUFFIX_RE = re.compile(
    r"-(?:dev|common|data|bin|doc|docs|dbg|dbgsym|utils|tools|l10n(?:-[a-z-]+)?|locales?|i18n"
    r"|runtime|plugins?|modules?|core|base|extra|extras|all|perl|java|cil|gtk3?|qt5?)$"
)
_PKG_SONAME_RE = re.compile(r"[-._]?\d+(?:[-._]\d+)*[a-z]?(?:t64|c2|v5|gf)?$")


def slugify(text: str) -> str:
    return _SLUG_RE.sub("-", text.lower()).strip("-")[:80]


def package_family_base(package: str) -> str:
    """Guess an upstream project from a dpkg/rpm binary package name.

    libgtk-3-0 → gtk, libssl1.1 → ssl, python3-requests → requests, fonts-noto-cjk →
    noto-cjk, foo-common → foo: all binary packages built from one source land in one family.
    """
    name = package.split(":", 1)[0]
    original = name
    for prefix in _PKG_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix) + 1:
            name = name[len(prefix) :]
            break
    for _ in range(3):
        stripped = _PKG_SUFFIX_RE.sub("", name) if "-" in name else name
        # A so-version needs a digit among the last four characters ("1.1", "3-0", "5t64"):
        # checking that first spares the end-anchored regex a try at every position.
        if _ANY_DIGIT_RE.search(stripped, len(stripped) - 4):
            stripped = _PKG_SONAME_RE.sub("", stripped)
        if stripped == name or len(stripped) < 2:
            break
        name = stripped
    return name if len(name) >= 2 else original


# ------------------------------------------------------------------------- regex literals


def _alternatives(seq: Any) -> list[set[str]]:
    """Sets of literals such that every match of ``seq`` contains one literal of each set."""
    options: list[set[str]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            options.append({"".join(run)})
            run.clear()

    for op, av in seq:
        name = str(op)
        if name == "LITERAL":
            run.append(chr(av).lower())
        elif name == "AT":
            continue  # zero width: does not break a run of literals
        elif name == "SUBPATTERN":
            if _zero_width(av[-1]):
                continue  # zero width, does not break a run either
            flush()
            options.extend(_alternatives(av[-1]))
        elif name == "BRANCH":
            if _zero_width([(op, av)]):
                continue  # a rewritten \b is an inlined branch of look-arounds: zero width
            flush()
            union: set[str] = set()
            for alt in av[1]:
                alt_options = _alternatives(alt)
                if not alt_options:
                    union = set()
                    break
                union |= _best(alt_options)
            if union:
                options.append(union)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            flush()
            if av[0] >= 1:
                options.extend(_alternatives(av[2]))
        else:
            flush()
    flush()
    return options


def _zero_width(seq: Any) -> bool:
    r"""True for a sequence of look-arounds and anchors only (e.g. a rewritten ``\b``)."""
    for op, av in seq:
        name = str(op)
        if name == "BRANCH":
            if not all(_zero_width(alt) for alt in av[1]):
                return False
        elif name == "SUBPATTERN":
            if not _zero_width(av[-1]):
                return False
        elif name not in _ZERO_WIDTH:
            return False
    return True


def _best(options: list[set[str]]) -> set[str]:
    return max(options, key=lambda s: (min(len(x) for x in s), -len(s)))


def required_literal_options(pattern: str) -> list[set[str]]:
    """Candidate literal sets for prefiltering a pattern (empty when none can be proven)."""
    try:
        parsed = _sre_parse.parse(pattern, PATTERN_FLAGS)
    except Exception:  # noqa: BLE001 - an unparsable pattern just gets no prefilter
        return []
    try:
        opts = _alternatives(parsed)
    except Exception:  # noqa: BLE001 - unknown opcode layouts across Python versions
        return []
    return [s for s in opts if s and min(len(x) for x in s) >= 2]


_MAX_PREFIXES = 64
_ZERO_WIDTH = ("AT", "ASSERT", "ASSERT_NOT")


class _TooMany(Exception):
    pass


def _class_chars(items: Any) -> list[str] | None:
    """The characters a small positive character class matches in a clean name, else None."""
    chars: list[str] = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            chars.append(chr(av).lower())
        elif name == "RANGE" and av[1] - av[0] < 8:
            chars.extend(chr(c).lower() for c in range(av[0], av[1] + 1))
        elif name == "CATEGORY" and str(av) == "CATEGORY_SPACE":
            chars.append(" ")  # white space in a clean name is always exactly one space
        else:
            return None
    return chars


def _prefixes(seq: Any, open_: set[str]) -> tuple[set[str], set[str]]:
    """Extend the candidate prefixes ``open_`` through ``seq``.

    Returns (open, closed): prefixes that the rest of the pattern may still extend, and
    prefixes at which the literal knowledge stops. Every match starts with one of them.
    """
    closed: set[str] = set()
    for op, av in seq:
        if not open_:
            break
        name = str(op)
        if name == "LITERAL":
            ch = chr(av).lower()
            open_ = {p + ch for p in open_}
        elif name in _ZERO_WIDTH:
            continue
        elif name == "IN" and (chars := _class_chars(av)) is not None:
            open_ = {p + ch for p in open_ for ch in chars}
        elif name == "SUBPATTERN":
            open_, more = _prefixes(av[-1], open_)
            closed |= more
        elif name == "BRANCH":
            new_open: set[str] = set()
            for alt in av[1]:
                alt_open, more = _prefixes(alt, open_)
                new_open |= alt_open
                closed |= more
            open_ = new_open
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and av[1] == 1:
            once, more = _prefixes(av[2], open_)
            closed |= more
            open_ = (once | open_) if av[0] == 0 else once
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and av[0] >= 1:
            once, more = _prefixes(av[2], open_)  # at least one copy, then unknown
            closed |= once | more
            open_ = set()
        else:
            closed |= open_
            open_ = set()
        if len(open_) + len(closed) > _MAX_PREFIXES:
            raise _TooMany
    return open_, closed


def _anchored(seq: Any) -> set[str] | None:
    items = list(seq)
    if len(items) == 1 and str(items[0][0]) == "BRANCH":
        found: set[str] = set()
        for alt in items[0][1][1]:
            alt_prefixes = _anchored(alt)
            if alt_prefixes is None:
                return None
            found |= alt_prefixes
        return found
    for i, (op, av) in enumerate(items):
        if str(op) == "AT" and str(av) in ("AT_BEGINNING", "AT_BEGINNING_STRING"):
            open_, closed = _prefixes(items[i + 1 :], {""})
            found = open_ | closed
            return None if (not found or "" in found) else found
        if str(op) not in ("ASSERT", "ASSERT_NOT"):
            return None
    return None


def anchored_prefixes(pattern: str) -> set[str] | None:
    """For a pattern that can only match at the start of the name, the set of strings one of
    which every match starts with (e.g. ``^(microsoft )?windows`` → {"microsoft windows",
    "windows"}); None when the pattern is not anchored or the set would be too large.
    """
    try:
        return _anchored(_sre_parse.parse(pattern, PATTERN_FLAGS))
    except _TooMany:
        return None
    except Exception:  # noqa: BLE001 - unknown opcode layouts across Python versions
        return None


def _glob_to_regex(glob: str) -> str:
    return "^" + ".*".join(re.escape(part) for part in glob.lower().split("*")) + "$"


# --------------------------------------------------------------------------------- engine

_TYPE_RANK = {t: i for i, t in enumerate(RULE_TYPES)}


@dataclass(slots=True, eq=False)  # identity hash: rules go into sets
class _Rule:
    id: str
    type: str
    rank: tuple
    regex: Any  # compiled pattern for pattern rules and package globs, else None
    platform: str | None
    publisher: Any  # compiled publisher regex or None
    min_version: tuple[int, ...] | None
    max_version: tuple[int, ...] | None
    family_from: str | None
    family_prefix: str
    family_strip: Any
    domestic_from: str | None
    product: dict[str, Any]


class Recogniser:
    """Compiled catalog plus memo. Build once; share across threads (dict ops only)."""

    def __init__(self, catalog: Mapping[str, Any], *, max_memo: int = DEFAULT_MAX_MEMO) -> None:
        self.max_memo = max_memo
        self._memo: dict[tuple, Recognition] = {}
        # (sanitised name, clean publisher, platform) → (clean name, matching rules each with
        # its result fields minus the version): a new version of a known program only pays for
        # version extraction.
        self._name_memo: dict[tuple, tuple[str, tuple[tuple[_Rule, tuple], ...]]] = {}
        # Raw publisher → clean publisher, and clean publisher → domestic flag: an inventory
        # has few distinct publishers, so these are computed once each.
        self._pub_memo: dict[Any, str] = {}
        self._pub_flag_memo: dict[str, bool] = {}
        self._interned: dict[tuple, Recognition] = {}
        self.products: dict[str, dict[str, Any]] = {p["key"]: p for p in catalog["products"]}
        self._pub_domestic: dict[str, bool] = {}
        for pub in catalog["publishers"]:
            for label in [pub["name"], pub.get("name_zh") or "", pub["key"], *pub["aliases"]]:
                if label:
                    key = publisher_key(clean_text(label))
                    if key:
                        self._pub_domestic.setdefault(key, bool(pub["domestic"]))
        self._swid: dict[str, list[_Rule]] = {}
        self._exact: dict[str, list[_Rule]] = {}
        self._package: dict[str, list[_Rule]] = {}
        self._normalized: dict[str, list[_Rule]] = {}
        self._norm_always = False  # a normalized key with no usable token: always normalise
        self._always: list[_Rule] = []  # patterns without a usable literal: always tried
        # Pattern prefilter (see _match_name): patterns anchored with ^ are indexed by the
        # strings every match starts with, in a trie walked once from the start of the name;
        # the others by a literal every match contains, in a trie walked from each position.
        # Literals that start with a non-ASCII character are left out of _ascii_trie, which
        # is the one walked for the (most common) pure-ASCII names.
        self._prefix_trie: dict[str, Any] = {}
        self._trie: dict[str, Any] = {}
        self._ascii_trie: dict[str, Any] = {}
        self.rule_count = 0
        self._compile(catalog)

    @classmethod
    def from_files(cls, *paths: Path | str, **kwargs: Any) -> Recogniser:
        return cls(load_catalog(*paths), **kwargs)

    # -------------------------------------------------------------- compile

    def _compile(self, catalog: Mapping[str, Any]) -> None:
        order = 0
        pattern_rules: list[tuple[_Rule, list[set[str]]]] = []
        for product in catalog["products"]:
            rules = list(product.get("rules", []))
            rules += [
                {"type": "swid", "name": tag, "id": f"{product['key']}#swid:{tag}"}
                for tag in product.get("swid", [])
            ]
            for spec in rules:
                order += 1
                self.rule_count += 1
                rule = self._make_rule(spec, product, order)
                name = spec["name"]
                if rule.type == "swid":
                    self._swid.setdefault(name.strip(), []).append(rule)
                elif rule.type == "exact":
                    self._exact.setdefault(" ".join(name.split()).lower(), []).append(rule)
                elif rule.type == "normalized":
                    key = normalize_name(clean_text(name))
                    self._normalized.setdefault(key, []).append(rule)
                elif rule.type == "package" and "*" not in name:
                    self._package.setdefault(name.strip().lower(), []).append(rule)
                else:
                    source = rule.regex.pattern
                    prefixes = anchored_prefixes(source)
                    if prefixes:
                        for prefix in prefixes:
                            _trie_add(self._prefix_trie, prefix, rule)
                    else:
                        pattern_rules.append((rule, required_literal_options(source)))
        # Choose, per pattern, the literal set whose literals are rarest across all patterns,
        # so that a common word ("microsoft ") does not wake up hundreds of patterns.
        freq: dict[str, int] = {}
        for _, options in pattern_rules:
            for lit in {lit for s in options for lit in s}:
                freq[lit] = freq.get(lit, 0) + 1
        for rule, options in pattern_rules:
            if not options:
                self._always.append(rule)
                continue
            best = min(
                options,
                key=lambda s: (max(freq[x] for x in s), -min(len(x) for x in s), len(s)),
            )
            for lit in best:
                self._add_literal(lit, rule)
        # A normalized rule can only match a name containing each token of its key: index
        # the longest token so that normalisation runs only for names that may match.
        for key in self._normalized:
            tokens = [t.strip(_EDGE_PUNCT) for t in key.split()]
            token = max(tokens, key=len, default="")
            if len(token) >= 2:
                self._add_literal(token, _NORMALIZED_MARK)
            else:
                self._norm_always = True
        self._always.sort(key=_rank)
        _freeze(self._prefix_trie)
        _freeze(self._trie)
        _freeze(self._ascii_trie)
        # Walked as radix trees (runs of single-child nodes merged into one edge checked with
        # str.startswith); the literal tries are entered through their first two characters
        # at once: most positions of a name start no literal, one slice + lookup rejects them.
        self._prefix_radix = _radix(self._prefix_trie)
        self._root2 = _two_level(self._trie)
        self._ascii_root2 = _two_level(self._ascii_trie)

    def _add_literal(self, literal: str, rule: _Rule) -> None:
        if len(literal) < 2:  # the two-level trie entry needs two characters
            if rule is _NORMALIZED_MARK:
                self._norm_always = True
            else:
                self._always.append(rule)
            return
        _trie_add(self._trie, literal, rule)
        if literal[0].isascii():
            _trie_add(self._ascii_trie, literal, rule)

    def _make_rule(self, spec: Mapping[str, Any], product: dict[str, Any], order: int) -> _Rule:
        rtype = spec["type"]
        priority = spec.get("priority", DEFAULT_PRIORITY)
        regex = None
        specificity = 0
        if rtype == "pattern":
            regex = compile_pattern(spec["name"])
            specificity = len(spec["name"])
        elif rtype == "package" and "*" in spec["name"]:
            regex = re.compile(_glob_to_regex(spec["name"].strip()))
            specificity = len(spec["name"].replace("*", ""))
        platform = spec.get("platform")
        if rtype == "package" and platform is None:
            platform = "linux"
        publisher = spec.get("publisher")
        strip = spec.get("family_strip")
        return _Rule(
            id=spec.get("id") or f"{product['key']}#{order}",
            type=rtype,
            # A database-built catalog passes its global rule position; files use load order.
            rank=(-priority, _TYPE_RANK[rtype], -specificity, spec.get("position", order)),
            regex=regex,
            platform=platform,
            publisher=compile_pattern(publisher) if publisher else None,
            min_version=version_tuple(spec["min_version"]) if spec.get("min_version") else None,
            max_version=version_tuple(spec["max_version"]) if spec.get("max_version") else None,
            family_from=spec.get("family_from"),
            family_prefix=spec.get("family_prefix", ""),
            family_strip=compile_pattern(strip) if strip else None,
            domestic_from=spec.get("domestic_from"),
            product=product,
        )

    # -------------------------------------------------------------- recognise

    def recognise(
        self,
        name: Any,
        publisher: Any = None,
        version: Any = None,
        platform: Any = None,
        swid: Any = None,
    ) -> Recognition:
        """Recognise one raw record. Never raises on odd input: it gives a null family."""
        if swid is not None:  # a SWID tag is not part of the memo key
            return self._recognise_new(name, publisher, version, platform, swid)
        key = (name, publisher, version, platform)
        try:
            return self._memo[key]  # the hot path: a subscript beats dict.get
        except KeyError:
            pass
        except TypeError:  # unhashable input (a list as name): treat as malformed
            return UNRECOGNISED
        return self._store(key, self._recognise_new(name, publisher, version, platform, None))

    def _store(self, key: tuple, result: Recognition) -> Recognition:
        if len(self._memo) >= self.max_memo:
            # Clearing everything is crude but O(1) per insert; distinct keys refill fast.
            self._memo.clear()
            self._name_memo.clear()
        self._memo[key] = result
        return result

    def recognise_record(self, record: Any) -> Recognition:
        if not isinstance(record, Mapping):
            return UNRECOGNISED
        get = record.get
        return self.recognise(
            get("name"), get("publisher"), get("version"), get("platform"), get("swid")
        )

    def recognise_many(self, records: Iterable[Mapping[str, Any]]) -> list[Recognition]:
        memo = self._memo
        out = []
        append = out.append
        for rec in records:
            get = rec.get
            key = (get("name"), get("publisher"), get("version"), get("platform"))
            try:
                append(memo[key])
            except KeyError:
                if get("swid") is None:
                    append(self._store(key, self._recognise_new(*key, None)))
                else:
                    append(self.recognise_record(rec))
            except TypeError:
                append(self.recognise_record(rec))
        return out

    def clear_memo(self) -> None:
        self._memo.clear()
        self._name_memo.clear()

    @property
    def memo_size(self) -> int:
        return len(self._memo)

    def _recognise_new(
        self, name: Any, publisher: Any, version: Any, platform: Any, swid: Any
    ) -> Recognition:
        name_s = _sanitize(name, MAX_NAME_CHARS)
        if isinstance(platform, str):
            plat = _PLATFORMS.get(platform)
            if plat is None:
                plat = _PLATFORMS.get(platform.strip().lower(), "")
        else:
            plat = ""
        swid_s = _sanitize(swid, MAX_NAME_CHARS) if swid is not None else ""
        if not name_s and not swid_s:
            return UNRECOGNISED
        try:
            cpub = self._pub_memo[publisher]
        except KeyError:
            pub_s = _sanitize(publisher, MAX_NAME_CHARS)
            cpub = clean_text(pub_s) if pub_s else ""
            if len(self._pub_memo) >= _MAX_PUBLISHER_MEMO:
                self._pub_memo.clear()
            self._pub_memo[publisher] = cpub
        except TypeError:  # an unhashable publisher is no publisher
            cpub = ""

        if swid_s and swid_s in self._swid:
            matched = [r for r in self._swid[swid_s] if self._context_ok(r, cpub, plat)]
            if matched:
                cname = clean_text(name_s)
                vers = extract_version(version, cname, plat)
                entries = tuple((r, self._fields(r, cname, cpub)) for r in matched)
                return self._pick(entries, vers)

        nkey = (name_s, cpub, plat)
        entry = self._name_memo.get(nkey)
        if entry is None:
            cname = clean_text(name_s)
            if cname:
                rules = self._match_name(name_s, cname, cpub, plat)
                entry = (cname, tuple((r, self._fields(r, cname, cpub)) for r in rules))
            else:
                entry = ("", ())
            self._name_memo[nkey] = entry
        cname, entries = entry
        if not cname and not swid_s:
            return UNRECOGNISED
        return self._pick(entries, extract_version(version, cname, plat))

    def _pick(self, entries: tuple[tuple[_Rule, tuple], ...], vers: str | None) -> Recognition:
        """The first matching rule whose version bounds hold, as a result."""
        vt = None
        for rule, f in entries:
            if rule.min_version is not None or rule.max_version is not None:
                if vt is None:
                    vt = version_tuple(vers)
                if not vt:
                    continue
                if rule.min_version is not None and vt < rule.min_version:
                    continue
                if rule.max_version is not None and vt >= rule.max_version:
                    continue
            return self._intern(f[0], f[1], f[2], vers, f[3], f[4], f[5], f[6])
        if vers is None:
            return UNRECOGNISED
        return self._intern(None, None, None, vers, None, None, None, None)

    def _context_ok(self, rule: _Rule, cpub: str, plat: str) -> bool:
        if rule.platform is not None and plat and rule.platform != plat:
            return False
        if rule.publisher is not None and not rule.publisher.search(cpub):
            return False
        return True

    def _match_name(self, raw: str, cname: str, cpub: str, plat: str) -> tuple[_Rule, ...]:
        """All rules whose name/publisher/platform conditions hold, best first.

        Truncated after the first rule without a version condition: nothing after it can win.
        """
        candidates: list[_Rule] = []
        if self._exact:
            exact = self._exact.get(" ".join(raw.split()).lower())
            if exact:
                candidates.extend(exact)
        pkg_name = cname.partition(":")[0]
        if self._package:
            pkg = self._package.get(pkg_name)
            if pkg:
                candidates.extend(pkg)

        found: set[_Rule] = set()
        n = len(cname)
        # Anchored patterns: one walk from the start of the name.
        node = self._prefix_radix
        i = 0
        while i < n:
            entry = node.get(cname[i])
            if entry is None:
                break
            label, hit, node = entry
            if not cname.startswith(label, i):
                break
            i += len(label)
            if hit is not None:
                found.update(hit)
        # Other patterns: walk the literal tree from each position.
        root2 = self._ascii_root2 if cname.isascii() else self._root2
        if root2:
            get2 = root2.get
            for i in range(n - 1):
                entry = get2(cname[i : i + 2])
                if entry is None:
                    continue
                hit, node = entry
                if hit is not None:
                    found.update(hit)
                j = i + 2
                while j < n:
                    entry = node.get(cname[j])
                    if entry is None:
                        break
                    label, hit, node = entry
                    if not cname.startswith(label, j):
                        break
                    j += len(label)
                    if hit is not None:
                        found.update(hit)
        if self._normalized and (self._norm_always or _NORMALIZED_MARK in found):
            found.discard(_NORMALIZED_MARK)
            norm = self._normalized.get(normalize_name(cname))
            if norm:
                candidates.extend(norm)
        if found:
            candidates.extend(found)
        if self._always:
            candidates.extend(self._always)
        if not candidates:
            return ()
        candidates.sort(key=_rank)
        out: list[_Rule] = []
        for rule in candidates:
            if rule.platform is not None and plat and rule.platform != plat:
                continue
            if rule.publisher is not None and not rule.publisher.search(cpub):
                continue
            if rule.regex is not None:
                subject = pkg_name if rule.type == "package" else cname
                if not rule.regex.search(subject):
                    continue
            out.append(rule)
            if rule.min_version is None and rule.max_version is None:
                break
        return tuple(out)

    def _fields(self, rule: _Rule, cname: str, cpub: str) -> tuple:
        """Result fields of ``rule`` for this name and publisher, all but the version."""
        product = rule.product
        family = product["family"]
        if rule.family_from is not None:
            if rule.family_from == "package":
                base = package_family_base(cname)
            else:
                base = normalize_name(cname)
                if rule.family_strip is not None:
                    base = rule.family_strip.sub(" ", base)
            slug = slugify(base)
            if slug:
                family = rule.family_prefix + slug
        domestic = product["domestic"]
        if rule.domestic_from == "publisher" and cpub:
            domestic = self._publisher_domestic(cpub)
        edition = product.get("edition") or extract_edition(cname)
        return (
            family,
            product["key"],
            edition,
            product["category"],
            product["license_model"],
            bool(domestic),
            rule.id,
        )

    def _publisher_domestic(self, cpub: str) -> bool:
        found = self._pub_flag_memo.get(cpub)
        if found is None:
            known = self._pub_domestic.get(publisher_key(cpub))
            found = bool(_CJK_RE.search(cpub)) if known is None else known
            if len(self._pub_flag_memo) >= _MAX_PUBLISHER_MEMO:
                self._pub_flag_memo.clear()
            self._pub_flag_memo[cpub] = found
        return found

    def _intern(self, *fields: Any) -> Recognition:
        # Many keys share one outcome; sharing the object keeps the memo small.
        found = self._interned.get(fields)
        if found is None:
            if len(self._interned) >= self.max_memo:
                self._interned.clear()
            found = self._interned[fields] = Recognition(*fields)
        return found


def _rank(rule: _Rule) -> tuple:
    return rule.rank


def _trie_add(trie: dict[str, Any], text: str, rule: Any) -> None:
    node = trie
    for ch in text:
        node = node.setdefault(ch, {})
    node.setdefault("", []).append(rule)  # "" never collides with a one-character key


def _radix(node: dict[str, Any]) -> dict[str, tuple[str, Any, dict]]:
    """A character trie as {first character: (edge label, rules at its end or None, child)}."""
    out = {}
    for ch, child in node.items():
        if ch == "":
            continue
        label = ch
        while "" not in child and len(child) == 1:
            ((nxt_ch, nxt),) = child.items()
            label += nxt_ch
            child = nxt
        out[ch] = (label, child.get(""), _radix(child))
    return out


def _two_level(trie: dict[str, Any]) -> dict[str, tuple[Any, dict]]:
    """{first two characters: (rules there or None, radix tree after them)} for a trie
    without one-character entries."""
    return {
        first + second: (node.get(""), _radix(node))
        for first, child in trie.items()
        if first
        for second, node in child.items()
        if second
    }


def _freeze(node: dict[str, Any]) -> None:
    """Turn the rule lists at the trie's leaves into tuples, without duplicates."""
    for key, value in node.items():
        if key == "":
            node[key] = tuple(dict.fromkeys(value))
        else:
            _freeze(value)


# Stands in the literal tries for "a normalized rule may match": never a real rule.
_NORMALIZED_MARK: Any = object()
_MAX_PUBLISHER_MEMO = 100_000
_PLATFORMS = {"windows": "windows", "linux": "linux", "macos": "macos"}
