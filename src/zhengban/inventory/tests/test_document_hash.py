"""``InventoryDocument.content_hash`` keeps its value: sha256 over the head's repr and the
sorted repr() of every installation's fields, whichever way the document was read, and
whether an entry's row was already computed (``Software._row``) or not."""

from __future__ import annotations

import datetime
import hashlib
import json

from zhengban.inventory import document as d
from zhengban.inventory import parsers
from zhengban.inventory.choices import InstallationKind, InventorySource
from zhengban.inventory.testing import GLPI_EXAMPLES, XML_SAMPLES


def _reference(doc: d.InventoryDocument) -> str:
    rows = sorted(repr(s.fields()) for s in doc.installations())
    h = hashlib.sha256(doc._head())
    h.update("\x1e".join(rows).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def test_xml_documents_hash_as_before_both_ways():
    for path in sorted(XML_SAMPLES.glob("*.xml")):
        payload = path.read_bytes()
        try:
            fast = parsers.parse_xml(payload).document
        except parsers.InventoryError:
            continue
        if fast is None:
            continue
        streaming = parsers._parse_xml_streaming(payload).document
        assert fast.content_hash() == _reference(fast) == streaming.content_hash(), path.name
        assert fast.content_hash() == _reference(fast)  # again, from the rows kept


def test_json_documents_hash_as_before():
    checked = 0
    for path in sorted(GLPI_EXAMPLES.glob("*.json")):
        try:
            doc = parsers.document_from_json(json.loads(path.read_bytes()))
        except parsers.InventoryError:
            continue
        assert doc.content_hash() == _reference(doc), path.name
        checked += 1
    assert checked


def test_known_value_and_the_kinds_type():
    # The value the code gave before rows were kept on entries. A plain "application"
    # equals InstallationKind.APPLICATION but has another repr: the hash follows repr().
    day = datetime.date(2024, 3, 5)
    plain = d.InventoryDocument(
        source=InventorySource.XML,
        software=[d.Software("b", "1", install_date=day, kind="application"), d.Software("a")],
    )
    enum = d.InventoryDocument(
        source=InventorySource.XML,
        software=[
            d.Software("b", "1", install_date=day, kind=InstallationKind.APPLICATION),
            d.Software("a"),
        ],
    )
    assert plain.content_hash() == _reference(plain)
    assert enum.content_hash() == _reference(enum)
    assert plain.content_hash() != enum.content_hash()
    assert plain.content_hash() == (
        "f0dde80c3014111e1de5e47f8d05f7ee6466524864246cec3f070d2ef3a80277"
    )


def test_kept_row_is_not_part_of_equality_or_repr():
    a, b = d.Software("x", "1"), d.Software("x", "1")
    d.InventoryDocument(source=InventorySource.XML, software=[a]).content_hash()
    assert a._row and not b._row
    assert a == b and repr(a) == repr(b)
