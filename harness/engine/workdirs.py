"""One work directory per run attempt: ``<work_root>/<method>/<run_id>[-N]/``. Nothing in one is ever deleted
by a later command: a rerun (``--force``) or a fresh start after an interruption gets the next attempt folder,
and ``--resume`` continues the newest attempt of the same run id — never a folder of another config.

Each folder holds ``run.json`` (the run's identity and config), mmengine's checkpoints, ``train.log`` and,
once training finished, ``final_state_dict.pth``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import HarnessError
from .hooks import config_difference, identity_mismatch
from .records import config_hash

IDENTITY_FILE = "run.json"


def run_identity(method: str, run_id: str, unit_label: str, config: dict) -> dict:
    """What a checkpoint must match to be resumed by this run."""
    return dict(run_id=run_id, method=method, unit=unit_label, backbone=config["backbone"]["name"],
                config_hash=config_hash(config), config=config)


def attempts(work_root: Path, method: str, run_id: str) -> list[Path]:
    """Existing attempt folders of one run, oldest first."""
    base = Path(work_root) / method
    found = []
    for path in base.glob(f"{run_id}*") if base.is_dir() else []:
        match = re.fullmatch(re.escape(run_id) + r"(?:-(\d+))?", path.name)
        if match and path.is_dir():
            found.append((int(match.group(1) or 1), path))
    return [p for _, p in sorted(found)]


def last_checkpoint(folder: Path) -> Path | None:
    """The checkpoint mmengine would resume from (its ``last_checkpoint`` pointer), if it exists."""
    pointer = Path(folder) / "last_checkpoint"
    if not pointer.is_file():
        return None
    target = Path(pointer.read_text(encoding="utf-8").strip())
    target = target if target.is_absolute() else Path(folder) / target.name
    return target if target.is_file() else None


def is_interrupted(folder: Path) -> bool:
    return last_checkpoint(folder) is not None and not (Path(folder) / "final_state_dict.pth").is_file()


def new_attempt(work_root: Path, method: str, run_id: str) -> Path:
    """A folder no earlier command wrote into (not created yet)."""
    existing = attempts(work_root, method, run_id)
    base = Path(work_root) / method / run_id
    if not existing and not base.exists():
        return base
    numbers = [int(p.name.rsplit("-", 1)[1]) if p.name != run_id else 1 for p in existing]
    return base.with_name(f"{run_id}-{max(numbers, default=1) + 1}")


def write_identity(folder: Path, identity: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / IDENTITY_FILE).write_text(json.dumps(identity, indent=1, sort_keys=True, default=str) + "\n",
                                        encoding="utf-8")


def read_identity(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / IDENTITY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def checkpoint_identity(path: Path) -> dict | None:
    """The identity stored in an mmengine checkpoint by :class:`harness.engine.hooks.RunIdentityHook`."""
    import torch

    from .compat import allow_mmengine_checkpoints

    allow_mmengine_checkpoints()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:
        raise HarnessError(f"--resume: checkpoint {path} cannot be read ({type(error).__name__}); delete that "
                           "attempt folder's last_checkpoint or drop --resume to train afresh") from None
    return state.get("meta", {}).get("harness", {}).get("identity") if isinstance(state, dict) else None


def resume_folder(work_root: Path, identity: dict) -> Path | None:
    """The attempt folder ``--resume`` continues, after checking that its checkpoint belongs to this run.

    None when this run has nothing to resume. Refuses (one line) when the unit's only interrupted trainings
    were made by other configs — the user then either repeats those options or drops ``--resume``.
    """
    method, run_id = identity["method"], identity["run_id"]
    for folder in reversed(attempts(work_root, method, run_id)):
        checkpoint = last_checkpoint(folder)
        if checkpoint is None:
            continue
        if (folder / "final_state_dict.pth").is_file():
            return None  # the newest attempt finished: nothing to resume
        problem = identity_mismatch(checkpoint_identity(checkpoint), identity)
        if problem:
            raise HarnessError(f"--resume refused: {checkpoint} {problem}; rerun with the options it was trained "
                               "with, or drop --resume to train afresh")
        return folder
    others = [folder for folder in sorted((Path(work_root) / method).glob("*")) if folder.is_dir()
              and is_interrupted(folder) and (read_identity(folder) or {}).get("unit") == identity["unit"]
              and (read_identity(folder) or {}).get("run_id") != run_id]
    if others:
        saved = read_identity(others[-1]) or {}
        raise HarnessError(f"--resume refused: the interrupted training of {identity['unit']} in {others[-1]} was "
                           f"made with another config{config_difference(saved.get('config'), identity['config'])}"
                           "; rerun with those options to continue it, or drop --resume to train afresh")
    return None
