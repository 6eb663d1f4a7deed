#!/usr/bin/env python3
"""Recognition speed with the full shipped catalog (no database needed).

Usage:
    python bench/recognition_speed.py [--catalog PATH ...] [--distinct N] [--seen N]
                                      [--output FILE]

Measures, each on a fresh engine:
- build: seconds to load and compile the catalog;
- new_keys_per_second: distinct raw keys never seen before (realistic mix: names from the
  dev data and synthetic variants with new versions, new programs, Linux packages, noise);
- new_names_per_second: the same but every key has a distinct *name* (worst case: no
  name-level memo hit);
- seen_keys_per_second: records whose key was already recognised (memo hit), through
  ``recognise_many``, and through ``recognise`` one call at a time;
- peak memory (tracemalloc) of the engine plus its memo after the new-key run, and the
  process's max RSS.
Rates are given per wall-clock second and per CPU second of this process (``*_cpu``): on a
shared machine the load average (recorded too) moves the wall-clock rates, the CPU ones much
less. Each rate is the best of --repeat runs on a fresh engine.
Writes JSON (default bench/results/recognition_speed.json) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from zhengban.catalog.document import DATA_DIR, load_catalog  # noqa: E402
from zhengban.catalog.recognition import Recogniser  # noqa: E402

DEV = Path("/work/shared/data/recognition-dev.jsonl")
if (ROOT.parent / "shared" / "data" / "recognition-dev.jsonl").exists():
    DEV = ROOT.parent / "shared" / "data" / "recognition-dev.jsonl"

WORDS = (
    "office pro suite studio reader viewer client agent service tools manager update driver "
    "runtime player browser editor converter 助手 管理 客户端 阅读器 驱动程序 安全 浏览器 输入法"
).split()
PUBLISHERS = [
    "Microsoft Corporation",
    "Kingsoft Corp.",
    "Adobe Inc.",
    "腾讯科技(深圳)有限公司",
    "Intel Corporation",
    "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>",
    "Some Vendor Ltd.",
    "",
]


def dev_records() -> list[dict]:
    if not DEV.exists():
        return []
    with DEV.open(encoding="utf-8") as fh:
        return [
            {
                k: v
                for k, v in json.loads(line).items()
                if k in ("name", "publisher", "version", "platform")
            }
            for line in fh
            if line.strip()
        ]


def distinct_keys(n: int, rng: random.Random, base: list[dict]) -> list[dict]:
    """n distinct (name, publisher, version, platform) keys, a realistic mix."""
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0 and base:  # a known program with a new version
            rec = dict(rng.choice(base))
            rec["version"] = f"{rng.randint(1, 30)}.{rng.randint(0, 99)}.{i}"
        elif kind == 1:  # a new program
            words = " ".join(rng.sample(WORDS, 3))
            rec = {
                "name": f"Vendor{i % 997} {words} {rng.randint(1, 12)}.{i % 10}",
                "publisher": rng.choice(PUBLISHERS),
                "version": f"{i % 50}.{i}",
                "platform": "windows",
            }
        elif kind == 2:  # linux package
            stem = rng.choice(["lib", "python3-", "fonts-", "", "gir1.2-"])
            rec = {
                "name": f"{stem}pkg{i % 5000}-{rng.choice(['common', 'data', 'bin', '0'])}",
                "publisher": PUBLISHERS[5],
                "version": f"1.{i}-1ubuntu1",
                "platform": "linux",
            }
        else:  # windows noise
            rec = {
                "name": rng.choice(
                    [
                        f"Security Update for Microsoft Windows (KB{4000000 + i})",
                        f"Microsoft Visual C++ 20{rng.choice(['08', '10', '13', '19'])} x64 "
                        f"Redistributable - {i}.0",
                        f"Intel(R) Device Driver {i % 300}",
                    ]
                ),
                "publisher": rng.choice(PUBLISHERS[:5]),
                "version": f"{i}.0",
                "platform": "windows",
            }
        out.append(rec)
    return out


def distinct_names(n: int, rng: random.Random, base: list[dict]) -> list[dict]:
    out = []
    for i, rec in enumerate(distinct_keys(n, rng, base)):
        rec = dict(rec)
        rec["name"] = f"{rec['name']} n{i}"
        out.append(rec)
    return out


def timed_fresh(catalog: dict, records: list[dict], repeat: int) -> tuple[float, float, list]:
    """Best wall-clock and best CPU seconds of recognising ``records`` on a fresh engine."""
    best_wall = best_cpu = float("inf")
    results: list = []
    for _ in range(max(1, repeat)):
        engine = Recogniser(catalog)
        t0 = time.perf_counter()
        c0 = time.process_time()
        results = engine.recognise_many(records)
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - t0)
    return best_wall, best_cpu, results


def rate(n: int, seconds: float) -> int:
    return int(n / seconds) if seconds > 0 else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", action="append")
    parser.add_argument("--distinct", type=int, default=100_000)
    parser.add_argument("--seen", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--output", default=str(ROOT / "bench" / "results" / "recognition_speed.json")
    )
    args = parser.parse_args(argv)
    rng = random.Random(42)
    base = dev_records()

    started = time.perf_counter()
    catalog = load_catalog(*(args.catalog or [DATA_DIR]))
    engine = Recogniser(catalog)
    build_seconds = time.perf_counter() - started

    keys = distinct_keys(args.distinct, rng, base)
    names = distinct_names(args.distinct, rng, base)

    new_key_seconds, new_key_cpu, results = timed_fresh(catalog, keys, args.repeat)
    # Memory on a separate engine: tracemalloc slows allocation-heavy code several times.
    tracemalloc.start()
    mem_engine = Recogniser(catalog)
    mem_engine.recognise_many(keys)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del mem_engine
    recognised_share = sum(r.family is not None for r in results) / len(results)

    new_name_seconds, new_name_cpu, _ = timed_fresh(catalog, names, args.repeat)
    engine.recognise_many(keys)

    # Seen keys: the province case, millions of installs over the keys recognised above.
    seen = [keys[i % len(keys)] for i in range(args.seen)]
    t0 = time.perf_counter()
    c0 = time.process_time()
    engine.recognise_many(seen)
    seen_many_seconds = time.perf_counter() - t0
    seen_many_cpu = time.process_time() - c0
    recognise = engine.recognise
    tuples = [(r["name"], r["publisher"], r["version"], r["platform"]) for r in seen]
    t0 = time.perf_counter()
    for name, pub, ver, plat in tuples:
        recognise(name, pub, ver, plat)
    seen_single_seconds = time.perf_counter() - t0

    report = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "system": platform.platform(),
        },
        "catalog": {
            "products": len(catalog["products"]),
            "rules": engine.rule_count,
            "build_seconds": round(build_seconds, 3),
        },
        "distinct_keys": args.distinct,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "new_keys_per_second": rate(args.distinct, new_key_seconds),
        "new_keys_per_cpu_second": rate(args.distinct, new_key_cpu),
        "new_keys_recognised_share": round(recognised_share, 3),
        "new_names_per_second": rate(args.distinct, new_name_seconds),
        "new_names_per_cpu_second": rate(args.distinct, new_name_cpu),
        "seen_records": args.seen,
        "seen_keys_per_second_recognise_many": rate(args.seen, seen_many_seconds),
        "seen_keys_per_cpu_second_recognise_many": rate(args.seen, seen_many_cpu),
        "seen_keys_per_second_recognise": rate(args.seen, seen_single_seconds),
        "peak_traced_memory_mb_engine_and_memo": round(peak / 2**20, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "command": "python bench/recognition_speed.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
