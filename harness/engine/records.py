"""Run records: one immutable JSON file per protocol unit, written atomically (write, fsync, rename).

A record carries everything its numbers depend on (config, protocol version and hash, file hashes, package
versions, git revision, machine) and the per-video predictions, so tables and significance tests can be
rebuilt from records alone.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from ..errors import HarnessError
from ..paths import REPO_ROOT, atomic_write_text

SCHEMA_VERSION = 1
PACKAGES = ("torch", "torchvision", "open_clip_torch", "mmengine", "mmaction2", "mmcv-lite", "decord", "av",
            "numpy", "scipy", "pandas", "videoclip-harness")


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def make_run_id(method: str, unit_label: str, config: dict, unit_key: dict) -> str:
    """Stable id: the same method, unit and config always get the same id (that is what makes reruns skip)."""
    digest = config_hash(dict(config=config, unit=unit_key))[:12]
    return f"{method}-{unit_label}-{digest}"


UNTRAINED = "not trained"  # the zero-shot "source" of a method that evaluates without training in its run


def zero_shot_source(record: dict) -> str:
    """The dataset a zero-shot record's method was trained on. A method that does not train in its run (frozen
    CLIP, an evaluated checkpoint) has none; its record is filed under the targets it evaluated."""
    return record["dataset"] if record.get("training") else UNTRAINED


def record_path(records_dir: Path, protocol: str, method: str, dataset: str, run_id: str) -> Path:
    return Path(records_dir) / protocol / method / dataset / f"{run_id}.json"


@lru_cache(maxsize=1)
def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    return versions


@lru_cache(maxsize=1)
def git_state() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        except Exception:
            return None

    revision = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no", "--", "harness", "methods", "protocols")
    return dict(git_revision=revision, git_dirty=bool(status) if status is not None else None)


@lru_cache(maxsize=1)
def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return dict(cpu=cpu, cores=os.cpu_count(), torch_threads=torch.get_num_threads(), gpu=gpu,
                platform=platform.platform())


def environment() -> dict:
    return dict(versions=package_versions(), **git_state(), machine=machine())


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_record(record: dict, path: Path) -> Path:
    """Atomic write; refuses to replace an existing record unless the caller removed it (``--force``)."""
    return atomic_write_text(path, json.dumps(record, indent=1, sort_keys=False, default=_json_default) + "\n")


def set_aside(path: Path) -> Path:
    """Rename a record that ``--force`` replaces to ``<run_id>.replaced-<time>.json.bak`` (tables ignore it;
    nothing a user made is deleted)."""
    path = Path(path)
    target = path.with_name(f"{path.stem}.replaced-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}.json.bak")
    os.replace(path, target)
    return target


def _json_default(value):
    import numpy as np

    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def load_record(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise HarnessError(f"run record {path} is not valid JSON ({error}); delete it or restore it from git") from None


def find_record(records_dir: Path, run_id_or_path: str) -> Path:
    candidate = Path(run_id_or_path)
    if candidate.is_file():
        return candidate
    matches = sorted(Path(records_dir).rglob(f"{run_id_or_path}.json"))
    if not matches:
        raise HarnessError(f"no run record {run_id_or_path!r} under {records_dir}; give a run id or a record path")
    return matches[0]
