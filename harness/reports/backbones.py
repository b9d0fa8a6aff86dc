"""The backbone axis: base-to-novel novel accuracy and HM per backbone (and its weights) for every method, from
the base2novel run records (``analyze backbones`` runs them), as a table and a plot.

Why its own grouping: the protocol tables keep one record per unit (newest wins) and read only the main backbone's
records (harness.reports.loading.on_main_backbone); here records are grouped by (backbone, pretrained) first and
de-duplicated within, so runs on different backbones never replace each other."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from .base2novel import b2n_data, b2n_summary
from .loading import backbone_of, deduplicate, main_backbone, protocol_name
from .render import DASH, Table, csv_num, join_values, pct_ci


def backbone_order(name: str) -> tuple:
    """Embedded toy sizes smallest first, then the other architectures by name (the plot's x order)."""
    from ..models.backbones import EMBEDDED_BACKBONES

    return (0, EMBEDDED_BACKBONES.index(name), "") if name in EMBEDDED_BACKBONES else (1, 0, name)


def backbone_rows(raw_records: list[dict]) -> list[dict]:
    groups = defaultdict(list)
    for rec in raw_records:
        if protocol_name(rec) == "base2novel":
            groups[backbone_of(rec)].append(rec)
    rows = []
    for (backbone, pretrained), recs in sorted(groups.items(), key=lambda kv: (backbone_order(kv[0][0]), kv[0][1])):
        kept, _ = deduplicate(recs)
        for (method, dataset), per_seed in sorted(b2n_data(kept).items()):
            s = b2n_summary(per_seed)
            rows.append(dict(method=method, dataset=dataset, backbone=backbone, pretrained=pretrained, seeds=s["seeds"],
                             base=(s["base"], s.get("base_low"), s.get("base_high")),
                             novel=(s["novel"], s.get("novel_low"), s.get("novel_high")),
                             hm=(s["hm"], s.get("hm_low"), s.get("hm_high"))))
    return rows


def build_backbones(raw_records: list[dict]) -> tuple[Table | None, list[dict]]:
    rows = backbone_rows(raw_records)
    if not rows:
        return None, []
    backbones = sorted({r["backbone"] for r in rows}, key=backbone_order)
    body = [[r["method"], r["dataset"], r["backbone"], r["pretrained"], join_values(r["seeds"]), pct_ci(*r["base"]),
             pct_ci(*r["novel"]), pct_ci(*r["hm"])] for r in rows]
    csv_rows = [[r["method"], r["dataset"], r["backbone"], r["pretrained"], join_values(r["seeds"]),
                 *(csv_num(v) for key in ("base", "novel", "hm") for v in r[key])] for r in rows]
    notes = ["Base-to-novel per backbone: B and N are seed-averaged top-1, HM = 2·B·N/(B+N) of them; 95 % bootstrap "
             "CIs over test videos (stats.bootstrap_hm). Records are grouped by (backbone, weights) before the "
             "newest-record-per-unit rule, so runs on different backbones never replace each other; the protocol "
             f"tables read only the main backbone's records ({' / '.join(main_backbone(raw_records) or ('?', '?'))}, "
             "the one most records were run with).",
             f"Backbones with records: {', '.join(backbones)}. Add one with `python -m harness analyze backbones "
             "--method M --backbones NAME ...` (real path: ViT-B-32 ViT-B-16 ViT-L-14 with --pretrained openai). "
             "Offline, the embedded toy CLIP comes in three sizes pretrained by one recipe (toy-vit-s: width 32, "
             "2 layers; toy-vit: width 64, 4 layers; toy-vit-l: width 96, 5 vision layers), each with the methods' "
             "embedded schedules."]
    table = Table("backbones", "Backbone axis: base-to-novel B / N / HM per backbone", 
                  ["method", "dataset", "backbone", "weights", "seeds", "B [95% CI]", "N [95% CI]", "HM [95% CI]"],
                  body, ["method", "dataset", "backbone", "pretrained", "seeds", "base_pct", "base_low", "base_high",
                         "novel_pct", "novel_low", "novel_high", "hm_pct", "hm_low", "hm_high"], csv_rows, notes)
    return table, rows


def write_backbone_plot(rows: list[dict], results_dir: Path) -> list[Path]:
    """Novel accuracy and HM (y, 0–100 %) per backbone (x, categorical), one marker per method, colour per dataset,
    95 % CI error bars, legends outside the axes."""
    if not rows:
        return []
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from .plots import _MARKERS

    backbones = sorted({r["backbone"] for r in rows}, key=backbone_order)
    methods = sorted({r["method"] for r in rows})
    datasets = sorted({r["dataset"] for r in rows})
    colours = {d: mpl.colormaps["tab10"](i % 10) for i, d in enumerate(datasets)}
    markers = {m: _MARKERS[i % len(_MARKERS)] for i, m in enumerate(methods)}
    slots = [(m, d) for m in methods for d in datasets]
    width = 0.8 / max(1, len(slots))
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, title in ((axes[0], "novel", "novel-class top-1 (N)"), (axes[1], "hm", "harmonic mean HM")):
        for method, dataset in slots:  # a thin line joins one method's points across backbones (smallest first)
            mine = [r for r in rows if (r["method"], r["dataset"]) == (method, dataset) and r[key][0] is not None]
            if len(mine) > 1:
                ax.plot([backbones.index(r["backbone"]) - 0.4 + width * (slots.index((method, dataset)) + 0.5)
                         for r in mine], [100 * r[key][0] for r in mine], color=colours[dataset], linewidth=0.8,
                        alpha=0.5)
        for r in rows:
            x = backbones.index(r["backbone"]) - 0.4 + width * (slots.index((r["method"], r["dataset"])) + 0.5)
            value, low, high = (100 * v if v is not None else None for v in r[key])
            style = dict(marker=markers[r["method"]], color=colours[r["dataset"]], linestyle="none", markersize=6)
            if low is None:
                ax.plot([x], [value], markerfacecolor="none", **style)
            else:
                ax.errorbar([x], [value], yerr=[[value - low], [high - value]], capsize=3, elinewidth=1, **style)
        ax.set_xticks(range(len(backbones)), backbones)
        ax.set_xlim(-0.5, len(backbones) - 0.5)
        ax.set_ylim(0, 100)
        ax.set_xlabel("visual backbone")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("top-1 % (axis from 0), 95% bootstrap CI")
    fig.legend(handles=[Line2D([], [], marker=markers[m], color="0.3", linestyle="none", label=m) for m in methods],
               title="method", fontsize=7, title_fontsize=7, loc="outside right upper")
    fig.legend(handles=[Line2D([], [], marker="s", color=colours[d], linestyle="none", label=d) for d in datasets],
               title="dataset", fontsize=7, title_fontsize=7, loc="outside right lower")
    fig.suptitle("Base-to-novel generalisation per backbone", fontsize=10)
    path = results_dir / "plots" / "backbones.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return [path]
