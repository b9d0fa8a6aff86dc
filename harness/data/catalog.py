"""Dataset definitions (``protocols/datasets/*.yaml``) → Python objects.

A definition names its class-name and split files relative to ``files_root`` (e.g. the top folder of a
ViFi-CLIP or EZ-CLIP checkout; the project ships none of these files) and its videos relative to
``video_root``. Nothing is read until it is asked for; a protocol that needs an absent file raises a one-line
``HarnessError`` naming the file and the repository it comes from.

Schema (docs/architecture.md; the optional keys below are extensions documented in docs/datasets.md)::

    name: hmdb51                      # = the file name
    version: 1
    kind: real                        # real | embedded | custom
    title: HMDB-51
    files_from: {repo: muzairkhattak/ViFi-CLIP, url: https://github.com/muzairkhattak/ViFi-CLIP}
    files_root: null                  # default root (null: must be given); ~ and $VARS are expanded
    video_root: null
    path_class: hmdb                  # how a video path names its class (audit): hmdb | ucf | folder | none
    classes: {path: labels/hmdb_51_labels.csv}
    descriptions: {path: null}
    splits:
      test1: {path: datasets_splits/hmdb_splits/val1.txt}
      base_train: {path: ..., classes: base}            # class set: base | novel | {path: csv} (default: all)
      zs1: {path: ..., classes: {path: labels/ZS_split1_K600.csv}, label_space: auto}   # auto | local | full
    protocols:
      zero_shot:  {role: target, eval: [test1, test2, test3], source: kinetics400, exclusive: false}
      base2novel: {base_classes: {path: ...}, novel_classes: {path: ...},
                   train: {1: fs_base_s1, 2: fs_base_s2, 3: fs_base_s3}, eval_base: base_val, eval_novel: novel_val}
      few_shot:   {train: {2: fs2, 4: fs4, 8: fs8, 16: fs16}, eval: test1, pool: train1}   # pool: optional

``temporal: true`` (SSv2) marks classes that differ by direction of motion (VideoList.temporal: no flip).
Every file spec may carry ``from:`` (where the file comes from, shown when it is missing).

Label ids of a list with its own class set (base / novel / per-split csv) are read in the id space of that
set ("local", what ViFi-CLIP and EZ-CLIP ship) or of the dataset's full class list ("full"). ``auto`` decides
from the labels: labels that only fit one space pick it; when both fit and the two mappings differ, local
wins (the convention of every official file). Every ``VideoList`` is relabelled 0..n-1 in its own class set.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..errors import HarnessError, closest
from ..paths import REPO_ROOT
from .formats import (
    ClassFile,
    VideoRecord,
    name_key,
    read_class_file,
    read_video_records,
    sha256_file,
)

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

DATASETS_DIR = REPO_ROOT / "protocols" / "datasets"
PROTOCOLS = ("zero_shot", "base2novel", "few_shot")
_PROTOCOL_ALIASES = {
    "zero_shot": "zero_shot", "zeroshot": "zero_shot", "zs": "zero_shot",
    "base2novel": "base2novel", "base_to_novel": "base2novel", "b2n": "base2novel",
    "few_shot": "few_shot", "fewshot": "few_shot", "fs": "few_shot",
}
_KINDS = ("real", "embedded", "custom")
_PATH_CLASS = ("auto", "hmdb", "ucf", "folder", "none")


def canonical_protocol(name: str) -> str:
    """'zero-shot' / 'zero_shot' / 'base-to-novel' / 'few-shot' ... → one of PROTOCOLS."""
    key = str(name).strip().lower().replace("-", "_")
    if key in _PROTOCOL_ALIASES:
        return _PROTOCOL_ALIASES[key]
    raise HarnessError(f"unknown protocol {name!r}{closest(key, PROTOCOLS)}; known: {', '.join(PROTOCOLS)}")


# ------------------------------------------------------------------------------------------ value types


@dataclass
class VideoList:
    """A labelled video list in its own class set: labels are 0..len(class_names)-1."""

    name: str
    entries: list[tuple[str, int]]
    class_names: list[str]
    video_root: Path | None
    files: list[Path]
    descriptions: dict[str, str] | None = None
    label_space: str = "full"  # how the file's ids were read: full | local
    temporal: bool = False  # classes differ by direction of motion (SSv2): no horizontal flip in training
    lines: list[int] = field(default_factory=list, repr=False)  # line of each entry in its file

    def __len__(self) -> int:
        return len(self.entries)

    def videos_per_class(self) -> dict[int, int]:
        return dict(Counter(label for _, label in self.entries))

    def resolve(self, index: "VideoIndex | None" = None) -> list[Path | None]:
        """The video file of every entry under ``video_root`` (None where absent; see ``VideoIndex``)."""
        if index is None:
            if self.video_root is None:
                raise HarnessError(f"{self.name}: no video root (pass --data-root DIR to run, --root DIR to prepare)")
            index = VideoIndex(self.video_root)
        return [index.find(path) for path, _ in self.entries]


@dataclass(frozen=True)
class FileRef:
    """One class-name or split file a definition names."""

    key: str  # e.g. 'classes', 'splits.test1', 'base2novel.base_classes'
    rel: str  # as written in the definition (relative to files_root, or absolute)
    origin: str  # where the file comes from
    path: Path | None  # resolved; None when no files_root is known

    @property
    def exists(self) -> bool:
        return self.path is not None and self.path.is_file()


# ------------------------------------------------------------------------------------------ video index


class VideoIndex:
    """The files under a video root, indexed once (``os.scandir``; no per-file ``stat``).

    ``find(entry)`` resolution rule, in order: the exact relative path; else the file with the same file name
    anywhere under the root (ViFi-CLIP's flat ``kick/...`` names against mmaction2's ``<class>/<file>``
    folders); if several share that name, the one whose path ends with the entry; else the file with the same
    name without extension (EZ-CLIP / ActionCLIP frame-folder names such as ``v_ApplyEyeMakeup_g01_c01``).
    Names are compared case-sensitively except the final fallback, which ignores case (UCF-101's
    ``HandStandPushups`` files live in ``HandstandPushups/``).
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise HarnessError(f"video root not found or not a folder: {self.root} (pass the folder holding the videos)")
        self.paths: set[str] = set()
        self.by_name: dict[str, list[str]] = {}
        self.by_stem: dict[str, list[str]] = {}
        self._scan()

    def _scan(self) -> None:
        stack = [("", self.root)]
        seen_dirs: set[str] = set()
        while stack:
            prefix, folder = stack.pop()
            try:
                real = os.path.realpath(folder)
                if real in seen_dirs:
                    continue
                seen_dirs.add(real)
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel = f"{prefix}{entry.name}"
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if is_dir:
                    # a frame folder (rawframes layout) counts as a video too: it can be named by a list
                    self._add(rel, entry.name, dir_only=True)
                    stack.append((rel + "/", entry.path))
                else:
                    self._add(rel, entry.name)

    def _add(self, rel: str, name: str, dir_only: bool = False) -> None:
        if not dir_only:
            self.paths.add(rel)
            self.by_name.setdefault(name, []).append(rel)
        stem = name.rsplit(".", 1)[0] if "." in name and not dir_only else name
        self.by_stem.setdefault(stem.casefold(), []).append(rel)

    def __len__(self) -> int:
        return len(self.paths)

    def find(self, entry: str) -> Path | None:
        rel = self.lookup(entry)
        return self.root / rel if rel is not None else None

    def lookup(self, entry: str) -> str | None:
        """The path relative to the root that ``entry`` resolves to, or None."""
        entry = entry.replace("\\", "/")
        if entry in self.paths:
            return entry
        name = entry.rsplit("/", 1)[-1]
        candidates = self.by_name.get(name)
        if candidates:
            if len(candidates) == 1:
                return candidates[0]
            suffix = [c for c in candidates if c.endswith("/" + entry) or c == entry]
            return suffix[0] if len(suffix) == 1 else None
        stem = name.rsplit(".", 1)[0] if "." in name else name
        candidates = self.by_stem.get(stem.casefold())
        if candidates and len(candidates) == 1:
            return candidates[0]
        if candidates:
            # prefer a file over a folder of the same stem, and the one under the entry's folder
            parent = entry.rsplit("/", 1)[0] if "/" in entry else None
            files = [c for c in candidates if c in self.paths] or candidates
            if parent:
                files = [c for c in files if f"/{parent}/" in f"/{c}"] or files
            return files[0] if len(files) == 1 else None
        return None


# ------------------------------------------------------------------------------------------ definitions


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


def _expand(value: Any) -> Path | None:
    if value in (None, ""):
        return None
    path = Path(os.path.expandvars(os.path.expanduser(str(value))))
    return path if path.is_absolute() else REPO_ROOT / path


class DatasetDefinition:
    """A dataset definition with resolved roots. See the module docstring for the schema."""

    def __init__(
        self,
        spec: dict,
        source: Path,
        *,
        files_root: str | Path | None = None,
        video_root: str | Path | None = None,
        ann_file: str | Path | None = None,
        classes: str | Path | None = None,
    ):
        self.spec = spec
        self.source = Path(source)
        self.name: str = str(spec.get("name") or self.source.stem)
        self.version = spec.get("version", 1)
        self.kind: str = spec.get("kind", "real")
        self.title: str = spec.get("title", self.name)
        self.layout: str | None = spec.get("layout")
        repo = (spec.get("files_from") or {}) if isinstance(spec.get("files_from"), dict) else {}
        self.files_repo: str | None = repo.get("repo")
        self.files_url: str | None = repo.get("url")
        self.files_root: Path | None = Path(files_root) if files_root is not None else _expand(spec.get("files_root"))
        self.video_root: Path | None = Path(video_root) if video_root is not None else _expand(spec.get("video_root"))
        self.path_class: str = spec.get("path_class", "auto")
        self.temporal: bool = bool(spec.get("temporal", False))
        self._classes_override = Path(classes) if classes is not None else None
        self._ann_file = Path(ann_file) if ann_file is not None else None
        self._class_cache: dict[Path, ClassFile] = {}
        self._list_cache: dict[tuple, VideoList] = {}
        self._validate()

    def __repr__(self) -> str:
        return f"DatasetDefinition({self.name!r}, files_root={self.files_root}, video_root={self.video_root})"

    # ---------------------------------------------------------------------------------- validation

    def _fail(self, message: str) -> HarnessError:
        return HarnessError(f"{self.source}: {message} (see docs/datasets.md for the schema)")

    def _validate(self) -> None:
        spec = self.spec
        if self.kind not in _KINDS:
            raise self._fail(f"kind {self.kind!r} is not one of {', '.join(_KINDS)}{closest(self.kind, _KINDS)}")
        if self.source.suffix == ".yaml" and self.source.parent == DATASETS_DIR and self.name != self.source.stem:
            raise self._fail(f"name {self.name!r} differs from the file name {self.source.stem!r}")
        if self.path_class not in _PATH_CLASS:
            raise self._fail(f"path_class {self.path_class!r} is not one of {', '.join(_PATH_CLASS)}")
        if "classes" not in spec:
            raise self._fail("key 'classes' missing")
        splits = spec.get("splits") or {}
        if not isinstance(splits, dict):
            raise self._fail("'splits' must map split names to {path: ...}")
        for split, sspec in splits.items():
            if not isinstance(sspec, (dict, str)) and sspec is not None:
                raise self._fail(f"split {split!r} must be {{path: ...}}")
            if isinstance(sspec, dict):
                space = sspec.get("label_space", "auto")
                if space not in ("auto", "local", "full"):
                    raise self._fail(f"split {split!r}: label_space {space!r} is not auto, local or full")
                cls = sspec.get("classes")
                if isinstance(cls, str) and cls not in ("base", "novel", "all"):
                    raise self._fail(f"split {split!r}: classes {cls!r} must be base, novel, all or {{path: ...}}")
        protocols = spec.get("protocols") or {}
        if not isinstance(protocols, dict):
            raise self._fail("'protocols' must be a mapping")
        for key, pspec in protocols.items():
            if key not in PROTOCOLS:
                raise self._fail(f"unknown protocol {key!r}{closest(key, PROTOCOLS)}")
            if not isinstance(pspec, dict):
                raise self._fail(f"protocol {key!r} must be a mapping")
        for ref_name, where in self._split_references():
            if ref_name not in splits:
                raise self._fail(f"{where} names split {ref_name!r}, which 'splits' does not define{closest(ref_name, splits)}")
        zs = protocols.get("zero_shot")
        if zs is not None:
            role = zs.get("role")
            if role not in ("source", "target"):
                raise self._fail(f"zero_shot.role must be source or target, not {role!r}")
            if role == "source" and not zs.get("train"):
                raise self._fail("zero_shot with role source needs 'train: <split>'")
            if role == "target" and not zs.get("eval"):
                raise self._fail("zero_shot with role target needs 'eval: [<split>, ...]'")
        b2n = protocols.get("base2novel")
        if b2n is not None:
            for key in ("base_classes", "novel_classes", "train", "eval_base", "eval_novel"):
                if not b2n.get(key):
                    raise self._fail(f"base2novel needs '{key}'")
            if not isinstance(b2n["train"], dict):
                raise self._fail("base2novel.train must map seeds to splits, e.g. {1: fs_base_s1}")
        fs = protocols.get("few_shot")
        if fs is not None:
            if not isinstance(fs.get("train"), dict) or not fs.get("eval"):
                raise self._fail("few_shot needs 'train: {<shots>: <split>}' and 'eval: <split>'")

    def _split_references(self) -> Iterable[tuple[str, str]]:
        protocols = self.spec.get("protocols") or {}
        zs = protocols.get("zero_shot") or {}
        if zs.get("train"):
            yield zs["train"], "zero_shot.train"
        evals = zs.get("eval") or []
        for s in [evals] if isinstance(evals, str) else evals:
            yield s, "zero_shot.eval"
        b2n = protocols.get("base2novel") or {}
        for seed, s in (b2n.get("train") or {}).items() if isinstance(b2n.get("train"), dict) else []:
            yield s, f"base2novel.train.{seed}"
        for key in ("eval_base", "eval_novel"):
            if b2n.get(key):
                yield b2n[key], f"base2novel.{key}"
        fs = protocols.get("few_shot") or {}
        for shots, s in (fs.get("train") or {}).items() if isinstance(fs.get("train"), dict) else []:
            yield s, f"few_shot.train.{shots}"
        if fs.get("eval"):
            yield fs["eval"], "few_shot.eval"
        if fs.get("pool"):
            yield fs["pool"], "few_shot.pool"

    # ---------------------------------------------------------------------------------- files

    def _origin(self, rel: str | None, spec: dict | None = None) -> str:
        if spec and spec.get("from"):
            return str(spec["from"])
        if self.kind == "embedded":
            return "the embedded benchmark generator (harness.data.embedded)"
        if self.kind == "custom":
            return "your own file"
        if self.files_repo:
            url = f" ({self.files_url})" if self.files_url else ""
            return f"{self.files_repo}{url}: {rel}"
        return str(rel)

    def _ref(self, key: str, value: Any) -> FileRef | None:
        """A FileRef for a spec value {path, from} / 'path' / None (None: not declared)."""
        spec = value if isinstance(value, dict) else {"path": value}
        rel = spec.get("path")
        if rel in (None, ""):
            return None
        rel = str(rel)
        path = Path(os.path.expanduser(rel))
        if not path.is_absolute():
            path = self.files_root / rel if self.files_root is not None else None
        return FileRef(key, rel, self._origin(rel, spec), path)

    def _need(self, ref: FileRef | None, what: str) -> Path:
        if ref is None:
            raise HarnessError(f"dataset {self.name!r} declares no {what} (add it to {self.source.name})")
        if ref.path is None:
            where = f"a checkout of {self.files_repo}" if self.files_repo else "the folder holding its files"
            raise HarnessError(
                f"dataset {self.name!r} needs --files-root: {where} (for {ref.rel}; see docs/datasets.md)"
            )
        if not ref.path.is_file():
            raise HarnessError(f"missing {what} {ref.path} (from {ref.origin}; see docs/datasets.md)")
        return ref.path

    def classes_ref(self) -> FileRef | None:
        if self._classes_override is not None:
            return FileRef("classes", str(self._classes_override), "--classes", self._classes_override)
        return self._ref("classes", self.spec.get("classes"))

    def descriptions_ref(self) -> FileRef | None:
        ref = self._ref("descriptions", self.spec.get("descriptions"))
        override = self.classes_ref() if self._classes_override is not None else None
        if ref is None and override is not None and override.exists:
            # a --classes file that carries descriptions (EZ-CLIP GPT csv, FROSTER json) provides them
            if self._class_file(override, "class-name file").descriptions is not None:
                return override
        return ref

    def split_names(self) -> list[str]:
        if self.kind == "custom":
            return list((self.spec.get("splits") or {"test": None}).keys())
        return list((self.spec.get("splits") or {}).keys())

    def _split_spec(self, split: str) -> dict:
        splits = self.spec.get("splits") or {}
        if split not in splits:
            names = self.split_names()
            raise HarnessError(f"dataset {self.name!r} has no split {split!r}{closest(split, names)}; splits: {', '.join(names)}")
        value = splits[split]
        return value if isinstance(value, dict) else {"path": value}

    def split_ref(self, split: str) -> FileRef | None:
        spec = dict(self._split_spec(split))
        if self.kind == "custom" and self._ann_file is not None:
            return FileRef(f"splits.{split}", str(self._ann_file), "--ann-file", self._ann_file)
        return self._ref(f"splits.{split}", spec)

    def _split_class_ref(self, split: str) -> tuple[str, FileRef | None]:
        """(class-set kind, file): kind is 'all', 'base', 'novel' or 'split' (its own csv)."""
        spec = self._split_spec(split)
        cls = spec.get("classes")
        if cls is None:
            cls = self._implied_class_set(split)
        if cls in (None, "all"):
            return "all", None
        if cls in ("base", "novel"):
            b2n = self._protocol_spec("base2novel", required=False)
            if b2n is None:
                raise self._fail(f"split {split!r} uses the {cls} classes but base2novel is not defined")
            return cls, self._ref(f"base2novel.{cls}_classes", b2n[f"{cls}_classes"])
        return "split", self._ref(f"splits.{split}.classes", cls)

    def _implied_class_set(self, split: str) -> str | None:
        b2n = (self.spec.get("protocols") or {}).get("base2novel") or {}
        roles = set()
        if split in (b2n.get("train") or {}).values() or b2n.get("eval_base") == split:
            roles.add("base")
        if b2n.get("eval_novel") == split:
            roles.add("novel")
        if len(roles) > 1:
            raise self._fail(f"split {split!r} is used for both base and novel classes")
        return roles.pop() if roles else None

    def files(self, protocol: str | None = None) -> list[FileRef]:
        """Every class/split file the definition (or one protocol of it) uses, in a stable order."""
        refs: list[FileRef | None] = [self.classes_ref(), self._ref("descriptions", self.spec.get("descriptions"))]
        splits = self.split_names() if protocol is None else self.protocol_splits(protocol)
        if protocol is None or canonical_protocol(protocol) == "base2novel":
            b2n = (self.spec.get("protocols") or {}).get("base2novel")
            if b2n:
                refs.append(self._ref("base2novel.base_classes", b2n["base_classes"]))
                refs.append(self._ref("base2novel.novel_classes", b2n["novel_classes"]))
        for split in splits:
            refs.append(self.split_ref(split))
            kind, cref = self._split_class_ref(split)
            if kind == "split":
                refs.append(cref)
            sdesc = self._split_spec(split).get("descriptions")
            if sdesc:
                refs.append(self._ref(f"splits.{split}.descriptions", sdesc))
        out, seen = [], set()
        for ref in refs:
            if ref is not None and ref.rel not in seen:
                seen.add(ref.rel)
                out.append(ref)
        return out

    def missing_files(self, protocol: str | None = None) -> list[FileRef]:
        return [ref for ref in self.files(protocol) if not ref.exists]

    def check(self, protocol: str) -> None:
        """HarnessError naming the first file the protocol needs that is absent."""
        protocol = canonical_protocol(protocol)
        if not self.supports(protocol):
            raise HarnessError(
                f"dataset {self.name!r} does not define protocol {protocol!r} (it defines: {', '.join(self.protocols()) or 'none'})"
            )
        for ref in self.files(protocol):
            self._need(ref, "file")

    def _rel_key(self, ref: FileRef) -> str:
        if self.files_root is not None and ref.path is not None:
            try:
                return ref.path.relative_to(self.files_root).as_posix()
            except ValueError:
                pass
        return Path(ref.rel).name if Path(ref.rel).is_absolute() else ref.rel

    def file_hashes(self, protocol: str | None = None) -> dict[str, str]:
        """Path relative to files_root (file name for files outside it) → sha256.

        With ``protocol``: the files it uses, all of which must exist. Without: every declared file present.
        """
        if protocol is not None:
            self.check(protocol)
            refs = self.files(protocol)
        else:
            refs = [r for r in self.files() if r.exists]
        return {self._rel_key(ref): sha256_file(ref.path) for ref in refs}

    # ---------------------------------------------------------------------------------- classes

    def _class_file(self, ref: FileRef | None, what: str) -> ClassFile:
        path = self._need(ref, what)
        if path not in self._class_cache:
            self._class_cache[path] = read_class_file(path)
        return self._class_cache[path]

    def class_names(self) -> list[str]:
        """All class names in id order."""
        names = list(self._class_file(self.classes_ref(), "class-name file").names)
        if self._classes_override is not None and self.kind != "custom":
            declared = self._ref("classes", self.spec.get("classes"))
            if declared is not None and declared.exists:
                n = len(read_class_file(declared.path).names)
                if n != len(names):
                    raise HarnessError(
                        f"--classes {self._classes_override} has {len(names)} classes but dataset {self.name!r} has {n} "
                        f"(give a file with the same classes in the same id order)"
                    )
        return names

    def descriptions(self) -> dict[str, str] | None:
        """Class name → description for every class (None when the definition has no descriptions)."""
        return self._descriptions_for(self.class_names(), self.descriptions_ref())

    def _descriptions_for(self, names: list[str], ref: FileRef | None) -> dict[str, str] | None:
        if ref is None:
            return None
        cf = self._class_file(ref, "description file")
        if cf.descriptions is None:
            raise HarnessError(
                f"{ref.path} has no descriptions (give an EZ-CLIP GPT csv or a FROSTER json as descriptions)"
            )
        by_key = {name_key(k): v for k, v in cf.descriptions.items()}
        out = {}
        for name in names:
            if name in cf.descriptions:
                out[name] = cf.descriptions[name]
            elif name_key(name) in by_key:
                out[name] = by_key[name_key(name)]
            else:
                raise HarnessError(f"{ref.path} has no description for class {name!r} (match the class-name file)")
        return out

    def _subset_names(self, kind: str, ref: FileRef | None) -> list[str]:
        if kind == "all":
            return self.class_names()
        return list(self._class_file(ref, f"{kind} class-name file").names)

    # ---------------------------------------------------------------------------------- lists

    def split(self, split: str) -> VideoList:
        """One named split as a VideoList in its class set (all classes, base, novel or its own csv)."""
        kind, cref = self._split_class_ref(split)
        key = (split, kind, cref.rel if cref else None)
        if key in self._list_cache:
            return self._list_cache[key]
        ref = self.split_ref(split)
        path = self._need(ref, f"split file ({split})")
        spec = self._split_spec(split)
        full = self.class_names()
        subset = self._subset_names(kind, cref)
        records = read_video_records(path, class_names=full)
        files = [self._need(self.classes_ref(), "class-name file")]
        if kind != "all":
            files.append(self._need(cref, f"{kind} class-name file"))
            entries, lines, space = self._into_subset(records, subset, full, spec.get("label_space", "auto"), path, kind)
        else:
            entries, lines, space = self._check_range(records, full, path)
        files.append(path)
        desc_ref = self._ref(f"splits.{split}.descriptions", spec["descriptions"]) if spec.get("descriptions") else self.descriptions_ref()
        result = VideoList(
            name=f"{self.name}/{split}",
            entries=entries,
            class_names=list(subset),
            video_root=self.video_root,
            files=files,
            descriptions=self._descriptions_for(list(subset), desc_ref),
            label_space=space,
            lines=lines,
            temporal=self.temporal,
        )
        self._list_cache[key] = result
        return result

    @staticmethod
    def _check_range(records: list[VideoRecord], names: list[str], path: Path):
        n = len(names)
        for r in records:
            if r.label >= n:
                raise HarnessError(f"{path}:{r.line}: label {r.label} out of range 0..{n - 1} for {n} classes (wrong class-name file?)")
        return [(r.path, r.label) for r in records], [r.line for r in records], "full"

    def _into_subset(self, records, subset, full, declared, path, kind):
        """Read labels in the subset's own ids (local) or the full list's ids (full); relabel to the subset."""
        n = len(subset)
        full_index = {name: i for i, name in enumerate(full)}
        full_key_index = {name_key(name): i for i, name in enumerate(full)}
        subset_full_ids = []
        for name in subset:
            i = full_index.get(name, full_key_index.get(name_key(name)))
            subset_full_ids.append(i)
        mappable = all(i is not None for i in subset_full_ids)
        labels = {r.label for r in records}
        local_ok = max(labels) < n
        full_ok = mappable and labels <= set(subset_full_ids)
        space = declared
        if declared == "auto":
            if local_ok:
                space = "local"  # also when both fit: the official files all use local ids
            elif full_ok:
                space = "full"
            else:
                bad = next(r for r in records if r.label >= n)
                raise HarnessError(
                    f"{path}:{bad.line}: label {bad.label} fits neither the {n} {kind} classes (ids 0..{n - 1}) nor "
                    f"their ids in the full class list (wrong class-name file?)"
                )
        if space == "local":
            return self._check_range(records, subset, path)[0], [r.line for r in records], "local"
        if not mappable:
            missing = subset[subset_full_ids.index(None)]
            raise HarnessError(f"{path}: label_space full, but {kind} class {missing!r} is not in the full class list")
        to_local = {fid: i for i, fid in enumerate(subset_full_ids)}
        entries = []
        for r in records:
            if r.label not in to_local:
                name = full[r.label] if r.label < len(full) else f"id {r.label}"
                raise HarnessError(f"{path}:{r.line}: video of class {name!r} (id {r.label}) is not one of the {kind} classes")
            entries.append((r.path, to_local[r.label]))
        return entries, [r.line for r in records], "full"

    def records(self, split: str) -> list[VideoRecord]:
        """The raw records of a split file (original paths and ids; for audits)."""
        path = self._need(self.split_ref(split), f"split file ({split})")
        return read_video_records(path)

    # ---------------------------------------------------------------------------------- protocols

    def protocols(self) -> list[str]:
        return [p for p in PROTOCOLS if p in (self.spec.get("protocols") or {})]

    def supports(self, protocol: str) -> bool:
        """Whether the definition defines the protocol (its files may still be absent: see ``check``)."""
        return canonical_protocol(protocol) in self.protocols()

    def _protocol_spec(self, protocol: str, required: bool = True) -> dict | None:
        protocol = canonical_protocol(protocol)
        spec = (self.spec.get("protocols") or {}).get(protocol)
        if spec is None and required:
            raise HarnessError(
                f"dataset {self.name!r} does not define protocol {protocol!r} "
                f"(it defines: {', '.join(self.protocols()) or 'none'})"
            )
        return spec

    def protocol_splits(self, protocol: str) -> list[str]:
        """The split names a protocol uses (train lists first)."""
        protocol = canonical_protocol(protocol)
        spec = self._protocol_spec(protocol)
        if protocol == "zero_shot":
            return [spec["train"]] if spec["role"] == "source" else list(self._zs_evals(spec))
        if protocol == "base2novel":
            return _unique([*spec["train"].values(), spec["eval_base"], spec["eval_novel"]])
        return _unique([*spec["train"].values(), spec["eval"], *([spec["pool"]] if spec.get("pool") else [])])

    # zero-shot
    def zero_shot_role(self) -> str | None:
        """'source' (trained on), 'target' (evaluated on) or None (not in the zero-shot protocol)."""
        spec = self._protocol_spec("zero_shot", required=False)
        return spec["role"] if spec else None

    def zero_shot_source(self) -> str | None:
        """The dataset this target's zero-shot protocol trains on (yaml ``source:``), if declared."""
        spec = self._protocol_spec("zero_shot", required=False) or {}
        return spec.get("source")

    def zero_shot_exclusive(self) -> bool:
        """Whether the target's classes are meant to be disjoint from the source's (K-600 splits)."""
        spec = self._protocol_spec("zero_shot", required=False) or {}
        return bool(spec.get("exclusive", False))

    @staticmethod
    def _zs_evals(spec: dict) -> list[str]:
        evals = spec.get("eval") or []
        return [evals] if isinstance(evals, str) else list(evals)

    def zero_shot_train(self) -> VideoList:
        spec = self._protocol_spec("zero_shot")
        if spec["role"] != "source":
            raise HarnessError(f"dataset {self.name!r} is a zero-shot target; train on the source dataset instead")
        return self.split(spec["train"])

    def zero_shot_evals(self) -> dict[str, VideoList]:
        spec = self._protocol_spec("zero_shot")
        if spec["role"] != "target":
            raise HarnessError(f"dataset {self.name!r} is the zero-shot source; it has no zero-shot evaluation lists")
        return {split: self.split(split) for split in self._zs_evals(spec)}

    # base-to-novel
    def base2novel_seeds(self) -> list[int]:
        spec = self._protocol_spec("base2novel")
        return sorted(int(s) for s in spec["train"])

    def base_class_names(self) -> list[str]:
        spec = self._protocol_spec("base2novel")
        return list(self._class_file(self._ref("base2novel.base_classes", spec["base_classes"]), "base class-name file").names)

    def novel_class_names(self) -> list[str]:
        spec = self._protocol_spec("base2novel")
        return list(self._class_file(self._ref("base2novel.novel_classes", spec["novel_classes"]), "novel class-name file").names)

    def base2novel(self, seed: int) -> tuple[VideoList, VideoList, VideoList]:
        """(train over the base classes for this seed, eval over base, eval over novel); each 0..n-1."""
        spec = self._protocol_spec("base2novel")
        train = {int(k): v for k, v in spec["train"].items()}
        if int(seed) not in train:
            raise HarnessError(f"dataset {self.name!r} has no base2novel seed {seed} (seeds: {', '.join(map(str, sorted(train)))})")
        return self.split(train[int(seed)]), self.split(spec["eval_base"]), self.split(spec["eval_novel"])

    # few-shot
    def few_shot_shots(self) -> list[int]:
        spec = self._protocol_spec("few_shot")
        return sorted(int(k) for k in spec["train"])

    def few_shot(self, shots: int) -> tuple[VideoList, VideoList]:
        """(K-shot train list over all classes, evaluation list)."""
        spec = self._protocol_spec("few_shot")
        train = {int(k): v for k, v in spec["train"].items()}
        if int(shots) not in train:
            raise HarnessError(
                f"dataset {self.name!r} has no {shots}-shot list (shots: {', '.join(map(str, sorted(train)))})"
            )
        return self.split(train[int(shots)]), self.split(spec["eval"])

    def few_shot_pool(self) -> tuple[VideoList, VideoList]:
        """(the training pool K-shot lists are drawn from, evaluation list): yaml ``few_shot.pool``."""
        spec = self._protocol_spec("few_shot")
        if not spec.get("pool"):
            raise HarnessError(
                f"dataset {self.name!r} declares no few_shot.pool (the list to draw K-shot sets from); "
                f"use its fixed K-shot lists (seed 1) or add 'pool: <split>' to {self.source.name}"
            )
        return self.split(spec["pool"]), self.split(spec["eval"])


def _unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
