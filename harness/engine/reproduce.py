"""Evaluate a released checkpoint the way its authors did, and set the result beside their published number.

The release (:mod:`harness.models.checkpoints.releases`) fixes the protocol, frames, views (clips × crops), text
and the dataset files; the checkpoint is read in its official format (:mod:`harness.models.checkpoints`) and
evaluated through the ordinary ``run`` (records marked ``reproduction``). Measured numbers come from the records'
per-video predictions (95 % bootstrap CIs, :mod:`harness.reports.stats`), published ones from
:mod:`harness.reports.published` only, and the two are printed side by side, never merged into one table cell or
record field.
"""
from __future__ import annotations

from ..errors import HarnessError
from ..models.checkpoints.releases import PUBLISHED_KEY, Release, choose_release, find_releases

RESAMPLES = 10_000


def _options(release: Release) -> list[str]:
    """The release's evaluation setting as --cfg-options (the user's own options come after and win)."""
    import json

    clips, crops = release.views
    options = [f"model.frames={release.frames}", f"eval.clips={clips}", f"eval.crops={crops}"]
    for key, value in release.text.items():
        options.append(f"model.text.{key}={json.dumps(value) if not isinstance(value, str) else value}")
    return options


def _published_row(release: Release, dataset: str) -> dict | None:
    from ..reports.published import published

    key = PUBLISHED_KEY.get(dataset.split("-")[0])
    rows = [r for r in published(release.protocol) if r["method"] == release.published_method and r["dataset"] == key]
    return rows[0] if rows else None


def _correct(evaluation: dict) -> list[int]:
    return [int(p["pred"] == p["label"]) for p in evaluation.get("predictions") or []]


def measure(records: list[dict], protocol: str) -> dict:
    """Metric → dict(value, low, high, videos, groups), in %, from the records' per-video predictions."""
    from ..reports import stats

    if protocol == "base2novel":
        base = [_correct(e) for r in records for e in r["evaluations"] if e["name"] == "base"]
        novel = [_correct(e) for r in records for e in r["evaluations"] if e["name"] == "novel"]
        if not all(base + novel) or not base:
            return {}
        ci = stats.bootstrap_hm(base, novel, RESAMPLES, 0.95, 0)
        videos = {"base": sum(map(len, base)), "novel": sum(map(len, novel))}
        videos["hm"] = videos["base"] + videos["novel"]
        return {k: dict(value=100 * ci[k], low=100 * ci[f"{k}_low"], high=100 * ci[f"{k}_high"], videos=videos[k],
                        groups=len(records)) for k in ("base", "novel", "hm")}
    groups = [_correct(e) for r in records for e in r["evaluations"]]
    groups = [g for g in groups if g]
    if not groups:
        return {}
    value, low, high = stats.bootstrap_mean_ci(groups, RESAMPLES, 0.95, 0)
    return {"top1": dict(value=100 * value, low=100 * low, high=100 * high, videos=sum(map(len, groups)),
                         groups=len(groups))}


def _published_value(row: dict, protocol: str, metric: str, shots: int | None):
    if protocol == "few_shot":
        return row["values"].get(shots)
    return row["values"].get(metric)


def comparison_lines(release: Release, dataset: str, records: list[dict]) -> list[str]:
    """The measured-vs-published lines ``reproduce`` prints."""
    protocol = release.protocol
    row = _published_row(release, dataset)
    measured = measure(records, protocol)
    unit = {"zero_shot": "split", "few_shot": "test list", "base2novel": "seed checkpoint"}[protocol]
    lines = []
    if not measured:
        lines.append("  measured: no video was evaluated (all listed videos missing?); nothing to compare")
    for metric, m in measured.items():
        text = (f"  {metric}: measured {m['value']:.1f} % (95 % CI {m['low']:.1f}–{m['high']:.1f}; {m['videos']} videos, "
                f"{m['groups']} {unit}{'s' if m['groups'] != 1 else ''})")
        value = _published_value(row, protocol, metric, release.shots) if row else None
        if value is None:
            text += (f" | published: none in harness.reports.published for {release.published_method} {protocol} "
                     f"{dataset}")
        else:
            inside = m["low"] <= value <= m["high"]
            text += (f" | published {value:.1f} % ({row['source']}) | Δ {m['value'] - value:+.1f} points | published "
                     f"inside the CI: {'yes' if inside else 'no'}")
        lines.append(text)
    return lines


def reproduce(method: str, dataset: str, checkpoints: list[str], protocol: str | None = None,
              shots: int | None = None, seed: int | None = None, backbone: str | None = None,
              pretrained: str | None = None, cfg_options: list[str] | None = None, data_root: str | None = None,
              files_root: str | None = None, allow_missing: bool = False, records_dir: str | None = None,
              work_dir: str | None = None, force: bool = False) -> tuple[Release, list[dict], list[str]]:
    """Evaluate released checkpoint(s) as their authors did; returns (release, records, comparison lines)."""
    from ..models.checkpoints import check_file
    from ..data.catalog import load_dataset
    from ..models.methods_registry import method_class
    from .protocols import ALIASES
    from .runner import run

    method_class(method)
    protocol = ALIASES.get(protocol, protocol) if protocol else None
    for checkpoint in checkpoints:
        check_file(checkpoint)
    release = choose_release(method, dataset, protocol, shots, seed, backbone)
    if len(checkpoints) > 1 and release.protocol != "base2novel":
        raise HarnessError(f"several --checkpoint files are one per seed, for base2novel only; {release.key} is "
                           f"{release.protocol}: give one")
    if len(checkpoints) > 1 and seed is not None:
        raise HarnessError("--seed names the seed of one --checkpoint; with several, they are seeds 1, 2, 3 in order")
    definition = release.datasets[dataset]
    kwargs = {k: v for k, v in dict(video_root=data_root, files_root=files_root).items() if v}
    source = load_dataset(definition, **kwargs).zero_shot_source() if release.protocol == "zero_shot" else None
    backbone = backbone or release.backbone
    notes = []
    if backbone != release.backbone:
        notes.append(f"[note] backbone {backbone} is not the release's {release.backbone}: not the authors' setting")
    options = _options(release) + list(cfg_options or [])
    records: list[dict] = []
    for index, checkpoint in enumerate(checkpoints):
        unit_seed = seed or (index + 1 if len(checkpoints) > 1 else release.seed or 1)
        seeded = next(iter(find_releases(method, dataset, release.protocol, release.shots, unit_seed)), release)
        mark = dict(release=seeded.key, title=seeded.label(), url=seeded.url, host=seeded.host, readme=seeded.readme,
                    protocol=release.protocol, dataset=definition, views=dict(clips=release.views[0],
                    crops=release.views[1], source=release.views_source), text=release.text_source,
                    frames=release.frames, backbone=backbone, authors_backbone=release.backbone,
                    published=dict(module="harness.reports.published", method=release.published_method,
                                   protocol=release.protocol, dataset=PUBLISHED_KEY.get(definition.split("-")[0])))
        records += run(method, release.protocol, datasets=[definition], source=source, backbone=backbone,
                       pretrained=pretrained, seeds=[unit_seed], cfg_options=options, work_dir=work_dir, force=force,
                       checkpoint=checkpoint, dataset_kwargs=kwargs, records_dir=records_dir,
                       shots=[release.shots] if release.shots else None, allow_missing=allow_missing,
                       reproduction=mark)
    if release.protocol == "base2novel" and len(checkpoints) == 1 and release.seed:
        notes.append(f"[note] one seed's checkpoint; the published B/N average the seed 1-3 checkpoints "
                     f"({release.note.split(': ')[-1]})")
    skipped = sum(len(e.get("skipped") or []) for r in records for e in r["evaluations"])
    if skipped:
        notes.append(f"[note] {skipped} listed videos were not evaluated (missing or unreadable; listed in the "
                     "records): the CI covers the evaluated ones only")
    clips, crops = release.views
    header = (f"reproduction of {release.label()} on {definition} ({release.protocol}): {release.frames} frames, "
              f"{clips} clip{'s' if clips > 1 else ''} × {crops} crop{'s' if crops > 1 else ''}, text: "
              f"{release.text_source}; records: {', '.join(r['run_id'] for r in records)}")
    return release, records, [header, *notes, *comparison_lines(release, definition, records)]
