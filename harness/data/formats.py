"""Readers for the class-name and split files of the video-CLIP repositories, with format auto-detection.

Class-name files (``read_class_names`` / ``read_descriptions``), detected from the content:

- csv ``id,name`` (X-CLIP, ViFi-CLIP, EZ-CLIP ``lists/``, ActionCLIP, TC-CLIP); names may be quoted (ViFi SSv2).
  A header-less csv whose first field is an integer is read the same way. Rows are ordered by id; the ids
  must be exactly 0..n-1.
- EZ-CLIP GPT description csv ``SNo,Class Name,GPT3 discription`` (multi-line quoted fields): names in row
  order, descriptions stripped of surrounding white space.
- json (FROSTER / TC-CLIP ``labels_froster/*.json``): ``{"<id>": "<Name>: <description>"}`` with ids 0..n-1;
  the name is the text before the first ``": "``. A json list of names is accepted too.
- txt (mmaction2 ``label_map*.txt``): one name per line, blank lines ignored.

Split lists (``read_video_list``), detected per line:

- ``<path> <label>`` (mmaction2 ``VideoDataset``, ViFi-CLIP, X-CLIP, TC-CLIP);
- ``<path> <num_frames> <label>`` (EZ-CLIP, ActionCLIP, mmaction2 ``RawframeDataset``).

Path rule: a relative path is kept as written (``val/x.mp4``, ``v_ApplyEyeMakeup_g01_c01.avi``). An absolute
path (``/media/...``, ``C:\\...``, ``\\\\server\\...``; a prefix of the authors' machines) is cut to its last
component, or to ``<class folder>/<last component>`` when ``class_names`` are given and the parent folder
names a class (ActionCLIP ``.../extracted_val_frames/ice_skating/99elfyHn6wo`` → ``ice_skating/99elfyHn6wo``).
Paths containing white space are not supported (no official list has them). Records are counted, not
newline characters: a file without a trailing newline loses no line, blank lines are skipped, CRLF is fine.
Lines starting with ``#`` are records, not comments (HMDB-51 has ``#20_Rhythm_clap_u_nm_np1_fr_goo_0.avi``).

Every problem raises ``HarnessError`` with a one-line message naming the file (and line) and the fix.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import HarnessError

__all__ = [
    "ClassFile",
    "VideoRecord",
    "class_file_format",
    "name_key",
    "read_class_file",
    "read_class_names",
    "read_descriptions",
    "read_video_list",
    "read_video_records",
    "relative_video_path",
    "sha256_file",
]

_ABSOLUTE = re.compile(r"^(?:/|\\\\|[A-Za-z]:[\\/])")
_INT = re.compile(r"^[+-]?\d+$")


def name_key(name: str) -> str:
    """Lower-case letters and digits only: 'kick_ball', 'Kick ball' and 'KickBall' share a key."""
    return re.sub(r"[^0-9a-z]+", "", str(name).casefold())


# ---------------------------------------------------------------------------------------------- helpers


def _read_text(path: Path, what: str) -> str:
    path = Path(path)
    if not path.exists():
        raise HarnessError(f"{what} not found: {path} (check the path or --files-root)")
    if path.is_dir():
        raise HarnessError(f"{what} is a folder, not a file: {path} (give the file inside it)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HarnessError(f"cannot read {what} {path}: {exc.strerror or exc} (check its permissions)") from None
    if b"\x00" in data[:65536]:  # a checkpoint, archive or video given where a text file belongs
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise HarnessError(f"{path}:{line}: binary data (NUL byte), not a text {what}; give a {what} with "
                           f"{_EXPECTED[what]}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HarnessError(f"{path}:{line}: not UTF-8 text (byte {exc.start}); save the {what} as UTF-8") from None
    if not text.strip():
        raise HarnessError(f"{what} is empty: {path} (expected {_EXPECTED[what]})")
    return text


_EXPECTED = {
    "class-name file": "csv 'id,name', EZ-CLIP GPT csv, FROSTER json or one name per line",
    "description file": "EZ-CLIP GPT csv 'SNo,Class Name,GPT3 discription' or FROSTER json",
    "video list": "lines '<path> <label>' or '<path> <num_frames> <label>'",
}


def _lines(text: str) -> Iterable[tuple[int, str]]:
    """(1-based line number, line without its end) for every line, trailing newline or not."""
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.rstrip("\r")


# ------------------------------------------------------------------------------------------ class names


@dataclass
class ClassFile:
    """The content of a class-name file: names in id order, descriptions where the format has them."""

    path: Path
    format: str  # csv | gpt-csv | json | txt
    names: list[str]
    descriptions: dict[str, str] | None = None
    lines: list[int] = field(default_factory=list)  # the line of each name, for messages


def class_file_format(path: str | Path, text: str | None = None) -> str:
    """'csv' (id,name), 'gpt-csv' (EZ-CLIP descriptions), 'json' (FROSTER) or 'txt' (one name per line)."""
    path = Path(path)
    if text is None:
        text = _read_text(path, "class-name file")
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith(("{", "[")):
        return "json"
    first = stripped.split("\n", 1)[0].strip().rstrip("\r")
    try:
        row = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        row = [first]
    head = [c.strip().casefold() for c in row]
    if len(head) >= 3 and head[0] in ("sno", "s.no", "s no", "no") and "class name" in head[1]:
        return "gpt-csv"
    if len(head) >= 2 and head[0] == "id" and head[1] == "name":
        return "csv"
    if path.suffix.lower() == ".csv":
        if len(head) >= 2 and _INT.match(head[0]):
            return "csv"
        return "csv"  # the csv reader reports the unrecognised header with its line
    return "txt"


def read_class_file(path: str | Path) -> ClassFile:
    """Read any supported class-name file (format auto-detected; see the module docstring)."""
    path = Path(path)
    text = _read_text(path, "class-name file")
    fmt = class_file_format(path, text)
    if fmt == "json":
        result = _read_json_classes(path, text)
    elif fmt == "gpt-csv":
        result = _read_gpt_csv(path, text)
    elif fmt == "csv":
        result = _read_id_name_csv(path, text)
    else:
        result = _read_txt_classes(path, text)
    _check_names(result)
    return result


def read_class_names(path: str | Path) -> list[str]:
    """Class names in id order from a csv / EZ-CLIP GPT csv / FROSTER json / txt class-name file."""
    return read_class_file(path).names


def read_descriptions(path: str | Path) -> dict[str, str]:
    """Class name → description (file order) from an EZ-CLIP GPT csv or a FROSTER json."""
    path = Path(path)
    text = _read_text(path, "description file")
    fmt = class_file_format(path, text)
    if fmt not in ("gpt-csv", "json"):
        raise HarnessError(
            f"{path} is a {fmt} class-name list without descriptions "
            f"(give an EZ-CLIP GPT csv 'SNo,Class Name,GPT3 discription' or a FROSTER json)"
        )
    result = read_class_file(path)
    assert result.descriptions is not None
    return result.descriptions


def _check_names(result: ClassFile) -> None:
    seen: dict[str, int] = {}
    for index, name in enumerate(result.names):
        line = result.lines[index] if index < len(result.lines) else 0
        where = f"{result.path}:{line}" if line else f"{result.path} (id {index})"
        if not name.strip():
            raise HarnessError(f"{where}: empty class name (every class needs a name)")
        if name in seen:
            raise HarnessError(
                f"{where}: duplicate class name {name!r} (also id {seen[name]}); class names must be distinct"
            )
        seen[name] = index


def _csv_rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """(line where the record starts, fields) for every non-empty csv record."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise HarnessError(f"{path}:{reader.line_num}: malformed csv ({exc}); fix the quoting of that row") from None
    return rows


def _read_id_name_csv(path: Path, text: str) -> ClassFile:
    rows = _csv_rows(path, text)
    if rows and [c.strip().casefold() for c in rows[0][1][:2]] == ["id", "name"]:
        rows = rows[1:]
    elif rows and not _INT.match(rows[0][1][0].strip()):
        raise HarnessError(
            f"{path}:{rows[0][0]}: unrecognised header {','.join(rows[0][1])!r} "
            f"(expected 'id,name', 'SNo,Class Name,GPT3 discription', or rows '<id>,<name>')"
        )
    if not rows:
        raise HarnessError(f"{path}: header but no classes (expected rows '<id>,<name>')")
    by_id: dict[int, tuple[str, int]] = {}
    for line, row in rows:
        if len(row) < 2:
            raise HarnessError(f"{path}:{line}: malformed row {','.join(row)!r} (expected '<id>,<name>')")
        raw_id = row[0].strip()
        if not _INT.match(raw_id):
            raise HarnessError(f"{path}:{line}: class id {raw_id!r} is not an integer (expected '<id>,<name>')")
        class_id = int(raw_id)
        name = ",".join(row[1:]).strip()  # an unquoted comma stays part of the name
        if class_id in by_id:
            raise HarnessError(f"{path}:{line}: duplicate class id {class_id} (first at line {by_id[class_id][1]})")
        by_id[class_id] = (name, line)
    expected = list(range(len(by_id)))
    if sorted(by_id) != expected:
        missing = sorted(set(expected) - set(by_id))
        bad = sorted(set(by_id) - set(expected))
        detail = f"missing id {missing[0]}" if missing else f"unexpected id {bad[0]}"
        raise HarnessError(f"{path}: class ids must be 0..{len(by_id) - 1} ({detail}); renumber the rows")
    ordered = [by_id[i] for i in expected]
    return ClassFile(path, "csv", [n for n, _ in ordered], None, [line for _, line in ordered])


def _read_gpt_csv(path: Path, text: str) -> ClassFile:
    rows = _csv_rows(path, text)[1:]
    if not rows:
        raise HarnessError(f"{path}: header but no classes (expected rows '<SNo>,<name>,\"<description>\"')")
    names, lines, descriptions = [], [], {}
    for line, row in rows:
        if len(row) < 3:
            raise HarnessError(
                f"{path}:{line}: malformed row (expected '<SNo>,<name>,\"<description>\"'; "
                f"quote descriptions that contain commas or newlines)"
            )
        name = row[1].strip()
        names.append(name)
        lines.append(line)
        descriptions[name] = ",".join(row[2:]).strip()
    return ClassFile(path, "gpt-csv", names, descriptions, lines)


def _read_json_classes(path: Path, text: str) -> ClassFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}); fix the file") from None
    if isinstance(data, list):
        if not all(isinstance(v, str) for v in data):
            raise HarnessError(f"{path}: a JSON list of class names must hold only strings")
        items = list(enumerate(data))
    elif isinstance(data, dict):
        items = []
        for key, value in data.items():
            if not _INT.match(str(key).strip()):
                raise HarnessError(f"{path}: key {key!r} is not a class id (expected {{\"0\": \"Name: description\"}})")
            if not isinstance(value, str):
                raise HarnessError(f"{path}: value of id {key} is not a string (expected \"Name: description\")")
            items.append((int(key), value))
        items.sort()
        if [k for k, _ in items] != list(range(len(items))):
            raise HarnessError(f"{path}: class ids must be 0..{len(items) - 1}; renumber the keys")
    else:
        raise HarnessError(f"{path}: expected a JSON object {{\"<id>\": \"Name: description\"}} or a list of names")
    if not items:
        raise HarnessError(f"class-name file is empty: {path} (expected {_EXPECTED['class-name file']})")
    names, descriptions = [], {}
    for _, value in items:
        name, sep, description = value.partition(": ")
        name = name.strip()
        names.append(name)
        descriptions[name] = description.strip() if sep else ""
    return ClassFile(path, "json", names, descriptions, [])


def _read_txt_classes(path: Path, text: str) -> ClassFile:
    names, lines = [], []
    for number, line in _lines(text):
        if line.strip():
            names.append(line.strip())
            lines.append(number)
    return ClassFile(path, "txt", names, None, lines)


# ------------------------------------------------------------------------------------------ video lists


@dataclass(frozen=True)
class VideoRecord:
    """One line of a split list."""

    path: str  # relative (see relative_video_path)
    label: int
    line: int
    raw_path: str
    num_frames: int | None = None


def relative_video_path(raw: str, class_names: Sequence[str] | None = None) -> str:
    """The list path made relative: absolute author-machine prefixes are stripped (module docstring)."""
    raw = raw.strip()
    if not _ABSOLUTE.match(raw):
        rel = raw.replace("\\", "/")
        while rel.startswith("./"):
            rel = rel[2:]
        return rel
    return _strip_prefix(raw, {name_key(n) for n in class_names} if class_names else None)


def _strip_prefix(raw: str, class_keys: set[str] | None) -> str:
    parts = [p for p in re.split(r"[\\/]+", raw) if p]
    if not parts:
        return raw
    last = parts[-1]
    if class_keys and len(parts) >= 2 and name_key(parts[-2]) in class_keys:
        return f"{parts[-2]}/{last}"
    return last


def read_video_records(
    path: str | Path, num_classes: int | None = None, class_names: Sequence[str] | None = None
) -> list[VideoRecord]:
    """Every record of a split list with its line number (see ``read_video_list``)."""
    path = Path(path)
    text = _read_text(path, "video list")
    if class_names is not None and num_classes is None:
        num_classes = len(class_names)
    class_keys = {name_key(n) for n in class_names} if class_names else None
    records: list[VideoRecord] = []
    for number, line in _lines(text):
        fields = line.split()
        if not fields:
            continue
        if len(fields) == 2:
            raw, frames, label = fields[0], None, fields[1]
        elif len(fields) == 3:
            raw, frames, label = fields
            if not _INT.match(frames) or int(frames) < 0:
                raise HarnessError(
                    f"{path}:{number}: number of frames {frames!r} is not a non-negative integer "
                    f"(expected '<path> <num_frames> <label>')"
                )
        else:
            raise HarnessError(
                f"{path}:{number}: {len(fields)} fields in {line.strip()[:80]!r} "
                f"(expected '<path> <label>' or '<path> <num_frames> <label>'; paths cannot contain spaces)"
            )
        if not _INT.match(label):
            raise HarnessError(
                f"{path}:{number}: label {label!r} is not an integer "
                f"(expected '<path> <label>' or '<path> <num_frames> <label>')"
            )
        value = int(label)
        if value < 0 or (num_classes is not None and value >= num_classes):
            bound = f"0..{num_classes - 1} for {num_classes} classes" if num_classes is not None else ">= 0"
            raise HarnessError(
                f"{path}:{number}: label {value} out of range {bound} (wrong class-name file for this list?)"
            )
        if _ABSOLUTE.match(raw):
            rel = _strip_prefix(raw, class_keys)
        elif "\\" in raw or raw.startswith("./"):
            rel = relative_video_path(raw)
        else:
            rel = raw
        records.append(VideoRecord(rel, value, number, raw, int(frames) if frames else None))
    if not records:
        raise HarnessError(f"video list is empty: {path} (expected {_EXPECTED['video list']})")
    return records


def read_video_list(
    path: str | Path, num_classes: int | None = None, class_names: Sequence[str] | None = None
) -> list[tuple[str, int]]:
    """[(relative video path, label)] from a ViFi/X-CLIP/mmaction2 or EZ-CLIP/ActionCLIP split list.

    ``num_classes`` (or ``class_names``) enables the label range check; ``class_names`` also lets an absolute
    path keep its class folder. Every record counts, whether or not the file ends with a newline.
    """
    return [(r.path, r.label) for r in read_video_records(path, num_classes, class_names)]


# ----------------------------------------------------------------------------------------------- hashes

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (cached per path, size and modification time)."""
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise HarnessError(f"file not found: {path} (check the path or --files-root)") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASH_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _HASH_CACHE[key] = digest.hexdigest()
    return _HASH_CACHE[key]
