#!/usr/bin/env python3
"""One entry point for every benchmark.

    .venv/bin/python bench/run.py NAME [--db sqlite|postgres] [--db-name NAME]
                                       [-- extra args for NAME]
    .venv/bin/python bench/run.py --list

Each benchmark is `bench/NAME.py`, a script that accepts `--json PATH` and writes its
figures there as one JSON object (`{"benchmark": NAME, "results": [{...}, ...], ...}`).
This runner picks the database, runs the script, prints the results as a table (and the
object's "comparison" list, if any, as a second one) and keeps the JSON in
bench/results/NAME-DB[-DBNAME]-YYYYmmdd-HHMMSS.json, with the machine described.

The database is dropped and created afresh for every run: a PostgreSQL database on
127.0.0.1:5432, `zhengban_bench` unless --db-name names another, or the SQLite file
bench/results/<db-name>.sqlite3 (default bench.sqlite3). Two runs at the same time must
use different --db-name values, or the second drops the first's database. The names
other tools rely on (postgres, template0/1, test, zb_prov) are refused.

Files in bench/ whose name starts with "_" are helpers, not benchmarks.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PG_DB = "zhengban_bench"
# Databases other people and tools use: never drop them.
RESERVED_DB_NAMES = {"postgres", "template0", "template1", "test", "zb_prov"}


def machine() -> dict:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def db_name(value: str) -> str:
    """--db-name: a plain identifier, so it is safe in DROP/CREATE DATABASE and as a file."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise argparse.ArgumentTypeError("use lower-case letters, digits and _ (max. 63)")
    if value in RESERVED_DB_NAMES:
        raise argparse.ArgumentTypeError(f"{value!r} is used by others; pick another name")
    return value


def fresh_database(db: str, workdir: Path, name: str | None = None) -> str:
    if db == "sqlite":
        path = workdir / f"{name or 'bench'}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    name = name or PG_DB
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def print_table(results: list[dict]) -> None:
    if not results:
        print("(no results)")
        return
    keys: list[str] = []
    for row in results:
        for key in row:
            if key not in keys:
                keys.append(key)
    cells = [[_fmt(row.get(k)) for k in keys] for row in results]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))


def _fmt(value) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("name", nargs="?")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--db-name",
        type=db_name,
        default=None,
        help=f"database (PostgreSQL) or file stem (SQLite); default {PG_DB} / bench",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks")
    argv = sys.argv[1:]
    # Everything after "--" goes to the benchmark itself.
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    names = sorted(
        p.stem for p in HERE.glob("*.py") if p.stem != "run" and not p.stem.startswith("_")
    )
    if args.list or not args.name:
        print("\n".join(names))
        return 0
    if args.name not in names:
        print(f"unknown benchmark {args.name!r}; one of: {', '.join(names)}", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    # The database name is part of the file name: parallel runs (different --db-name)
    # and their owners are told apart.
    tag = f"-{args.db_name}" if args.db_name else ""
    out = RESULTS / f"{args.name}-{args.db}{tag}-{stamp}.json"
    env = dict(os.environ)
    env["DATABASE_URL"] = fresh_database(args.db, RESULTS, args.db_name)
    env.setdefault("ZHENGBAN_DATA_DIR", str(RESULTS / "data"))
    env.setdefault("SECRET_KEY", "benchmark-only-secret-key")
    cmd = [sys.executable, str(HERE / f"{args.name}.py"), "--json", str(out), *extra]
    code = subprocess.call(cmd, env=env)
    if code != 0 or not out.exists():
        print(f"benchmark {args.name} failed (exit {code})", file=sys.stderr)
        return code or 1
    data = json.loads(out.read_text())
    data.setdefault("benchmark", args.name)
    data["database"] = args.db
    data["machine"] = machine()
    data["db_name"] = args.db_name or (PG_DB if args.db == "postgres" else "bench")
    data["command"] = " ".join(
        ["bench/run.py", args.name, "--db", args.db]
        + (["--db-name", args.db_name] if args.db_name else [])
        + (["--", *extra] if extra else [])
    )
    data["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2))
    print_table(data.get("results", []))
    if data.get("comparison"):
        print("\ncomparison")
        print_table(data["comparison"])
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
