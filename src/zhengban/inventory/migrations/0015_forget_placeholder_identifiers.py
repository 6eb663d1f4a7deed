"""Serials, UUIDs and MACs that the readers now take for placeholders (``document``'s lists
of this change: "OEM_Serial", AMI's UUID in the other byte order, VMware Workstation's
vmnet adapters, …) were stored as devices' identities before. Left in place they would
keep matching unrelated machines, since an inventory only ever overwrites an identifier
with a real one: they are cleared, as today's readers would have left them."""

from django.db import migrations


def forwards(apps, schema_editor):
    # The readers' own rules: the point is to store exactly what they would store now.
    from zhengban.inventory import document as d

    Device = apps.get_model("inventory", "Device")
    DeviceMAC = apps.get_model("inventory", "DeviceMAC")
    rows = Device.objects.exclude(serial_number="", hardware_uuid="").values_list(
        "pk", "serial_number", "hardware_uuid"
    )
    no_serial, no_uuid = [], []
    for pk, serial, uuid in rows.iterator(chunk_size=5000):
        if serial and not d.hardware_serial(serial):
            no_serial.append(pk)
        if uuid and not d.hardware_uuid(uuid):
            no_uuid.append(pk)
    for start in range(0, len(no_serial), 5000):
        Device.objects.filter(pk__in=no_serial[start : start + 5000]).update(serial_number="")
    for start in range(0, len(no_uuid), 5000):
        Device.objects.filter(pk__in=no_uuid[start : start + 5000]).update(hardware_uuid="")
    shared = [
        pk
        for pk, mac in DeviceMAC.objects.values_list("pk", "mac").iterator(chunk_size=5000)
        if d.normalise_mac(mac) is None
    ]
    for start in range(0, len(shared), 5000):
        DeviceMAC.objects.filter(pk__in=shared[start : start + 5000]).delete()


class Migration(migrations.Migration):
    dependencies = [("inventory", "0014_installation_product_check_by_join")]

    # Nothing to restore going back: the cleared values identified nothing.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
