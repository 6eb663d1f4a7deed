"""Generalisation on held-out records, ASCII word boundaries, and the pattern prefilter.

The held-out file (fixtures/heldout.jsonl) holds records that are NOT in the development file
(../shared/data/recognition-dev.jsonl): other versions, languages, bitness and spellings of
common products, Kylin/UOS store packages, drivers, updates and runtimes. The expected figures
below are what the shipped catalog reaches; a catalog change that moves them must update them
on purpose.
"""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from zhengban.catalog.document import DATA_DIR, ascii_word_edges
from zhengban.catalog.recognition import (
    Recogniser,
    anchored_prefixes,
    required_literal_options,
)

FIXTURES = Path(__file__).parent / "fixtures"
HELDOUT = FIXTURES / "heldout.jsonl"
DEV = Path(__file__).resolve().parents[5] / "shared" / "data" / "recognition-dev.jsonl"


@pytest.fixture(scope="module")
def shipped() -> Recogniser:
    return Recogniser.from_files(DATA_DIR)


def _records(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def test_heldout_file_is_disjoint_from_the_dev_file_and_well_formed():
    held = _records(HELDOUT)
    assert len(held) == 311
    fields = {"name", "publisher", "version", "platform", "family", "category"}
    fields |= {"license_model", "domestic"}
    assert all(set(r) == fields for r in held)
    assert Counter(r["platform"] for r in held) == {"windows": 250, "linux": 61}
    if DEV.exists():  # the shared data directory sits next to the repository
        dev_names = {r["name"] for r in _records(DEV)}
        assert not dev_names & {r["name"] for r in held}


def test_heldout_figures(shipped):
    held = _records(HELDOUT)
    results = [shipped.recognise_record(r) for r in held]
    recognised = [(r, x) for r, x in zip(held, results) if x.family is not None]
    assert len(recognised) == 311
    for field in ("category", "license_model", "domestic"):
        right = sum(getattr(x, field) == r[field] for r, x in recognised)
        assert (field, right) == (field, 311)
    joint = Counter((x.family, r["family"]) for r, x in recognised)
    predicted = Counter(x.family for _, x in recognised)
    labelled = Counter(r["family"] for r in held)
    true_pairs = sum(_pairs(n) for n in joint.values())
    assert (true_pairs, sum(_pairs(n) for n in predicted.values())) == (194, 194)
    assert sum(_pairs(n) for n in labelled.values()) == 194


@pytest.mark.parametrize(
    ("name", "publisher", "family"),
    [
        # Chinese text right next to an ASCII product word: with Unicode \b these missed.
        ("东方通TongWeb 7.0", "北京东方通科技股份有限公司", "tongweb"),
        ("WPS客户端", "", "wps-office"),
        ("Visio客户端", "", "microsoft-visio"),
        ("TeamViewer客户端", "", "teamviewer"),
        ("eNSP", "Huawei Technologies Co., Ltd.", "huawei-ensp"),
        ("Cisco Packet Tracer 8.2.1 64Bit", "Cisco Systems, Inc.", "cisco-packet-tracer"),
    ],
)
def test_shipped_catalog_ascii_word_boundaries(shipped, name, publisher, family):
    assert shipped.recognise(name, publisher, "", "windows").family == family


def _one_rule_catalog(pattern: str) -> dict:
    return {
        "publishers": [],
        "families": [],
        "products": [
            {
                "key": "p",
                "family": "p",
                "name": "P",
                "category": "utility",
                "license_model": "free",
                "domestic": True,
                "rules": [{"type": "pattern", "name": pattern}],
            }
        ],
    }


@pytest.mark.parametrize(
    ("pattern", "name", "family"),
    [
        (r"\bbjca\b", "BJCA证书助手", "p"),
        (r"\bbjca\b", "北京BJCA", "p"),
        (r"\bbjca\b", "xbjca", None),
        (r"\btongweb", "东方通TongWeb7.0", "p"),
        # ...and a \b next to Chinese text in the pattern still ends a word.
        (r"^office (专业增强版|professional plus)\b", "Office 专业增强版 2010", "p"),
        (r"^office (专业增强版|professional plus)\b", "Office Professional Plusx", None),
        (r"\bpro\b", "xpro", None),
        (r"\bpro\b", "专业pro版", "p"),
        # \w is ASCII too: a catalog pattern that wants Chinese says so.
        (r"^intel ?\w", "intel显卡", None),
        (r"^intel ?(?:\w|[^\x00-\x7f])", "intel显卡", "p"),
    ],
)
def test_pattern_word_boundaries_are_ascii(pattern, name, family):
    engine = Recogniser(_one_rule_catalog(pattern))
    assert engine.recognise(name, "", "", "windows").family == family


def test_ascii_word_edges_rewrites_b_outside_classes_only():
    edge = "(?:(?<![a-z0-9_])|(?![a-z0-9_]))"
    assert ascii_word_edges(r"\bwps\b") == f"{edge}wps{edge}"
    assert ascii_word_edges(r"[\b]x[]\b][^]\b]") == r"[\b]x[]\b][^]\b]"
    assert ascii_word_edges(r"\\b\B") == r"\\b(?:(?<=[a-z0-9_])(?=[a-z0-9_]))"


def test_anchored_prefixes():
    assert anchored_prefixes(r"^(?!.*update)(microsoft )?windows (xp|7)\b") == {
        "microsoft windows xp",
        "microsoft windows 7",
        "windows xp",
        "windows 7",
    }
    assert anchored_prefixes(r"^wps\s?office") == {"wps office", "wpsoffice"}
    assert anchored_prefixes(r"^(a|b)?c+d") == {"ac", "bc", "c"}
    assert anchored_prefixes(r"^(huawei )?ensp|^华为 ?ensp") == {
        "huawei ensp",
        "ensp",
        "华为ensp",
        "华为 ensp",
    }
    # Not anchored, anchored only in one branch, or nothing known at the start: no prefixes.
    assert anchored_prefixes(r"(?<![a-z0-9])sql server") is None
    assert anchored_prefixes(r"^x|y") is None
    assert anchored_prefixes(r"^.*x") is None
    assert anchored_prefixes(r"^(a)?") is None


def test_required_literals_use_ascii_case_folding():
    assert required_literal_options(r"(?<![a-z0-9])SQL Server(?![a-z0-9])") == [{"sql server"}]


def test_prefilter_finds_every_pattern_rule(shipped):
    """Each pattern must still be found when the name is exactly what it matches: the
    prefilter (anchored prefixes, literal trie) may only skip rules that cannot match."""
    engine = Recogniser(
        {
            "publishers": [],
            "families": [],
            "products": [
                {**_one_rule_catalog(p)["products"][0], "key": f"p{i}", "family": f"p{i}"}
                for i, p in enumerate(
                    [
                        r"^(?!.*update)(microsoft )?windows (xp|7)\b",
                        r"(?<![a-z0-9])sql server(?![a-z0-9]).*(企业版|enterprise)",
                        r"^lib.*$",
                        r"驱动程序|\bdrivers?\b",
                        r"^[a-c]x{2,}y",
                        r"z",  # a one-character literal: always tried
                    ]
                )
            ],
        }
    )
    cases = {
        "Microsoft Windows 7": "p0",
        "windows xp sp3": "p0",
        "Windows 7 Update": None,
        "Microsoft SQL Server 2019 企业版": "p1",
        "sql servers enterprise": None,
        "libfoo": "p2",
        "某某驱动程序": "p3",
        "Realtek Driver": "p3",
        "bxxy": "p4",
        "Zip": "p5",
    }
    got = {name: engine.recognise(name, "", "", "windows").family for name in cases}
    assert got == cases


def test_shipped_rules_compile_with_ascii_flags():
    # Every pattern in the shipped data is valid under the engine's flags (re.ASCII rejects
    # nothing the default accepts, but a future flag change should fail here, not in prod).
    engine = Recogniser.from_files(DATA_DIR)
    assert engine.rule_count > 3000
    assert re.compile(r"\b", re.ASCII | re.IGNORECASE)
