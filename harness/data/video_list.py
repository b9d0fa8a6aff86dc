"""The value types of dataset definitions: a labelled video list in its own class set, and a reference to one
class-name or split file a definition names."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import HarnessError
from .video_index import VideoIndex


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
