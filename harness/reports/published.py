"""Published numbers (top-1 %, ViT-B/16) from ../shared/docs/methods.md §4.1–4.3, kept as data.

Why a module and not a table file: ``build_published`` renders these into results/published.* and nowhere
else, so published and measured numbers never share a table. ``source`` is the doc's source cell verbatim; ``note``
carries the doc's caveats. ``frames``/``size`` are None where the doc row does not state the input.

Value keys per protocol: zero_shot {top1, std}; base2novel {base, novel, hm}; few_shot {2, 4, 8, 16}.
"""
from __future__ import annotations

from .render import DASH, Table

ZERO_SHOT, BASE2NOVEL, FEW_SHOT = "zero_shot", "base2novel", "few_shot"


def _zs(method, frames, size, source, note="", **by_dataset):
    """One zero-shot row per target dataset; values (top1, std or None)."""
    return [{"method": method, "protocol": ZERO_SHOT, "dataset": ds, "values": {"top1": v[0], "std": v[1]},
             "frames": frames, "size": size, "source": source, "note": note}
            for ds, v in by_dataset.items() if v is not None]


def _b2n(method, frames, size, source, note="", **by_dataset):
    return [{"method": method, "protocol": BASE2NOVEL, "dataset": ds,
             "values": {"base": v[0], "novel": v[1], "hm": v[2]},
             "frames": frames, "size": size, "source": source, "note": note}
            for ds, v in by_dataset.items()]


def _fs(method, frames, size, source, note="", **by_dataset):
    return [{"method": method, "protocol": FEW_SHOT, "dataset": ds, "values": dict(zip((2, 4, 8, 16), v)),
             "frames": frames, "size": size, "source": source, "note": note}
            for ds, v in by_dataset.items()]


_FROSTER = "FROSTER README"

PUBLISHED: list[dict] = [
    # §4.1 zero-shot, K-400 → target (mean over 3 splits; ± std where the doc gives it)
    *_zs("ezclip", 8, 224, "`Shahzadnit/EZ-CLIP:README.md` (no ±std)",
         "EZ-CLIP repo K-600 set is 232 classes, not 3×160 (methods.md §3.1)",
         hmdb51=(52.9, None), ucf101=(79.1, None), k600=(70.1, None)),
    *_zs("vificlip", 32, 224, "ViFi README (means); ±std from the FROSTER README", "",
         hmdb51=(51.3, 0.6), ucf101=(76.8, 0.7), k600=(71.2, 1.0)),
    *_zs("xclip", 32, 224, "X-CLIP README (means); ±std FROSTER README", "571 GFLOPs",
         hmdb51=(44.6, 5.2), ucf101=(72.0, 2.3), k600=(65.2, 0.4)),
    *_zs("actionclip", None, None,
         "appears in a third-party README table; per VideoX#63 these are X-CLIP's Table 3 numbers for its "
         "\"ActionCLIP-MeanP\" re-implementation (`engineering.md` §2); **UNVERIFIED** against the papers",
         "K-600 not available", hmdb51=(40.8, 5.4), ucf101=(58.3, 3.4)),
    *_zs("actionclip (FROSTER re-impl.)", None, None, _FROSTER, "full-set: HMDB 48.0, UCF 77.4",
         hmdb51=(48.2, 1.5), ucf101=(77.5, 0.8), k600=(62.5, 1.2)),
    *_zs("clip (frozen, FROSTER)", None, None, _FROSTER, "full-set: HMDB 46.3, UCF 74.2",
         hmdb51=(47.9, 0.5), ucf101=(73.8, 0.6), k600=(68.1, 1.1)),
    # §4.2 base-to-novel (Base / Novel / HM, average of 3 seeds for the ViFi lineage)
    *_b2n("ezclip", 8, 224, "EZ README (= T2L README)", "",
          k400=(73.1, 60.6, 66.3), hmdb51=(77.0, 58.2, 66.3), ucf101=(94.4, 77.9, 85.4), ssv2=(16.6, 13.3, 14.8)),
    *_b2n("vificlip", 32, 224, "ViFi README; same in the FROSTER README", "",
          k400=(76.4, 61.1, 67.9), hmdb51=(73.8, 53.3, 61.9), ucf101=(92.9, 67.7, 78.3), ssv2=(16.2, 12.1, 13.9)),
    *_b2n("xclip", None, None, "FROSTER README (taken from ViFi / Open-VCLIP)", "",
          k400=(74.1, 56.4, 64.0), hmdb51=(69.4, 45.5, 55.0), ucf101=(89.9, 58.9, 71.2), ssv2=(8.5, 6.6, 7.4)),
    *_b2n("actionclip", None, None, _FROSTER, "",
          k400=(61.0, 46.2, 52.6), hmdb51=(69.1, 37.3, 48.5), ucf101=(90.1, 58.1, 70.7), ssv2=(13.3, 10.1, 11.5)),
    *_b2n("clip (frozen)", None, None, _FROSTER, "",
          k400=(62.3, 53.4, 57.5), hmdb51=(53.3, 46.8, 49.8), ucf101=(78.5, 63.6, 70.3), ssv2=(4.9, 5.3, 5.1)),
    # FROSTER (methods.md §5): README tables 1-2, ViT-B/16, 8 frames × 224, 3 temporal clips × 1 crop
    # (script/testing/temporal_test_b16/*.sh), weights averaged over epochs 2..22 (swa_2_22.pth), LLM-rephrased names
    *_zs("froster", 8, 224, "`Visual-AI/FROSTER:README.md` Table 2 (cross-dataset, mean ± std over 3 splits)",
         "3 temporal clips × 1 crop; full-set UCF* 85.0, HMDB* 54.5; LLM-rephrased class names",
         hmdb51=(54.8, 1.3), ucf101=(84.8, 1.1), k600=(74.8, 0.9)),
    *_b2n("froster", 8, 224, "`Visual-AI/FROSTER:README.md` Table 1 (base-to-novel)",
          "3 temporal clips × 1 crop; LLM-rephrased class names; the README heads SSv2's HM column \"IMM\"",
          k400=(77.8, 64.3, 70.4), hmdb51=(74.1, 58.0, 65.1), ucf101=(95.3, 80.0, 87.0), ssv2=(18.3, 12.2, 14.6)),
    # Open-VCLIP (methods.md §5): its own README has no results table; the numbers are the FROSTER README's Open-VCLIP
    # rows (ViT-B/16, 8 frames × 224; Open-VCLIP's B/16 test scripts: 3 temporal views × 1 crop, swa_2_22.pth
    # interpolated 0.5 with CLIP)
    *_zs("openvclip", 8, 224, "`Visual-AI/FROSTER:README.md` Table 2 (cross-dataset, mean ± std over 3 splits)",
         "3 temporal views × 1 crop; full-set UCF* 83.5, HMDB* 53.2; not in the Open-VCLIP README",
         hmdb51=(53.9, 1.2), ucf101=(83.4, 1.2), k600=(73.0, 0.8)),
    *_b2n("openvclip", 8, 224, "`Visual-AI/FROSTER:README.md` Table 1 (base-to-novel)",
          "3 temporal views × 1 crop; not in the Open-VCLIP README",
          k400=(76.5, 62.6, 68.9), hmdb51=(70.3, 50.4, 58.7), ucf101=(94.8, 77.5, 85.3), ssv2=(16.0, 11.0, 13.0)),
    # §4.3 few-shot (all-way K-shot, K = 2 / 4 / 8 / 16)
    *_fs("vificlip", 32, 224, "ViFi README", "",
         hmdb51=(57.2, 62.7, 64.5, 66.8), ucf101=(80.7, 85.1, 90.0, 92.7), ssv2=(6.2, 7.4, 8.5, 12.4)),
    *_fs("xclip", 32, 224, "X-CLIP README", "571 GFLOPs; SSv2 not in the README",
         hmdb51=(53.0, 57.3, 62.8, 64.0), ucf101=(76.4, 83.4, 88.3, 91.4)),
    *_fs("ezclip", None, None,
         "`Shahzadnit/T2L:images/teasure.png` radar axes \"HMDB(FS)\", \"UCF(FS)\", \"SSv2(FS)\"; "
         "per-K values not available",
         "K not labelled in the figure; shown under K = 16 as the doc does",
         hmdb51=(None, None, None, 67.7), ucf101=(None, None, None, 92.8), ssv2=(None, None, None, 13.2)),
]
"""ActionCLIP and A5 few-shot numbers are not available in the doc's sources (ViFi paper Table 3)."""


def published(protocol: str | None = None) -> list[dict]:
    """The published rows, optionally for one protocol, in a fixed order (protocol, method, dataset)."""
    order = {ZERO_SHOT: 0, BASE2NOVEL: 1, FEW_SHOT: 2}
    rows = [r for r in PUBLISHED if protocol is None or r["protocol"] == protocol]
    return sorted(rows, key=lambda r: (order[r["protocol"]], r["method"], r["dataset"]))


def build_published() -> Table:
    header = ["protocol", "method", "dataset", "top-1 %", "input (frames×size)", "source", "note"]
    rows, csv_rows = [], []
    for r in published():
        v = r["values"]
        if r["protocol"] == "zero_shot":
            shown = f"{v['top1']:.1f}" + (f" ± {v['std']:.1f}" if v.get("std") is not None else "")
        elif r["protocol"] == "base2novel":
            shown = " / ".join(f"{v[k]:.1f}" for k in ("base", "novel", "hm"))
        else:
            shown = " / ".join(DASH if v[k] is None else f"{v[k]:.1f}" for k in (2, 4, 8, 16))
        size = f"{r['frames']}×{r['size']}" if r["frames"] else DASH
        rows.append([r["protocol"], r["method"], r["dataset"], shown, size, r["source"], r["note"]])
        get = lambda key: "" if v.get(key) is None else f"{v[key]:.1f}"  # noqa: E731
        csv_rows.append([r["protocol"], r["method"], r["dataset"], get("top1"), get("std"), get("base"),
                         get("novel"), get("hm"), get(2), get(4), get(8), get(16), str(r["frames"] or ""),
                         str(r["size"] or ""), r["source"], r["note"]])
    notes = ["PUBLISHED, NOT MEASURED HERE: copied from ../shared/docs/methods.md §4.1–4.3 "
             "(harness/reports/published.py); never mixed into the measured tables.",
             "zero_shot: mean (± std) over the 3 target splits, trained on K-400; base2novel: B / N / HM, "
             "seed-averaged; few_shot: K = 2 / 4 / 8 / 16. ViT-B/16. Input — where the source does not state it."]
    return Table("published", "Published numbers (published, not measured here), top-1 %", header, rows,
                 ["protocol", "method", "dataset", "top1", "std", "base", "novel", "hm", "k2", "k4", "k8", "k16",
                  "frames", "size", "source", "note"], csv_rows, notes, origin="harness/reports/published.py")
