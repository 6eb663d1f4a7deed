#!/usr/bin/env python3
"""Storage shapes for installed software: a measured prototype, not product code.

The same inventories as bench/ingest.py (the OCS peer's generator: a real
`ocsinventory-agent --stdout` document made into N devices, seed 42, 10 % varied), parsed
by our real parser, stored in three shapes (and variants) on the real migrated schema of
this database:

  p  "parse only": no software stored, the baseline every shape shares (parse, device
     row); a shape's storage cost is its figure minus this one;
  a  "current": inventory_installation, one wide row per install, its FKs (device,
     product) and indexes (device+kind, raw_key, product), written by the real service
     code (services._diff_installations + services._write_changes: COPY, bulk_update);
  an the current shape without its two foreign keys (dropped for this shape's phases and
     added back after; same table, indexes, checks and code): what the FK triggers cost;
  b  "glpi": a shared dimension zb_sv (kind, name, publisher, version, arch, source, guid,
     category, raw_key, product_id; unique on a hash) and narrow link rows zb_link
     (device_id, version_id, install_date, owner, first_seen) with FKs to device and
     dimension, indexed by (device, version) and by version;
  bn b without the link rows' two foreign keys (dropped and added back likewise);
  c  "array": the dimension of b and one row per device, zb_devsw(device_id PK/FK,
     version_ids int[], install_dates date[], owners text[], first_seen timestamptz[]);
     "c" has a GIN index on version_ids (the "has software X" and licensing reads need
     it), "c0" has none.

Only the software storage differs between shapes: each inventory is parsed, a device row
is created (first) or found (changed), raw keys and products are recognised by the real
recogniser; reports, events, MACs and the higher layers' hooks are left out (they are the
same in every shape; their cost is in bench/ingest.py's figures). Phases per shape:
"first" (new devices), "changed" (the same devices, each with 3 versions changed, 1
install removed and 2 added), with 1 writer and then with --writers concurrent writers
(separate processes, own connections) on fresh devices. Per phase: inventories/s, rows/s,
app CPU (the writer processes, time.process_time) and PostgreSQL CPU (their backends, from
/proc) per inventory; a 2-core cap (2 s of CPU ÷ CPU per inventory). Sizes: table +
index bytes per shape after its 1-writer phases (N devices) and after the growth below,
per device and extrapolated per 100,000 devices. Shapes an/bn have no size of their own.

Reads (--read-devices, default 10,000): every shape is grown server-side to that many
devices (copies of the stored ones, spread over 10 units), then each read is timed
(median of --read-repeats): licensing's reads (a unit's recognised installs by device
ids, as _device_state/load_installs do; one product's installs in a unit, by the product
and by the devices), a device page's software list, the device list's "装有软件" filter
(name or product name contains a term, common and rare: a page of 50 and the count), and
the stored list an inventory's 附表3 diff reads. --reads-only repeats them on a database
a full run grew (run this script directly with its DATABASE_URL: run.py would drop it).

    .venv/bin/python bench/run.py storage_shapes --db postgres --db-name zb_i_shapes -- --n 100
    .venv/bin/python bench/run.py storage_shapes --db postgres --db-name zb_i_shapes_w -- \
        --n 100 --read-devices 0
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import hashlib
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
_TICK = os.sysconf("SC_CLK_TCK")
SHAPES = ("p", "a", "an", "b", "bn", "c", "c0")

DDL = """
CREATE TABLE zb_sv (
    id serial PRIMARY KEY,
    hash bytea NOT NULL UNIQUE,
    kind varchar(20) NOT NULL,
    name varchar(512) NOT NULL,
    publisher varchar(255) NOT NULL,
    version varchar(128) NOT NULL,
    arch varchar(32) NOT NULL,
    source varchar(32) NOT NULL,
    guid varchar(255) NOT NULL,
    category varchar(100) NOT NULL,
    raw_key varchar(40) NOT NULL,
    product_id integer REFERENCES catalog_product(id) ON DELETE SET NULL
);
CREATE INDEX zb_sv_product ON zb_sv (product_id);
CREATE INDEX zb_sv_name ON zb_sv (name);
CREATE TABLE zb_link (
    device_id bigint NOT NULL REFERENCES inventory_device(id) ON DELETE CASCADE,
    version_id integer NOT NULL REFERENCES zb_sv(id),
    install_date date,
    owner varchar(150) NOT NULL,
    first_seen timestamptz NOT NULL
);
CREATE INDEX zb_link_device ON zb_link (device_id, version_id);
CREATE INDEX zb_link_version ON zb_link (version_id);
CREATE TABLE zb_devsw (
    device_id bigint PRIMARY KEY REFERENCES inventory_device(id) ON DELETE CASCADE,
    version_ids integer[] NOT NULL,
    install_dates date[] NOT NULL,
    owners text[] NOT NULL,
    first_seen timestamptz[] NOT NULL
);
CREATE INDEX zb_devsw_versions ON zb_devsw USING gin (version_ids);
CREATE TABLE zb_devsw0 (LIKE zb_devsw INCLUDING ALL);
CREATE TABLE zb_svc (LIKE zb_sv INCLUDING ALL);
ALTER TABLE zb_svc ADD FOREIGN KEY (product_id) REFERENCES catalog_product(id) ON DELETE SET NULL;
CREATE TABLE zb_svc0 (LIKE zb_sv INCLUDING ALL);
ALTER TABLE zb_svc0 ADD FOREIGN KEY (product_id) REFERENCES catalog_product(id) ON DELETE SET NULL;
DROP INDEX IF EXISTS zb_devsw0_version_ids_idx;
ALTER TABLE zb_devsw0 ADD FOREIGN KEY (device_id) REFERENCES inventory_device(id)
    ON DELETE CASCADE;
"""


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhengban.settings")
    import django

    django.setup()


def cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# --------------------------------------------------------------------------- writers


class Writer:
    """Stores one parsed inventory in one shape; a process-wide memo of the dimension
    (hash → id) stands in for the per-worker caches a real server would keep."""

    def __init__(self, shape: str, unit_id: int) -> None:
        self.shape = shape
        self.unit_id = unit_id
        self.sv_ids: dict[tuple, int] = {}
        self.sv_attrs: dict[int, tuple] = {}
        self.table = "zb_devsw0" if shape == "c0" else "zb_devsw"
        # Each shape its own dimension, so that none finds it filled by another.
        self.sv = {"b": "zb_sv", "bn": "zb_sv", "c": "zb_svc", "c0": "zb_svc0"}.get(shape, "")

    # -- common
    def new_device(self, doc, received):
        from zhengban.inventory.models import Device

        return Device.objects.create(
            unit_id=self.unit_id,
            hostname=doc.hostname or "",
            os_name=(doc.os.name if doc.os else "")[:255],
            first_seen=received,
            last_seen=received,
            last_source="ocs",
        )

    def store(self, device, doc, received, created: bool) -> int:
        from django.db import transaction

        with transaction.atomic():
            if self.shape == "p":
                return 0
            if self.shape == "a":
                return self._store_a(device, doc, received, created)
            if self.shape == "an":
                return self._store_a(device, doc, received, created)
            if self.shape in ("b", "bn"):
                return self._store_b(device, doc, received, created)
            return self._store_c(device, doc, received, created)

    # -- a: the product's own code path for the installation rows
    def _store_a(self, device, doc, received, created) -> int:
        from zhengban.inventory import services

        changes = services._diff_installations(device, doc, received, created)
        changes.baseline = True  # no events: they are the same in every shape
        services._write_changes(device, doc, changes, None, received)
        return len(changes.installed) + len(changes.changed) + len(changes.removed)

    # -- the dimension (b, c)
    def version_ids(self, doc, items) -> list[int]:
        from django.db import connection

        from zhengban.inventory import services

        platform = services.platform_of(doc.os.name if doc.os else "")
        # The memo is keyed by the attributes themselves: only new versions are hashed.
        dims = [
            (s.kind, s.name, s.publisher, s.version, s.arch, s.source, s.guid, s.category, platform)
            for s in items
        ]
        ids = self.sv_ids
        missing = {}
        for dim, s in zip(dims, items, strict=True):
            if dim not in ids:
                h = hashlib.sha1(
                    "\x1f".join(dim).encode("utf-8", "surrogatepass"), usedforsecurity=False
                ).digest()
                missing[h] = (dim, s)
        missing = dict(sorted(missing.items()))
        if missing:
            keys = {h: (s.name, s.publisher, s.version, platform) for h, (_d, s) in missing.items()}
            products = services.recognise_products(unit_id=self.unit_id, keys=keys.values())
            rows = []
            for h, (_dim, s) in missing.items():
                rows += [
                    h,
                    s.kind,
                    s.name,
                    s.publisher,
                    s.version,
                    s.arch,
                    s.source,
                    s.guid,
                    s.category,
                    services._raw_key_memo(*keys[h]),
                    products.get(keys[h]),
                ]
            marks = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(missing))
            with connection.cursor() as cursor:
                # Sorted, so that concurrent writers take the unique index's locks in one
                # order; the conflict's loser reads the winner's row below.
                cursor.execute(
                    f"INSERT INTO {self.sv} (hash, kind, name, publisher, version, arch, source, "
                    f"guid, category, raw_key, product_id) VALUES {marks} "
                    "ON CONFLICT (hash) DO NOTHING",
                    rows,
                )
                cursor.execute(
                    f"SELECT hash, id, name, arch, guid, version FROM {self.sv} "
                    "WHERE hash = ANY(%s)",
                    [list(missing)],
                )
                for h, pk, name, arch, guid, version in cursor.fetchall():
                    ids[missing[bytes(h)][0]] = pk
                    self.sv_attrs[pk] = (name, arch, guid, version)
        return [ids[dim] for dim in dims]

    def _pairs(self, old: list[tuple], new: list[tuple]) -> tuple[list, list, list]:
        """(version_id, owner, date) lists → installed, removed, date-refreshed; a removed
        and an installed of one identity are the version change the ledger shows."""
        old_keys = {(v, o): d for v, o, d in old}
        new_keys = {(v, o): d for v, o, d in new}
        installed = [(v, o, d) for v, o, d in new if (v, o) not in old_keys]
        removed = [(v, o, d) for v, o, d in old if (v, o) not in new_keys]
        refreshed = [(v, o, d) for v, o, d in new if (v, o) in old_keys and old_keys[v, o] != d]
        # Identity pairing, as the product's diff does (events are not written here).
        by_identity = {(*self.sv_attrs[v][:3], o): v for v, o, _d in removed}
        _changed = [v for v, o, _d in installed if (*self.sv_attrs[v][:3], o) in by_identity]
        return installed, removed, refreshed

    # -- b
    def _store_b(self, device, doc, received, created) -> int:
        from django.db import connection

        items = doc.installations()
        vids = self.version_ids(doc, items)
        new = [(v, s.owner, s.install_date) for v, s in zip(vids, items, strict=True)]
        with connection.cursor() as cursor:
            if created:
                installed, removed, refreshed = new, [], []
            else:
                cursor.execute(
                    "SELECT version_id, owner, install_date FROM zb_link WHERE device_id = %s",
                    [device.pk],
                )
                old = cursor.fetchall()
                self._known(cursor, [v for v, _o, _d in old])
                installed, removed, refreshed = self._pairs(old, new)
            if removed:
                cursor.execute(
                    "DELETE FROM zb_link WHERE device_id = %s AND (version_id, owner) IN "
                    "(SELECT * FROM unnest(%s::int[], %s::text[]))",
                    [device.pk, [v for v, _o, _d in removed], [o for _v, o, _d in removed]],
                )
            for v, o, d in refreshed:
                cursor.execute(
                    "UPDATE zb_link SET install_date = %s WHERE device_id = %s "
                    "AND version_id = %s AND owner = %s",
                    [d, device.pk, v, o],
                )
            if installed:
                with cursor.cursor.copy(
                    "COPY zb_link (device_id, version_id, install_date, owner, first_seen) "
                    "FROM STDIN"
                ) as copy:
                    for v, o, d in installed:
                        copy.write_row((device.pk, v, d, o, received))
        return len(installed) + len(removed) + len(refreshed)

    def _known(self, cursor, vids) -> None:
        """The dimension rows of stored ids this process has not seen (another writer's)."""
        unknown = sorted({v for v in vids if v not in self.sv_attrs})
        if unknown:
            cursor.execute(
                f"SELECT id, name, arch, guid, version FROM {self.sv} WHERE id = ANY(%s)",
                [unknown],
            )
            for pk, *attrs in cursor.fetchall():
                self.sv_attrs[pk] = tuple(attrs)

    # -- c
    def _store_c(self, device, doc, received, created) -> int:
        """Arrays go both ways as PostgreSQL's text literals, built and split with str
        methods and csv (C code): per-element adaptation in Python cost more than the
        database's whole write."""
        from django.db import connection

        items = doc.installations()
        vids = self.version_ids(doc, items)
        dates = [s.install_date.isoformat() if s.install_date else "NULL" for s in items]
        owners = [s.owner for s in items]
        with connection.cursor() as cursor:
            if created:
                seen = f'"{received.isoformat()}"'
                cursor.execute(
                    f"INSERT INTO {self.table} (device_id, version_ids, install_dates, owners, "
                    "first_seen) VALUES (%s, %s::int[], %s::date[], %s::text[], "
                    "%s::timestamptz[])",
                    [
                        device.pk,
                        "{" + ",".join(map(str, vids)) + "}",
                        "{" + ",".join(dates) + "}",
                        _text_array(owners),
                        "{" + ",".join([seen] * len(vids)) + "}",
                    ],
                )
                return len(vids)
            cursor.execute(
                f"SELECT version_ids::text, owners::text, install_dates::text, first_seen::text "
                f"FROM {self.table} WHERE device_id = %s FOR UPDATE",
                [device.pk],
            )
            t_vids, t_owners, t_dates, t_seen = cursor.fetchone()
            old_vids = list(map(int, t_vids[1:-1].split(",")))
            old_owners = _split_array(t_owners)
            old_dates = t_dates[1:-1].split(",")
            old_seen = _split_array(t_seen)
            old = list(zip(old_vids, old_owners, old_dates, strict=True))
            new = list(zip(vids, owners, dates, strict=True))
            if old == new:
                return 0
            self._known(cursor, old_vids)
            installed, removed, refreshed = self._pairs(old, new)
            if not (installed or removed or refreshed):
                return 0
            kept = dict(zip(zip(old_vids, old_owners, strict=True), old_seen, strict=True))
            now = received.isoformat()
            cursor.execute(
                f"UPDATE {self.table} SET version_ids = %s::int[], install_dates = %s::date[], "
                "owners = %s::text[], first_seen = %s::timestamptz[] WHERE device_id = %s",
                [
                    "{" + ",".join(map(str, vids)) + "}",
                    "{" + ",".join(dates) + "}",
                    _text_array(owners),
                    "{" + ",".join(f'"{kept.get(k, now)}"' for k in zip(vids, owners)) + "}",
                    device.pk,
                ],
            )
        return len(installed) + len(removed) + len(refreshed)


def _text_array(values: list[str]) -> str:
    return (
        "{"
        + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "}"
    )


def _split_array(text: str) -> list[str]:
    """A one-dimensional text[] literal (no NULLs) as its elements."""
    if text == "{}":
        return []
    return next(csv.reader([text[1:-1]], escapechar="\\", doublequote=False))


def changed(doc, i: int):
    """The device's next inventory: 3 versions changed, 1 install removed, 2 added."""
    soft = list(doc.software)
    for j in (3, 50, 400):
        s = soft[(j + i) % len(soft)]
        soft[(j + i) % len(soft)] = dataclasses.replace(s, version=s.version + ".1")
    del soft[(7 + i) % len(soft)]
    soft += [
        dataclasses.replace(soft[0], name=f"zb-added-{i}-{k}", version="1.0", guid="")
        for k in range(2)
    ]
    return dataclasses.replace(doc, software=soft)


# --------------------------------------------------------------------------- phases


def _work(args) -> dict:
    """One writer: parse its bodies, store them (first) and their successors (changed)."""
    shape, unit_id, bodies, phase, device_ids = args
    from django.db import connections

    from zhengban.inventory import parsers
    from zhengban.inventory.models import Device

    connections.close_all()
    writer = Writer(shape, unit_id)
    bpid = backend_pid()
    db0, app0 = cpu_of(bpid), time.process_time()
    rows = 0
    ids = []
    received = datetime.datetime.now(datetime.UTC)
    for i, body in enumerate(bodies):
        payload = parsers.decode_body(body, "application/x-compress")
        doc = parsers.parse_xml(payload).document
        if phase == "first":
            device = writer.new_device(doc, received)
            rows += writer.store(device, doc, received, True)
            ids.append(device.pk)
        else:
            device = Device.objects.get(pk=device_ids[i])
            rows += writer.store(device, changed(doc, i), received, False)
            ids.append(device.pk)
    out = {
        "app_s": time.process_time() - app0,
        "db_s": cpu_of(bpid) - db0,
        "rows": rows,
        "ids": ids,
    }
    connections.close_all()
    return out


def phase_run(shape, unit_id, bodies, phase, device_ids, writers) -> tuple[dict, list[int]]:
    from django.db import connections

    connections.close_all()
    chunks = [bodies[w::writers] for w in range(writers)]
    id_chunks = [device_ids[w::writers] if device_ids else None for w in range(writers)]
    started = time.perf_counter()
    if writers == 1:
        parts = [_work((shape, unit_id, bodies, phase, device_ids))]
    else:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(writers) as pool:
            parts = pool.map(
                _work,
                [(shape, unit_id, c, phase, ids) for c, ids in zip(chunks, id_chunks, strict=True)],
            )
    wall = time.perf_counter() - started
    n = len(bodies)
    app = sum(p["app_s"] for p in parts)
    db = sum(p["db_s"] for p in parts)
    rows = sum(p["rows"] for p in parts)
    ids = [None] * n
    for w, p in enumerate(parts):
        ids[w::writers] = p["ids"]
    return (
        {
            "shape": shape,
            "phase": phase,
            "writers": writers,
            "n": n,
            "inventories_per_s": round(n / wall, 1),
            "rows_per_s": round(rows / wall),
            "rows_written": rows,
            "app_ms": round(app / n * 1000, 2),
            "db_ms": round(db / n * 1000, 2),
            "cpu_ms": round((app + db) / n * 1000, 2),
            "cpu_cap_2cores_per_s": round(2 / ((app + db) / n), 1),
            "load1": load1(),
        },
        ids,
    )


class NoForeignKeys:
    """A table without its foreign keys for a while (shapes "an", "bn"). Since migration
    inventory 0012, shape "a" checks its references with a statement trigger instead of
    foreign keys; "an" disables that trigger, so it still measures "no check at all"."""

    TRIGGER = "inventory_installation_refs_insert"

    def __init__(self, shape: str) -> None:
        self.table = {"an": "inventory_installation", "bn": "zb_link"}.get(shape, "")
        self.active = bool(self.table)
        self.saved: list[tuple[str, str]] = []

    def __enter__(self):
        from django.db import connection

        if self.active:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'f'",
                    [self.table],
                )
                self.saved = cursor.fetchall()
                for name, _definition in self.saved:
                    cursor.execute(f"ALTER TABLE {self.table} DROP CONSTRAINT {name}")
                if self.table == "inventory_installation":
                    cursor.execute(f"ALTER TABLE {self.table} DISABLE TRIGGER {self.TRIGGER}")
        return self

    def __exit__(self, *exc):
        from django.db import connection

        with connection.cursor() as cursor:
            for name, definition in self.saved:
                cursor.execute(f"ALTER TABLE {self.table} ADD CONSTRAINT {name} {definition}")
            if self.active and self.table == "inventory_installation":
                cursor.execute(f"ALTER TABLE {self.table} ENABLE TRIGGER {self.TRIGGER}")


def gin_flush(shape: str) -> float:
    """CPU of moving the GIN index's pending list into the index (what autovacuum or an
    insert past gin_pending_list_limit would do later), seconds."""
    if shape != "c":
        return 0.0
    from django.db import connection

    bpid = backend_pid()
    before = cpu_of(bpid)
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list('zb_devsw_versions')")
    return cpu_of(bpid) - before


SIZE_TABLES = {
    "p": [],
    "a": ["inventory_installation"],
    "an": [],
    "bn": [],
    "b": ["zb_sv", "zb_link"],
    "c": ["zb_svc", "zb_devsw"],
    "c0": ["zb_svc0", "zb_devsw0"],
}


def sizes(shape: str, devices: int) -> dict:
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for table in SIZE_TABLES[shape]:
            cursor.execute("SELECT pg_table_size(%s), pg_indexes_size(%s)", [table, table])
            out[table] = cursor.fetchone()
    heap = sum(t for t, _i in out.values())
    index = sum(i for _t, i in out.values())
    # The dimension is shared: it grows with distinct versions, not devices; counted whole.
    return {
        "shape": shape,
        "devices": devices,
        "table_bytes": heap,
        "index_bytes": index,
        "bytes_per_device": round((heap + index) / max(1, devices)),
        "gib_per_100k_devices": round((heap + index) / max(1, devices) * 100_000 / 2**30, 2),
        "tables": {k: {"table": t, "index": i} for k, (t, i) in out.items()},
    }


# --------------------------------------------------------------------------- reads


def grow(target: int, units: list[int], seeds: dict[str, list[int]]) -> dict:
    """Copy the 1-writer phase's devices (``seeds``) and every shape's rows until
    there are ``target`` such devices, spread over ``units``. Server-side."""
    from django.db import connection

    t0 = time.perf_counter()
    base_a, base_b, base_c = seeds["a"], seeds["b"], seeds["c"]
    copies = max(1, target // max(1, len(base_a)) - 1)
    units_arr = units
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE zb_map (shape text, src bigint, dst bigint)")
        for shape, base in (("a", base_a), ("b", base_b), ("c", base_c)):
            cursor.execute(
                """
                WITH src AS (SELECT id, row_number() OVER (ORDER BY id) AS k
                             FROM inventory_device WHERE id = ANY(%s)),
                ins AS (
                    INSERT INTO inventory_device (unit_id, assigned_name, asset_number,
                        agent_device_id, hardware_uuid, serial_number, hostname, device_type,
                        manufacturer, model, cpu, memory_mb, last_user, os_name, os_version,
                        os_edition, os_arch, os_product_id, os_partial_key, os_activation,
                        first_seen, last_seen, last_source, last_agent, inventory_hash,
                        payload_hash, quick_key)
                    SELECT (%s::int[])[1 + ((g * 1000 + k) %% cardinality(%s::int[]))],
                        d.assigned_name, d.asset_number, d.agent_device_id, d.hardware_uuid,
                        d.serial_number, %s || '-' || g || '-' || d.id, d.device_type,
                        d.manufacturer, d.model, d.cpu, d.memory_mb, d.last_user, d.os_name,
                        d.os_version, d.os_edition, d.os_arch, d.os_product_id,
                        d.os_partial_key, d.os_activation, d.first_seen, d.last_seen,
                        d.last_source, d.last_agent, d.inventory_hash, d.payload_hash,
                        d.quick_key
                    FROM inventory_device d JOIN src ON src.id = d.id,
                         generate_series(1, %s) g
                    RETURNING id, hostname)
                INSERT INTO zb_map SELECT %s, split_part(hostname, '-', 3)::bigint, id FROM ins
                """,
                [base, units_arr, units_arr, "g" + shape, copies, shape],
            )
        # Original devices are spread over the units too.
        cursor.execute(
            "UPDATE inventory_device SET unit_id = (%s::int[])[1 + (id %% cardinality(%s::int[]))]"
            " WHERE id = ANY(%s)",
            [units_arr, units_arr, base_a + base_b + base_c],
        )
        cursor.execute(
            """INSERT INTO inventory_installation (device_id, kind, name, publisher, version,
                arch, install_date, source, guid, owner, category, raw_key, product_id,
                first_seen)
            SELECT m.dst, kind, name, publisher, version, arch, install_date, source, guid,
                owner, category, raw_key, product_id, first_seen
            FROM inventory_installation i JOIN zb_map m ON m.shape = 'a' AND m.src = i.device_id
            """
        )
        cursor.execute(
            """INSERT INTO zb_link SELECT m.dst, version_id, install_date, owner, first_seen
            FROM zb_link l JOIN zb_map m ON m.shape = 'b' AND m.src = l.device_id"""
        )
        cursor.execute(
            """INSERT INTO zb_devsw SELECT m.dst, version_ids, install_dates, owners, first_seen
            FROM zb_devsw s JOIN zb_map m ON m.shape = 'c' AND m.src = s.device_id"""
        )
        cursor.execute("SELECT gin_clean_pending_list('zb_devsw_versions')")
        cursor.execute("SELECT count(*) FROM zb_map WHERE shape = 'a'")
        grown = cursor.fetchone()[0] + len(base_a)
    with connection.cursor() as cursor:
        for table in (
            "inventory_device",
            "inventory_installation",
            "zb_sv",
            "zb_link",
            "zb_svc",
            "zb_devsw",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {"devices_per_shape": grown, "grow_s": round(time.perf_counter() - t0, 1)}


def timed(sql: str, params: list, repeats: int) -> tuple[float, int]:
    from django.db import connection

    times = []
    n = 0
    with connection.cursor() as cursor:
        for _ in range(repeats):
            t0 = time.perf_counter()
            cursor.execute(sql, params)
            n = len(cursor.fetchall())
            times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 2), n


def reads(units: list[int], repeats: int) -> list[dict]:
    from django.db import connection

    with connection.cursor() as cursor:
        # A commonly installed assessed product and one device per shape.
        cursor.execute(
            "SELECT product_id, count(*) FROM inventory_installation WHERE product_id IS NOT "
            "NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1 OFFSET 5"
        )
        product, _n = cursor.fetchone()
        cursor.execute(
            "SELECT name FROM inventory_installation WHERE product_id = %s LIMIT 1", [product]
        )
        (name,) = cursor.fetchone()
        # A name on about 1 % of the devices (one of the generator's renamed entries).
        cursor.execute(
            "SELECT name FROM inventory_installation WHERE name LIKE '%%-b%%' "
            "GROUP BY 1 ORDER BY count(*), 1 LIMIT 1"
        )
        (rare,) = cursor.fetchone()
        unit = units[0]
        devs = {}
        for shape, table in (("a", "inventory_installation"), ("b", "zb_link"), ("c", "zb_devsw")):
            cursor.execute(
                f"SELECT d.id FROM inventory_device d WHERE d.unit_id = %s AND EXISTS "
                f"(SELECT 1 FROM {table} t WHERE t.device_id = d.id) ORDER BY d.id",
                [unit],
            )
            devs[shape] = [r[0] for r in cursor.fetchall()]
    skipped = ["os"]
    q = {
        # Licensing: the recognised installs of a unit's devices, by device ids (as
        # _device_state reads them for every inventory, and load_installs for a unit).
        "unit_installs_by_devices": {
            "a": (
                "SELECT i.id, i.device_id, i.product_id, i.name, i.version "
                "FROM inventory_installation i "
                "WHERE i.device_id = ANY(%s) AND i.product_id IS NOT NULL "
                "AND i.kind <> ALL(%s)",
                [devs["a"], skipped],
            ),
            "b": (
                "SELECT l.device_id, l.version_id, l.owner, v.product_id, v.name, v.version "
                "FROM zb_link l JOIN zb_sv v ON v.id = l.version_id "
                "WHERE l.device_id = ANY(%s) AND v.product_id IS NOT NULL "
                "AND v.kind <> ALL(%s)",
                [devs["b"], skipped],
            ),
            "c": (
                "SELECT s.device_id, u.vid, u.owner, v.product_id, v.name, v.version "
                "FROM zb_devsw s, unnest(s.version_ids, s.owners) AS u(vid, owner) "
                "JOIN zb_sv v ON v.id = u.vid "
                "WHERE s.device_id = ANY(%s) AND v.product_id IS NOT NULL "
                "AND v.kind <> ALL(%s)",
                [devs["c"], skipped],
            ),
        },
        # Licensing: one product's installs in a unit (a big unit's recompute, by product).
        "product_in_unit": {
            "a": (
                "SELECT i.id, i.device_id, i.product_id, i.name, i.version "
                "FROM inventory_installation i JOIN inventory_device d ON d.id = i.device_id "
                "WHERE i.product_id = %s AND d.unit_id = %s",
                [product, unit],
            ),
            "b": (
                "SELECT l.device_id, l.version_id, l.owner, v.name, v.version "
                "FROM zb_sv v JOIN zb_link l ON l.version_id = v.id "
                "JOIN inventory_device d ON d.id = l.device_id "
                "WHERE v.product_id = %s AND d.unit_id = %s",
                [product, unit],
            ),
            "c": (
                "WITH v AS (SELECT array_agg(id) AS ids FROM zb_sv WHERE product_id = %s) "
                "SELECT s.device_id, u.vid, u.owner FROM v, zb_devsw s "
                "JOIN inventory_device d ON d.id = s.device_id, "
                "unnest(s.version_ids, s.owners) AS u(vid, owner) "
                "WHERE s.version_ids && v.ids AND d.unit_id = %s AND u.vid = ANY(v.ids)",
                [product, unit],
            ),
        },
        # The same by the unit's device ids first (the device index), then the product.
        "product_in_unit_by_devices": {
            "a": (
                "SELECT i.id, i.device_id, i.product_id, i.name, i.version "
                "FROM inventory_installation i WHERE i.device_id = ANY(%s) "
                "AND i.product_id = %s",
                [devs["a"], product],
            ),
            "b": (
                "SELECT l.device_id, l.version_id, l.owner, v.name, v.version "
                "FROM zb_link l JOIN zb_sv v ON v.id = l.version_id "
                "WHERE l.device_id = ANY(%s) AND l.version_id = ANY(ARRAY("
                "SELECT id FROM zb_sv WHERE product_id = %s))",
                [devs["b"], product],
            ),
            "c": (
                "SELECT s.device_id, u.vid, u.owner FROM zb_devsw s, "
                "unnest(s.version_ids, s.owners) AS u(vid, owner) "
                "WHERE s.device_id = ANY(%s) AND u.vid = ANY(ARRAY("
                "SELECT id FROM zb_sv WHERE product_id = %s))",
                [devs["c"], product],
            ),
        },
        # The device page's software list.
        "device_software_list": {
            "a": (
                "SELECT kind, name, publisher, version, arch, install_date, product_id "
                "FROM inventory_installation WHERE device_id = %s ORDER BY name, version, id",
                [devs["a"][min(3, len(devs["a"]) - 1)]],
            ),
            "b": (
                "SELECT v.kind, v.name, v.publisher, v.version, v.arch, l.install_date, "
                "v.product_id FROM zb_link l JOIN zb_sv v ON v.id = l.version_id "
                "WHERE l.device_id = %s ORDER BY v.name, v.version",
                [devs["b"][min(3, len(devs["b"]) - 1)]],
            ),
            "c": (
                "SELECT v.kind, v.name, v.publisher, v.version, v.arch, u.d, v.product_id "
                "FROM zb_devsw s, unnest(s.version_ids, s.install_dates) AS u(vid, d) "
                "JOIN zb_sv v ON v.id = u.vid WHERE s.device_id = %s "
                "ORDER BY v.name, v.version",
                [devs["c"][min(3, len(devs["c"]) - 1)]],
            ),
        },
        # 附表3: what differs between a device's stored list and the next inventory's
        # (read the stored list of one device; the diff itself is the same Python).
        "ledger_diff_read": {
            "a": (
                "SELECT id, kind, name, publisher, version, arch, install_date, source, "
                "guid, owner, category, raw_key, product_id FROM inventory_installation "
                "WHERE device_id = %s AND kind = ANY(%s)",
                [devs["a"][min(5, len(devs["a"]) - 1)], ["application", "os"]],
            ),
            "b": (
                "SELECT version_id, owner, install_date FROM zb_link WHERE device_id = %s",
                [devs["b"][min(5, len(devs["b"]) - 1)]],
            ),
            "c": (
                "SELECT version_ids, owners, install_dates FROM zb_devsw WHERE device_id = %s",
                [devs["c"][min(5, len(devs["c"]) - 1)]],
            ),
        },
    }
    # The device list's "装有软件" filter (DeviceFilter.has_software): name or recognised
    # product name contains the term, case-insensitive; its first page of 50 by hostname,
    # and the count the pager shows.
    match_a = (
        "EXISTS (SELECT 1 FROM inventory_installation i LEFT JOIN catalog_product p "
        "ON p.id = i.product_id WHERE i.device_id = d.id AND (upper(i.name) LIKE upper(%s) "
        "OR upper(p.name) LIKE upper(%s)))"
    )
    versions = (
        "ARRAY(SELECT v.id FROM zb_sv v LEFT JOIN catalog_product p ON p.id = v.product_id "
        "WHERE upper(v.name) LIKE upper(%s) OR upper(p.name) LIKE upper(%s))"
    )
    match_b = (
        "EXISTS (SELECT 1 FROM zb_link l WHERE l.device_id = d.id AND l.version_id = ANY("
        + versions
        + "))"
    )
    match_c = (
        "EXISTS (SELECT 1 FROM zb_devsw s WHERE s.device_id = d.id AND s.version_ids && "
        + versions
        + ")"
    )
    for label, term in (("common", name), ("rare", rare)):
        pattern = f"%{term}%"
        q[f"has_software_page_{label}"] = {
            shape: (
                f"SELECT d.id, d.hostname FROM inventory_device d WHERE {match} "
                "ORDER BY d.hostname, d.id LIMIT 50",
                [pattern, pattern],
            )
            for shape, match in (("a", match_a), ("b", match_b), ("c", match_c))
        }
        q[f"has_software_count_{label}"] = {
            shape: (f"SELECT count(*) FROM inventory_device d WHERE {match}", [pattern, pattern])
            for shape, match in (("a", match_a), ("b", match_b), ("c", match_c))
        }
    out = []
    for read, per_shape in q.items():
        row = {"read": read, "devices_in_unit": len(devs["a"])}
        for shape, (sql, params) in per_shape.items():
            if shape == "c":
                sql = sql.replace("zb_sv ", "zb_svc ")
            ms, n = timed(sql, params, repeats)
            row[f"{shape}_ms"] = ms
            row[f"{shape}_rows"] = n
            if n == 1 and read.startswith("has_software_count"):
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)
                    row[f"{shape}_rows"] = cursor.fetchone()[0]
        out.append(row)
    return out


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", required=True)
    parser.add_argument("--n", type=int, default=100, help="inventories per phase")
    parser.add_argument("--writers", type=int, default=4, help="0: skip the concurrent phases")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--read-devices", type=int, default=10000, help="0: skip the reads")
    parser.add_argument("--read-repeats", type=int, default=5)
    parser.add_argument("--template", default=None)
    parser.add_argument(
        "--reads-only",
        action="store_true",
        help="only the reads, on a database a full run grew (run this script directly with "
        "DATABASE_URL naming it, not through run.py, which would drop it)",
    )
    args = parser.parse_args()
    if args.reads_only:
        setup_django()
        from zhengban.orgs.models import Unit

        units = list(
            Unit.objects.filter(name__startswith="基准单位")
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        read_rows = reads(units, args.read_repeats)
        data = {
            "benchmark": "storage_shapes",
            "reads_only": True,
            "results": read_rows,
            "load1_end": load1(),
        }
        Path(args.json).write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return 0

    subprocess.run([str(BIN / "zhengban"), "migrate", "-v0"], check=True, env=dict(os.environ))
    setup_django()
    from _ocs_peer import SEED, VARY
    from django.db import connection
    from ingest import load_peer, template_path

    from zhengban.orgs.choices import RegionLevel
    from zhengban.orgs.services import create_region
    from zhengban.orgs.testing import make_unit

    with connection.cursor() as cursor:
        cursor.execute(DDL)
    region = create_region(actor=None, code="370000", name="山东省", level=RegionLevel.PROVINCE)
    units = [make_unit(region, f"基准单位{k}").pk for k in range(10)]
    gen = load_peer()
    template = template_path(args.template)

    shapes = [s for s in args.shapes.split(",") if s]
    # Warm up what every process keeps (imports, the recogniser, the raw-key memo), as a
    # running server has: the phases then measure steady-state inventories.
    from zhengban.inventory import parsers, services

    xmls, entries = gen.make_inventories(str(template), 3, "warm", SEED + 1, VARY)
    for xml in xmls:
        doc = parsers.parse_xml(xml).document
        platform = services.platform_of(doc.os.name if doc.os else "")
        services.recognise_products(
            unit_id=units[0],
            keys=[(s.name, s.publisher, s.version, platform) for s in doc.installations()],
        )
    results: list[dict] = []
    seeds: dict[str, list[int]] = {}
    extra_ids: list[int] = []
    size_rows: list[dict] = []
    for shape in shapes:
        xmls, entries = gen.make_inventories(str(template), args.n, f"{shape}1", SEED, VARY)
        bodies = [zlib.compress(x) for x in xmls]
        with NoForeignKeys(shape):
            first, ids = phase_run(shape, units[0], bodies, "first", None, 1)
            second, _ids = phase_run(shape, units[0], bodies, "changed", ids, 1)
        seeds[shape] = ids
        if shape in ("an", "bn"):
            extra_ids += ids
        flush = gin_flush(shape)
        first["gin_flush_ms"] = round(flush / args.n * 1000, 2)
        results.append(first)
        print(json.dumps(first), flush=True)
        if shape != "p":
            size_rows.append(sizes(shape, args.n))
        results.append(second)
        print(json.dumps(second), flush=True)
    if args.writers > 1:
        for shape in shapes:
            xmls, entries = gen.make_inventories(str(template), args.n, f"{shape}4", SEED, VARY)
            bodies = [zlib.compress(x) for x in xmls]
            with NoForeignKeys(shape):
                first, ids = phase_run(shape, units[0], bodies, "first", None, args.writers)
                second, _ids = phase_run(shape, units[0], bodies, "changed", ids, args.writers)
            extra_ids += ids
            first["gin_flush_ms"] = round(gin_flush(shape) / args.n * 1000, 2)
            results.append(first)
            print(json.dumps(first), flush=True)
            results.append(second)
            print(json.dumps(second), flush=True)

    read_rows: list[dict] = []
    grown = {}
    if args.read_devices:
        # Only the 1-writer devices are the growth's seed: drop the concurrent ones' rows.
        with connection.cursor() as cursor:
            for table in ("inventory_installation", "zb_link", "zb_devsw", "zb_devsw0"):
                if extra_ids:
                    cursor.execute(f"DELETE FROM {table} WHERE device_id = ANY(%s)", [extra_ids])
        grown = grow(args.read_devices, units, seeds)
        print(json.dumps(grown), flush=True)
        read_rows = reads(units, args.read_repeats)
        for r in read_rows:
            print(json.dumps(r), flush=True)
        for shape in ("a", "b", "c"):
            size = sizes(shape, grown["devices_per_shape"])
            size["phase"] = "grown"
            size_rows.append(size)
    data = {
        "benchmark": "storage_shapes",
        "n": args.n,
        "entries_per_inventory": entries,
        "writers": args.writers,
        "template": str(template),
        "seed": SEED,
        "vary": VARY,
        "results": results,
        "sizes": size_rows,
        "grown": grown,
        "reads": read_rows,
        "load1_end": load1(),
    }
    data["comparison"] = [
        {k: v for k, v in s.items() if k != "tables"} for s in size_rows
    ] + read_rows
    Path(args.json).write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
