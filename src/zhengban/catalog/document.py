"""The catalog exchange format (``zhengban-catalog`` version 1): load, validate, merge.

Pure Python on purpose: the recognition engine, the benchmarks and the content engineers'
evaluation script must run without Django. ``docs/catalog-format.md`` is the reference; every
rule enforced here is described there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

FORMAT = "zhengban-catalog"
FORMAT_VERSION = 1

CATEGORIES: tuple[str, ...] = (
    "os",
    "office",
    "antivirus",
    "database",
    "middleware",
    "browser",
    "document_reader",
    "design",
    "development",
    "communication",
    "input_method",
    "compression",
    "media",
    "utility",
    "runtime",
    "driver",
    "update",
    "industry",
    "game",
    "other",
)
LICENSE_MODELS: tuple[str, ...] = ("commercial", "free", "open_source")
PLATFORMS: tuple[str, ...] = ("windows", "linux", "macos")
# Order in which rule types are tried when priorities are equal (see the format doc).
RULE_TYPES: tuple[str, ...] = ("swid", "exact", "package", "normalized", "pattern")
FAMILY_FROM: tuple[str, ...] = ("name", "package")
DOMESTIC_FROM: tuple[str, ...] = ("publisher",)
DEFAULT_PRIORITY = 100

DATA_DIR = Path(__file__).resolve().parent / "data"

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

# Catalog regular expressions (name pattern, publisher, family_strip) are compiled with
# compile_pattern(): re.ASCII, so that \w, \d and \s mean ASCII classes, and \b rewritten to
# "not inside an ASCII word". Python's Unicode \b treats Chinese characters as word characters,
# so "\btongweb" missed "东方通tongweb" and "bjca\b" missed "bjca证书助手"; plain ASCII \b
# would in turn miss "专业增强版\b" before a space. What authors mean by \b is "this ASCII word
# is not glued to more ASCII letters or digits", and that is what the rewrite gives. Names are
# lower-cased before the search, so ASCII-only case folding loses nothing.
PATTERN_FLAGS = re.IGNORECASE | re.ASCII
WORD_EDGE = r"(?:(?<![a-z0-9_])|(?![a-z0-9_]))"
NOT_WORD_EDGE = r"(?:(?<=[a-z0-9_])(?=[a-z0-9_]))"


def ascii_word_edges(pattern: str) -> str:
    r"""``pattern`` with each ``\b`` / ``\B`` outside character classes replaced by
    WORD_EDGE / NOT_WORD_EDGE (inside a class ``\b`` is a backspace and stays)."""
    if "\\b" not in pattern and "\\B" not in pattern:
        return pattern
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    class_start = -1
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if not in_class and nxt == "b":
                out.append(WORD_EDGE)
            elif not in_class and nxt == "B":
                out.append(NOT_WORD_EDGE)
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            # "]" right after "[" or "[^" is a literal, not the end of the class.
            if ch == "]" and i > class_start:
                in_class = False
        elif ch == "[":
            in_class = True
            class_start = i + 1
            if i + 1 < n and pattern[i + 1] == "^":
                class_start = i + 2
                out.append("[^")
                i += 2
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a catalog regular expression the way the recognition engine uses it."""
    return re.compile(ascii_word_edges(pattern), PATTERN_FLAGS)


_PRODUCT_FIELDS = {
    "key",
    "family",
    "publisher",
    "name",
    "name_en",
    "edition",
    "category",
    "license_model",
    "domestic",
    "home_edition",
    "versions",
    "components",
    "swid",
    "rules",
    "local",
    "description",
}
_RULE_FIELDS = {
    "id",
    "type",
    "name",
    "platform",
    "publisher",
    "priority",
    "min_version",
    "max_version",
    "family_from",
    "family_prefix",
    "family_strip",
    "domestic_from",
    "local",
    "comment",
}


class CatalogError(ValueError):
    """Bad catalog data; the message names the file and the entry at fault."""


def _where(source: str, kind: str, key: Any) -> str:
    return f"{source}: {kind} {key!r}"


def _require_str(value: Any, where: str, field: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where}: field {field!r} must be a non-empty string, got {value!r}")
    return value


def _require_key(value: Any, where: str, field: str) -> str:
    _require_str(value, where, field)
    if not KEY_RE.match(value):
        raise CatalogError(f"{where}: field {field!r} must be a slug [a-z0-9-]+, got {value!r}")
    return value


def _require_bool(value: Any, where: str, field: str, default: bool | None) -> bool | None:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise CatalogError(f"{where}: field {field!r} must be true or false, got {value!r}")
    return value


def _str_list(value: Any, where: str, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CatalogError(f"{where}: field {field!r} must be a list of non-empty strings")
    return list(value)


def _check_regex(pattern: str, where: str, field: str) -> None:
    try:
        compile_pattern(pattern)
    except re.error as exc:
        raise CatalogError(
            f"{where}: field {field!r} is not a valid regular expression: {exc}"
        ) from exc


def validate_rule(rule: Any, where: str, index: int) -> dict[str, Any]:
    """Return a cleaned copy of one rule, or raise CatalogError."""
    rwhere = f"{where} rule #{index}"
    if not isinstance(rule, Mapping):
        raise CatalogError(f"{rwhere}: must be an object")
    unknown = {k for k in rule if not k.startswith("_")} - _RULE_FIELDS
    if unknown:
        raise CatalogError(f"{rwhere}: unknown field(s) {sorted(unknown)}")
    rtype = rule.get("type")
    if rtype not in RULE_TYPES:
        raise CatalogError(f"{rwhere}: type must be one of {', '.join(RULE_TYPES)}, got {rtype!r}")
    name = _require_str(rule.get("name"), rwhere, "name")
    if rtype == "pattern":
        _check_regex(name, rwhere, "name")
    platform = rule.get("platform")
    if platform is not None and platform not in PLATFORMS:
        raise CatalogError(f"{rwhere}: platform must be one of {', '.join(PLATFORMS)}")
    publisher = _require_str(rule.get("publisher"), rwhere, "publisher", optional=True)
    if publisher is not None:
        _check_regex(publisher, rwhere, "publisher")
    priority = rule.get("priority", DEFAULT_PRIORITY)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise CatalogError(f"{rwhere}: priority must be an integer")
    for field in ("min_version", "max_version"):
        value = _require_str(rule.get(field), rwhere, field, optional=True)
        if value is not None and not re.match(r"^\d+(\.\d+)*$", value):
            raise CatalogError(f"{rwhere}: {field} must look like 1.2.3, got {value!r}")
    family_from = rule.get("family_from")
    if family_from is not None and family_from not in FAMILY_FROM:
        raise CatalogError(f"{rwhere}: family_from must be one of {', '.join(FAMILY_FROM)}")
    family_strip = _require_str(rule.get("family_strip"), rwhere, "family_strip", optional=True)
    if family_strip is not None:
        _check_regex(family_strip, rwhere, "family_strip")
    prefix = rule.get("family_prefix")
    if prefix is not None and (
        not isinstance(prefix, str) or not re.match(r"^[a-z0-9-]*$", prefix)
    ):
        raise CatalogError(f"{rwhere}: family_prefix must match [a-z0-9-]*")
    domestic_from = rule.get("domestic_from")
    if domestic_from is not None and domestic_from not in DOMESTIC_FROM:
        raise CatalogError(f"{rwhere}: domestic_from must be one of {', '.join(DOMESTIC_FROM)}")
    rule_id = rule.get("id")
    if rule_id is not None:
        _require_str(rule_id, rwhere, "id")
    _require_bool(rule.get("local"), rwhere, "local", False)
    return {k: v for k, v in rule.items() if v is not None}


def validate_document(doc: Any, source: str = "<document>") -> dict[str, Any]:
    """Check one catalog document and return it normalised (lists always present).

    Cross references (family → publisher, product → family, components) are checked by
    :func:`merge_documents`, because the shipped catalog spreads them over several files.
    """
    if not isinstance(doc, Mapping):
        raise CatalogError(f"{source}: a catalog document must be a JSON object")
    if doc.get("format") != FORMAT:
        raise CatalogError(f"{source}: 'format' must be {FORMAT!r}, got {doc.get('format')!r}")
    if doc.get("version") != FORMAT_VERSION:
        raise CatalogError(
            f"{source}: unsupported format version {doc.get('version')!r} "
            f"(this zhengban reads version {FORMAT_VERSION})"
        )
    out: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION}
    for section in ("publishers", "families", "products"):
        value = doc.get(section, [])
        if not isinstance(value, list):
            raise CatalogError(f"{source}: {section!r} must be a list")
        out[section] = value

    publishers = []
    for pub in out["publishers"]:
        if not isinstance(pub, Mapping):
            raise CatalogError(f"{source}: every publisher must be an object")
        where = _where(source, "publisher", pub.get("key"))
        _require_key(pub.get("key"), where, "key")
        _require_str(pub.get("name"), where, "name")
        _require_str(pub.get("name_zh"), where, "name_zh", optional=True)
        aliases = _str_list(pub.get("aliases"), where, "aliases")
        domestic = _require_bool(pub.get("domestic"), where, "domestic", False)
        publishers.append({**pub, "aliases": aliases, "domestic": domestic})
    out["publishers"] = publishers

    families = []
    for fam in out["families"]:
        if not isinstance(fam, Mapping):
            raise CatalogError(f"{source}: every family must be an object")
        where = _where(source, "family", fam.get("key"))
        _require_key(fam.get("key"), where, "key")
        _require_str(fam.get("name"), where, "name")
        if fam.get("publisher") is not None:
            _require_key(fam.get("publisher"), where, "publisher")
        families.append(dict(fam))
    out["families"] = families

    products = []
    for prod in out["products"]:
        if not isinstance(prod, Mapping):
            raise CatalogError(f"{source}: every product must be an object")
        where = _where(source, "product", prod.get("key"))
        key = _require_key(prod.get("key"), where, "key")
        # Keys starting with "_" are annotations (e.g. the source file), not data.
        unknown = {k for k in prod if not k.startswith("_")} - _PRODUCT_FIELDS
        if unknown:
            raise CatalogError(f"{where}: unknown field(s) {sorted(unknown)}")
        family = prod.get("family") or key
        _require_key(family, where, "family")
        if prod.get("publisher") is not None:
            _require_key(prod.get("publisher"), where, "publisher")
        _require_str(prod.get("name"), where, "name")
        _require_str(prod.get("edition"), where, "edition", optional=True)
        if prod.get("category") not in CATEGORIES:
            raise CatalogError(
                f"{where}: category must be one of {', '.join(CATEGORIES)}, "
                f"got {prod.get('category')!r}"
            )
        if prod.get("license_model") not in LICENSE_MODELS:
            raise CatalogError(
                f"{where}: license_model must be one of {', '.join(LICENSE_MODELS)}, "
                f"got {prod.get('license_model')!r}"
            )
        domestic = _require_bool(prod.get("domestic"), where, "domestic", None)
        home = _require_bool(prod.get("home_edition"), where, "home_edition", False)
        local = _require_bool(prod.get("local"), where, "local", False)
        versions = _str_list(prod.get("versions"), where, "versions")
        if len(set(versions)) != len(versions):
            raise CatalogError(f"{where}: 'versions' lists a version twice")
        components = _str_list(prod.get("components"), where, "components")
        swid = _str_list(prod.get("swid"), where, "swid")
        rules_in = prod.get("rules", [])
        if not isinstance(rules_in, list):
            raise CatalogError(f"{where}: 'rules' must be a list")
        rules = [validate_rule(r, where, i) for i, r in enumerate(rules_in)]
        products.append(
            {
                **prod,
                "family": family,
                "domestic": domestic,
                "home_edition": home,
                "local": local,
                "versions": versions,
                "components": components,
                "swid": swid,
                "rules": rules,
            }
        )
    out["products"] = products
    return out


def merge_documents(docs: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Merge validated documents (``(source, document)`` pairs, in load order) into one.

    A publisher or family may appear in several files (two areas share Microsoft); its aliases
    are united, but a conflicting ``domestic`` flag or family publisher is an error. A product
    key may appear only once. Every product keeps ``_source`` (its file) for error messages.
    """
    publishers: dict[str, dict[str, Any]] = {}
    pub_source: dict[str, str] = {}
    families: dict[str, dict[str, Any]] = {}
    fam_source: dict[str, str] = {}
    products: dict[str, dict[str, Any]] = {}
    for source, doc in docs:
        for pub in doc["publishers"]:
            key = pub["key"]
            if key in publishers:
                old = publishers[key]
                if old["domestic"] != pub["domestic"]:
                    raise CatalogError(
                        f"{source}: publisher {key!r} has domestic={pub['domestic']} but "
                        f"{pub_source[key]} says domestic={old['domestic']}"
                    )
                merged_aliases = list(dict.fromkeys(old["aliases"] + pub["aliases"]))
                publishers[key] = {**pub, **old, "aliases": merged_aliases}
            else:
                publishers[key] = dict(pub)
                pub_source[key] = source
        for fam in doc["families"]:
            key = fam["key"]
            if key in families:
                old = families[key]
                if fam.get("publisher") and old.get("publisher") not in (None, fam["publisher"]):
                    raise CatalogError(
                        f"{source}: family {key!r} has publisher {fam['publisher']!r} but "
                        f"{fam_source[key]} says {old['publisher']!r}"
                    )
                families[key] = {**fam, **{k: v for k, v in old.items() if v is not None}}
            else:
                families[key] = dict(fam)
                fam_source[key] = source
        for prod in doc["products"]:
            key = prod["key"]
            if key in products:
                raise CatalogError(
                    f"{source}: product {key!r} is already defined in {products[key]['_source']}"
                )
            products[key] = {**prod, "_source": source}

    for key, fam in families.items():
        if fam.get("publisher") and fam["publisher"] not in publishers:
            raise CatalogError(
                f"{fam_source[key]}: family {key!r}: unknown publisher {fam['publisher']!r}"
            )
    rule_ids: dict[str, str] = {}
    for key, prod in products.items():
        where = _where(prod["_source"], "product", key)
        if prod["family"] not in families:
            # A product without a declared family is its own family: saves boilerplate for
            # the many single-edition products.
            if prod["family"] != key:
                raise CatalogError(f"{where}: unknown family {prod['family']!r}")
            families[key] = {"key": key, "name": prod["name"], "publisher": prod.get("publisher")}
            fam_source[key] = prod["_source"]
        if prod.get("publisher") and prod["publisher"] not in publishers:
            raise CatalogError(f"{where}: unknown publisher {prod['publisher']!r}")
        for comp in prod["components"]:
            if comp not in products:
                raise CatalogError(f"{where}: unknown component product {comp!r}")
        for index, rule in enumerate(prod["rules"]):
            rule_id = rule.get("id") or f"{key}#{index}"
            if rule_id in rule_ids:
                raise CatalogError(
                    f"{where}: rule id {rule_id!r} already used by {rule_ids[rule_id]}"
                )
            rule_ids[rule_id] = key
            rule["id"] = rule_id
        if prod["domestic"] is None:
            # Default the flag from the publisher so authors need not repeat it per product.
            pub_key = prod.get("publisher") or families[prod["family"]].get("publisher")
            prod["domestic"] = bool(pub_key and publishers[pub_key]["domestic"])
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "publishers": list(publishers.values()),
        "families": list(families.values()),
        "products": list(products.values()),
    }


def load_file(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"{path.name}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from exc
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"{path.name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    return validate_document(doc, path.name)


def catalog_files(directory: Path | str = DATA_DIR) -> list[Path]:
    """The shipped catalog's files, in the order they are merged (file name order)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if p.is_file())


def load_catalog(*paths: Path | str) -> dict[str, Any]:
    """Load and merge catalog documents from files and/or directories (default: shipped data)."""
    if not paths:
        paths = (DATA_DIR,)
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        files.extend(catalog_files(p) if p.is_dir() else [p])
    return merge_documents((f.name, load_file(f)) for f in files)


def empty_document() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "publishers": [],
        "families": [],
        "products": [],
    }
