"""Heat maps of EZ-CLIP's temporal-prompt attention (diagnostic records of ``analyze attention``), one PNG per
(method, dataset): per class and layer, the attention the frame tokens pay to the temporal token; per class and
frame, the temporal token's attention across frames; and per layer the full query-frame × key-frame map.

Why: if the prompts capture motion, the temporal token's attention should depend on the class and on the frame
order (not be uniform 1/T), and the frame tokens should attend to it; uniform maps mean it carries no time."""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np


def attention_maps(diagnostics: list[dict]) -> dict:
    """(method, dataset) → dict(classes=[label text], to_temporal (C, L, T), across (C, L, T, T), seeds), averaged
    over seeds (weighted by views)."""
    sums: dict = defaultdict(lambda: dict(rows={}, seeds=set()))
    for diag in diagnostics:
        entry = sums[(diag["method"], diag["dataset"])]
        entry["seeds"].add(diag["unit"].get("seed"))
        for ev in diag["evaluations"]:
            for row in ev["attention"]["classes"]:
                key = f"{ev['name']}: {row['class_name']}"
                views = row["views"]
                to_t = np.asarray(row["to_temporal"]) * views
                across = np.asarray(row["across_frames"]) * views
                if key in entry["rows"]:
                    old = entry["rows"][key]
                    entry["rows"][key] = (old[0] + to_t, old[1] + across, old[2] + views)
                else:
                    entry["rows"][key] = (to_t, across, views)
    out = {}
    for key, entry in sums.items():
        names = sorted(entry["rows"])
        out[key] = dict(classes=names, seeds=len(entry["seeds"]),
                        to_temporal=np.stack([entry["rows"][n][0] / max(entry["rows"][n][2], 1) for n in names]),
                        across=np.stack([entry["rows"][n][1] / max(entry["rows"][n][2], 1) for n in names]))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def plot_attention(method: str, dataset: str, maps: dict):
    from matplotlib.figure import Figure

    classes, to_t, across = maps["classes"], maps["to_temporal"], maps["across"]
    n_classes, layers, frames = to_t.shape
    fig = Figure(figsize=(13, 3.2 + 0.32 * n_classes + 2.6), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[0.32 * n_classes + 1.6, 2.8])
    left, right = top.subplots(1, 2, gridspec_kw=dict(width_ratios=[layers + 2, frames + 2]))
    image = left.imshow(to_t.mean(axis=2), aspect="auto", cmap="viridis", vmin=0)
    left.set_xticks(range(layers), [str(i) for i in range(layers)])
    left.set_yticks(range(n_classes), classes, fontsize=7)
    left.set_xlabel("visual layer")
    left.set_title("frame tokens → temporal token\n(attention weight, mean over frames, tokens, heads)", fontsize=9)
    top.colorbar(image, ax=left, label="attention probability")
    image = right.imshow(across.mean(axis=(1, 2)), aspect="auto", cmap="magma", vmin=0)
    right.set_xticks(range(frames), [str(i) for i in range(frames)])
    right.set_yticks([])
    right.set_xlabel("key frame position (0 = first sampled frame)")
    right.set_title(f"temporal token's attention across frames\n(mean over layers and query frames; "
                    f"uniform = 1/{frames} = {1 / frames:.3f})", fontsize=9)
    top.colorbar(image, ax=right, label="attention probability")
    axes = np.atleast_1d(bottom.subplots(1, layers))
    mean_grid = across.mean(axis=0)
    vmax = float(mean_grid.max())
    for layer, ax in enumerate(axes):
        image = ax.imshow(mean_grid[layer], cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(f"layer {layer}", fontsize=8)
        ax.set_xlabel("key frame", fontsize=7)
        ax.set_xticks(range(frames), [str(i) for i in range(frames)], fontsize=6)
        ax.set_yticks(range(frames), [str(i) for i in range(frames)], fontsize=6)
        if layer == 0:
            ax.set_ylabel("query frame", fontsize=7)
    bottom.colorbar(image, ax=list(axes), label="attention probability", shrink=0.9)
    bottom.suptitle("temporal token's attention, query frame × key frame, mean over classes", fontsize=9)
    fig.suptitle(f"{method} on {dataset}: temporal-prompt attention per class ({maps['seeds']} seed(s), test videos, "
                 "frames in order)", fontsize=10)
    return fig


def write_attention_plots(diagnostics: list[dict], results_dir: Path) -> list[Path]:
    paths = []
    for (method, dataset), maps in sorted(attention_maps(diagnostics).items()):
        fig = plot_attention(method, dataset, maps)
        path = results_dir / "plots" / f"prompt_attention_{_slug(method)}_{_slug(dataset)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, metadata={"Software": None})
        paths.append(path)
    return paths
