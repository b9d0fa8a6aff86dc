"""The short table ``run`` prints at the end: the protocol's headline figures from this run's records, beside
the committed reference record of the same unit (``records/``), so a user sees at once whether their run
reproduces it.

The full tables, with confidence intervals and significance marks, are ``python -m harness tables``.
"""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

from .records import zero_shot_source


def harmonic_mean(base: float, novel: float) -> float:
    return 2 * base * novel / (base + novel) if base + novel > 0 else 0.0


def _top1(record: dict | None, name: str) -> float | None:
    for evaluation in (record or {}).get("evaluations", []):
        if evaluation["name"] == name:
            return 100 * evaluation["metrics"]["top1"]
    return None


def find_reference(record: dict, reference_dir: Path | None) -> tuple[dict | None, str]:
    """The reference record of the same run id, else of the same method/protocol/unit under another config
    (the second element says which)."""
    if reference_dir is None:
        return None, ""
    folder = Path(reference_dir) / record["protocol"]["name"] / record["method"] / record["dataset"]
    exact = folder / f"{record['run_id']}.json"
    if exact.is_file():
        return json.loads(exact.read_text(encoding="utf-8")), "same run id"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        other = json.loads(path.read_text(encoding="utf-8"))
        if other.get("unit", {}).get("seed") == record["unit"]["seed"] and \
                other.get("unit", {}).get("shots") == record["unit"]["shots"]:
            return other, "other config"
    return None, ""


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def summarize(records: list[dict], reference_dir: Path | None = None) -> list[tuple[str, list[str], list[list]]]:
    """(title, headers, rows) per protocol present in ``records``; a "reference" column when a reference
    folder is given."""
    by_protocol = defaultdict(list)
    for record in records:
        by_protocol[record["protocol"]["name"]].append(record)
    with_ref = reference_dir is not None
    tables = []
    for protocol, group in by_protocol.items():
        references = {r["run_id"]: find_reference(r, reference_dir) for r in group}
        if protocol == "base2novel":
            rows = []
            for dataset in sorted({r["dataset"] for r in group}):
                runs = sorted((r for r in group if r["dataset"] == dataset), key=lambda r: r["unit"]["seed"])
                bases, novels = [_top1(r, "base") for r in runs], [_top1(r, "novel") for r in runs]
                for r, b, n in zip(runs, bases, novels):
                    ref, how = references[r["run_id"]]
                    rb, rn = _top1(ref, "base"), _top1(ref, "novel")
                    shown = f"{_fmt(rb)} / {_fmt(rn)} / {_fmt(harmonic_mean(rb, rn))} ({how})" if ref else "none"
                    rows.append([r["method"], dataset, f"seed {r['unit']['seed']}", f"{b:.1f}", f"{n:.1f}",
                                 f"{harmonic_mean(b, n):.1f}"] + ([shown] if with_ref else []))
                b, n = statistics.mean(bases), statistics.mean(novels)
                rows.append([runs[0]["method"], dataset, f"mean of {len(runs)}", f"{b:.1f}", f"{n:.1f}",
                             f"{harmonic_mean(b, n):.1f}"] + ([""] if with_ref else []))
            tables.append(("base-to-novel (top-1 %)", ["method", "dataset", "seed", "base", "novel", "HM"]
                           + (["reference (records/): base / novel / HM"] if with_ref else []), rows))
        elif protocol == "zero_shot":
            rows = []
            for record in group:
                ref, how = references[record["run_id"]]
                by_target, ref_target = defaultdict(list), defaultdict(list)
                for evaluation in record["evaluations"]:
                    by_target[evaluation["dataset"]].append(100 * evaluation["metrics"]["top1"])
                for evaluation in (ref or {}).get("evaluations", []):
                    ref_target[evaluation["dataset"]].append(100 * evaluation["metrics"]["top1"])
                for target, values in sorted(by_target.items()):
                    shown = f"{_mean_std(ref_target[target])} ({how})" if ref_target.get(target) else "none"
                    rows.append([record["method"], zero_shot_source(record), target, len(values), _mean_std(values)]
                                + ([shown] if with_ref else []))
            tables.append(("zero-shot (top-1 %, mean ± std over splits)",
                           ["method", "source", "target", "splits", "top-1"]
                           + (["reference (records/)"] if with_ref else []), rows))
        elif protocol == "few_shot":
            rows = []
            for r in group:
                ref, how = references[r["run_id"]]
                shown = f"{_fmt(_top1(ref, 'test'))} ({how})" if ref else "none"
                rows.append([r["method"], r["dataset"], r["unit"]["shots"], r["unit"]["seed"],
                             f"{_top1(r, 'test'):.1f}"] + ([shown] if with_ref else []))
            rows.sort(key=lambda row: (row[1], row[2], row[3]))
            tables.append(("few-shot (top-1 %)", ["method", "dataset", "K", "seed", "top-1"]
                           + (["reference (records/)"] if with_ref else []), rows))
    return tables


def _mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {spread:.1f}"


def print_summary(records: list[dict], reference_dir: Path | None = None) -> None:
    for title, headers, rows in summarize(records, reference_dir):
        print(f"\n{title}")
        print(tabulate(rows, headers=headers, tablefmt="github"))
