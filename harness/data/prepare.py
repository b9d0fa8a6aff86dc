"""``python -m harness prepare``: check that the videos a dataset's protocols need are where the lists expect them.

The video root is indexed once with ``os.scandir`` (no per-file ``stat``; 250k videos take seconds) and every
list entry is resolved with ``harness.data.catalog.VideoIndex`` (exact relative path, else the same file name
anywhere under the root, else the same name without extension). For each protocol the report gives, per
list, the expected / found / missing counts, and names the class or split files that are absent with the
repository they come from. ``--missing-out FILE`` writes the missing videos, one relative path per line
(unique, in list order), e.g. to feed a downloader.

Exit status: 0 when every selected protocol has all its files and videos, 1 when something is missing,
2 for bad input (HarnessError).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..errors import HarnessError
from ..paths import atomic_write_text

__all__ = ["add_parser", "handler", "prepare_report", "format_report", "write_missing"]


def prepare_report(defn, protocols: list[str] | None = None, index=None) -> dict:
    """Expected vs found videos per list and absent files, per protocol (a JSON-able dict).

    ``protocols``: canonical or alias names; None = every protocol the definition defines.
    ``index``: a ``VideoIndex`` of the video root (built from ``defn.video_root`` when None).
    """
    from .catalog import VideoIndex, canonical_protocol

    if protocols is None:
        protocols = defn.protocols()
    protocols = [canonical_protocol(p) for p in protocols]
    for proto in protocols:
        if not defn.supports(proto):
            raise HarnessError(
                f"dataset {defn.name!r} does not define protocol {proto!r} (it defines: {', '.join(defn.protocols()) or 'none'})"
            )
    started = time.perf_counter()
    if index is None:
        if defn.video_root is None:
            raise HarnessError(f"no video root for dataset {defn.name!r}: pass --root DIR (the folder holding the videos)")
        index = VideoIndex(defn.video_root)
    index_s = time.perf_counter() - started

    report: dict = {
        "dataset": defn.name,
        "title": defn.title,
        "files_root": str(defn.files_root) if defn.files_root else None,
        "video_root": str(index.root),
        "indexed_files": len(index),
        "index_seconds": round(index_s, 3),
        "protocols": {},
        "missing_videos": [],
    }
    missing_all: dict[str, None] = {}
    checked: dict[str, dict] = {}
    for proto in protocols:
        entry = {"ready": True, "absent_files": [], "lists": []}
        for ref in defn.missing_files(proto):
            entry["absent_files"].append(
                {"key": ref.key, "path": str(ref.path) if ref.path else ref.rel, "from": ref.origin}
            )
        for split in defn.protocol_splits(proto):
            if split not in checked:
                checked[split] = _check_split(defn, split, index)
            info = checked[split]
            entry["lists"].append(info)
            for rel in info.get("_missing", []):
                missing_all.setdefault(rel, None)
        entry["ready"] = not entry["absent_files"] and all(
            info["missing"] == 0 and not info.get("error") for info in entry["lists"]
        )
        report["protocols"][proto] = entry
    for info in checked.values():
        info.pop("_missing", None)
    report["missing_videos"] = list(missing_all)
    report["ready"] = all(p["ready"] for p in report["protocols"].values())
    return report


def _check_split(defn, split: str, index) -> dict:
    ref = defn.split_ref(split)
    info = {"split": split, "file": ref.rel if ref else None, "expected": 0, "found": 0, "missing": 0}
    if ref is None or not ref.exists:
        info["error"] = "list file absent"
        return info
    try:
        vl = defn.split(split)
    except HarnessError as exc:
        info["error"] = str(exc)
        return info
    unique = list(dict.fromkeys(path for path, _ in vl.entries))
    missing = [rel for rel in unique if index.lookup(rel) is None]
    info.update(expected=len(unique), found=len(unique) - len(missing), missing=len(missing), _missing=missing)
    if len(unique) != len(vl.entries):
        info["duplicate_entries"] = len(vl.entries) - len(unique)
    return info


def format_report(report: dict) -> str:
    lines = [
        f"Dataset {report['dataset']} ({report['title']})",
        f"  files root: {report['files_root']}",
        f"  video root: {report['video_root']} ({report['indexed_files']} files indexed in {report['index_seconds']} s)",
    ]
    for proto, entry in report["protocols"].items():
        lines.append(f"Protocol {proto}: {'ready' if entry['ready'] else 'NOT ready'}")
        for info in entry["lists"]:
            if info.get("error"):
                lines.append(f"  {info['split']:12s} {info['file']}: {info['error']}")
                continue
            lines.append(
                f"  {info['split']:12s} {info['expected']:7d} expected {info['found']:7d} found "
                f"{info['missing']:7d} missing   {info['file']}"
            )
        for absent in entry["absent_files"]:
            lines.append(f"  absent file: {absent['path']} (from {absent['from']})")
    n_missing = len(report["missing_videos"])
    lines.append(f"Missing videos: {n_missing} unique" + (f" (e.g. {report['missing_videos'][0]})" if n_missing else ""))
    return "\n".join(lines)


def write_missing(paths: list[str], out: str | Path) -> Path:
    """Write one path per line, atomically."""
    return atomic_write_text(out, "".join(f"{p}\n" for p in paths))


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``prepare`` subcommand to an argparse subparsers object; sets ``func=handler``."""
    parser = subparsers.add_parser(
        "prepare",
        help="check which videos and files a dataset's protocols need and which are missing",
        description="Compare the videos under --root with a dataset's lists. Exit status: 0 ready, 1 something missing, 2 bad input.",
    )
    parser.add_argument("--dataset", "-d", required=True, metavar="D", help="dataset definition name or yaml path")
    parser.add_argument("--root", required=True, metavar="VIDEO_ROOT", help="folder holding the videos")
    parser.add_argument("--files-root", metavar="DIR", help="folder holding the class/split files (e.g. a ViFi-CLIP checkout)")
    parser.add_argument("--protocol", "-p", default="all", metavar="P", help="zero_shot | base2novel | few_shot | all (default)")
    parser.add_argument("--missing-out", metavar="FILE", help="write the missing videos here, one relative path per line")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=handler)
    return parser


def handler(args) -> int:
    from .catalog import load_dataset

    root = Path(args.root)
    if not root.is_dir():
        raise HarnessError(f"video root not found or not a folder: {root} (pass --root DIR holding the videos)")
    if args.files_root and not Path(args.files_root).expanduser().is_dir():
        raise HarnessError(f"--files-root {args.files_root} is not a folder; give the folder holding the class and "
                           "split files (e.g. a ViFi-CLIP checkout; see docs/datasets.md)")
    defn = load_dataset(args.dataset, files_root=args.files_root, video_root=root)
    protocol = getattr(args, "protocol", "all") or "all"
    report = prepare_report(defn, None if protocol == "all" else [protocol])
    if getattr(args, "missing_out", None):
        out = write_missing(report["missing_videos"], args.missing_out)
        report["missing_out"] = str(out)
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
        if report.get("missing_out"):
            print(f"Missing-video list written to {report['missing_out']}")
    sys.stdout.flush()
    return 0 if report["ready"] else 1
