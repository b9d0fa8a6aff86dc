"""The short table ``run`` prints at the end: the protocol's headline figures from this run's records.

The full tables, with confidence intervals and significance marks, are ``python -m harness tables``.
"""
from __future__ import annotations

import statistics
from collections import defaultdict

from tabulate import tabulate


def harmonic_mean(base: float, novel: float) -> float:
    return 2 * base * novel / (base + novel) if base + novel > 0 else 0.0


def _top1(record: dict, name: str) -> float | None:
    for evaluation in record["evaluations"]:
        if evaluation["name"] == name:
            return 100 * evaluation["metrics"]["top1"]
    return None


def summarize(records: list[dict]) -> list[tuple[str, list[str], list[list]]]:
    """(title, headers, rows) per protocol present in ``records``."""
    by_protocol = defaultdict(list)
    for record in records:
        by_protocol[record["protocol"]["name"]].append(record)
    tables = []
    for protocol, group in by_protocol.items():
        if protocol == "base2novel":
            rows = []
            for dataset in sorted({r["dataset"] for r in group}):
                runs = sorted((r for r in group if r["dataset"] == dataset), key=lambda r: r["unit"]["seed"])
                bases, novels = [_top1(r, "base") for r in runs], [_top1(r, "novel") for r in runs]
                for r, b, n in zip(runs, bases, novels):
                    rows.append([r["method"], dataset, f"seed {r['unit']['seed']}", f"{b:.1f}", f"{n:.1f}",
                                 f"{harmonic_mean(b, n):.1f}"])
                b, n = statistics.mean(bases), statistics.mean(novels)
                rows.append([runs[0]["method"], dataset, f"mean of {len(runs)}", f"{b:.1f}", f"{n:.1f}",
                             f"{harmonic_mean(b, n):.1f}"])
            tables.append(("base-to-novel (top-1 %)", ["method", "dataset", "seed", "base", "novel", "HM"], rows))
        elif protocol == "zero_shot":
            rows = []
            for record in group:
                by_target = defaultdict(list)
                for evaluation in record["evaluations"]:
                    by_target[evaluation["dataset"]].append(100 * evaluation["metrics"]["top1"])
                for target, values in sorted(by_target.items()):
                    spread = statistics.stdev(values) if len(values) > 1 else 0.0
                    rows.append([record["method"], record["dataset"], target, len(values),
                                 f"{statistics.mean(values):.1f} ± {spread:.1f}"])
            tables.append(("zero-shot (top-1 %, mean ± std over splits)",
                           ["method", "source", "target", "splits", "top-1"], rows))
        elif protocol == "few_shot":
            rows = sorted([[r["method"], r["dataset"], r["unit"]["shots"], r["unit"]["seed"], f"{_top1(r, 'test'):.1f}"]
                           for r in group], key=lambda row: (row[1], row[2], row[3]))
            tables.append(("few-shot (top-1 %)", ["method", "dataset", "K", "seed", "top-1"], rows))
    return tables


def print_summary(records: list[dict]) -> None:
    for title, headers, rows in summarize(records):
        print(f"\n{title}")
        print(tabulate(rows, headers=headers, tablefmt="github"))
