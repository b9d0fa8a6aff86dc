"""Audit of a dataset definition's class and split files: the pitfalls of ../shared/docs/methods.md §3.

Checks (each a ``Finding`` with a severity):

1. ``class_overlap`` — zero-shot target classes that are also source (training) classes: exact, after name
   normalisation (case, underscores / punctuation, CamelCase, articles, parenthesised qualifiers, simple
   stemming: "dyeing hair" = "dying hair", "making the bed" = "making bed") or near (same words reordered,
   compound words "tying necktie" ~ "tying tie", one extra word "waking up" ~ "baby waking up").
   For a target that declares ``exclusive: true`` (K-600) exact / normalised overlaps are errors and near ones
   warnings; for other targets (HMDB-51, UCF-101, whose overlap with K-400 is part of the protocol) they are info.
2. ``label_mismatch`` — videos whose label names a different class than the one written in their path (HMDB-51
   ``<title>_<class>_<flags>.avi``, UCF-101 ``v_<Class>_gXX_cYY``, or a ``<class>/`` folder); swapped pairs are
   named (ViFi-CLIP's HMDB-51 kick / kick ball, sword / sword exercise). Errors.
3. ``duplicate_video`` — the same video (file name without extension) in a training list and an evaluation
   list of the same protocol unit (error), or twice in one list (warning).

Plus ``class_sets`` (base ∩ novel, base ∪ novel = all), ``shots`` (K videos per class) and ``files`` (absent
files, skipped checks: info).

Every check is recorded as done or not done (with why: an absent file, no ``--files-root``). Exit status of
``python -m harness audit``: 0 only when every check the protocol(s) need ran and found no error or warning;
1 when there is a finding or a check could not run (the report lists both); 2 for bad input (HarnessError:
unknown dataset, a ``--files-root`` that does not exist, or no check could run at all — one line naming the
absent files, where they were looked for and the flag that supplies them).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from typing import Iterable

from ..errors import HarnessError
from .formats import name_key
from .audit_report import AuditReport, Finding
from .class_names import PathClassifier, class_overlap

__all__ = ["AuditReport", "Finding", "add_parser", "audit_dataset", "audit_protocol", "handler"]


def _video_key(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if re.search(r"\.[A-Za-z0-9]{2,4}$", name) else name
    return stem


def _label_mismatch(report: AuditReport, defn, split: str, classify: PathClassifier) -> None:
    try:
        vl = defn.split(split)
    except HarnessError as exc:
        report.add("files", "info", defn.name, f"{defn.name}/{split}: not checked ({exc})")
        report.skipped("label_mismatch", defn.name, f"{defn.name}/{split}", str(exc))
        return
    report.ran("label_mismatch", f"{defn.name}/{split}")
    checked = 0
    pairs: Counter = Counter()
    labels: dict[tuple[str, str], int] = {}
    for path, label in vl.entries:
        named = classify(path)
        if named is None:
            continue
        checked += 1
        listed = vl.class_names[label]
        if name_key(named) != name_key(listed):
            pairs[(named, listed)] += 1
            labels[(named, listed)] = label
    summary = report.summary.setdefault("label_mismatch", {})
    rel = _rel(defn, vl)
    summary[vl.name] = {
        "file": rel,
        "videos": len(vl),
        "checked": checked,
        "mismatched": sum(pairs.values()),
        "classes": sorted({named for named, _ in pairs}),
    }
    if not pairs:
        return
    swaps = sorted({tuple(sorted((a, b))) for (a, b) in pairs if (b, a) in pairs})
    listing = ", ".join(f"{a} videos labelled {labels[(a, b)]} '{b}' x{n}" for (a, b), n in sorted(pairs.items()))
    swap_text = f"; swapped: {', '.join(f'{a} <-> {b}' for a, b in swaps)}" if swaps else ""
    report.add(
        "label_mismatch",
        "error",
        defn.name,
        f"{vl.name} ({rel}): {sum(pairs.values())} of {len(vl)} videos carry a label whose class name differs from "
        f"the class in their path: {listing}{swap_text}",
        split=split,
        file=rel,
        mismatched=sum(pairs.values()),
        checked=checked,
        pairs=[{"path_class": a, "label": labels[(a, b)], "label_name": b, "videos": n} for (a, b), n in sorted(pairs.items())],
        swapped=[list(s) for s in swaps],
    )
    summary[vl.name]["swapped"] = [list(s) for s in swaps]


def _rel(defn, vl) -> str:
    path = vl.files[-1] if vl.files else None
    if path is None:
        return ""
    if defn.files_root is not None:
        try:
            return path.relative_to(defn.files_root).as_posix()
        except ValueError:
            pass
    return str(path)


def _duplicates_within(report: AuditReport, defn, split: str) -> None:
    try:
        vl = defn.split(split)
    except HarnessError as exc:
        report.skipped("duplicate_video", defn.name, f"{defn.name}/{split} (within the list)", str(exc))
        return
    report.ran("duplicate_video", f"{defn.name}/{split} (within the list)")
    counts = Counter(_video_key(p) for p, _ in vl.entries)
    dups = sorted(k for k, n in counts.items() if n > 1)
    if dups:
        report.add(
            "duplicate_video", "warning", defn.name,
            f"{vl.name}: {len(dups)} video(s) listed more than once (e.g. {', '.join(dups[:3])})",
            split=split, videos=dups[:50], count=len(dups),
        )


def _duplicates_between(report: AuditReport, dataset: str, unit: str, train, evals: dict) -> None:
    report.ran("duplicate_video", f"{unit} (train vs evaluation)")
    train_keys = {_video_key(p) for p, _ in train.entries}
    summary = report.summary.setdefault("duplicates", {})
    total = 0
    for name, vl in evals.items():
        shared = sorted(train_keys & {_video_key(p) for p, _ in vl.entries})
        total += len(shared)
        if shared:
            report.add(
                "duplicate_video", "error", dataset,
                f"{unit}: {len(shared)} video(s) of the training list {train.name} are also in the evaluation list "
                f"{vl.name} (e.g. {', '.join(shared[:3])})",
                unit=unit, train=train.name, eval=vl.name, count=len(shared), videos=shared[:50],
            )
    summary[unit] = total


def _safe(report: AuditReport, defn, what: str, fn, checks: tuple[str, ...] = ()):
    """``fn()``, or None after recording why the ``checks`` that need its result cannot run."""
    try:
        return fn()
    except HarnessError as exc:
        report.add("files", "info", defn.name, f"{defn.name}: {what} not checked ({exc})")
        for check in checks:
            report.skipped(check, defn.name, f"{defn.name}: {what}", str(exc))
        return None


def _audit_base2novel(report: AuditReport, defn) -> None:
    base = _safe(report, defn, "base classes", defn.base_class_names, ("class_sets",))
    novel = _safe(report, defn, "novel classes", defn.novel_class_names, ("class_sets",))
    full = _safe(report, defn, "class names", defn.class_names)
    if base is not None and novel is not None:
        report.ran("class_sets", f"{defn.name} base/novel")
        both = sorted({name_key(n) for n in base} & {name_key(n) for n in novel})
        report.summary.setdefault("class_sets", {})[defn.name] = {"base": len(base), "novel": len(novel)}
        if both:
            report.add("class_sets", "error", defn.name, f"{defn.name}: {len(both)} class(es) are both base and novel", classes=both)
        if full is not None:
            union = {name_key(n) for n in base} | {name_key(n) for n in novel}
            if union != {name_key(n) for n in full}:
                report.add(
                    "class_sets", "warning", defn.name,
                    f"{defn.name}: base ∪ novel ({len(union)}) differs from the {len(full)} classes of the dataset",
                )
    for seed in defn.base2novel_seeds():
        lists = _safe(report, defn, f"base2novel seed {seed}", lambda: defn.base2novel(seed),
                      ("shots", "duplicate_video"))
        if lists is None:
            continue
        train, eval_base, eval_novel = lists
        _shots_info(report, defn.name, train, int((defn.spec.get("protocols") or {})["base2novel"].get("shots", 16)))
        _duplicates_between(report, defn.name, f"{defn.name} base2novel seed {seed}", train,
                            {"base": eval_base, "novel": eval_novel})


def _shots_info(report: AuditReport, dataset: str, vl, shots: int | None) -> None:
    report.ran("shots", vl.name)
    per_class = vl.videos_per_class()
    lo, hi = (min(per_class.values()), max(per_class.values())) if per_class else (0, 0)
    absent = len(vl.class_names) - len(per_class)
    report.summary.setdefault("shots", {})[vl.name] = {"min": lo, "max": hi, "classes": len(per_class), "expected": shots}
    if shots is not None and (lo != shots or hi != shots or absent):
        report.add(
            "shots", "warning", dataset,
            f"{vl.name}: {lo}-{hi} videos per class (expected {shots}){f'; {absent} class(es) without videos' if absent else ''}",
        )
    else:
        report.add("shots", "info", dataset, f"{vl.name}: {lo}-{hi} videos per class over {len(per_class)} classes")


def _audit_few_shot(report: AuditReport, defn) -> None:
    for shots in defn.few_shot_shots():
        lists = _safe(report, defn, f"{shots}-shot lists", lambda: defn.few_shot(shots), ("shots", "duplicate_video"))
        if lists is None:
            continue
        train, test = lists
        _shots_info(report, defn.name, train, shots)
        _duplicates_between(report, defn.name, f"{defn.name} few_shot {shots}-shot", train, {"test": test})


def _audit_overlap(report: AuditReport, target, source) -> None:
    evals = _safe(report, target, "zero-shot evaluation lists", target.zero_shot_evals, ("class_overlap",))
    source_names = _safe(report, source, "source class names", source.class_names, ("class_overlap",))
    if evals is None or source_names is None:
        return
    report.ran("class_overlap", f"{target.name} vs {source.name}")
    appears: dict[str, list[str]] = defaultdict(list)
    for split, vl in evals.items():
        for name in vl.class_names:
            appears[name].append(split)
    matches = class_overlap(source_names, list(appears))
    exclusive = target.zero_shot_exclusive()
    by_level = Counter(m["level"] for m in matches)
    report.summary.setdefault("class_overlap", {})[target.name] = {
        "source": source.name,
        "target_classes": len(appears),
        "exclusive": exclusive,
        "exact": by_level.get("exact", 0),
        "normalised": by_level.get("normalised", 0),
        "near": by_level.get("near", 0),
        "matches": [{**m, "splits": appears[m["target"]]} for m in matches],
    }
    for level in ("exact", "normalised", "near"):
        group = [m for m in matches if m["level"] == level]
        if not group:
            continue
        if exclusive:
            severity = "warning" if level == "near" else "error"
        else:
            severity = "info"
        listing = "; ".join(f"'{m['target']}' ~ '{' / '.join(m['source'])}'" for m in group)
        what = {"exact": "identical to", "normalised": "the same after normalisation as", "near": "near-duplicates of"}[level]
        claim = " although the target declares its classes exclusive" if exclusive else ""
        report.add(
            "class_overlap", severity, target.name,
            f"{target.name}: {len(group)} of {len(appears)} zero-shot classes are {what} {source.name} training "
            f"classes{claim}: {listing}",
            level=level, source=source.name, matches=group,
        )


def audit_dataset(defn, *, protocol: str | None = None, source=None) -> AuditReport:
    """Audit one dataset definition (all its protocols, or one). ``source``: the zero-shot source definition
    to compare a target's classes with (default: the target's declared ``source`` with the same files_root)."""
    from .catalog import canonical_protocol, load_dataset

    protocols = defn.protocols() if protocol is None else [canonical_protocol(protocol)]
    report = AuditReport(title=f"{defn.name} ({defn.title}); files_root {defn.files_root}")
    report.summary["datasets"] = [defn.name]
    for proto in protocols:
        if not defn.supports(proto):
            report.add("files", "info", defn.name, f"{defn.name} does not define protocol {proto}")
    protocols = [p for p in protocols if defn.supports(p)]

    for ref in (defn.missing_files() if protocol is None else [r for p in protocols for r in defn.missing_files(p)]):
        where = ref.path if ref.path is not None else f"{ref.rel} (no files_root)"
        report.add("files", "info", defn.name, f"{defn.name}: absent {where} (from {ref.origin}); checks that need it are skipped")

    splits = defn.split_names() if protocol is None else [s for p in protocols for s in defn.protocol_splits(p)]
    splits = list(dict.fromkeys(splits))
    def absent(split: str) -> str:
        ref = defn.split_ref(split)
        return (f"split file {ref.path} is absent" if ref.path is not None else
                f"split file {ref.rel} not found: no --files-root given")

    present = [s for s in splits if defn.split_ref(s) is not None and defn.split_ref(s).exists]
    if defn.path_class != "none":
        names = _safe(report, defn, "class names", defn.class_names, ("label_mismatch",))
        if names is not None:
            classify = PathClassifier(names, defn.path_class)
            for split in present:
                _label_mismatch(report, defn, split, classify)
        for split in splits:
            if defn.split_ref(split) is not None and split not in present:
                report.skipped("label_mismatch", defn.name, f"{defn.name}/{split}", absent(split))
    for split in splits:
        if split in present:
            _duplicates_within(report, defn, split)
        elif defn.split_ref(split) is not None:
            report.skipped("duplicate_video", defn.name, f"{defn.name}/{split} (within the list)", absent(split))

    if "base2novel" in protocols:
        _audit_base2novel(report, defn)
    if "few_shot" in protocols:
        _audit_few_shot(report, defn)
    if "zero_shot" in protocols and defn.zero_shot_role() == "target":
        src = source
        if src is None and defn.zero_shot_source():
            try:
                src = load_dataset(defn.zero_shot_source(), files_root=defn.files_root)
            except HarnessError as exc:
                report.add("files", "info", defn.name, f"{defn.name}: source dataset not loaded ({exc})")
                report.skipped("class_overlap", defn.name, f"{defn.name} vs its source", str(exc))
        if src is not None:
            _audit_overlap(report, defn, src)
            _zero_shot_duplicates(report, defn, src)
    return report


def _zero_shot_duplicates(report: AuditReport, target, source) -> None:
    ref = source.split_ref(source.protocol_splits("zero_shot")[0]) if source.zero_shot_role() == "source" else None
    if ref is None or not ref.exists:
        report.add("files", "info", target.name,
                   f"{target.name}: source training list of {source.name} absent; train/test duplicates not checked")
        where = ref.path if ref is not None and ref.path is not None else \
            f"{ref.rel} (no --source-files-root / --files-root given)" if ref is not None else "none declared"
        report.skipped("duplicate_video", target.name, f"zero_shot {source.name} -> {target.name} (train vs test)",
                       f"source training list absent: {where}")
        return
    train = _safe(report, source, "source training list", source.zero_shot_train, ("duplicate_video",))
    evals = _safe(report, target, "zero-shot evaluation lists", target.zero_shot_evals, ("duplicate_video",))
    if train is not None and evals is not None:
        _duplicates_between(report, target.name, f"zero_shot {source.name} -> {target.name}", train, evals)


def audit_protocol(protocol_name: str, datasets: Iterable, source=None) -> AuditReport:
    """Audit several definitions under one protocol. For zero-shot, the source is ``source``, else the
    dataset of role 'source' among ``datasets``, else each target's declared source."""
    from .catalog import canonical_protocol

    protocol = canonical_protocol(protocol_name)
    datasets = list(datasets)
    if source is None and protocol == "zero_shot":
        source = next((d for d in datasets if d.supports("zero_shot") and d.zero_shot_role() == "source"), None)
    report = AuditReport(title=f"protocol {protocol}: {', '.join(d.name for d in datasets)}")
    report.summary["datasets"] = [d.name for d in datasets]
    for defn in datasets:
        part = audit_dataset(defn, protocol=protocol, source=source)
        part.summary.pop("datasets", None)
        report.extend(part)
    return report


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``audit`` subcommand to an argparse subparsers object; sets ``func=handler``."""
    parser = subparsers.add_parser(
        "audit",
        help="check class/split files for class overlap, label/name mismatches and train/test duplicates",
        description=(
            "Audit a dataset definition's class and split files. Exit status: 0 no errors or warnings, "
            "1 errors or warnings found, 2 bad input."
        ),
    )
    parser.add_argument("--dataset", "-d", action="append", required=True, metavar="D",
                        help="dataset definition name (protocols/datasets/D.yaml) or yaml path; repeatable")
    parser.add_argument("--protocol", "-p", default="all", metavar="P",
                        help="zero_shot | base2novel | few_shot | all (default: all the dataset defines)")
    parser.add_argument("--files-root", metavar="DIR", help="folder holding the class/split files (e.g. a ViFi-CLIP checkout)")
    parser.add_argument("--source-dataset", metavar="D",
                        help="zero-shot source to compare target classes with (default: the target's declared source)")
    parser.add_argument("--source-files-root", metavar="DIR", help="files root of the source dataset (default: --files-root)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--verbose", "-v", action="store_true", help="also list per-list statistics")
    parser.set_defaults(func=handler)
    return parser


def _check_folder(flag: str, folder) -> None:
    from pathlib import Path

    if folder and not Path(folder).expanduser().is_dir():
        raise HarnessError(f"{flag} {folder} is not a folder; give the folder holding the class and split files "
                           "(e.g. a ViFi-CLIP checkout; see docs/datasets.md)")


def _nothing_checked(report: AuditReport, datasets, files_root) -> HarnessError:
    """One line for an audit that could run no check: which files it lacked, where it looked, which flag."""
    absent = [ref for defn in datasets for ref in defn.missing_files()]
    repos = sorted({d.files_repo for d in datasets if getattr(d, "files_repo", None)})
    where = f"under --files-root {files_root}" if files_root else "(no --files-root given)"
    example = ", ".join(ref.rel for ref in absent[:2]) + (f" and {len(absent) - 2} more" if len(absent) > 2 else "")
    why = (f"{len(absent)} class/split file(s) are absent {where}: {example}" if absent else
           "; ".join(sorted({d["why"] for d in report.not_done}))[:300] or "the dataset declares nothing to check")
    source = f"a checkout of {' or '.join(repos)}" if repos else "the folder holding the files"
    return HarnessError(f"audit of {', '.join(d.name for d in datasets)} checked nothing: {why}; pass --files-root "
                        f"DIR, {source} (see docs/datasets.md)")


def handler(args) -> int:
    from .catalog import load_dataset

    _check_folder("--files-root", args.files_root)
    _check_folder("--source-files-root", getattr(args, "source_files_root", None))
    datasets = [load_dataset(name, files_root=args.files_root) for name in args.dataset]
    source = None
    if getattr(args, "source_dataset", None):
        source = load_dataset(args.source_dataset, files_root=getattr(args, "source_files_root", None) or args.files_root)
    protocol = getattr(args, "protocol", "all") or "all"
    if protocol == "all":
        report = AuditReport(title=", ".join(d.name for d in datasets))
        report.summary["datasets"] = [d.name for d in datasets]
        for defn in datasets:
            part = audit_dataset(defn, source=source)
            part.summary.pop("datasets", None)
            report.extend(part)
    else:
        report = audit_protocol(protocol, datasets, source=source)
    if not report.done:
        raise _nothing_checked(report, datasets, args.files_root)
    if getattr(args, "json", False):
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.to_text(verbose=getattr(args, "verbose", False)))
    sys.stdout.flush()
    return report.exit_code
