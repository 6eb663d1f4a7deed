"""Parsing real ``wmic /format:list`` dumps (UTF-16LE, as wmic writes them)."""

from __future__ import annotations

from conftest import REG_DIR

from zhengban_agent import wmi


def load(name: str) -> list:
    return wmi.parse_wmic_list(wmi.decode_text((REG_DIR / name).read_bytes()))


def test_software_licensing_product() -> None:
    records = load("office_2016_01-SoftwareLicensingProduct.wmi")
    assert len(records) == 1
    assert records[0]["PartialProductKey"] == "WE9H9"
    assert records[0]["ADActivationObjectDN"] is None
    assert wmi.licenseinfos_from_slp(records) == [
        {
            "name": "Office 16, Office16ProPlusVL_KMS_Client edition",
            "fullname": "Office 16, VOLUME_KMSCLIENT channel",
            "key": "XXXXX-XXXXX-XXXXX-XXXXX-WE9H9",
            "productid": "03612-03391-000-000000-03-3082-10586.0000-3342017",
            "trial": False,
            "license_status": "licensed",
            "channel": "Volume:GVLK",
            "application_id": "0ff1ce15-a989-479d-af46-f275c6370663",
        }
    ]
    assert wmi.wmi_datetime(records[0]["EvaluationEndDate"]) is None  # 1601: never


def test_operating_system() -> None:
    (os_row,) = load("win7-sp1-x64-Win32_OperatingSystem.wmi")
    assert os_row["Caption"] == "Microsoft Windows 7 Professionnel"
    assert os_row["Version"] == "6.1.7600"
    assert os_row["OSArchitecture"] == "32 bits"
    assert os_row["MUILanguages"] == ["fr-FR", "en-US"]
    assert os_row["CSDVersion"] is None
    assert wmi.wmi_datetime(os_row["InstallDate"]) == "2013-08-13 15:37:55"
    assert wmi.wmi_datetime(os_row["LastBootUpTime"]) == "2013-08-22 20:42:18"
    assert wmi.wmi_datetime("/Date(1376401075000)/") == "2013-08-13 13:37:55"


def test_query_is_empty_off_windows() -> None:
    assert wmi.query("Win32_OperatingSystem", ["Caption"]) == []
