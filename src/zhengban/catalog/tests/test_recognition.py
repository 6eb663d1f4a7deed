"""The pure recognition engine on the test fixture catalog (no database)."""

from pathlib import Path

import pytest

from zhengban.catalog.document import CatalogError, load_catalog, validate_document
from zhengban.catalog.recognition import (
    FIELDS,
    Recogniser,
    clean_text,
    normalize_name,
    package_family_base,
    required_literal_options,
)

FIXTURE = Path(__file__).parent / "fixtures" / "mini-catalog.json"


@pytest.fixture(scope="module")
def engine() -> Recogniser:
    return Recogniser.from_files(FIXTURE)


def rec(engine, name, publisher="", version="", platform=""):
    return engine.recognise(name, publisher, version, platform).as_dict()


def short(engine, name, publisher="", version="", platform=""):
    r = engine.recognise(name, publisher, version, platform)
    return (r.family, r.product, r.license_model)


def test_result_has_exactly_the_documented_fields(engine):
    assert tuple(rec(engine, "WinRAR 6.24 (64-bit)")) == FIELDS
    assert FIELDS == (
        "family",
        "product",
        "edition",
        "version",
        "category",
        "license_model",
        "domestic",
        "rule",
    )


def test_office_editions(engine):
    ms = "Microsoft Corporation"
    assert rec(engine, "Microsoft Office Professional Plus 2016", ms, "16.0.4266.1001") == {
        "family": "microsoft-office",
        "product": "microsoft-office-professional-plus",
        "edition": "Professional Plus",
        "version": "16.0.4266.1001",
        "category": "office",
        "license_model": "commercial",
        "domestic": False,
        "rule": "microsoft-office-professional-plus#0",
    }
    assert short(engine, "Microsoft Office 专业增强版 2010", ms) == (
        "microsoft-office",
        "microsoft-office-professional-plus",
        "commercial",
    )
    assert short(engine, "Microsoft Office 标准版 2013", ms)[1] == "microsoft-office-standard"
    assert short(engine, "Microsoft Office Standard 2016", ms)[1] == "microsoft-office-standard"
    assert short(engine, "Microsoft Office 家庭和学生版 2021 - zh-cn", ms)[1] == (
        "microsoft-office-home-student"
    )
    # The catch-all has a lower priority; the edition comes from the name.
    r = engine.recognise("Microsoft Office Enterprise 2007", ms, "12.0.6612.1000", "windows")
    assert (r.product, r.edition, r.rule) == (
        "microsoft-office",
        "Enterprise",
        "microsoft-office#0",
    )
    # Version from the name when the version field is empty.
    assert rec(engine, "Microsoft Office 专业增强版 2010", ms)["version"] == "2010"


def test_catch_all_office_rule_requires_the_publisher(engine):
    assert rec(engine, "Microsoft Office Enterprise 2007", "Someone Else")["family"] is None


def test_wps_personal_vs_professional(engine):
    k = "Kingsoft Corp."
    assert short(engine, "WPS Office (11.1.0.14309)", k, "11.1.0.14309") == (
        "wps-office",
        "wps-office-personal",
        "commercial",
    )
    assert short(engine, "WPS Office 2013 个人版", k)[1] == "wps-office-personal"
    assert short(engine, "WPS Office 2019 专业增强版", k)[1] == "wps-office-professional"
    assert short(engine, "WPS Office 2019 专业版", k)[1] == "wps-office-professional"
    r = engine.recognise("wps-office", "Kingsoft Office Corporation", "1:11.1.0.11720-1", "linux")
    assert (r.product, r.version, r.domestic, r.rule) == (
        "wps-office-personal",
        "11.1.0.11720",
        True,
        "wps-office-personal#2",
    )


def test_package_rules_do_not_fire_on_windows(engine):
    assert engine.recognise("wps-office", "Kingsoft", "11.1", "windows").family is None
    assert engine.recognise("wps-office", "Kingsoft", "11.1", "").family == "wps-office"
    assert engine.recognise("libfoo1", "", "1.0", "windows").family is None
    assert engine.recognise("libfoo1", "", "1.0", "linux").family == "foo"


def test_winrar_is_commercial(engine):
    assert rec(engine, "WinRAR 6.24 (64-bit)", "win.rar GmbH", "6.24.0") == {
        "family": "winrar",
        "product": "winrar",
        "edition": None,
        "version": "6.24.0",
        "category": "compression",
        "license_model": "commercial",
        "domestic": False,
        "rule": "winrar#0",
    }
    assert short(engine, "WinRAR 5.71 (64 位)")[2] == "commercial"


def test_adobe_reader_free_acrobat_commercial(engine):
    a = "Adobe Systems Incorporated"
    assert short(engine, "Adobe Acrobat Reader DC - Chinese Simplified", a) == (
        "adobe-reader",
        "adobe-reader",
        "free",
    )
    assert short(engine, "Adobe Reader XI (11.0.23) - Chinese Simplified", a)[2] == "free"
    assert short(engine, "Adobe Acrobat XI Pro", a) == (
        "adobe-acrobat",
        "adobe-acrobat-pro",
        "commercial",
    )
    assert short(engine, "Adobe Acrobat", a)[1] == "adobe-acrobat-pro"


def test_home_editions_are_their_own_products(engine):
    doc = load_catalog(FIXTURE)
    home = {p["key"] for p in doc["products"] if p["home_edition"]}
    assert home == {"microsoft-office-home-student", "windows-home", "wps-office-personal"}
    assert short(engine, "Microsoft Windows 10 家庭中文版", "Microsoft")[1] == "windows-home"
    assert short(engine, "Microsoft Windows 11 Pro", "Microsoft")[1] == "windows-professional"


def test_huorong_personal_vs_enterprise(engine):
    p = "北京火绒网络科技有限公司"
    assert short(engine, "火绒安全软件", p) == ("huorong", "huorong-personal", "free")
    assert short(engine, "火绒终端安全管理系统", p) == (
        "huorong",
        "huorong-enterprise",
        "commercial",
    )


def test_sql_server_express_vs_standard(engine):
    ms = "Microsoft Corporation"
    assert short(engine, "Microsoft SQL Server 2014 Express LocalDB", ms) == (
        "sql-server",
        "sql-server-express",
        "free",
    )
    assert short(engine, "Microsoft SQL Server 2019 (64-bit)", ms) == (
        "sql-server",
        "sql-server-standard",
        "commercial",
    )
    assert short(engine, "Microsoft SQL Server 2008 R2 (64 位)", ms)[1] == "sql-server-standard"


def test_version_bounds_split_oracle_java(engine):
    o = "Oracle Corporation"
    assert short(engine, "Java 8 Update 381 (64-bit)", o, "8.0.3810.9") == (
        "oracle-java",
        "oracle-java-8-otn",
        "commercial",
    )
    assert short(engine, "Java 8 Update 191", o, "8.0.1910.12") == (
        "oracle-java",
        "oracle-java-8-free",
        "free",
    )
    # Same name, new version: only version extraction reruns, the outcome follows the bound.
    assert short(engine, "Java 8 Update 191", o, "8.0.2110.1")[1] == "oracle-java-8-otn"
    # No version at all: neither bounded rule can be decided.
    assert short(engine, "Java 8 Update 191", o, "")[0] is None


def test_full_width_and_bracketed_language_tags(engine):
    assert (
        short(engine, "ＷＰＳ　Ｏｆｆｉｃｅ （11.1.0.14309）", "Kingsoft")[1]
        == "wps-office-personal"
    )
    assert short(engine, "ＷｉｎＲＡＲ　６.２４", "")[1] == "winrar"
    assert normalize_name(clean_text("WPS Office [zh-CN] (x64)")) == "wps office"
    assert normalize_name(clean_text("AutoCAD 2020 - 简体中文 (Simplified Chinese)")) == "autocad"
    assert (
        normalize_name(clean_text("Mozilla Firefox 52.9.0 ESR (x86 zh-CN)"))
        == "mozilla firefox esr"
    )
    assert normalize_name(clean_text("WinRAR 5.71 (64 位)")) == "winrar"
    assert normalize_name(clean_text("搜狗拼音输入法 13.4正式版")) == "搜狗拼音输入法 正式版"
    assert normalize_name(clean_text("Adobe Reader XI (11.0.23) - Chinese Simplified")) == (
        "adobe reader xi"
    )


def test_generic_fallbacks(engine):
    ms = "Microsoft Corporation"
    for name in (
        "Security Update for Microsoft Windows (KB4499175)",
        "Microsoft Windows (KB976902) 的更新",
        "Update for Windows 10 for x64-based Systems (KB4023057)",
    ):
        assert short(engine, name, ms) == ("windows-update", "windows-update", "free")
    assert (
        short(engine, "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33130", ms)[0]
        == "vc-redist"
    )
    assert short(engine, "Microsoft Visual C++ 2022 X64 Minimum Runtime - 14.38.33130", ms)[0] == (
        "vc-redist"
    )
    realtek = engine.recognise(
        "Realtek High Definition Audio Driver", "Realtek Semiconductor", "6.0"
    )
    assert (realtek.family, realtek.category, realtek.domestic) == (
        "driver-realtek-high-definition-audio",
        "driver",
        False,
    )
    lenovo = engine.recognise("Lenovo Power Management Driver", "Lenovo", "1.67", "windows")
    assert (lenovo.family, lenovo.domestic) == ("driver-lenovo-power-management", True)
    # An unknown publisher written in Chinese counts as domestic.
    assert engine.recognise("某某打印机驱动程序", "珠海某某电子有限公司").domestic is True
    gtk = [
        engine.recognise(n, "Debian", "3.24.5-1", "linux")
        for n in ("libgtk-3-0", "libgtk-3-common")
    ]
    assert [(r.family, r.product, r.category, r.license_model) for r in gtk] == [
        ("gtk", "linux-library", "runtime", "open_source"),
        ("gtk", "linux-library", "runtime", "open_source"),
    ]
    # A specific rule beats the generic lib* glob.
    assert short(engine, "libreoffice-writer", "Ubuntu", "1:6.4.7-0ubuntu0.20.04", "linux") == (
        "libreoffice",
        "libreoffice",
        "open_source",
    )


def test_package_family_base():
    assert package_family_base("libgtk-3-0") == "gtk"
    assert package_family_base("libssl1.1") == "ssl"
    assert package_family_base("python3-requests") == "requests"
    assert package_family_base("fonts-noto-cjk") == "noto-cjk"
    assert package_family_base("libqt5core5a:amd64") == "qt5core"
    assert package_family_base("lib") == "lib"


def test_malformed_input_gives_null_family_never_a_crash(engine):
    null = {k: None for k in FIELDS}
    assert rec(engine, "") == null
    assert rec(engine, "   ") == null
    assert engine.recognise(None).as_dict() == null
    assert engine.recognise(123).as_dict() == null
    assert engine.recognise(["WinRAR"]).as_dict() == null  # unhashable
    assert engine.recognise({"a": 1}, {"b": 2}).as_dict() == null
    assert engine.recognise_record("not a dict").as_dict() == null
    assert engine.recognise_record({}).as_dict() == null
    # 10 kB names are cut, not choked on.
    huge = engine.recognise("WinRAR " + "x" * 10_000, "", "6.24")
    assert (huge.family, huge.version) == ("winrar", "6.24")
    assert engine.recognise("x" * 10_000).family is None
    # Control characters are dropped (a NUL inside a word joins it), tabs separate words.
    assert engine.recognise("Win\x00RAR\x07 5.71").product == "winrar"
    assert engine.recognise("WinRAR\t6.24\n").product == "winrar"
    # Invalid UTF-8: bytes are decoded with replacement; lone surrogates are removed.
    assert engine.recognise(b"WinRAR \xff\xfe 6.24").product == "winrar"
    assert engine.recognise("\udcffWinRAR").product == "winrar"
    assert engine.recognise("\udcff\udcfe").family is None
    # Odd version and platform values.
    assert engine.recognise("WinRAR", None, 6.24, "WINDOWS").version == "6.24"
    assert engine.recognise("WinRAR", None, ["6"], 7).version is None
    assert engine.recognise("WinRAR", None, "\x00\x01", None).version is None


def test_memo_returns_the_same_object(engine):
    first = engine.recognise("WinRAR 6.24 (64-bit)", "win.rar GmbH", "6.24.0", "windows")
    assert engine.recognise("WinRAR 6.24 (64-bit)", "win.rar GmbH", "6.24.0", "windows") is first
    many = engine.recognise_many(
        [
            {
                "name": "WinRAR 6.24 (64-bit)",
                "publisher": "win.rar GmbH",
                "version": "6.24.0",
                "platform": "windows",
            },
            {"name": ["bad"]},
        ]
    )
    assert many[0] is first and many[1].family is None


def test_memo_is_bounded():
    small = Recogniser(load_catalog(FIXTURE), max_memo=10)
    for i in range(25):
        small.recognise(f"WinRAR {i}.0")
    assert small.memo_size <= 10


def test_swid_wins():
    engine = Recogniser.from_files(FIXTURE)
    r = engine.recognise(
        "Something else", "", "16.0", swid="regid.1991-06.com.microsoft-office-professional-plus"
    )
    assert (r.product, r.rule) == (
        "microsoft-office-professional-plus",
        "microsoft-office-professional-plus#swid:regid.1991-06.com.microsoft-office-professional-plus",
    )


def test_required_literals():
    assert required_literal_options(r"^microsoft office (professional plus|专业增强版)\b") == [
        {"microsoft office "},
        {"professional plus", "专业增强版"},
    ]
    assert required_literal_options(r"\bdrivers?\b|驱动程序") == [{"driver", "驱动程序"}]
    assert required_literal_options(r".*") == []


def _doc(**product):
    base = {
        "key": "p",
        "name": "P",
        "category": "office",
        "license_model": "free",
        "rules": [],
    }
    base.update(product)
    return {"format": "zhengban-catalog", "version": 1, "products": [base]}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "x.json: a catalog document must be a JSON object"),
        ({"format": "other", "version": 1}, "x.json: 'format' must be 'zhengban-catalog'"),
        ({"format": "zhengban-catalog", "version": 2}, "x.json: unsupported format version 2"),
        (_doc(category="games"), "x.json: product 'p': category must be one of"),
        (_doc(license_model="shareware"), "x.json: product 'p': license_model must be one of"),
        (_doc(key="Bad Key"), "x.json: product 'Bad Key': field 'key' must be a slug"),
        (_doc(rules=[{"type": "regex", "name": "x"}]), "x.json: product 'p' rule #0: type must"),
        (
            _doc(rules=[{"type": "pattern", "name": "("}]),
            "x.json: product 'p' rule #0: field 'name' is not a valid regular expression",
        ),
        (_doc(colour="red"), "x.json: product 'p': unknown field(s) ['colour']"),
        (_doc(versions=["1", "1"]), "x.json: product 'p': 'versions' lists a version twice"),
    ],
)
def test_validation_errors_name_file_and_entry(doc, message):
    with pytest.raises(CatalogError) as info:
        validate_document(doc, "x.json")
    assert str(info.value).startswith(message)


def test_merge_errors(tmp_path):
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    a.write_text(
        '{"format":"zhengban-catalog","version":1,"products":[{"key":"p","name":"P",'
        '"category":"office","license_model":"free"}]}',
        encoding="utf-8",
    )
    b.write_text(a.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"^b.json: product 'p' is already defined in a.json$"):
        load_catalog(tmp_path)
    b.write_text(
        '{"format":"zhengban-catalog","version":1,"products":[{"key":"q","name":"Q",'
        '"family":"nope","category":"office","license_model":"free"}]}',
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match=r"^b.json: product 'q': unknown family 'nope'$"):
        load_catalog(tmp_path)
    b.write_text("{", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"^b.json: invalid JSON at line 1 column 2"):
        load_catalog(tmp_path)
    b.write_bytes(b"\xff\xfe{}")
    with pytest.raises(CatalogError, match=r"^b.json: not valid UTF-8"):
        load_catalog(tmp_path)
