"""Checks made before a run has any side effect or takes any training step: the model builds (names, optional
dependencies, weights), a ``--checkpoint`` is readable and fits, every listed video exists, every class list
suits the method's text source, optional loggers are installed. A problem found after an hour of training is
an hour lost; found here it is one line.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import torch

from ..errors import HarnessError

_INDEXES: dict = {}


def resolve_videos(video_list, allow_missing: bool):
    """Resolve every listed video under the video root (exact path, else the same file name in a class
    folder — see ``VideoIndex``). Absent videos are an error naming the fix, or (``--allow-missing``) dropped
    and counted. Returns (list of present videos, skip entries for the absent ones)."""
    root = Path(video_list.video_root)
    if not root.is_dir():
        raise HarnessError(f"video root {root} of list {video_list.name!r} does not exist; pass the folder that "
                           "holds the videos with --data-root")
    if all((root / p).is_file() for p, _ in video_list.entries):
        return video_list, []
    from ..data.catalog import VideoIndex

    if root not in _INDEXES:
        _INDEXES[root] = VideoIndex(root)
    found = video_list.resolve(_INDEXES[root])
    entries = [(str(f.relative_to(root)), label) for f, (_, label) in zip(found, video_list.entries) if f is not None]
    missing = [p for f, (p, _) in zip(found, video_list.entries) if f is None]
    if missing and not allow_missing:
        raise HarnessError(f"{len(missing)} of {len(video_list.entries)} videos of list {video_list.name!r} are "
                           f"missing under {root} (first: {missing[0]}); fix the video root, run `python -m "
                           "harness prepare` to list them, or pass --allow-missing to skip and count them")
    return replace(video_list, entries=entries), [dict(video=p, reason="missing on disk (--allow-missing)")
                                                   for p in missing]


def probe_model(method: str, config: dict):
    """Build the method once, without touching the caller's random streams (a unit's random init must not
    depend on whether a probe ran before it)."""
    from ..models.methods_registry import method_class

    cls = method_class(method)
    with torch.random.fork_rng():
        try:
            return cls(backbone=config["backbone"], **config["model"])
        except HarnessError:
            raise
        except (TypeError, ValueError, KeyError, RuntimeError) as error:
            raise HarnessError(f"method {method!r} cannot be built with this config ({type(error).__name__}: "
                               f"{str(error).splitlines()[0] if str(error) else ''}); check the model.* and "
                               "backbone options") from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_CONVERTED: list = []  # at most one (file identity, state dict): the official checkpoint converted by this run


def _file_identity(path) -> tuple:
    stat = Path(path).stat()
    return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size


def remember_converted(path, state: dict) -> None:
    """``run`` converts an official checkpoint once; later reads of that unchanged file here get the result."""
    _CONVERTED[:] = [(_file_identity(path), state)]


def forget_converted() -> None:
    _CONVERTED.clear()


def read_state_dict(checkpoint: str) -> dict:
    """A state dict from a harness checkpoint (``final_state_dict.pth``) or an mmengine checkpoint
    (``epoch_N.pth``, ``{"state_dict": ...}``), or the converted state of the official checkpoint this run
    read (:func:`remember_converted`); anything else is one line naming what was found."""
    from .compat import allow_mmengine_checkpoints

    path = Path(checkpoint)
    if _CONVERTED and path.is_file() and _CONVERTED[0][0] == _file_identity(path):
        return _CONVERTED[0][1]
    if not path.is_file():
        raise HarnessError(f"checkpoint {checkpoint} not found; give the final_state_dict.pth of a training run "
                           "(in its work directory, work_dirs/<method>/<run_id>/)")
    allow_mmengine_checkpoints()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise HarnessError(f"checkpoint {checkpoint} is not a readable PyTorch checkpoint ({type(error).__name__}); "
                           "give a final_state_dict.pth or epoch_N.pth written by a training run") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise HarnessError(f"checkpoint {checkpoint} holds no state dict of tensors (found {type(state).__name__}); "
                           "give a final_state_dict.pth or epoch_N.pth written by a training run")
    return state


def load_checkpoint(model, checkpoint: str, state: dict | None = None) -> None:
    """Load strictly (apart from the preprocessor's constant buffers): a partial load is never silent.
    ``state``: the checkpoint's state dict when the caller has already read it."""
    state = read_state_dict(checkpoint) if state is None else state
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # same names, other shapes
        first = str(error).split("size mismatch for ", 1)[-1].split(":")[0] if "size mismatch" in str(error) else ""
        raise HarnessError(f"checkpoint {checkpoint} does not fit this method/backbone/frames (tensor shapes differ"
                           f"{', e.g. ' + first if first else ''}); use the --method, --backbone and model.frames "
                           "it was trained with") from None
    problems = [k for k in missing if not k.startswith("data_preprocessor")] + list(unexpected)
    if problems:
        raise HarnessError(f"checkpoint {checkpoint} does not match this method/backbone/frames "
                           f"({len(problems)} mismatched keys, e.g. {problems[0]}); use the same --method, "
                           "--backbone and model.frames it was trained with")


def check_text_source(model, video_list, method: str) -> None:
    try:
        model.set_class_names(video_list.class_names, video_list.descriptions)
    except ValueError:
        source = model.text_cfg["source"]
        raise HarnessError(f"{method}'s model.text.source is {source!r} but the class file of list "
                           f"{video_list.name!r} has no descriptions; add a description column to the class file "
                           "or pass --cfg-options model.text.source=names") from None


def check_loggers(config: dict) -> None:
    if config["runtime"]["tensorboard"]:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise HarnessError("runtime.tensorboard=true needs the tensorboard package; pip install "
                               "'videoclip-harness[tensorboard]' (or tensorboard)") from None


def check_run(method: str, config: dict, units: list, checkpoint: str | None, train: bool,
              checkpoint_state: dict | None = None) -> None:
    """All checks for the units about to run (``checkpoint_state``: the checkpoint, already read)."""
    check_loggers(config)
    allow_missing = config["data"]["allow_missing"]
    lists = []
    for unit in units:
        lists += [video_list for _, _, _, video_list in unit.evaluations]
        if train and unit.train is not None:
            lists.insert(0, unit.train)
    for video_list in lists:  # cheap file checks first: a wrong path must not wait for a model build
        resolve_videos(video_list, allow_missing)
    model = probe_model(method, config)
    if checkpoint:
        load_checkpoint(model, checkpoint, checkpoint_state)
    for video_list in lists:
        check_text_source(model, video_list, method)
