"""Dataset definitions by name: the datasets ``protocols/datasets/`` holds and ``load_dataset``, which reads
one (schema: :mod:`harness.data.definition`, docs/datasets.md) with its roots resolved.

The module is the data definitions' Python API (docs/datasets.md), so it also names the types a caller meets.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import HarnessError, closest
from .definition import DATASETS_DIR, DatasetDefinition
from .protocol_views import PROTOCOLS, canonical_protocol
from .video_index import VideoIndex
from .video_list import FileRef, VideoList

__all__ = [
    "DATASETS_DIR",
    "PROTOCOLS",
    "DatasetDefinition",
    "FileRef",
    "VideoIndex",
    "VideoList",
    "canonical_protocol",
    "list_datasets",
    "load_dataset",
]


def list_datasets() -> list[str]:
    """Names of the dataset definitions in protocols/datasets/."""
    return sorted(p.stem for p in DATASETS_DIR.glob("*.yaml"))


def _definition_file(name: str) -> Path:
    candidate = Path(name)
    if candidate.is_file() and candidate.suffix not in (".yaml", ".yml"):
        raise HarnessError(f"--dataset {name}: a dataset definition file must be a .yaml (see docs/datasets.md), "
                           "or give a dataset name from `python -m harness list datasets`")
    if candidate.suffix in (".yaml", ".yml"):
        if candidate.is_file():
            return candidate
        if candidate.parent != Path("."):
            raise HarnessError(f"dataset definition not found: {candidate} (give an existing yaml or a name from protocols/datasets)")
    path = DATASETS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = list_datasets()
        raise HarnessError(
            f"unknown dataset {name!r}{closest(name, known)}; known: {', '.join(known) or '(none)'} "
            f"(or give the path of a dataset yaml)"
        )
    return path


def load_dataset(
    name: str,
    *,
    files_root: str | Path | None = None,
    video_root: str | Path | None = None,
    ann_file: str | Path | None = None,
    classes: str | Path | None = None,
) -> DatasetDefinition:
    """The definition ``protocols/datasets/<name>.yaml`` (or a yaml path) with its roots resolved.

    ``files_root`` / ``video_root`` override the definition's defaults. ``classes`` replaces the class-name
    file (e.g. corrected names, FROSTER json; same number of classes). ``ann_file`` (+ ``classes``) is for
    ``custom``: zero-shot evaluation of one list. An ``embedded`` definition gets its roots from
    ``harness.data.embedded.ensure_embedded()``.
    """
    path = _definition_file(name)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise HarnessError(f"{where}: invalid YAML ({getattr(exc, 'problem', exc)}); fix the definition") from None
    if not isinstance(spec, dict):
        raise HarnessError(f"{path}: a dataset definition must be a YAML mapping (see docs/datasets.md)")
    kind = spec.get("kind", "real")
    if kind == "custom":
        if ann_file is None or classes is None:
            raise HarnessError(
                "dataset 'custom' needs --ann-file LIST (lines '<path> <label>') and --classes FILE "
                "(csv 'id,name', txt, json) and --data-root DIR (the folder holding its videos)"
            )
        for what, value in (("--ann-file", ann_file), ("--classes", classes)):
            if not Path(value).is_file():
                raise HarnessError(f"{what} {value} not found (give an existing file)")
        if video_root is not None and not Path(video_root).expanduser().is_dir():
            raise HarnessError(f"--data-root {video_root} is not a folder; give the folder holding the videos")
    elif ann_file is not None:
        raise HarnessError(f"--ann-file only applies to --dataset custom (dataset {spec.get('name', name)!r} has its own lists)")
    # a files root the user named must exist: otherwise every file under it reads as "missing", far from the cause
    if files_root is not None and not Path(files_root).expanduser().is_dir():
        raise HarnessError(f"--files-root {files_root} is not a folder; give the folder holding the class and split "
                           "files (e.g. a ViFi-CLIP checkout; see docs/datasets.md)")
    if kind == "embedded" and (files_root is None or video_root is None):
        embedded_files, embedded_videos = _embedded_roots()
        files_root = files_root if files_root is not None else embedded_files
        video_root = video_root if video_root is not None else embedded_videos
    return DatasetDefinition(spec, path, files_root=files_root, video_root=video_root, ann_file=ann_file, classes=classes)


def _embedded_roots() -> tuple[Path, Path]:
    """Hook: the embedded generator builds (once) and returns its root; yaml paths are relative to it."""
    from .embedded import ensure_embedded  # lazy: written separately

    root = ensure_embedded()
    if isinstance(root, dict):
        files = root.get("files_root") or root.get("root")
        videos = root.get("video_root") or root.get("root")
        return Path(files), Path(videos)
    if isinstance(root, (tuple, list)) and len(root) == 2:
        return Path(root[0]), Path(root[1])
    return Path(root), Path(root)
