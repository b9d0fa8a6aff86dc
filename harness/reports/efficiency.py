"""The efficiency table: model size, GMACs, throughput, training step time and memory, as measured by the runs
(published efficiency figures are not mixed in)."""
from __future__ import annotations

import numpy as np

from .outcomes import group_by
from .provenance import views_text
from .render import DASH, Table, join_values


NOT_MEASURED = "not measured"


def _machine(rec: dict) -> str:
    machine = (rec.get("environment") or {}).get("machine") or {}
    return str(machine.get("gpu") or machine.get("cpu") or DASH)


def _median(values) -> float | None:
    vals = [float(v) for v in values if v is not None and float(v) > 0]
    return float(np.median(vals)) if vals else None


def _num(x, fmt: str) -> str:
    return DASH if x is None else format(x, fmt)


def _thousands(x) -> str:
    return DASH if x is None else f"{int(x):,}"


def _int(x) -> str:
    return "" if x is None else str(int(x))


def efficiency_rows(records: list[dict]) -> dict[tuple, dict]:
    """Per (method, backbone, frames, input, views): model size, GMACs, median throughput/step time, max memory."""
    groups = group_by(records, lambda r: (r["method"], str((r.get("model") or {}).get("backbone", DASH)),
                                         str((r.get("model") or {}).get("frames", DASH)),
                                         str((r.get("model") or {}).get("input_size", DASH)), views_text(r)))
    out = {}
    for key, recs in sorted(groups.items()):
        model = (recs[-1].get("model") or {})
        views = recs[-1].get("views") or {}
        n_views = int(views.get("clips", 1) or 1) * int(views.get("crops", 1) or 1)
        trainings = [r.get("training") or {} for r in recs]
        # only records that say how memory was measured: older ones hold process RSS (mostly the runtime itself)
        measured = [t for t in trainings if t.get("peak_memory_how") and t.get("peak_memory_mb") is not None]
        mems = [float(t["peak_memory_mb"]) for t in measured]
        out[key] = {
            "total_params": model.get("total_params"), "trainable_params": model.get("trainable_params"),
            "gmacs_per_view": model.get("gmacs_per_view"), "views": n_views, "text_gmacs": model.get("text_gmacs"),
            "throughput": _median(ev.get("throughput_clips_per_s") for r in recs for ev in r["evaluations"]),
            "step_time": _median(t.get("step_time_s") for t in trainings),
            "peak_memory": max(mems) if mems else None,
            "memory_how": sorted({str(t["peak_memory_how"]) for t in measured}),
            "memory_records": len(measured), "trained_records": sum(1 for t in trainings if t),
            "machine": join_values(_machine(r) for r in recs), "records": len(recs)}
    return out


def build_efficiency(records: list[dict]) -> Table:
    header = ["method", "backbone", "frames", "input", "total params", "trainable params", "GMACs/view × views",
              "text GMACs", "throughput (clips/s)", "train step (s)", "peak training memory (MB)",
              "memory measured by", "machine", "records"]
    rows, csv_rows = [], []
    effs = efficiency_rows(records)
    hows = sorted({h for e in effs.values() for h in e["memory_how"]})  # long sentences: footnotes [1], [2], …
    for (method, backbone, frames, size, views), e in effs.items():
        gm = e["gmacs_per_view"]
        how_marks = ", ".join(f"[{hows.index(h) + 1}]" for h in e["memory_how"]) or DASH
        if e["peak_memory"] is not None:
            memory = f"{e['peak_memory']:.0f}"
        else:
            memory = NOT_MEASURED if e["trained_records"] else DASH
        rows.append([method, backbone, frames, size, _thousands(e["total_params"]), _thousands(e["trainable_params"]),
                     DASH if gm is None else f"{gm:.2f} × {e['views']} = {gm * e['views']:.2f}",
                     _num(e["text_gmacs"], ".2f"), _num(e["throughput"], ".1f"), _num(e["step_time"], ".3f"),
                     memory, how_marks, e["machine"], str(e["records"])])
        csv_rows.append([method, backbone, frames, size, _int(e["total_params"]), _int(e["trainable_params"]),
                         "" if gm is None else f"{gm:.4f}", views, str(e["views"]),
                         "" if e["text_gmacs"] is None else f"{e['text_gmacs']:.4f}",
                         "" if e["throughput"] is None else f"{e['throughput']:.3f}",
                         "" if e["step_time"] is None else f"{e['step_time']:.4f}",
                         "" if e["peak_memory"] is None else f"{e['peak_memory']:.1f}", "; ".join(e["memory_how"]),
                         str(e["memory_records"]), e["machine"], str(e["records"])])
    notes = ["GMACs are multiply-accumulates (papers' \"GFLOPs\") of the visual tower per view (clips × crops "
             "views per video); text GMACs are for encoding the class prompts once (engineering.md §3).",
             "Throughput: median over the evaluations of the rows' records; train step: median seconds per "
             "optimizer step. Only comparable on the same machine (column machine).",
             "Peak training memory: largest `training.peak_memory_mb` over the records that state how it was "
             "measured (`training.peak_memory_how`, column memory measured by): what the training itself "
             f"allocated. Records without that key (older runner) held the process's resident memory, mostly the "
             f"Python/torch runtime and the same for every method, so they show \"{NOT_MEASURED}\"; "
             f"{DASH}: not trained.",
             *(f"[{i}] {how}" for i, how in enumerate(hows, 1)),
             "Numbers measured here; published efficiency figures are in methods.md §1.5."]
    return Table("efficiency", "Efficiency: model size, compute and speed (measured)", header, rows,
                 ["method", "backbone", "frames", "input_size", "total_params", "trainable_params",
                  "gmacs_per_view", "views", "n_views", "text_gmacs", "throughput_clips_per_s", "step_time_s",
                  "peak_memory_mb", "peak_memory_how", "memory_records", "machine", "records"], csv_rows, notes)
