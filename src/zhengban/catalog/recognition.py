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
from typing import Any

from .document import DEFAULT_PRIORITY, RULE_TYPES, load_catalog

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


@dataclass(frozen=True, slots=True)
class Recognition:
    """The outcome for one raw record; ``family`` is None when nothing matched."""

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


def _strip_controls(value: str) -> str:
    return value.translate(_CLEAN_TABLE)


def clean_text(value: str) -> str:
    """The *clean* form: NFKC, lower case, no control characters, white space collapsed."""
    if len(value) > MAX_NAME_CHARS:
        value = value[:MAX_NAME_CHARS]
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value.translate(_CLEAN_TABLE))
        if not value.isprintable():  # NFKC can in principle produce a control character
            value = value.translate(_CLEAN_TABLE)
    elif not value.isprintable():
        value = value.translate(_CLEAN_TABLE)
    return " ".join(value.lower().split())


_BRACKETS_RE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|【[^【】]*】|〔[^〔〕]*〕")
_A = r"(?<![a-z0-9.])"  # start of an ASCII token, also right after CJK text
_Z = r"(?![a-z0-9])"
_NOISE_RE = re.compile(
    "|".join(
        [
            # version-like tokens: 1.2, v7.0, 11.1.0.11294, 5.6.6-2build1
            _A + r"v?\d+(?:\.\d+)+(?:[-+~][0-9a-z.+~-]*)?" + _Z,
            _A + r"v\d+" + _Z,
            _A + r"(?:build|rev|release|r)\s*\d+" + _Z,
            # years
            _A + r"(?:19|20)\d\d" + r"(?!\d)",
            # bitness
            _A
            + r"(?:x64|x86|x86_64|amd64|arm64|win64|win32|ia32|i386|(?:64|32)\s*-?\s*bits?)"
            + r"(?:\s*edition)?"
            + _Z,
            r"(?:64|32)\s*位",
            # language tags
            _A
            + r"(?:zh|en|ja|ko|de|fr|es|ru|it|pt)[-_](?:cn|tw|hk|sg|us|gb|jp|kr|de|fr|es|ru|it|br|pt)"
            + _Z,
            _A
            + r"(?:chinese\s*\(?(?:simplified|traditional)\)?|(?:simplified|traditional)\s*chinese"
            + r"|english|chs|cht|mui)"
            + _Z,
            r"(?:简体|繁体|繁體)?中文版|简体中文|繁体中文|繁體中文|英文版|多语言版",
        ]
    )
)
_EDGE_PUNCT = " -_:;,./|·—–~+"


def normalize_name(clean: str) -> str:
    """The *normalized* form of an already clean name (see docs/catalog-format.md)."""
    if "(" in clean or "[" in clean or "【" in clean or "〔" in clean:
        clean = _BRACKETS_RE.sub(" ", _BRACKETS_RE.sub(" ", clean))
    text = _NOISE_RE.sub(" ", clean)
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


def _sanitize(value: Any, limit: int) -> str:
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
        value = value.translate(_CLEAN_TABLE)
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
            version = re.sub(r"^\d+:", "", version)
            if "-" in version:
                version = version.rsplit("-", 1)[0]
            version = re.split(r"[+~]", version, maxsplit=1)[0] or version
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
    return tuple(int(n) for n in re.findall(r"\d+", version)[:8])


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


def extract_edition(clean_name: str) -> str | None:
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
        stripped = _PKG_SONAME_RE.sub("", _PKG_SUFFIX_RE.sub("", name))
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
            flush()
            options.extend(_alternatives(av[-1]))
        elif name == "BRANCH":
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


def _best(options: list[set[str]]) -> set[str]:
    return max(options, key=lambda s: (min(len(x) for x in s), -len(s)))


def required_literal_options(pattern: str) -> list[set[str]]:
    """Candidate literal sets for prefiltering a pattern (empty when none can be proven)."""
    try:
        parsed = _sre_parse.parse(pattern, re.IGNORECASE)
    except Exception:  # noqa: BLE001 - an unparsable pattern just gets no prefilter
        return []
    try:
        opts = _alternatives(parsed)
    except Exception:  # noqa: BLE001 - unknown opcode layouts across Python versions
        return []
    return [s for s in opts if s and min(len(x) for x in s) >= 2]


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
        self._name_memo: dict[tuple, tuple[_Rule, ...]] = {}
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
        self._always: list[_Rule] = []  # patterns without a usable literal: always tried
        self._trie: dict[str, Any] = {}
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
                    pattern_rules.append((rule, required_literal_options(source)))
        # Choose, per pattern, the literal set whose literals are rarest across all patterns,
        # so that a common word ("microsoft ") does not wake up hundreds of patterns.
        freq: dict[str, int] = {}
        for _, options in pattern_rules:
            for lit in {lit for s in options for lit in s}:
                freq[lit] = freq.get(lit, 0) + 1
        index: dict[str, list[_Rule]] = {}
        for rule, options in pattern_rules:
            if not options:
                self._always.append(rule)
                continue
            best = min(
                options,
                key=lambda s: (max(freq[x] for x in s), -min(len(x) for x in s), len(s)),
            )
            for lit in best:
                index.setdefault(lit, []).append(rule)
        # A character trie of the literals: scanning a name walks it from each position,
        # a few dict lookups per character however many patterns there are.
        for lit, rules in index.items():
            node = self._trie
            for ch in lit:
                node = node.setdefault(ch, {})
            node[""] = tuple(rules)  # "" never collides with a one-character key
        self._always.sort(key=lambda r: r.rank)

    def _make_rule(self, spec: Mapping[str, Any], product: dict[str, Any], order: int) -> _Rule:
        rtype = spec["type"]
        priority = spec.get("priority", DEFAULT_PRIORITY)
        regex = None
        specificity = 0
        if rtype == "pattern":
            regex = re.compile(spec["name"], re.IGNORECASE)
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
            publisher=re.compile(publisher, re.IGNORECASE) if publisher else None,
            min_version=version_tuple(spec["min_version"]) if spec.get("min_version") else None,
            max_version=version_tuple(spec["max_version"]) if spec.get("max_version") else None,
            family_from=spec.get("family_from"),
            family_prefix=spec.get("family_prefix", ""),
            family_strip=re.compile(strip, re.IGNORECASE) if strip else None,
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
        key = (name, publisher, version, platform)
        try:
            if swid is None:
                return self._memo[key]
        except KeyError:
            pass
        except TypeError:  # unhashable input (a list as name): treat as malformed
            return UNRECOGNISED
        result = self._recognise_new(name, publisher, version, platform, swid)
        if swid is None:
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
            try:
                append(memo[(get("name"), get("publisher"), get("version"), get("platform"))])
            except (KeyError, TypeError):
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
            plat = platform.strip().lower()
            plat = plat if plat in ("windows", "linux", "macos") else ""
        else:
            plat = ""
        swid_s = _sanitize(swid, MAX_NAME_CHARS) if swid is not None else ""
        if not name_s and not swid_s:
            return UNRECOGNISED
        pub_s = _sanitize(publisher, MAX_NAME_CHARS)
        cname = clean_text(name_s)
        cpub = clean_text(pub_s) if pub_s else ""
        if not cname and not swid_s:
            return UNRECOGNISED
        vers = extract_version(version, cname, plat)

        matched: tuple[_Rule, ...] = ()
        if swid_s and swid_s in self._swid:
            matched = tuple(r for r in self._swid[swid_s] if self._context_ok(r, cpub, plat))
        if not matched:
            nkey = (name_s, cpub, plat)
            cached = self._name_memo.get(nkey)
            if cached is None:
                cached = self._match_name(name_s, cname, cpub, plat)
                self._name_memo[nkey] = cached
            matched = cached
        vt = None
        for rule in matched:
            if rule.min_version is not None or rule.max_version is not None:
                if vt is None:
                    vt = version_tuple(vers)
                if not vt:
                    continue
                if rule.min_version is not None and vt < rule.min_version:
                    continue
                if rule.max_version is not None and vt >= rule.max_version:
                    continue
            return self._result(rule, cname, cpub, vers)
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
        exact = self._exact.get(" ".join(raw.split()).lower())
        if exact:
            candidates.extend(exact)
        if self._package:
            pkg = self._package.get(cname.split(":", 1)[0])
            if pkg:
                candidates.extend(pkg)
        if self._normalized:
            norm = self._normalized.get(normalize_name(cname))
            if norm:
                candidates.extend(norm)
        patterns: set[_Rule] = set()
        root = self._trie
        n = len(cname)
        for i, ch in enumerate(cname):
            node = root.get(ch)
            j = i + 1
            while node is not None:
                found = node.get("")
                if found is not None:
                    patterns.update(found)
                if j >= n:
                    break
                node = node.get(cname[j])
                j += 1
        if patterns:
            candidates.extend(patterns)
        if self._always:
            candidates.extend(self._always)
        if not candidates:
            return ()
        candidates.sort(key=_rank)
        pkg_name = cname.split(":", 1)[0]
        out: list[_Rule] = []
        for rule in candidates:
            if not self._context_ok(rule, cpub, plat):
                continue
            if rule.regex is not None:
                subject = pkg_name if rule.type == "package" else cname
                if not rule.regex.search(subject):
                    continue
            out.append(rule)
            if rule.min_version is None and rule.max_version is None:
                break
        return tuple(out)

    def _result(self, rule: _Rule, cname: str, cpub: str, vers: str | None) -> Recognition:
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
            found = self._pub_domestic.get(publisher_key(cpub))
            if found is None:
                found = bool(_CJK_RE.search(cpub))
            domestic = found
        edition = product.get("edition") or extract_edition(cname)
        return self._intern(
            family,
            product["key"],
            edition,
            vers,
            product["category"],
            product["license_model"],
            bool(domestic),
            rule.id,
        )

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
