"""The XML software section's fast path (``parsers.software_entries``) gives exactly the
document the streaming expat parser gives, and declines every body it cannot read exactly."""

from __future__ import annotations

import pytest
from django.test import override_settings

from zhengban.inventory import parsers
from zhengban.inventory.testing import XML_SAMPLES

SAMPLE = (XML_SAMPLES / "1.xml").read_bytes()  # FusionInventory, 42 SOFTWARES entries
FIRST = SAMPLE.index(b"<SOFTWARES>")


def _fast(payload: bytes) -> bool:
    """Whether the fast path reads this body (rather than the streaming parser)."""
    section = parsers.software_section(payload)
    if parsers.parse_xml_quick(payload) is None or section is None:
        return False
    return parsers.software_entries(payload, section) is not None


def _same(payload: bytes) -> parsers.XmlRequest:
    fast = parsers.parse_xml(payload)
    assert fast == parsers._parse_xml_streaming(payload)
    return fast


def _with_entry(entry: bytes, payload: bytes = SAMPLE) -> bytes:
    """``payload`` with ``entry`` (a whole SOFTWARES element) as its first software entry."""
    return payload[:FIRST] + entry + b"\n    " + payload[FIRST:]


def test_every_sample_reads_the_same_both_ways():
    fast = set()
    for path in sorted(XML_SAMPLES.glob("*.xml")):
        payload = path.read_bytes()
        try:
            expected = parsers._parse_xml_streaming(payload)
        except parsers.InventoryError as exc:
            with pytest.raises(parsers.InventoryError) as caught:
                parsers.parse_xml(payload)
            assert (caught.value.field, caught.value.message) == (exc.field, exc.message)
            continue
        assert parsers.parse_xml(payload) == expected, path.name
        if _fast(payload):
            fast.add(path.name)
    # Every sample with software entries takes the fast path.
    assert fast == {"1.xml", "12.xml", "13.xml", "14.xml", "18.xml", "2.xml", "3.xml", "4.xml"}


def test_plain_entries_with_predefined_entities_empty_and_repeated_fields():
    entry = (
        b"<SOFTWARES><NAME>A &amp; B &lt;x&gt; &quot;q&quot; &apos;s&apos;</NAME>"
        b"<VERSION/><PUBLISHER>first</PUBLISHER><PUBLISHER>  last  </PUBLISHER>"
        b"<INSTALLDATE>2024-03-05</INSTALLDATE></SOFTWARES>"
    )
    payload = _with_entry(entry)
    assert _fast(payload)
    doc = _same(payload).document
    assert doc is not None and len(doc.software) == 43
    item = doc.software[0]
    assert (item.name, item.version, item.publisher) == ("A & B <x> \"q\" 's'", "", "last")
    assert str(item.install_date) == "2024-03-05"
    assert doc.software_digest == parsers.parse_xml_quick(payload)[1]
    # An entry without a name is no entry, as in the streaming parser.
    nameless = _with_entry(b"<SOFTWARES><VERSION>1</VERSION></SOFTWARES>")
    assert _fast(nameless) and len(_same(nameless).document.software) == 42


@pytest.mark.parametrize(
    "entry",
    [
        b"<SOFTWARES><NAME>caf&#233;</NAME></SOFTWARES>",  # character reference
        b'<SOFTWARES><NAME lang="zh">x</NAME></SOFTWARES>',  # attribute
        b"<SOFTWARES><NAME>x<B>y</B>z</NAME></SOFTWARES>",  # nested element
        b"<SOFTWARES><!-- c --><NAME>x</NAME></SOFTWARES>",  # comment
        b"<SOFTWARES><NAME><![CDATA[a<b]]></NAME></SOFTWARES>",  # CDATA
        b"<SOFTWARES>\r\n<NAME>a\r\nb</NAME></SOFTWARES>",  # CR LF, which expat turns into LF
        b"<SOFTWARES>text<NAME>x</NAME></SOFTWARES>",  # mixed content
        b"<SOFTWARES ><NAME>x</NAME></SOFTWARES>",  # other spelling of the tag
    ],
)
def test_unusual_entries_are_left_to_the_streaming_parser(entry):
    payload = _with_entry(entry)
    assert not _fast(payload)
    doc = _same(payload).document
    assert doc is not None and len(doc.software) == 43


def test_lower_case_fields_are_left_to_the_streaming_parser():
    payload = _with_entry(b"<SOFTWARES><name>x</name></SOFTWARES>")
    assert not _fast(payload)
    doc = _same(payload).document
    assert doc is not None and len(doc.software) == 42  # no NAME: no entry


def test_other_encodings_are_left_to_the_streaming_parser():
    latin = SAMPLE.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1)
    assert latin != SAMPLE
    latin = _with_entry(b"<SOFTWARES><NAME>caf\xe9</NAME></SOFTWARES>", latin)
    assert not _fast(latin)
    assert _same(latin).document.software[0].name == "café"
    bom = b"\xef\xbb\xbf" + SAMPLE
    assert _fast(bom) and _same(bom).document.software == _same(SAMPLE).document.software


@pytest.mark.parametrize(
    "entry",
    [
        b"<SOFTWARES><NAME>a\x01b</NAME></SOFTWARES>",  # a control character XML forbids
        b"<SOFTWARES><NAME>a &nbsp; b</NAME></SOFTWARES>",  # undefined entity
        b"<SOFTWARES><NAME>a ]]> b</NAME></SOFTWARES>",  # "]]>" in character data
        b"<SOFTWARES><NAME>\xff\xfe</NAME></SOFTWARES>",  # not UTF-8
        b"<SOFTWARES><NAME>x</VERSION></SOFTWARES>",  # mismatched tag
    ],
)
def test_bad_entries_get_the_streaming_parsers_error(entry):
    payload = _with_entry(entry)
    assert not _fast(payload)
    with pytest.raises(parsers.InventoryError) as streaming:
        parsers._parse_xml_streaming(payload)
    with pytest.raises(parsers.InventoryError) as caught:
        parsers.parse_xml(payload)
    assert (caught.value.field, caught.value.message, caught.value.status) == (
        streaming.value.field,
        streaming.value.message,
        streaming.value.status,
    )


def test_software_limit_error_is_the_same():
    with override_settings(ZHENGBAN={"INVENTORY_MAX_SOFTWARE": 10}):
        with pytest.raises(parsers.InventoryError) as caught:
            parsers.parse_xml(SAMPLE)
    assert (caught.value.field, caught.value.status) == ("CONTENT.SOFTWARES", 413)


def test_equal_entries_are_read_once_and_give_equal_documents():
    parsers._software_from_block.cache_clear()
    first = parsers.parse_xml(SAMPLE).document
    misses = parsers._software_from_block.cache_info().misses
    again = parsers.parse_xml(SAMPLE).document
    assert parsers._software_from_block.cache_info().misses == misses == 42
    assert again == first


@pytest.mark.parametrize(
    "entry",
    [
        # A field named SOFTWARES: its "</SOFTWARES>" would cut the entry in two.
        b"<SOFTWARES><NAME>x</NAME><SOFTWARES>y</SOFTWARES></SOFTWARES>",
        # Text between two entries.
        b"<SOFTWARES><NAME>x</NAME></SOFTWARES>text",
        # A comment holding a closing tag between two entries.
        b"<SOFTWARES><NAME>x</NAME></SOFTWARES><!-- </SOFTWARES> -->",
    ],
)
def test_entries_cut_at_another_closing_tag_are_left_to_the_streaming_parser(entry):
    payload = _with_entry(entry)
    assert not _fast(payload)
    _same(payload)


def test_last_closing_tag_spelled_otherwise_is_left_to_the_streaming_parser():
    close = SAMPLE.rindex(b"</SOFTWARES>")
    payload = SAMPLE[:close] + b"</SOFTWARES >" + SAMPLE[close + len(b"</SOFTWARES>") :]
    assert not _fast(payload)
    assert len(_same(payload).document.software) == 42


def test_an_entry_the_fast_path_declines_is_not_remembered():
    payload = _with_entry(b"<SOFTWARES><NAME>caf&#233;</NAME></SOFTWARES>")
    parsers.parse_xml(SAMPLE)  # the sample's entries are remembered
    assert not _fast(payload) and not _fast(payload)
    assert _same(payload).document.software[0].name == "café"
    assert _fast(SAMPLE)


def test_documents_share_equal_entries():
    first = parsers.parse_xml(SAMPLE).document
    again = parsers.parse_xml(SAMPLE).document
    assert all(a is b for a, b in zip(first.software, again.software, strict=True))
    assert first.content_hash() == again.content_hash()


def test_long_entries_are_read_but_not_remembered():
    # A long publisher makes one entry longer than SOFTWARE_MEMO_ENTRY_BYTES.
    long_value = "P" * (parsers.SOFTWARE_MEMO_ENTRY_BYTES + 10)
    body = SAMPLE.replace(b"<PUBLISHER>", b"<PUBLISHER>" + long_value.encode(), 1)
    parsers._software_from_block.cache_clear()
    document = parsers.parse_xml(body).document
    assert document == parsers._parse_xml_streaming(body).document
    assert sum(1 for s in document.software if s.publisher.startswith("PPPP")) == 1
    # The 41 ordinary entries are remembered, the long one is not.
    assert parsers._software_from_block.cache_info().currsize == 41
    parsers.parse_xml(body)
    assert parsers._software_from_block.cache_info().currsize == 41
