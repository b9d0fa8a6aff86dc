"""What each trained method learned, per dataset: its top-1 on its own training list next to its test top-1,
and whether training beat frozen ``clip`` on the same test videos.

Why a table of its own: a comparison is only evidence when training visibly does something. A method whose
train top-1 is near chance learned nothing; one far above its test top-1 overfits; one whose test top-1 does not
differ from frozen ``clip`` has not shown that training helps there. Values and tests are the protocol tables'
(harness.reports.outcomes, harness.reports.comparisons: exact McNemar over the units both ran, Holm per column).
Columns: the evaluation on the classes a method trained on — base-to-novel *base*, few-shot at the largest K —
because train top-1 is measured on those classes.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from .base2novel import b2n_data
from .comparisons import apply_holm, unit_comparison
from .few_shot import few_shot_data
from .loading import protocol_name
from .outcomes import seed_mean, sort_units
from .render import DASH, MARK, Table, csv_num, csv_p, fmt_p, pct_ci

BASELINE = "clip"


def _columns(by_protocol: dict[str, list[dict]]) -> list[tuple[str, str, dict]]:
    """(protocol label, dataset, method → unit → Outcome) per compared column."""
    columns = []
    b2n = b2n_data(by_protocol.get("base2novel", []))
    for dataset in sorted({d for _, d in b2n}):
        units = {m: {s: pair[0] for s, pair in seeds.items()} for (m, d), seeds in b2n.items() if d == dataset}
        columns.append(("base-to-novel, base", dataset, units))
    few = few_shot_data(by_protocol.get("few_shot", []))
    for dataset in sorted({d for _, d in few}):
        k = max(k for (m, d), by_k in few.items() if d == dataset for k in by_k)
        units = {m: by_k[k] for (m, d), by_k in few.items() if d == dataset and k in by_k}
        columns.append((f"few-shot K={k}", dataset, units))
    return columns


def train_top1(records: list[dict]) -> dict:
    """(protocol, method, dataset, K or None) → mean of training.train_top1 over the records that have it."""
    values: dict = defaultdict(list)
    for rec in records:
        top1 = (rec.get("training") or {}).get("train_top1")
        if top1 is not None:
            protocol = protocol_name(rec)
            shots = (rec.get("unit") or {}).get("shots") if protocol == "few_shot" else None
            values[(protocol, rec["method"], rec["dataset"], shots)].append(float(top1))
    return {key: float(np.mean(v)) for key, v in values.items()}


def build_training_fit(by_protocol: dict[str, list[dict]]) -> Table | None:
    """The table from the kept base-to-novel and few-shot records; None without a trained method beside clip."""
    records = [r for p in ("base2novel", "few_shot") for r in by_protocol.get(p, [])]
    train = train_top1(records)
    cells, comparisons = [], []
    for label, dataset, units in _columns(by_protocol):
        ref = units.get(BASELINE)
        protocol = "base2novel" if label.startswith("base") else "few_shot"
        shots = int(label.split("K=")[1]) if "K=" in label else None
        for method in sorted(units, key=lambda m: (m != BASELINE, m)):
            fit = train.get((protocol, method, dataset, shots))
            if method != BASELINE and fit is None:
                continue  # not trained here
            outs = [units[method][u] for u in sort_units(units[method])]
            comp = None
            if method != BASELINE and ref:
                comp = unit_comparison(method, dataset, label, units[method], ref)
                if comp is not None:
                    comparisons.append(comp)
            cells.append((label, dataset, method, fit, seed_mean(outs), len(outs), comp))
    if not any(c[2] != BASELINE for c in cells):
        return None
    apply_holm(comparisons)
    header = ["evaluation", "dataset", "method", "train top-1", "test top-1 [95% CI]", "units",
              f"Δ vs {BASELINE} (pp)", "McNemar p", "Holm p"]
    rows, csv_rows = [], []
    for label, dataset, method, fit, top1, n_units, comp in cells:
        rows.append([label, dataset, method, DASH if fit is None else f"{100 * fit:.1f}", pct_ci(*top1),
                     str(n_units), DASH if comp is None else f"{100 * comp.diff:+.1f}" + (MARK if comp.significant else ""),
                     DASH if comp is None else fmt_p(comp.p), DASH if comp is None else fmt_p(comp.p_holm)])
        csv_rows.append([label, dataset, method, csv_num(fit), csv_num(top1[0]), csv_num(top1[1]), csv_num(top1[2]),
                         str(n_units), "" if comp is None else csv_num(comp.diff),
                         "" if comp is None else csv_p(comp.p), "" if comp is None else csv_p(comp.p_holm)])
    notes = ["Rows: every trained method (and frozen `clip`, which trains nothing) on the classes it trained on: "
             "base-to-novel base classes, few-shot at the largest K; ablation variants included.",
             "train top-1: the final weights on (a fixed sample of) the training list with test views "
             "(`training.train_top1`), mean over the units; test top-1: mean over the units (seeds) with a 95 % "
             "bootstrap CI over videos.",
             f"Δ vs {BASELINE}: exact McNemar on per-video correctness pooled over the units both ran on identical "
             f"videos, Holm over the whole table; {MARK}: Holm p < 0.05, either direction (the sign of Δ says which)."]
    return Table("training_fit", "Training fit: train top-1 and test top-1 per method and dataset, against frozen clip",
                 header, rows,
                 ["evaluation", "dataset", "method", "train_top1_pct", "top1_pct", "top1_low", "top1_high", "units",
                  "delta_vs_clip_pp", "mcnemar_p", "holm_p"], csv_rows, notes)
