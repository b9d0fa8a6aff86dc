"""Motion-loss terms per method and dataset (diagnostic records of ``analyze motion``): EZ-CLIP's central
difference C and frame variance V on the frame embeddings, raw (what the loss 1 / (C + V + 1) sees) and on
L2-normalised embeddings (comparable across methods), with 95 % bootstrap CIs over videos; a table and a plot.

Why: the motion loss is claimed to matter where motion decides the class; the first thing to check is whether it
changes the frame embeddings at all — EZ-CLIP against ``ezclip-no-motion-loss`` and the other methods."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from .render import RESAMPLES, Table
from ..diagnostics.motion_terms import TERMS

LABELS = {"central": "C (central difference)", "variance": "V (frame variance)",
          "central_normalised": "C, L2-normalised", "variance_normalised": "V, L2-normalised"}


def mean_ci(values, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap over videos of a continuous per-video value (seeded)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(RESAMPLES, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float(low), float(high)


def motion_cells(diagnostics: list[dict]) -> dict:
    """(method, dataset, evaluation) → dict(seeds, values: term → pooled per-video values)."""
    cells: dict = defaultdict(lambda: dict(seeds=0, values=defaultdict(list)))
    for diag in diagnostics:
        for ev in diag["evaluations"]:
            cell = cells[(diag["method"], diag["dataset"], ev["name"])]
            cell["seeds"] += 1
            for term in TERMS:
                cell["values"][term] += list(ev["terms"].get(term) or [])
    return {k: dict(seeds=v["seeds"], values={t: v["values"][t] for t in TERMS}) for k, v in cells.items()}


def _num(value) -> str:
    """CSV number: 6 significant digits (the normalised terms are ~1e-3, too small for a fixed 3 decimals)."""
    return f"{value:.6g}"


def _fmt(value, low, high) -> str:
    return f"{value:.4g} [{low:.4g}, {high:.4g}]"


def build_motion(diagnostics: list[dict]) -> tuple[Table | None, dict]:
    """The ``motion_terms`` table and the figures for its plot: (method, dataset, evaluation) → term → CI."""
    if not diagnostics:
        return None, {}
    cells = motion_cells(diagnostics)
    summary, rows, csv_rows = {}, [], []
    for key in sorted(cells):
        values = cells[key]["values"]
        if not values["central"]:
            continue
        cis = {t: mean_ci(values[t]) for t in TERMS}
        summary[key] = cis
        loss = 1.0 / (cis["central"][0] + cis["variance"][0] + 1.0)
        rows.append([*key, str(cells[key]["seeds"]), str(len(values["central"])),
                     *(_fmt(*cis[t]) for t in TERMS), f"{loss:.4f}"])
        csv_rows.append([*key, str(cells[key]["seeds"]), str(len(values["central"])),
                         *(_num(v) for t in TERMS for v in cis[t]), _num(loss)])
    header = ["method", "dataset", "evaluation", "seeds", "views", *(f"{LABELS[t]} [95% CI]" for t in TERMS),
              "1/(C+V+1)"]
    notes = ["C = mean over frames t and dimensions of |e(t+1) − e(t−1)| / 2 (first/last frame repeated at the edges), "
             "V = mean over dimensions of the unbiased variance over frames, of one video's frame embeddings e "
             "(the per-frame projected embeddings each method averages or fuses; X-CLIP: the input of its multi-frame "
             "integration transformer), as in EZ-CLIP's `Motion_loss`; 1/(C+V+1) is that loss at the mean terms.",
             "Raw terms depend on each method's embedding norm; the L2-normalised ones compare methods. 95 % CI: "
             "percentile bootstrap over the test videos (seeds pooled; rng seed 0).",
             "Measured on the test lists with the frames in order (`python -m harness analyze motion`); records in "
             "records/diagnostics/motion/."]
    csv_header = ["method", "dataset", "evaluation", "seeds", "views"]
    csv_header += [f"{t}{suffix}" for t in TERMS for suffix in ("", "_low", "_high")] + ["motion_loss_at_means"]
    table = Table("motion_terms", "Motion-loss terms (central difference C, frame variance V) on frame embeddings",
                  header, rows, csv_header, csv_rows, notes, origin="the diagnostic records (records/diagnostics/motion)")
    return table, summary


def write_motion_plot(summary: dict, results_dir: Path) -> list[Path]:
    """Horizontal bars (one row per method, one colour per dataset and evaluation) with 95 % CI error bars, one
    panel per term; values from 0 on a linear axis."""
    if not summary:
        return []
    import matplotlib as mpl
    from matplotlib.figure import Figure

    methods = sorted({m for m, _, _ in summary}, reverse=True)
    groups = sorted({(d, e) for _, d, e in summary})
    colours = {g: mpl.colormaps["tab10"](i % 10) for i, g in enumerate(groups)}
    height = 0.8 / len(groups)
    fig = Figure(figsize=(10, 1.2 + 0.45 * len(methods) * max(1, len(groups) / 2) + 1.5), layout="constrained")
    axes = fig.subplots(2, 2, sharey=True)
    for ax, term in zip(axes.flat, TERMS):
        for gi, group in enumerate(groups):
            ys, xs, errs = [], [], [[], []]
            for mi, method in enumerate(methods):
                ci = summary.get((method, *group), {}).get(term)
                if ci is None:
                    continue
                ys.append(mi - 0.4 + height * (gi + 0.5))
                xs.append(ci[0])
                errs[0].append(ci[0] - ci[1])
                errs[1].append(ci[2] - ci[0])
            ax.barh(ys, xs, height=height * 0.9, xerr=errs, capsize=2, color=colours[group],
                    error_kw=dict(elinewidth=0.8), label=f"{group[0]} / {group[1]}")
        ax.set_yticks(range(len(methods)), methods, fontsize=8)
        ax.set_xlim(left=0)
        ax.set_title(LABELS[term], fontsize=9)
        unit = "unit-norm embeddings" if term.endswith("_normalised") else "raw embedding units"
        ax.set_xlabel(f"mean over test videos ({unit}; axis from 0)", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="dataset / evaluation", fontsize=8, title_fontsize=8, loc="outside lower center",
               ncols=min(4, len(groups)))
    fig.suptitle("EZ-CLIP motion-loss terms on each method's frame embeddings (95% bootstrap CI over videos)",
                 fontsize=10)
    path = results_dir / "plots" / "motion_terms.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return [path]
