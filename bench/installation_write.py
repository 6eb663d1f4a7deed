#!/usr/bin/env python3
"""PostgreSQL CPU of writing a first inventory's installations, per table shape.

A scratch database is migrated (`zhengban migrate`) and one device is ingested from a
real OCS agent document (`ocsinventory-agent --stdout`, 841 entries + the OS = 842 rows)
through `services.ingest_xml`, so the rows (kinds, names, raw keys, recognised product
ids, dates) are exactly what the service writes. Each variant then gets its own copy of
`inventory_installation` (`CREATE TABLE … (LIKE … INCLUDING ALL)`, then the variant's
change: a collation, a dropped CHECK or index, immediate or missing FKs, a bytea raw
key …). Its FKs point at the real `inventory_device` and `catalog_product`.

One "inventory" is what the service's first ingest does to this table: in one transaction,
INSERT one `inventory_device` row (a copy of the ingested device, new agent id) as the FK
target, COPY its 842 rows (text format, psycopg `write_row`, as
`services._insert_installations` did until session 4; or FORMAT BINARY with `set_types`, as
it does since), COMMIT (where the
deferred FK checks run). CPU is read from /proc/<backend pid>/stat (utime + stime) around a
batch of --per-batch inventories; the figure is the median over --batches batches, in ms per
inventory, the variants taking turns batch by batch (round-robin) so that the load of other
work on the machine falls on all of them alike. `client_ms` is this process's CPU
(time.process_time) for the same batch: the app-side cost of the COPY call. "as_migrated" is
the table as the migrations left it, with its two foreign keys added back (migration 0012
replaced them by triggers, which LIKE does not copy; "as_migrated_binary_triggers" is the
table as migrated now); every other variant starts from the indexed text
columns in the database collation and session 3's three secondary indexes (before migration
0011); "as_migrated_binary" is the ingest as it writes now. The "device_only" variant
inserts the device row alone (0 installations), the constant part of every other figure.

With --large N, every variant is measured again after N devices × 842 rows of fleet-like
data were loaded into its table (the template's rows, 10 % of each device's rows with
another version and raw key), so the btrees are big and inserts land on many pages.

    createdb -h 127.0.0.1 -U postgres zb_pgw_bench
    ocsinventory-agent --stdout > /tmp/pgwrite/template.xml
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/zb_pgw_bench \\
        .venv/bin/python bench/installation_write.py --template /tmp/pgwrite/template.xml \\
        --json /tmp/pgwrite/result.json [--variants base,collate_c] [--large 4000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
_TICK = os.sysconf("SC_CLK_TCK")

SOURCE = "inventory_installation"
DEVICE_FK = "FOREIGN KEY (device_id) REFERENCES inventory_device(id)"
PRODUCT_FK = "FOREIGN KEY (product_id) REFERENCES catalog_product(id)"
DEFERRED = " DEFERRABLE INITIALLY DEFERRED"
COLUMNS = (
    "device_id, kind, name, publisher, version, arch, install_date, source, guid, owner,"
    " category, raw_key, product_id, first_seen"
)
BINARY_TYPES = [
    "int8",
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "date",
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "int8",
    "timestamptz",
]


def collate(*columns: str, collation: str = "C") -> list[str]:
    sizes = {"kind": 20, "name": 512, "raw_key": 40}
    return [
        f'ALTER TABLE {{t}} ALTER COLUMN {c} TYPE varchar({sizes[c]}) COLLATE "{collation}"'
        for c in columns
    ]


# Every variant but "as_migrated" starts from one baseline whatever the migrations say: the
# table as session 3 left it (inventory migration 0010), the indexed text columns in the
# database's collation and its three secondary indexes (before migration 0011 replaced
# the raw key's and (product, name) with (product, name, version)), so that each variant
# names its change against the same shape.
RESET = collate("kind", "name", "raw_key", collation="default")
BASELINE_TABLE = [
    "CREATE TABLE {t} (LIKE " + SOURCE + " INCLUDING ALL EXCLUDING INDEXES)",
    "ALTER TABLE {t} ADD PRIMARY KEY (id)",
    "CREATE INDEX {t}_device_id_kind_idx ON {t} (device_id, kind)",
    "CREATE INDEX {t}_raw_key_idx ON {t} (raw_key)",
    "CREATE INDEX {t}_product_id_name_idx ON {t} (product_id, name)",
]


def create_table(name: str) -> list[str]:
    """Statements creating variant ``name``'s table before its own changes."""
    if name.startswith("as_migrated"):
        return ["CREATE TABLE {t} (LIKE " + SOURCE + " INCLUDING ALL)"]
    return BASELINE_TABLE + RESET


def fks(device: str | None = DEFERRED, product: str | None = DEFERRED) -> list[str]:
    """FK statements; None leaves that FK out, "" makes it NOT DEFERRABLE."""
    out = []
    if device is not None:
        out.append(f"ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_dev {DEVICE_FK}{device}")
    if product is not None:
        out.append(f"ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_prod {PRODUCT_FK}{product}")
    return out


BYTEA_KEY = [
    "ALTER TABLE {t} ALTER COLUMN raw_key TYPE bytea USING decode(raw_key, 'hex')",
    "ALTER TABLE {t} ADD CONSTRAINT {t}_key_len CHECK (octet_length(raw_key) = 20)",
]

# name -> (DDL after LIKE, binary COPY?, raw key as bytes?)
VARIANTS: dict[str, tuple[list[str], bool, bool]] = {
    "base": (fks(), False, False),
    "as_migrated": (fks(), False, False),
    "as_migrated_binary": (fks(), True, False),
    "collate_c_raw_key": (collate("raw_key") + fks(), False, False),
    "collate_c_name": (collate("name") + fks(), False, False),
    "collate_c_name_raw_key": (collate("name", "raw_key") + fks(), False, False),
    "collate_c_kind_name_raw_key": (collate("kind", "name", "raw_key") + fks(), False, False),
    "binary_copy": (fks(), True, False),
    "fk_immediate": (fks("", ""), False, False),
    "fk_device_only": (fks(DEFERRED, None), False, False),
    "fk_product_only": (fks(None, DEFERRED), False, False),
    "fk_none": ([], False, False),
    "raw_key_bytea": (BYTEA_KEY + fks(), False, True),
    "no_kind_check": (
        ["ALTER TABLE {t} DROP CONSTRAINT installation_kind_valid"] + fks(),
        False,
        False,
    ),
    "no_checks": (
        [
            "ALTER TABLE {t} DROP CONSTRAINT installation_kind_valid",
            "ALTER TABLE {t} DROP CONSTRAINT installation_name_not_empty",
        ]
        + fks(),
        False,
        False,
    ),
    "no_index_raw_key": (["DROP INDEX {t}_raw_key_idx"] + fks(), False, False),
    "no_index_product_name": (["DROP INDEX {t}_product_id_name_idx"] + fks(), False, False),
    # The raw key's lookups served by the (product, name) index widened with the version.
    "product_name_version_no_raw_key": (
        [
            "DROP INDEX {t}_raw_key_idx",
            "DROP INDEX {t}_product_id_name_idx",
            "CREATE INDEX {t}_pnv ON {t} (product_id, name, version)",
        ]
        + fks(),
        False,
        False,
    ),
    "no_index_device_kind": (["DROP INDEX {t}_device_id_kind_idx"] + fks(), False, False),
    "no_secondary_indexes": (
        [
            "DROP INDEX {t}_raw_key_idx",
            "DROP INDEX {t}_product_id_name_idx",
            "DROP INDEX {t}_device_id_kind_idx",
        ]
        + fks(),
        False,
        False,
    ),
    "raw_key_hash_index": (
        ["DROP INDEX {t}_raw_key_idx", "CREATE INDEX {t}_raw_key_hash ON {t} USING hash (raw_key)"]
        + fks(),
        False,
        False,
    ),
    # With binary COPY, as the ingest writes since session 4.
    "collate_c_raw_key_binary": (collate("raw_key") + fks(), True, False),
    "collate_c_binary": (collate("name", "raw_key") + fks(), True, False),
    "collate_c_binary_fk_immediate": (collate("name", "raw_key") + fks("", ""), True, False),
    # Session 5: the references checked once per statement by migration 0012's trigger
    # function instead of per row by foreign keys ("as_migrated" copies no trigger).
    "as_migrated_binary_triggers": (
        [
            "CREATE TRIGGER {t}_refs AFTER INSERT ON {t} REFERENCING NEW TABLE AS new_rows"
            " FOR EACH STATEMENT EXECUTE FUNCTION inventory_installation_refs_inserted()"
        ],
        True,
        False,
    ),
    "as_migrated_binary_fk_none": ([], True, False),
}
DEFAULT_VARIANTS = list(VARIANTS)


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def setup(template: Path) -> int:
    """Migrate, ingest the template once; the id of the device it created."""
    subprocess.run([str(BIN / "zhengban"), "migrate", "-v0"], check=True, cwd=ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhengban.settings")
    import django

    django.setup()
    from zhengban.inventory import services
    from zhengban.inventory.models import Device
    from zhengban.orgs.choices import RegionLevel
    from zhengban.orgs.models import Region
    from zhengban.orgs.services import create_region
    from zhengban.orgs.testing import make_unit

    device = Device.objects.filter(hostname__isnull=False, installations__isnull=False).first()
    if device is not None:
        return device.pk
    region = Region.objects.filter(code="370000").first() or create_region(
        actor=None, code="370000", name="山东省", level=RegionLevel.PROVINCE
    )
    unit = make_unit(region, "写入基准单位")
    services.ingest_xml(unit=unit, payload=template.read_bytes())
    return Device.objects.filter(unit=unit).get().pk


class Bench:
    def __init__(self, dsn: str, template_device: int) -> None:
        import psycopg

        self.conn = psycopg.connect(dsn)
        self.pid = self.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        self.template_device = template_device
        self.rows = self.conn.execute(
            f"SELECT {COLUMNS} FROM {SOURCE} WHERE device_id = %s ORDER BY id",
            [template_device],
        ).fetchall()
        self.conn.commit()
        device_columns = [
            r[0]
            for r in self.conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'inventory_device' AND column_name NOT IN"
                " ('id', 'agent_device_id') ORDER BY ordinal_position"
            )
        ]
        cols = ", ".join(device_columns)
        self.device_sql = (
            f"INSERT INTO inventory_device ({cols}, agent_device_id)"
            f" SELECT {cols}, %s FROM inventory_device WHERE id = {template_device}"
            " RETURNING id"
        )
        self.conn.commit()
        self.serial = int(time.time() * 1000)
        self._rows: dict[str, list[tuple]] = {}

    def create(self, name: str) -> str:
        table = f"bench_inst_{name}"
        with self.conn.transaction():
            self.conn.execute(f"DROP TABLE IF EXISTS {table}")
            for ddl in create_table(name) + VARIANTS.get(name, ([],))[0]:
                self.conn.execute(ddl.format(t=table))
        return table

    def new_device(self) -> int:
        self.serial += 1
        return self.conn.execute(self.device_sql, [f"pgw-{os.getpid()}-{self.serial}"]).fetchone()[
            0
        ]

    def inventory(self, table: str, binary: bool, bytea_key: bool, rows: list[tuple]) -> None:
        with self.conn.transaction():
            device = self.new_device()
            if not rows:
                return
            cursor = self.conn.cursor()
            if binary:
                with cursor.copy(f"COPY {table} ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(BINARY_TYPES if not bytea_key else _bytea_types())
                    for values in rows:
                        copy.write_row((device, *values[1:]))
            else:
                with cursor.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
                    for values in rows:
                        copy.write_row((device, *values[1:]))

    def batch(self, name: str, table: str, per_batch: int) -> tuple[float, float]:
        """(PostgreSQL ms, client ms) per inventory over one batch."""
        _ddl, binary, bytea_key = VARIANTS.get(name, ([], False, False))
        rows = self._rows.get(name)
        if rows is None:
            rows = [] if name == "device_only" else self.rows
            if bytea_key:
                rows = [(*r[:11], bytes.fromhex(r[11]), *r[12:]) for r in rows]
            self._rows[name] = rows
            self.inventory(table, binary, bytea_key, rows)  # warm caches and plans
        c0, d0 = time.process_time(), cpu_of(self.pid)
        for _ in range(per_batch):
            self.inventory(table, binary, bytea_key, rows)
        d1, c1 = cpu_of(self.pid), time.process_time()
        return (d1 - d0) * 1000 / per_batch, (c1 - c0) * 1000 / per_batch

    def measure(self, tables: dict[str, str], batches: int, per_batch: int) -> list[dict[str, Any]]:
        """Round-robin over the variants, a batch each per round, so that a change of the
        machine's load over time falls on every variant alike."""
        db: dict[str, list[float]] = {name: [] for name in tables}
        client: dict[str, list[float]] = {name: [] for name in tables}
        for _ in range(batches):
            for name, table in tables.items():
                d, c = self.batch(name, table, per_batch)
                db[name].append(d)
                client[name].append(c)
        return [
            {
                "variant": name,
                "rows": len(self._rows[name]),
                "table_rows": self.count(table),
                "db_ms": round(statistics.median(db[name]), 2),
                "db_ms_batches": [round(x, 2) for x in db[name]],
                "client_ms": round(statistics.median(client[name]), 2),
            }
            for name, table in tables.items()
        ]

    def count(self, table: str) -> int:
        n = self.conn.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table]
        ).fetchone()
        self.conn.commit()
        return max(int(n[0]), 0) if n else 0

    def fill(self, name: str, devices: int) -> str:
        """The variant's table with ``devices`` fleet-like devices already in it: rows
        loaded before the FKs exist (one validation scan instead of a trigger per row)."""
        table = f"bench_inst_{name}"
        ddl = VARIANTS.get(name, ([], False, False))[0]
        fk_ddl = [s for s in ddl if "FOREIGN KEY" in s]
        other = [s for s in ddl if "FOREIGN KEY" not in s]
        other = create_table(name) + other
        self.serial += 1
        prefix = f"{name}-{self.serial}"
        key = "decode(k, 'hex')" if VARIANTS.get(name, ([], 0, False))[2] else "k"
        with self.conn.transaction():
            self.conn.execute(f"DROP TABLE IF EXISTS {table}")
            for s in other:
                self.conn.execute(s.format(t=table))
            self.conn.execute(
                "INSERT INTO inventory_device (unit_id, hostname, agent_device_id, device_type,"
                " assigned_name, asset_number, hardware_uuid, serial_number, manufacturer,"
                " model, cpu, last_user, os_name, os_version, os_edition, os_arch,"
                " os_product_id, os_partial_key, os_activation, first_seen, last_seen,"
                " last_source, last_agent, inventory_hash, payload_hash, quick_key)"
                " SELECT unit_id, hostname || '-' || g, 'fill-' || %s || '-' || g,"
                " device_type, assigned_name, asset_number, hardware_uuid, serial_number,"
                " manufacturer, model, cpu, last_user, os_name, os_version, os_edition,"
                " os_arch, os_product_id, os_partial_key, os_activation, first_seen,"
                " last_seen, last_source, last_agent, inventory_hash, payload_hash, quick_key"
                " FROM inventory_device, generate_series(1, %s) g WHERE id = %s",
                [prefix, devices, self.template_device],
            )
            # Fleet-like: every device has the template's software, 10 % of its rows with
            # another version (so another raw key, sha256-derived, 40 hex digits).
            self.conn.execute(
                f"INSERT INTO {table} ({COLUMNS})"
                f" SELECT d.id, t.kind, t.name, t.publisher,"
                f" CASE WHEN v THEN t.version || '.' || (d.id %% 7) ELSE t.version END,"
                f" t.arch, t.install_date, t.source, t.guid, t.owner, t.category,"
                f" {_key_expr(key)},"
                f" t.product_id, t.first_seen"
                f" FROM inventory_device d CROSS JOIN LATERAL ("
                f"   SELECT s.*, (abs(hashint8(s.id + d.id) %% 10) = 0) AS v FROM {SOURCE} s"
                f"   WHERE s.device_id = %s) t"
                f" WHERE d.agent_device_id LIKE 'fill-' || %s || '-%%'"
                f" ORDER BY d.id, t.id",
                [self.template_device, prefix],
            )
            for s in fk_ddl:
                self.conn.execute(s.format(t=table))
        self.conn.autocommit = True
        self.conn.execute(f"VACUUM ANALYZE {table}")
        self.conn.autocommit = False
        return table


def _key_expr(key: str) -> str:
    changed = (
        "CASE WHEN v THEN left(encode(sha256(convert_to(t.raw_key || (d.id %% 7)::text,"
        " 'UTF8')), 'hex'), 40) ELSE t.raw_key END"
    )
    return changed if key == "k" else f"decode({changed}, 'hex')"


def _bytea_types() -> list[str]:
    types = list(BINARY_TYPES)
    types[11] = "bytea"
    return types


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--template", required=True, help="an ocsinventory-agent --stdout XML")
    parser.add_argument("--variants", default=",".join(["device_only", *DEFAULT_VARIANTS]))
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--per-batch", type=int, default=50)
    parser.add_argument("--large", type=int, default=0, help="devices preloaded (0: skip)")
    parser.add_argument("--large-variants", default="", help="default: --variants")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    dsn = os.environ.get("DATABASE_URL", "")
    if not dsn.startswith("postgres"):
        sys.exit("DATABASE_URL must name a scratch PostgreSQL database")
    bench = Bench(dsn, setup(Path(args.template)))
    out: dict[str, Any] = {
        "template_rows": len(bench.rows),
        "recognised_rows": sum(r[12] is not None for r in bench.rows),
        "batches": args.batches,
        "per_batch": args.per_batch,
        "empty": [],
        "large": [],
    }
    names = [n for n in args.variants.split(",") if n]

    def run(label: str, prepare: Callable[[str], str], selected: list[str]) -> None:
        tables = {name: prepare(name) for name in selected}
        for result in bench.measure(tables, args.batches, args.per_batch):
            out[label].append(result)
            print(json.dumps({"size": label, **result}), file=sys.stderr, flush=True)
        for table in tables.values():
            bench.conn.execute(f"DROP TABLE {table}")
        bench.conn.commit()

    run("empty", bench.create, names)
    if args.large:
        large = [n for n in (args.large_variants or args.variants).split(",") if n]
        run("large", lambda n: bench.fill(n, args.large), large)
    text = json.dumps(out, ensure_ascii=False, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
