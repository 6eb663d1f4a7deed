"""Which device an inventory belongs to, when machines share what should identify them."""

import json

import pytest

from zhengban.inventory import document as d
from zhengban.inventory import parsers, services
from zhengban.inventory.models import Device, DeviceMAC, InstallationEvent


def _doc(deviceid, hostname, *, serial, uuid, macs, software=("7-Zip",)):
    body = {
        "deviceid": deviceid,
        "content": {
            "versionclient": "GLPI-Agent_v1.4",
            "hardware": {"name": hostname, "uuid": uuid},
            "bios": {"ssn": serial},
            "operatingsystem": {"full_name": "Microsoft Windows 10 专业版"},
            "networks": [{"description": f"nic{n}", "mac": mac} for n, mac in enumerate(macs)],
            "softwares": [{"name": name} for name in software],
        },
    }
    return parsers.document_from_json(parsers.parse_json(json.dumps(body).encode()))


@pytest.mark.parametrize(
    "value",
    [
        "To be filled by O.E.M",
        "To Be Filled By O.E.M.",
        "OEM_Serial",
        "SystemSerialNumb",
        "System Serial Number",
        "System Product Name",
        "Default string",
        "$(DEFAULT_SYSTEM_SERIAL_NUMBER)",
        "1234567",
        "0x00000000",
        "000000",
        "EVAL",
        "empty",
        "N/A",
        "---",
    ],
)
def test_placeholder_serials_identify_nothing(value):
    assert d.hardware_serial(value) == ""


@pytest.mark.parametrize(
    "value",
    [
        "03000200-0400-0500-0006-000700080009",
        # The same placeholder with its first three fields in the other byte order.
        "00020003-0004-0005-0006-000700080009",
        "01010101-0101-0101-0101-010101010101",
        "12345678-1234-5678-90AB-CDDEEFAABBCC",
        "78563412-3412-7856-90ab-cddeefaabbcc",
        "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
        "Not Specified",
    ],
)
def test_placeholder_uuids_identify_nothing(value):
    assert d.hardware_uuid(value) == ""


def test_real_identifiers_are_kept():
    assert d.hardware_serial("PF0ABCDE") == "PF0ABCDE"
    assert d.hardware_serial("n/a-123") == "N/A-123"
    assert d.hardware_serial("10110") == "10110"
    assert d.hardware_uuid("4c4c4544-0051-3510-8052-b4c04f4e5632") == (
        "4C4C4544-0051-3510-8052-B4C04F4E5632"
    )


@pytest.mark.parametrize(
    "mac",
    [
        "00:50:56:C0:00:01",  # VMware Workstation vmnet1, the same on every host
        "00:50:56:c0:00:08",  # vmnet8
        "50-50-54-50-30-30",  # WAN Miniport (PPTP)
        "33:50:6F:45:30:30",  # WAN Miniport (PPPoE)
        "44:45:53:54:42:00",  # RAS ("DEST")
        "20:41:53:59:4E:FF",  # RAS async adapter
        "02:00:4C:4F:4F:50",  # Microsoft loopback
        "0A:00:27:00:00:00",  # VirtualBox host-only
        "FE:FF:FF:FF:FF:FF",  # Xen
    ],
)
def test_adapters_shared_by_every_machine_are_no_identity(mac):
    assert d.normalise_mac(mac) is None


def test_a_virtual_machines_own_mac_is_kept():
    # VMware guests' MACs (00:50:56 but not c0) are unique per machine.
    assert d.normalise_mac("00-50-56-9A-11-22") == "00:50:56:9a:11:22"


@pytest.mark.django_db
def test_assembled_pcs_with_placeholder_ids_and_shared_adapters_stay_apart(org):
    shared = ["00:50:56:C0:00:01", "00:50:56:C0:00:08", "50:50:54:50:30:30"]
    placeholder = {
        "serial": "To be filled by O.E.M",
        "uuid": "03000200-0400-0500-0006-000700080009",
    }
    a = _doc("pc-a-2026", "CAIWU-01", macs=[*shared, "d4:3d:7e:00:00:0a"], **placeholder)
    b = _doc("pc-b-2026", "CAIWU-02", macs=[*shared, "d4:3d:7e:00:00:0b"], **placeholder)
    first_a = services.ingest_inventory(unit=org.unit_a, document=a)
    first_b = services.ingest_inventory(unit=org.unit_a, document=b)
    assert first_b.created and first_b.device.pk != first_a.device.pk
    again_a = services.ingest_inventory(unit=org.unit_a, document=a)
    again_b = services.ingest_inventory(unit=org.unit_a, document=b)
    assert (again_a.device.pk, again_a.unchanged) == (first_a.device.pk, True)
    assert (again_b.device.pk, again_b.unchanged) == (first_b.device.pk, True)
    assert Device.objects.count() == 2
    assert InstallationEvent.objects.count() == 0
    # Neither the placeholders nor the shared adapters were stored as the machines' ids.
    device = Device.objects.get(pk=first_a.device.pk)
    assert (device.serial_number, device.hardware_uuid) == ("", "")
    assert list(DeviceMAC.objects.filter(device=device).values_list("mac", flat=True)) == [
        "d4:3d:7e:00:00:0a"
    ]


def _xml(networks: str) -> bytes:
    return (
        "<?xml version='1.0'?><REQUEST><DEVICEID>pc-x-2026</DEVICEID><QUERY>INVENTORY</QUERY>"
        "<CONTENT><HARDWARE><NAME>PC-X</NAME></HARDWARE>"
        f"{networks}<SOFTWARES><NAME>7-Zip</NAME></SOFTWARES></CONTENT></REQUEST>"
    ).encode()


@pytest.mark.django_db
def test_an_xml_inventory_without_networks_keeps_the_stored_macs(org):
    with_nic = _xml("<NETWORKS><MACADDR>D4:3D:7E:00:00:0A</MACADDR></NETWORKS>")
    services.ingest_xml(unit=org.unit_a, payload=with_nic)
    device = Device.objects.get()
    macs = lambda: list(DeviceMAC.objects.values_list("mac", flat=True))  # noqa: E731
    assert macs() == ["d4:3d:7e:00:00:0a"]
    services.ingest_xml(unit=org.unit_a, payload=_xml(""))
    assert (Device.objects.get().pk, macs()) == (device.pk, ["d4:3d:7e:00:00:0a"])
    # A NETWORKS section without the card is news: the MAC goes.
    services.ingest_xml(
        unit=org.unit_a, payload=_xml("<NETWORKS><DESCRIPTION>lo</DESCRIPTION></NETWORKS>")
    )
    assert (Device.objects.get().pk, macs()) == (device.pk, [])


@pytest.mark.django_db
def test_a_cloned_image_on_machines_without_ids_makes_two_devices(org):
    placeholder = {"serial": "Default string", "uuid": "03000200-0400-0500-0006-000700080009"}
    # GHOST copied the agent's id along with the disk; the network cards differ.
    a = _doc("ghost-2026", "JSJ-01", macs=["d4:3d:7e:00:00:01"], **placeholder)
    b = _doc(
        "ghost-2026", "JSJ-02", macs=["d4:3d:7e:00:00:02"], software=("WPS Office",), **placeholder
    )
    first_a = services.ingest_inventory(unit=org.unit_a, document=a)
    first_b = services.ingest_inventory(unit=org.unit_a, document=b)
    assert first_b.created and first_b.device.pk != first_a.device.pk
    for _ in range(2):
        again_a = services.ingest_inventory(unit=org.unit_a, document=a)
        again_b = services.ingest_inventory(unit=org.unit_a, document=b)
        assert (again_a.device.pk, again_a.unchanged) == (first_a.device.pk, True)
        assert (again_b.device.pk, again_b.unchanged) == (first_b.device.pk, True)
    assert again_b.match_rank == services.RANK_UNIVERSAL_MAC
    assert InstallationEvent.objects.count() == 0
    # The agent id stays with the first machine (unique per unit).
    assert list(Device.objects.order_by("pk").values_list("hostname", "agent_device_id")) == [
        ("JSJ-01", "ghost-2026"),
        ("JSJ-02", ""),
    ]


@pytest.mark.django_db
def test_a_machine_without_ids_that_gains_a_card_stays_one_device(org):
    placeholder = {"serial": "Default string", "uuid": ""}
    before = _doc("pc-2026", "JSJ-03", macs=["d4:3d:7e:00:00:03"], **placeholder)
    after = _doc(
        "pc-2026", "JSJ-03", macs=["d4:3d:7e:00:00:03", "00:e0:4c:68:00:01"], **placeholder
    )
    first = services.ingest_inventory(unit=org.unit_a, document=before)
    again = services.ingest_inventory(unit=org.unit_a, document=after)
    assert (again.device.pk, again.match_rank) == (first.device.pk, services.RANK_AGENT_ID)


@pytest.mark.django_db
def test_a_machine_reimaged_between_windows_and_kylin_on_old_firmware_stays_one_device(org):
    windows = _doc(
        "win-2026", "CW-07", serial="CN0X1234", uuid="44454C4C-5100-1035-8052-B4C04F4E5632", macs=[]
    )
    kylin = _doc(
        "kylin-2026",
        "cw-07",
        serial="CN0X1234",
        uuid="4C4C4544-0051-3510-8052-B4C04F4E5632",
        macs=[],
    )
    first = services.ingest_inventory(unit=org.unit_a, document=windows)
    again = services.ingest_inventory(unit=org.unit_a, document=kylin)
    assert (again.device.pk, again.match_rank) == (
        first.device.pk,
        services.RANK_UUID_AND_SERIAL,
    )
    # Another machine whose UUID only looks swapped, with another serial, is another device.
    other = _doc(
        "other-2026",
        "CW-08",
        serial="CN0X9999",
        uuid="44454C4C-5100-1035-8052-B4C04F4E5632",
        macs=[],
    )
    assert services.ingest_inventory(unit=org.unit_a, document=other).created


def test_uuid_byte_order():
    assert d.uuid_swapped("03000200-0400-0500-0006-000700080009") == (
        "00020003-0004-0005-0006-000700080009"
    )
    assert d.uuid_swapped(d.uuid_swapped("4C4C4544-0051-3510-8052-B4C04F4E5632")) == (
        "4C4C4544-0051-3510-8052-B4C04F4E5632"
    )
    assert d.uuid_swapped("not-a-uuid") == "not-a-uuid"


@pytest.mark.django_db
def test_a_machine_without_ids_reporting_another_card_some_days_stays_one_device(org):
    placeholder = {"serial": "Default string", "uuid": ""}
    wifi = _doc("pc-2026", "JSJ-04", macs=["d4:3d:7e:00:00:04"], **placeholder)
    dock = _doc("pc-2026", "JSJ-04", macs=["00:e0:4c:68:00:04"], **placeholder)
    first = services.ingest_inventory(unit=org.unit_a, document=wifi)
    for doc in (dock, wifi, dock):
        again = services.ingest_inventory(unit=org.unit_a, document=doc)
        assert (again.device.pk, again.match_rank) == (first.device.pk, services.RANK_AGENT_ID)
    assert Device.objects.count() == 1


def test_mixed_zero_and_f_uuids_are_placeholders():
    assert d.hardware_uuid("00000000-0000-0000-0000-FFFFFFFFFFFF") == ""
