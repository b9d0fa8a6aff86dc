"""Accuracy vs compute and vs trainable parameters, as PNG: axes from 0 (or a labelled symmetric log scale), a
CI on every point, legends instead of text at the points, so no plot exaggerates."""
from __future__ import annotations

import math
from pathlib import Path

from .outcomes import created_key


PLOT_SUFFIXES = ("vs_gmacs", "vs_trainable_params")


def plot_points(points: list[dict], records: list[dict]) -> list[dict]:
    """Attach per-(method, dataset) model figures (GMACs × views, trainable params) to plot points."""
    eff = {}
    for rec in records:
        eff.setdefault((rec["method"], rec["dataset"]), []).append(rec)
    out = []
    for p in points:
        recs = eff.get((p["method"], p["dataset"])) or [r for r in records if r["method"] == p["method"]]
        rec = sorted(recs, key=created_key)[-1]
        model, views = rec.get("model") or {}, rec.get("views") or {}
        n_views = int(views.get("clips", 1) or 1) * int(views.get("crops", 1) or 1)
        gmacs, trainable = model.get("gmacs_per_view"), model.get("trainable_params")
        out.append(dict(p, gmacs=None if gmacs is None else float(gmacs) * n_views,
                        trainable=None if trainable is None else float(trainable)))
    return out


_MARKERS = "osD^vP*Xhp<>"


_DODGE_PT = 6.0  # horizontal spread, in points, between markers that would sit on top of each other


_CLUSTER = 0.03  # axes-width fraction under which two x values count as "the same place"


def _x_axis(ax, xkey: str, xs: list[float]) -> str:
    """Set the x scale and limits; return the axis label. Both axes keep 0 in view (GMACs and parameters have
    a true zero); trainable parameters span orders of magnitude (0 for frozen CLIP, 10^4–10^8 otherwise), so they
    use a symmetric log scale that is linear near 0 and says so."""
    top = max(xs) if xs else 0.0
    if xkey == "gmacs":
        ax.set_xlim(0, 1.15 * top if top > 0 else 1.0)
        return "visual GMACs per video (per view × views), linear axis from 0"
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    positive = [x for x in xs if x > 0]
    linthresh = 10.0 ** max(0, math.floor(math.log10(min(positive))) - 1) if positive else 1.0
    ax.set_xscale("symlog", linthresh=linthresh, linscale=1.0)
    right = max(3 * top, 10 * linthresh)
    ax.set_xlim(-0.15 * linthresh, right)  # a little room left of 0 (linear there) so a frozen model's marker shows
    decades = range(round(math.log10(linthresh)), math.floor(math.log10(right)) + 1)
    ax.xaxis.set_major_locator(FixedLocator([0.0] + [10.0 ** k for k in decades]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: "0" if x == 0 else f"$10^{{{round(math.log10(x))}}}$"))
    return f"trainable parameters (symmetric log scale: linear 0–{linthresh:,.0f}, log above)"


def _dodges(ax, points: list[dict], xkey: str, methods: list[str]) -> list[float]:
    """Offsets (points) so markers at (nearly) the same x do not hide each other; same method, same offset."""
    if not points:
        return []
    frac = (ax.transScale + ax.transLimits).transform([[p[xkey], 0.0] for p in points])[:, 0]
    order = sorted(range(len(points)), key=lambda i: (frac[i], methods.index(points[i]["method"])))
    clusters, current = [], []
    for i in order:
        if current and frac[i] - frac[current[-1]] > _CLUSTER:
            clusters.append(current)
            current = []
        current.append(i)
    if current:
        clusters.append(current)
    out = [0.0] * len(points)
    for cluster in clusters:
        names = sorted({points[i]["method"] for i in cluster}, key=methods.index)
        for i in cluster:
            out[i] = (names.index(points[i]["method"]) - (len(names) - 1) / 2) * _DODGE_PT
    return out


def plot_figure(protocol: str, label: str, points: list[dict], xkey: str):
    """Accuracy (y, 0–100 %) with 95 % CI error bars vs GMACs or trainable parameters (x, from 0).

    Colour: dataset; marker: method; both in legends outside the axes, so no text sits on the data. Returns the
    matplotlib Figure (no pyplot state) so tests can check its axes before it is saved.
    """
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.transforms import offset_copy

    methods = sorted({p["method"] for p in points})
    datasets = sorted({p["dataset"] for p in points})
    colours = {d: mpl.colormaps["tab10"](i % 10) for i, d in enumerate(datasets)}
    markers = {m: _MARKERS[i % len(_MARKERS)] for i, m in enumerate(methods)}

    missing = sum(1 for p in points if p.get(xkey) is None)
    points = [p for p in points if p.get(xkey) is not None]
    fig = Figure(figsize=(7.8, 4.6), layout="constrained")
    ax = fig.add_subplot()
    xlabel = _x_axis(ax, xkey, [p[xkey] for p in points])
    ax.set_ylim(0, 100)
    dodges = _dodges(ax, points, xkey, methods)
    without_ci = 0
    for p, dx in zip(points, dodges):
        y = 100 * p["value"]
        where = offset_copy(ax.transData, fig=fig, x=dx, y=0, units="points")
        style = dict(marker=markers[p["method"]], color=colours[p["dataset"]], markersize=6, linestyle="none",
                     transform=where)
        if p.get("low") is None:
            without_ci += 1
            ax.plot([p[xkey]], [y], markerfacecolor="none", **style)
            continue
        ax.errorbar([p[xkey]], [y], yerr=[[y - 100 * p["low"]], [100 * p["high"] - y]], capsize=3,
                    elinewidth=1, **style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{label}, top-1 % (axis from 0)")
    ax.set_title(f"{protocol}: {label}, 95% bootstrap CI over test videos", fontsize=10)
    ax.grid(alpha=0.3)
    method_legend = ax.legend(
        handles=[Line2D([], [], marker=markers[m], color="0.3", linestyle="none", label=m) for m in methods],
        title="method", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.add_artist(method_legend)
    ax.legend(handles=[Line2D([], [], marker="s", color=colours[d], linestyle="none", label=d) for d in datasets],
              title="dataset", fontsize=7, title_fontsize=7, loc="lower left", bbox_to_anchor=(1.01, 0.0))
    notes = []
    if any(dodges):
        notes.append(f"markers at the same x are spread sideways by {_DODGE_PT:g} pt steps to stay visible")
    if without_ci:
        notes.append("hollow marker: no per-video predictions, so no CI")
    if missing:
        notes.append(f"{missing} point(s) left out: their records hold no {xkey.replace('gmacs', 'GMACs')} figure")
    if notes:
        text = "; ".join(notes)
        fig.supxlabel(text[0].upper() + text[1:] + ".", fontsize=7)
    return fig


def write_plots(protocol: str, label: str, points: list[dict], results_dir: Path) -> list[Path]:
    """Accuracy vs GMACs and vs trainable parameters (``plot_figure``), as PNG files."""
    if not points:
        return []
    paths = []
    for xkey, suffix in (("gmacs", PLOT_SUFFIXES[0]), ("trainable", PLOT_SUFFIXES[1])):
        fig = plot_figure(protocol, label, points, xkey)
        path = results_dir / "plots" / f"{protocol}_{suffix}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, metadata={"Software": None})
        paths.append(path)
    return paths
