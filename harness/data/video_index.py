"""The files under a video root, indexed once, and the rule that maps a list's entry to one of them (lists
name videos in several layouts: mmaction2 folders, ViFi-CLIP flat names, EZ-CLIP frame folders)."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import HarnessError


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
