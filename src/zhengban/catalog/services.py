"""Catalog business logic: import/export, rules from unrecognised records, and the cached
recogniser built from the database rules. Each public function that changes data is one
transaction and writes its own audit record."""

from __future__ import annotations

import hashlib
import logging
import re
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengban.catalog.choices import ReapplyStatus, RuleType
from zhengban.catalog.document import (
    DATA_DIR,
    FORMAT,
    FORMAT_VERSION,
    KEY_RE,
    PATTERN_FLAGS,
    CatalogError,
    catalog_files,
    load_catalog,
    merge_documents,
    validate_document,
)
from zhengban.catalog.hooks import install_provider
from zhengban.catalog.models import (
    CatalogState,
    Product,
    ProductFamily,
    ProductVersion,
    Publisher,
    ReapplyJob,
    RecognitionRule,
    SwidTag,
)
from zhengban.catalog.recognition import (
    Recogniser,
    Recognition,
    clean_text,
    normalize_name,
)
from zhengban.core import audit, hooks
from zhengban.core.choices import AuditAction
from zhengban.core.scoping import scope_queryset
from zhengban.orgs.choices import Role

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------ permissions


def can_edit_catalog(user: Any) -> bool:
    """The region's catalog is kept by its copyright bureau (and the system administrator)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser or user.has_role(Role.SYSADMIN):
        return True
    unit = getattr(user, "unit", None)
    return bool(user.has_role(Role.SUPERVISOR) and unit is not None and unit.is_copyright_bureau)


def can_add_inhouse(user: Any, unit: Any) -> bool:
    """A unit's SAM officer may record the unit's own in-house software."""
    if user is None or not getattr(user, "is_authenticated", False) or unit is None:
        return False
    if user.is_superuser or user.has_role(Role.SYSADMIN):
        return True
    if not user.has_role(Role.SAM_OFFICER):
        return False
    from zhengban.orgs.models import Unit

    return scope_queryset(Unit.objects.filter(pk=unit.pk), user).exists()


# ------------------------------------------------------------------------- revision & cache


def _state() -> CatalogState:
    state = CatalogState.objects.select_for_update().order_by("pk").first()
    if state is None:
        state = CatalogState.objects.create(revision=0)
    return state


def _bump_revision() -> int:
    state = _state()
    state.revision += 1
    state.token = uuid.uuid4().hex
    state.save(update_fields=["revision", "token", "updated"])
    return state.revision


def current_revision() -> int:
    value = CatalogState.objects.order_by("pk").values_list("revision", flat=True).first()
    return value or 0


def _revision_token() -> tuple[int, str]:
    # Read by every recognition call, so by every inventory: a plain statement costs a
    # third of the ORM's compiled one.
    meta, qn = CatalogState._meta, connection.ops.quote_name
    revision, token, pk = (qn(meta.get_field(f).column) for f in ("revision", "token", "id"))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {revision}, {token} FROM {qn(meta.db_table)} ORDER BY {pk} LIMIT 1")
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, "")


def current_revision_token() -> tuple[int, str]:
    """The revision with its random token: a catalog loaded again from scratch (a flushed
    database) may reuse a revision number, never a token. Caches of product ids key on it."""
    return _revision_token()


_cache_lock = threading.Lock()
_cache: dict[str, Any] = {"revision": None, "shared": None, "units": {}}


class LayeredRecogniser:
    """A unit's in-house rules first, then the shared catalog."""

    def __init__(self, own: Recogniser, shared: Recogniser) -> None:
        self.own = own
        self.shared = shared

    def recognise(self, *args: Any, **kwargs: Any) -> Recognition:
        found = self.own.recognise(*args, **kwargs)
        return found if found.family is not None else self.shared.recognise(*args, **kwargs)

    def recognise_record(self, record: Any) -> Recognition:
        found = self.own.recognise_record(record)
        return found if found.family is not None else self.shared.recognise_record(record)

    def recognise_many(self, records: Iterable[Mapping[str, Any]]) -> list[Recognition]:
        return [self.recognise_record(r) for r in records]


def get_recogniser(unit_id: int | None = None) -> Recogniser | LayeredRecogniser:
    """The recogniser for the current catalog revision (built once per process and revision).

    One cheap query checks the revision, so rule changes made by any process are seen.
    """
    revision = _revision_token()
    with _cache_lock:
        if _cache["revision"] != revision:
            _cache.update(revision=revision, shared=None, units={})
        if _cache["shared"] is None:
            _cache["shared"] = Recogniser(catalog_document_from_db(owner_unit_id=None))
        shared = _cache["shared"]
        if unit_id is None:
            return shared
        if unit_id not in _cache["units"]:
            own = None
            if Product.objects.filter(owner_unit_id=unit_id).exists():
                own = Recogniser(catalog_document_from_db(owner_unit_id=unit_id))
            _cache["units"][unit_id] = own
        own = _cache["units"][unit_id]
        return shared if own is None else LayeredRecogniser(own, shared)


def recognise_records(
    records: Iterable[Mapping[str, Any]], *, unit_id: int | None = None
) -> list[Recognition]:
    return get_recogniser(unit_id).recognise_many(records)


# ----------------------------------------------------------------------------- DB → document


def catalog_document_from_db(
    *, owner_unit_id: int | None = None, include_positions: bool = True
) -> dict[str, Any]:
    """The catalog in the (merged) exchange format, built from the database.

    ``owner_unit_id=None`` gives the shared catalog; a unit id gives only that unit's
    in-house products (with the publishers they need for the domestic lookup).
    """
    publishers = [
        {
            "key": p.key,
            "name": p.name,
            **({"name_zh": p.name_zh} if p.name_zh else {}),
            "aliases": list(p.aliases or []),
            "domestic": p.domestic,
            **({"local": True} if p.local else {}),
        }
        for p in Publisher.objects.order_by("key")
    ]
    families = [
        {
            "key": f.key,
            "name": f.name,
            **({"publisher": f.publisher.key} if f.publisher_id else {}),
        }
        for f in ProductFamily.objects.select_related("publisher").order_by("key")
    ]
    products_qs = Product.objects.select_related("family", "publisher").filter(
        owner_unit_id=owner_unit_id
    )
    rules_by_product: dict[int, list[dict[str, Any]]] = {}
    for rule in RecognitionRule.objects.filter(product__owner_unit_id=owner_unit_id).order_by(
        "position", "id"
    ):
        spec = rule.as_spec()
        if include_positions:
            spec["position"] = rule.position
        rules_by_product.setdefault(rule.product_id, []).append(spec)
    versions: dict[int, list[str]] = {}
    for pv in ProductVersion.objects.filter(product__owner_unit_id=owner_unit_id).order_by(
        "product_id", "position", "id"
    ):
        versions.setdefault(pv.product_id, []).append(pv.version)
    tags: dict[int, list[str]] = {}
    for tag in SwidTag.objects.filter(product__owner_unit_id=owner_unit_id).order_by("tag_id"):
        tags.setdefault(tag.product_id, []).append(tag.tag_id)
    components: dict[int, list[str]] = {}
    through = Product.components.through
    for from_id, key in through.objects.filter(
        from_product__owner_unit_id=owner_unit_id
    ).values_list("from_product_id", "to_product__key"):
        components.setdefault(from_id, []).append(key)
    # Catalog order (first rule's position) so that an export re-imports unchanged.
    first_position = {
        pid: min(spec.get("position", 0) for spec in specs) if include_positions else 0
        for pid, specs in rules_by_product.items()
    }
    if not include_positions:
        for rule in RecognitionRule.objects.filter(product__owner_unit_id=owner_unit_id).values(
            "product_id", "position"
        ):
            pid = rule["product_id"]
            first_position[pid] = min(first_position.get(pid) or rule["position"], rule["position"])
    ordered = sorted(
        products_qs, key=lambda p: (p.pk not in first_position, first_position.get(p.pk, 0), p.key)
    )
    products = []
    for p in ordered:
        item: dict[str, Any] = {
            "key": p.key,
            "family": p.family.key,
            "name": p.name,
            "category": p.category,
            "license_model": p.license_model,
            "domestic": p.domestic,
            "home_edition": p.home_edition,
            "versions": versions.get(p.pk, []),
            "components": sorted(components.get(p.pk, [])),
            "swid": tags.get(p.pk, []),
            "rules": rules_by_product.get(p.pk, []),
        }
        if p.publisher_id:
            item["publisher"] = p.publisher.key
        if p.edition:
            item["edition"] = p.edition
        if p.description:
            item["description"] = p.description
        if p.local:
            item["local"] = True
        products.append(item)
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "publishers": publishers,
        "families": families,
        "products": products,
    }


def export_catalog(*, actor: Any = None) -> dict[str, Any]:
    """The shared catalog as one exchange document (in-house products never leave the unit)."""
    doc = catalog_document_from_db(owner_unit_id=None, include_positions=False)
    if actor is not None:
        audit.record(
            actor=actor,
            action=AuditAction.EXPORT,
            object_type="catalog.product",
            object_repr=_("软件目录"),
            message=f"{len(doc['products'])} products",
        )
    return doc


# ------------------------------------------------------------------------------- import


@dataclass
class ImportResult:
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    deleted: Counter = field(default_factory=Counter)
    kept_local: Counter = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return any(sum(c.values()) for c in (self.created, self.updated, self.deleted))

    def as_dict(self) -> dict[str, dict[str, int]]:
        def clean(counter: Counter) -> dict[str, int]:
            return {k: v for k, v in sorted(counter.items()) if v}

        return {
            "created": clean(self.created),
            "updated": clean(self.updated),
            "deleted": clean(self.deleted),
            "kept_local": clean(self.kept_local),
        }


_RULE_FIELD_MAP = {
    "platform": "platform",
    "publisher": "publisher_pattern",
    "min_version": "min_version",
    "max_version": "max_version",
    "family_from": "family_from",
    "family_prefix": "family_prefix",
    "family_strip": "family_strip",
    "domestic_from": "domestic_from",
    "comment": "comment",
}


def _rule_values(spec: Mapping[str, Any]) -> dict[str, Any]:
    values = {model_field: spec.get(key) or "" for key, model_field in _RULE_FIELD_MAP.items()}
    values.update(
        rule_type=spec["type"],
        pattern=spec["name"],
        priority=spec.get("priority", 100),
    )
    return values


def _apply(obj: Any, values: Mapping[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _merge_with_db(document: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Validate ``document`` and resolve its references, allowing it to refer to publishers
    and families that already exist in the database (a small regional document)."""
    doc = validate_document(document, source)
    doc_pub_keys = {p["key"] for p in doc["publishers"]}
    doc_fam_keys = {f["key"] for f in doc["families"]}
    base = {
        "publishers": [
            {"key": p.key, "name": p.name, "aliases": list(p.aliases or []), "domestic": p.domestic}
            for p in Publisher.objects.exclude(key__in=doc_pub_keys)
        ],
        "families": [
            {"key": f.key, "name": f.name, "publisher": f.publisher.key if f.publisher_id else None}
            for f in ProductFamily.objects.select_related("publisher").exclude(key__in=doc_fam_keys)
        ],
        "products": [],
    }
    merged = merge_documents([("database", base), (source, doc)])
    # Components may name products that exist only in the database.
    return merged


@transaction.atomic
def import_catalog(
    document: Mapping[str, Any], *, actor: Any, source: str = "import"
) -> ImportResult:
    """Merge a catalog document into the database.

    Idempotent: importing the same document twice changes nothing the second time. Products,
    publishers and rules marked ``local`` in the database (region additions, units' in-house
    software) are never overwritten or removed. Rules of an imported product that the document
    no longer lists are removed (unless local); products missing from the document are kept,
    because installs and licences may refer to them.

    Licensing hears of changed licence facts (``CATALOG_CHANGED``); changed rules start a
    re-apply job (:func:`start_reapply`) when installs exist.
    """
    if actor is not None and not can_edit_catalog(actor):
        raise PermissionDenied(_("只有著作权行政管理部门或系统管理员可以导入软件目录。"))
    try:
        merged = _merge_with_db(document, source)
    except CatalogError as exc:
        raise ValidationError(str(exc)) from exc
    doc_pub_keys = {p["key"] for p in validate_document(document, source)["publishers"]}
    result = ImportResult()

    # Publishers.
    publishers = {p.key: p for p in Publisher.objects.all()}
    for spec in merged["publishers"]:
        if spec["key"] not in doc_pub_keys:
            continue
        values = {
            "name": spec["name"],
            "name_zh": spec.get("name_zh") or "",
            "aliases": list(spec["aliases"]),
            "domestic": bool(spec["domestic"]),
        }
        obj = publishers.get(spec["key"])
        if obj is None:
            publishers[spec["key"]] = Publisher.objects.create(key=spec["key"], **values)
            result.created["publisher"] += 1
        elif obj.local:
            result.kept_local["publisher"] += 1
        elif _apply(obj, values):
            obj.save()
            result.updated["publisher"] += 1

    # Families.
    families = {f.key: f for f in ProductFamily.objects.all()}
    for spec in merged["families"]:
        values = {
            "name": spec["name"],
            "publisher_id": publishers[spec["publisher"]].pk if spec.get("publisher") else None,
        }
        obj = families.get(spec["key"])
        if obj is None:
            families[spec["key"]] = ProductFamily.objects.create(key=spec["key"], **values)
            result.created["family"] += 1
        elif _apply(obj, values):
            obj.save()
            result.updated["family"] += 1

    # Products.
    products = {p.key: p for p in Product.objects.all()}
    imported: list[tuple[Product, dict[str, Any]]] = []
    # Existing products whose licensing verdicts may move (new products have no installs).
    licence_changed: set[int] = set()
    created_ids: set[int] = set()
    for spec in merged["products"]:
        values = {
            "family_id": families[spec["family"]].pk,
            "publisher_id": publishers[spec["publisher"]].pk if spec.get("publisher") else None,
            "name": spec["name"],
            "edition": spec.get("edition") or "",
            "category": spec["category"],
            "license_model": spec["license_model"],
            "domestic": bool(spec["domestic"]),
            "home_edition": bool(spec["home_edition"]),
            "description": spec.get("description") or "",
        }
        obj = products.get(spec["key"])
        if obj is None:
            obj = Product(key=spec["key"], local=bool(spec.get("local")), **values)
            obj.full_clean(exclude=["family", "publisher", "owner_unit"], validate_unique=False)
            obj.save()
            products[spec["key"]] = obj
            created_ids.add(obj.pk)
            result.created["product"] += 1
        elif obj.local or obj.owner_unit_id:
            result.kept_local["product"] += 1
            continue
        else:
            facts = _licence_facts(obj)
            if _apply(obj, values):
                obj.save()
                result.updated["product"] += 1
                if facts != _licence_facts(obj):
                    licence_changed.add(obj.pk)
        imported.append((obj, spec))

    licence_changed |= _sync_product_details(imported, products, result)
    licence_changed -= created_ids

    if result.changed:
        _bump_revision()
    if licence_changed:
        # Shipped products may be held by any unit: licensing recomputes them everywhere.
        hooks.fire(hooks.CATALOG_CHANGED, product_ids=sorted(licence_changed), unit_ids=None)
    if result.changed or actor is not None:
        audit.record(
            actor=actor,
            action=AuditAction.IMPORT,
            object_type="catalog.product",
            object_repr=_("软件目录"),
            after=result.as_dict(),
            message=source[:200],
        )
    if _rules_changed(result) and _has_installs():
        # Existing installs keep the product the old rules gave them until recognised again
        # (every install: a changed rule may also take an install away from its product).
        start_reapply(actor=actor, reason=_("导入软件目录:%(source)s") % {"source": source[:200]})
    return result


def _rules_changed(result: ImportResult) -> bool:
    return any(counter["rule"] for counter in (result.created, result.updated, result.deleted))


def _has_installs() -> bool:
    """Whether a re-apply job would find anything: a fresh database (the shipped catalog
    loaded at migrate) or a catalog-only deployment gets no job."""
    provider = install_provider()
    if provider is None:
        return False
    if provider.has_installs is not None:
        return provider.has_installs()
    return provider.count_raw_groups(unrecognised_only=False) > 0


def _licence_facts(product: Product) -> tuple[Any, ...]:
    return (product.family_id, *(getattr(product, name) for name in LICENCE_FACT_FIELDS))


def _sync_product_details(
    imported: list[tuple[Product, dict[str, Any]]],
    products: dict[str, Product],
    result: ImportResult,
) -> set[int]:
    """Store versions, SWID tags, components and rules of the imported products. Returns the
    products whose licensing verdicts may move: a changed version list (the engine's version
    labels and order) or a changed suite (its old and new components, and the suite)."""
    ids = [p.pk for p, _spec in imported]
    licence_changed: set[int] = set()
    # Versions.
    existing_versions: dict[tuple[int, str], ProductVersion] = {
        (v.product_id, v.version): v for v in ProductVersion.objects.filter(product_id__in=ids)
    }
    new_versions, changed_versions = [], []
    for product, spec in imported:
        for position, version in enumerate(spec["versions"]):
            obj = existing_versions.get((product.pk, version))
            if obj is None:
                new_versions.append(
                    ProductVersion(product=product, version=version, position=position)
                )
                licence_changed.add(product.pk)
            elif obj.position != position:
                obj.position = position
                changed_versions.append(obj)
                licence_changed.add(product.pk)
    ProductVersion.objects.bulk_create(new_versions)
    ProductVersion.objects.bulk_update(changed_versions, ["position"])
    result.created["version"] += len(new_versions)
    result.updated["version"] += len(changed_versions)

    # SWID tags (unique across the catalog: a tag moves with its product).
    tags = {t.tag_id: t for t in SwidTag.objects.all()}
    wanted_tags: dict[str, Product] = {}
    for product, spec in imported:
        for tag in spec["swid"]:
            wanted_tags[tag] = product
    for tag_id, product in wanted_tags.items():
        obj = tags.get(tag_id)
        if obj is None:
            SwidTag.objects.create(product=product, tag_id=tag_id)
            result.created["swid"] += 1
        elif obj.product_id != product.pk:
            obj.product = product
            obj.save(update_fields=["product"])
            result.updated["swid"] += 1
    stale = SwidTag.objects.filter(product_id__in=ids).exclude(tag_id__in=list(wanted_tags))
    result.deleted["swid"] += stale.delete()[0]

    # Components.
    for product, spec in imported:
        wanted = set()
        for key in spec["components"]:
            if key not in products:
                raise ValidationError(
                    _("产品 %(product)s 的组件 %(component)s 不存在。")
                    % {"product": product.key, "component": key}
                )
            wanted.add(products[key].pk)
        current = set(product.components.values_list("pk", flat=True))
        if wanted != current:
            product.components.set(wanted)
            result.updated["components"] += 1
            licence_changed |= {product.pk, *(wanted ^ current)}

    # Rules: keyed by rule id; local rules are never touched.
    existing_rules = {r.key: r for r in RecognitionRule.objects.all()}
    # Positions only order rules of equal rank. Keep the current ones while the document
    # lists the known rules in the same relative order (so re-importing an export changes
    # nothing); otherwise renumber everything in document order.
    doc_keys = [r["id"] for _p, spec in imported for r in spec["rules"]]
    known = [
        existing_rules[k].position
        for k in doc_keys
        if k in existing_rules and not existing_rules[k].local
    ]
    keep_positions = all(a < b for a, b in zip(known, known[1:]))
    next_free = max((r.position for r in existing_rules.values()), default=0)
    base_position = 0
    new_rules, changed_rules = [], []
    wanted_keys: set[str] = set()
    update_fields = [
        "product",
        "rule_type",
        "pattern",
        "priority",
        "position",
        *_RULE_FIELD_MAP.values(),
    ]
    for product, spec in imported:
        for rule_spec in spec["rules"]:
            base_position += 1
            key = rule_spec["id"]
            wanted_keys.add(key)
            values = _rule_values(rule_spec)
            obj = existing_rules.get(key)
            if keep_positions:
                if obj is None:
                    next_free += 1
                    values["position"] = next_free
                else:
                    values["position"] = obj.position
            else:
                values["position"] = base_position
            if obj is None:
                new_rules.append(
                    RecognitionRule(
                        key=key, product=product, local=bool(rule_spec.get("local")), **values
                    )
                )
            elif obj.local:
                result.kept_local["rule"] += 1
            else:
                values["product_id"] = product.pk
                if _apply(obj, values):
                    changed_rules.append(obj)
    RecognitionRule.objects.bulk_create(new_rules, batch_size=500)
    RecognitionRule.objects.bulk_update(
        changed_rules,
        [f if f != "product" else "product_id" for f in update_fields],
        batch_size=500,
    )
    result.created["rule"] += len(new_rules)
    result.updated["rule"] += len(changed_rules)
    stale_rules = RecognitionRule.objects.filter(product_id__in=ids, local=False).exclude(
        key__in=list(wanted_keys)
    )
    result.deleted["rule"] += stale_rules.delete()[0]
    return licence_changed


# ------------------------------------------------------------------------ shipped catalog


def shipped_digest() -> str:
    digest = hashlib.sha256()
    for path in catalog_files(DATA_DIR):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_shipped_catalog(*, force: bool = False) -> ImportResult | None:
    """Import the catalog shipped in ``catalog/data`` unless this exact data is loaded."""
    digest = shipped_digest()
    with transaction.atomic():
        state = _state()
        if state.shipped_digest == digest and not force:
            return None
        result = import_catalog(load_catalog(DATA_DIR), actor=None, source="shipped catalog")
        state = _state()
        state.shipped_digest = digest
        state.save(update_fields=["shipped_digest", "updated"])
    return result


def load_shipped_catalog_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any):
    """post_migrate hook: load the shipped catalog into a fresh or upgraded database."""
    if using != DEFAULT_DB_ALIAS:
        return
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[using])
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        # A partial migrate ("migrate inventory 0012"): the tables the load writes to may
        # not exist yet. The migrate that completes the schema loads the catalog.
        return
    try:
        load_shipped_catalog()
    except (CatalogError, ValidationError) as exc:
        # A broken data file must not make the whole database unusable: say so loudly and
        # leave the previous catalog in place.
        message = getattr(exc, "messages", [str(exc)])
        print(
            f"zhengban: shipped software catalog not loaded: {'; '.join(message)}", file=sys.stderr
        )


# ---------------------------------------------------------------- unrecognised records


@dataclass
class QueueEntry:
    """One kind of unrecognised record, ranked by how many devices have it."""

    name: str
    publisher: str
    platform: str
    normalized: str
    devices: int = 0
    versions: list[str] = field(default_factory=list)


def unrecognised_queue(
    records: Iterable[Mapping[str, Any]], *, unit_id: int | None = None, limit: int = 200
) -> list[QueueEntry]:
    """Group unrecognised raw records and rank them by device count.

    ``records`` carry ``name``, ``publisher``, ``version``, ``platform`` and ``devices`` (how
    many devices report this exact raw record).
    The page feeds it from :func:`pending_unrecognised_records`. Records are recognised
    again here, so a record that a rule added since (re-apply still running) already covers
    leaves the queue at once.
    """
    recogniser = get_recogniser(unit_id)
    groups: dict[tuple[str, str, str], QueueEntry] = {}
    for rec in records:
        if recogniser.recognise_record(rec).family is not None:
            continue
        name = rec.get("name")
        if not isinstance(name, str) or not name.strip():
            continue
        cname = clean_text(name)
        publisher = rec.get("publisher") if isinstance(rec.get("publisher"), str) else ""
        platform = rec.get("platform") if isinstance(rec.get("platform"), str) else ""
        norm = normalize_name(cname) or cname
        key = (norm, clean_text(publisher), platform)
        entry = groups.get(key)
        if entry is None:
            entry = groups[key] = QueueEntry(
                name=name.strip(), publisher=publisher.strip(), platform=platform, normalized=norm
            )
        entry.devices += int(rec.get("devices") or 0)
        version = rec.get("version")
        if isinstance(version, str) and version and version not in entry.versions:
            entry.versions.append(version)
    ranked = sorted(groups.values(), key=lambda e: (-e.devices, e.normalized))
    return ranked[:limit]


def pending_unrecognised_records(user: Any) -> list[dict[str, Any]]:
    """Raw records with device counts for the queue page, within ``user``'s scope, from the
    registered install provider (see ``catalog/hooks.py``); empty without one."""
    provider = install_provider()
    if provider is None:
        return []
    return [dict(r) for r in provider.unrecognised_records(user=user)]


@dataclass
class ProductDevices:
    """The "devices that have this product" section of a product page."""

    available: bool  # False: no install provider, so nothing is known about devices
    count: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)


def product_devices(*, user: Any, product: Product, limit: int = 50) -> ProductDevices:
    provider = install_provider()
    if provider is None:
        return ProductDevices(available=False)
    count, rows = provider.product_devices(user=user, product_id=product.pk, limit=limit)
    return ProductDevices(available=True, count=count, rows=[dict(r) for r in rows][:limit])


# ------------------------------------------------------------------- re-applying recognition


@transaction.atomic
def start_reapply(
    *,
    actor: Any,
    product: Product | None = None,
    reason: str = "",
    unrecognised_only: bool = False,
) -> ReapplyJob:
    """Queue a background re-recognition of existing installs (after the catalog changed).

    The task is enqueued when this transaction commits, so a worker never looks for a job
    row that is not there yet (or was rolled back).
    """
    from zhengban.catalog.tasks import reapply_recognition

    job = ReapplyJob.objects.create(
        created_by=actor if getattr(actor, "pk", None) else None,
        product=product,
        reason=reason[:300],
        unrecognised_only=unrecognised_only,
    )
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=job,
        after=audit.snapshot(job),
        unit_id=product.owner_unit_id if product is not None else None,
        message=reason[:300],
    )
    transaction.on_commit(lambda: reapply_recognition.enqueue(job.pk))
    return job


def run_reapply(*, job_id: int, batch_size: int = 2000) -> ReapplyJob:
    """Do the work of one queued job (called by the background task).

    Each batch of raw-record groups is one transaction: the installs' new products and the
    job's progress commit together, so an interrupted job's progress is true. A job that is
    not queued any more (already run by a retried task) is left alone.
    """
    claimed = ReapplyJob.objects.filter(pk=job_id, status=ReapplyStatus.QUEUED).update(
        status=ReapplyStatus.RUNNING
    )
    job = ReapplyJob.objects.get(pk=job_id)
    if not claimed:
        return job
    provider = install_provider()
    done = changed = 0
    try:
        if provider is not None:
            total = provider.count_raw_groups(unrecognised_only=job.unrecognised_only)
            ReapplyJob.objects.filter(pk=job_id).update(total=total)
            # Recognisers per unit for the whole run: get_recogniser checks the catalog
            # revision with a query on every call. A rule added meanwhile starts its own job.
            recognisers: dict[int | None, Any] = {}
            product_ids: dict[str, int] = {}
            for batch in provider.raw_groups(
                unrecognised_only=job.unrecognised_only, batch_size=batch_size
            ):
                found: list[tuple[Mapping[str, Any], str | None]] = []
                for group in batch:
                    unit_id = group.get("unit_id")
                    recogniser = recognisers.get(unit_id)
                    if recogniser is None:
                        recogniser = recognisers[unit_id] = get_recogniser(unit_id)
                    result = recogniser.recognise(
                        group["name"], group["publisher"], group["version"], group["platform"]
                    )
                    found.append((group, result.product))
                missing = {key for _, key in found if key and key not in product_ids}
                if missing:
                    product_ids.update(
                        Product.objects.filter(key__in=missing).values_list("key", "pk")
                    )
                changes = [
                    (group, product_ids.get(key) if key else None)
                    for group, key in found
                    if (product_ids.get(key) if key else None) != group.get("product_id")
                ]
                with transaction.atomic():
                    if changes:
                        changed += provider.apply_products(changes=changes)
                        # Licensing recomputes these installs' units (old and new products).
                        hooks.fire(
                            hooks.CATALOG_CHANGED,
                            product_ids=sorted(
                                {p for g, new in changes for p in (g.get("product_id"), new) if p}
                            ),
                            unit_ids=sorted({g["unit_id"] for g, _new in changes}),
                        )
                    done += len(batch)
                    ReapplyJob.objects.filter(pk=job_id).update(done=done, changed=changed)
    except Exception as exc:
        ReapplyJob.objects.filter(pk=job_id).update(
            status=ReapplyStatus.FAILED, error=str(exc)[:2000], finished=timezone.now()
        )
        logger.exception("re-applying recognition (job %s) failed", job_id)
        raise
    with transaction.atomic():
        ReapplyJob.objects.filter(pk=job_id).update(
            status=ReapplyStatus.DONE, done=done, changed=changed, finished=timezone.now()
        )
        job.refresh_from_db()
        audit.record(
            actor=None,
            action=AuditAction.UPDATE,
            obj=job,
            message=_("重新识别完成:处理 %(done)s 组记录,%(changed)s 个安装的识别结果改变。")
            % {"done": done, "changed": changed},
        )
    return job


def _new_key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@transaction.atomic
def create_rule_from_unrecognised(
    *,
    actor: Any,
    name: str,
    publisher: str = "",
    platform: str = "",
    rule_type: str = RuleType.NORMALIZED,
    pattern: str | None = None,
    match_publisher: bool = False,
    product: Product | None = None,
    new_product: Mapping[str, Any] | None = None,
    owner_unit: Any = None,
) -> RecognitionRule:
    """Turn an unrecognised record into a rule: an alias of ``product``, or a new product.

    With ``owner_unit`` the new product is that unit's in-house software (SAM officers);
    otherwise the rule joins the region's catalog (copyright bureau). Rules made here are
    ``local``: later catalog updates keep them.
    The new rule is then re-applied to existing installs by a background job
    (:func:`start_reapply`).
    """
    if (product is None) == (new_product is None):
        raise ValidationError(_("请选择已有产品或填写新产品,二者选其一。"))
    target_unit = owner_unit if owner_unit is not None else getattr(product, "owner_unit", None)
    if target_unit is not None:
        if not can_add_inhouse(actor, target_unit):
            raise PermissionDenied(_("只能为本单位添加自有软件。"))
    elif not can_edit_catalog(actor):
        raise PermissionDenied(_("只有著作权行政管理部门或系统管理员可以修改软件目录。"))
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(_("软件名称不能为空。"))
    if rule_type not in RuleType.values:
        raise ValidationError(_("未知的规则类型。"))

    if pattern is None or not pattern.strip():
        cname = clean_text(name)
        if rule_type == RuleType.NORMALIZED:
            pattern = normalize_name(cname) or cname
        elif rule_type == RuleType.PATTERN:
            pattern = "^" + re.escape(normalize_name(cname) or cname) + r"\b"
        elif rule_type == RuleType.PACKAGE:
            pattern = cname
        else:
            pattern = " ".join(name.split())
    pattern = pattern.strip()
    if rule_type == RuleType.PATTERN:
        try:
            re.compile(pattern, PATTERN_FLAGS)
        except re.error as exc:
            raise ValidationError(_("正则表达式无效:%(error)s") % {"error": exc}) from exc
    if not pattern:
        raise ValidationError(_("匹配内容不能为空。"))

    if new_product is not None:
        product = _create_local_product(actor=actor, spec=new_product, owner_unit=owner_unit)

    publisher_pattern = ""
    if match_publisher and publisher.strip():
        publisher_pattern = "^" + re.escape(clean_text(publisher)) + "$"
    position = (RecognitionRule.objects.aggregate(m=Max("position"))["m"] or 0) + 1
    rule = RecognitionRule(
        key=_new_key("local"),
        product=product,
        rule_type=rule_type,
        pattern=pattern,
        platform=platform if platform in ("windows", "linux", "macos") else "",
        publisher_pattern=publisher_pattern,
        position=position,
        local=True,
        comment=_("由未识别记录创建:%(name)s") % {"name": name.strip()[:200]},
    )
    rule.full_clean(exclude=["product"])
    rule.save()
    _bump_revision()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=rule,
        after=audit.snapshot(rule),
        unit_id=product.owner_unit_id,
    )
    # Existing installs learn about the new rule in the background; the product page shows
    # the progress. Every install is re-checked, not only unrecognised ones: a new rule may
    # also outrank the rule that recognised an install before.
    start_reapply(
        actor=actor,
        product=product,
        reason=_("新增识别规则:%(pattern)s") % {"pattern": rule.pattern[:200]},
    )
    return rule


def _create_local_product(*, actor: Any, spec: Mapping[str, Any], owner_unit: Any) -> Product:
    _instance, _before, key = _create_or_lock(Product, None, spec.get("key"))
    family = spec.get("family")
    if family is None:
        family_key = key
        family, created = ProductFamily.objects.get_or_create(
            key=family_key,
            defaults={"name": spec.get("name") or key, "publisher": spec.get("publisher")},
        )
        if created:
            audit.record(actor=actor, action=AuditAction.CREATE, obj=family)
    product = Product(
        key=key,
        family=family,
        publisher=spec.get("publisher"),
        name=(spec.get("name") or "").strip(),
        edition=(spec.get("edition") or "").strip(),
        category=spec.get("category") or "",
        license_model=spec.get("license_model") or "",
        domestic=bool(spec.get("domestic")),
        home_edition=bool(spec.get("home_edition")),
        local=True,
        owner_unit=owner_unit,
    )
    product.full_clean()
    product.save()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=product,
        after=audit.snapshot(product),
        unit_id=owner_unit.pk if owner_unit is not None else None,
    )
    return product


# ------------------------------------------------------------------ product & publisher edits

PRODUCT_FIELDS = (
    "name",
    "edition",
    "category",
    "license_model",
    "domestic",
    "home_edition",
    "description",
    "publisher",
)
PUBLISHER_FIELDS = ("name", "name_zh", "aliases", "domestic")
# Product fields that licensing's verdicts depend on: a change fires CATALOG_CHANGED.
LICENCE_FACT_FIELDS = ("edition", "category", "license_model", "home_edition")


def _key_messages(model: type[Product] | type[Publisher]) -> tuple[str, str]:
    """The invalid-key and key-taken messages of a product or publisher key."""
    if model is Product:
        return (
            _("产品标识只能包含小写字母、数字和连字符。"),
            _("产品标识 %(key)s 已存在。"),
        )
    return (
        _("发行商标识只能包含小写字母、数字和连字符。"),
        _("发行商标识 %(key)s 已存在。"),
    )


def _create_or_lock(
    model: type[Product] | type[Publisher], instance: Any, key: str | None
) -> tuple[Any, dict[str, Any] | None, str]:
    """The common start of a create-or-edit: (None, None, the checked new key) to create,
    or (the row locked for update, its audit snapshot, its key) to edit."""
    if instance is not None:
        locked = model.objects.select_for_update().get(pk=instance.pk)
        return locked, audit.snapshot(locked), locked.key
    key = (key or "").strip()
    invalid, taken = _key_messages(model)
    if not KEY_RE.match(key):
        raise ValidationError(invalid)
    if model.objects.filter(key=key).exists():
        raise ValidationError(taken % {"key": key})
    return None, None, key


def can_edit_product(user: Any, product: Product | None, owner_unit: Any = None) -> bool:
    """Shared products: the copyright bureau (and the system administrator). A unit's
    in-house products: that unit's SAM officer (and the system administrator)."""
    unit = owner_unit if product is None else product.owner_unit
    if unit is not None:
        return can_add_inhouse(user, unit)
    return can_edit_catalog(user)


@transaction.atomic
def save_product(
    *,
    actor: Any,
    values: Mapping[str, Any],
    product: Product | None = None,
    key: str = "",
    family: ProductFamily | None = None,
    owner_unit: Any = None,
) -> Product:
    """Create a product (``product`` None: ``key`` and optionally ``family`` or
    ``owner_unit``) or change one. Only the fields in ``PRODUCT_FIELDS`` are taken from
    ``values``. An edited shipped product becomes ``local``, so later catalog updates keep
    the region's correction."""
    if not can_edit_product(actor, product, owner_unit):
        if (owner_unit if product is None else product.owner_unit) is not None:
            raise PermissionDenied(_("只能编辑本单位的自有软件。"))
        raise PermissionDenied(_("只有著作权行政管理部门或系统管理员可以修改软件目录。"))
    creating = product is None
    product, before, key = _create_or_lock(Product, product, key)
    if product is None:
        if family is None:
            family, made = ProductFamily.objects.get_or_create(
                key=key,
                defaults={"name": (values.get("name") or key).strip()[:200]},
            )
            if made:
                audit.record(actor=actor, action=AuditAction.CREATE, obj=family)
        product = Product(key=key, family=family, owner_unit=owner_unit)
    licence_facts = _licence_facts(product)
    for name in PRODUCT_FIELDS:
        if name in values:
            value = values[name]
            setattr(product, name, value.strip() if isinstance(value, str) else value)
    product.local = True
    product.full_clean()
    product.save()
    if creating and product.family.publisher_id is None and product.publisher_id is not None:
        ProductFamily.objects.filter(pk=product.family_id).update(publisher=product.publisher)
    # Category, licence model and flags are part of every recognition result.
    _bump_revision()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        obj=product,
        before=before,
        after=audit.snapshot(product),
        unit_id=product.owner_unit_id,
    )
    if not creating and licence_facts != _licence_facts(product):
        hooks.fire(hooks.CATALOG_CHANGED, product_ids=[product.pk], unit_ids=None)
    return product


def _clean_aliases(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.splitlines()
    seen: dict[str, None] = {}
    for alias in value or []:
        alias = str(alias).strip()
        if alias:
            seen.setdefault(alias[:200], None)
    return list(seen)


@transaction.atomic
def save_publisher(
    *, actor: Any, values: Mapping[str, Any], publisher: Publisher | None = None, key: str = ""
) -> Publisher:
    """Create or change a publisher of the shared catalog (copyright bureau only). Aliases
    may come as a list or as one alias a line. An edited shipped publisher becomes local."""
    if not can_edit_catalog(actor):
        raise PermissionDenied(_("只有著作权行政管理部门或系统管理员可以修改软件目录。"))
    creating = publisher is None
    publisher, before, key = _create_or_lock(Publisher, publisher, key)
    if publisher is None:
        publisher = Publisher(key=key)
    for name in PUBLISHER_FIELDS:
        if name not in values:
            continue
        value = values[name]
        if name == "aliases":
            value = _clean_aliases(value)
        elif isinstance(value, str):
            value = value.strip()
        setattr(publisher, name, value)
    publisher.local = True
    publisher.full_clean()
    publisher.save()
    # Aliases and the domestic flag feed publisher-derived results (generic driver rules).
    _bump_revision()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        obj=publisher,
        before=before,
        after=audit.snapshot(publisher),
    )
    return publisher
