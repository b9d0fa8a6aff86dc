"""Dataset definitions (``protocols/datasets/*.yaml``) → Python objects: one definition with its roots resolved.

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
from pathlib import Path
from typing import Any, Iterable

from ..errors import HarnessError, closest
from ..paths import REPO_ROOT
from .formats import ClassFile, VideoRecord, name_key, read_class_file, read_video_records, sha256_file
from .protocol_views import PROTOCOLS, ProtocolViews, canonical_protocol
from .video_list import FileRef, VideoList

DATASETS_DIR = REPO_ROOT / "protocols" / "datasets"
_KINDS = ("real", "embedded", "custom")
_PATH_CLASS = ("auto", "hmdb", "ucf", "folder", "none")


def _expand(value: Any) -> Path | None:
    if value in (None, ""):
        return None
    path = Path(os.path.expandvars(os.path.expanduser(str(value))))
    return path if path.is_absolute() else REPO_ROOT / path


class DatasetDefinition(ProtocolViews):
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
