#!/usr/bin/env python3
"""Recognition quality on labelled records (default: ../shared/data/recognition-dev.jsonl).

Usage:
    python bench/recognition_eval.py [--catalog PATH ...] [--data FILE] [--output FILE] [--misses N]

--catalog takes catalog JSON files or directories (default: the shipped catalog,
src/zhengban/catalog/data/). Prints a summary and the misses, writes the full report as JSON
(default bench/results/recognition_eval.json). Exit status 0 even when targets are missed:
this is a measuring tool; a catalog that fails to load exits 2 with the loader's message.

Metrics (every record counts; an unrecognised record counts as wrong on every attribute):
- recognised: share of records with a non-null family;
- category / license_model / domestic accuracy;
- family pairwise precision / recall: over pairs of records, "same predicted family" against
  "same labelled family" (family keys need not be spelled like the labels, only grouped alike).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from zhengban.catalog.document import DATA_DIR, CatalogError, load_catalog  # noqa: E402
from zhengban.catalog.recognition import Recogniser  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "recognition-dev.jsonl"
if not DEFAULT_DATA.exists():
    DEFAULT_DATA = Path("/work/shared/data/recognition-dev.jsonl")


def pairs(n: int) -> int:
    return n * (n - 1) // 2


def evaluate(recogniser: Recogniser, records: list[dict]) -> dict:
    results = [recogniser.recognise_record(r) for r in records]
    total = len(records)
    recognised = sum(1 for r in results if r.family is not None)
    correct = {"category": 0, "license_model": 0, "domestic": 0}
    misses = []
    for rec, res in zip(records, results):
        wrong = []
        if res.family is None:
            wrong.append("unrecognised")
        for field in correct:
            if res.family is not None and getattr(res, field) == rec[field]:
                correct[field] += 1
            elif res.family is not None:
                wrong.append(f"{field}: {getattr(res, field)!r} ≠ {rec[field]!r}")
        if wrong:
            misses.append(
                {
                    "name": rec["name"],
                    "publisher": rec.get("publisher"),
                    "platform": rec.get("platform"),
                    "label_family": rec["family"],
                    "got": res.as_dict(),
                    "problems": wrong,
                }
            )

    # Pairwise family agreement via the contingency table of (predicted, labelled) family.
    joint: Counter = Counter()
    pred_sizes: Counter = Counter()
    true_sizes: Counter = Counter()
    for rec, res in zip(records, results):
        true_sizes[rec["family"]] += 1
        if res.family is not None:
            pred_sizes[res.family] += 1
            joint[(res.family, rec["family"])] += 1
    tp = sum(pairs(n) for n in joint.values())
    pred_pairs = sum(pairs(n) for n in pred_sizes.values())
    true_pairs = sum(pairs(n) for n in true_sizes.values())
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0

    # Grouping errors: predicted families mixing labels, labels split over predictions.
    labels_by_pred: dict[str, Counter] = defaultdict(Counter)
    preds_by_label: dict[str, Counter] = defaultdict(Counter)
    for (pred, label), n in joint.items():
        labels_by_pred[pred][label] += n
        preds_by_label[label][pred] += n
    merged = {p: dict(c) for p, c in labels_by_pred.items() if len(c) > 1}
    split = {
        lab: dict(c)
        for lab, c in preds_by_label.items()
        if len(c) > 1 or sum(c.values()) < true_sizes[lab]
    }
    for lab in split:
        missing = true_sizes[lab] - sum(preds_by_label[lab].values())
        if missing:
            split[lab]["<unrecognised>"] = missing

    def pct(x: float) -> float:
        return round(100.0 * x, 2)

    return {
        "records": total,
        "recognised_pct": pct(recognised / total) if total else 0.0,
        "category_accuracy_pct": pct(correct["category"] / total) if total else 0.0,
        "license_model_accuracy_pct": pct(correct["license_model"] / total) if total else 0.0,
        "domestic_accuracy_pct": pct(correct["domestic"] / total) if total else 0.0,
        "family_pairwise_precision_pct": pct(precision),
        "family_pairwise_recall_pct": pct(recall),
        "family_pairs": {"true_positive": tp, "predicted": pred_pairs, "labelled": true_pairs},
        "families_merging_labels": merged,
        "labels_split": split,
        "misses": misses,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", action="append", default=None, help="catalog file or dir")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="labelled JSON Lines file")
    parser.add_argument(
        "--output", default=str(ROOT / "bench" / "results" / "recognition_eval.json")
    )
    parser.add_argument("--misses", type=int, default=60, help="misses to print (0: none)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        catalog = load_catalog(*(args.catalog or [DATA_DIR]))
    except CatalogError as exc:
        print(f"catalog error: {exc}", file=sys.stderr)
        return 2
    recogniser = Recogniser(catalog)
    load_seconds = time.perf_counter() - started
    with open(args.data, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    report = evaluate(recogniser, records)
    report = {
        "data": str(args.data),
        "catalog": {
            "products": len(catalog["products"]),
            "families": len(catalog["families"]),
            "publishers": len(catalog["publishers"]),
            "rules": recogniser.rule_count,
            "load_seconds": round(load_seconds, 3),
        },
        **report,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    print(
        f"catalog: {report['catalog']['products']} products, {report['catalog']['rules']} rules, "
        f"loaded in {report['catalog']['load_seconds']} s"
    )
    for key in (
        "records",
        "recognised_pct",
        "category_accuracy_pct",
        "license_model_accuracy_pct",
        "domestic_accuracy_pct",
        "family_pairwise_precision_pct",
        "family_pairwise_recall_pct",
    ):
        print(f"{key:32} {report[key]}")
    if args.misses:
        print(f"\nmisses ({len(report['misses'])}):")
        for miss in report["misses"][: args.misses]:
            print(
                f"  {miss['name']!r} [{miss['publisher']}] label={miss['label_family']} "
                f"got={miss['got']['family']}/{miss['got']['product']}: "
                + "; ".join(miss["problems"])
            )
        if report["families_merging_labels"]:
            print("\npredicted families that merge several labelled families:")
            for pred, labels in report["families_merging_labels"].items():
                print(f"  {pred}: {labels}")
        if report["labels_split"]:
            print("\nlabelled families split over several predicted families:")
            for label, preds in report["labels_split"].items():
                print(f"  {label}: {preds}")
    print(f"\nreport written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
