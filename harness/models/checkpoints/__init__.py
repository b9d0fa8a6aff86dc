"""Checkpoints in other formats: the official ones each method's authors release, and the harness's own.

``read_checkpoint`` reads a file once (offline, untrusted: :mod:`.reading`) and says what it is; ``to_harness_state``
turns it into the harness state dict of a built model (an official file through the method's declared
``official_layout``, :mod:`.layout`; a harness file as it is, checked strictly); ``export_official`` writes a
harness state dict back in the method's official format. ``python -m harness convert`` and ``run --checkpoint``
are thin wrappers around these three.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ...errors import HarnessError
from .layout import OPENAI_CLIP, OfficialLayout, Report, Rule, Section, openai_fp16, rules, to_harness, \
    to_official
from .reading import check_file, load_untrusted, refuse_remote

__all__ = ["Checkpoint", "OfficialLayout", "OPENAI_CLIP", "Report", "Rule", "Section", "export_official",
           "openai_fp16", "read_checkpoint", "refuse_remote", "rules", "to_harness_state", "write_harness",
           "write_official"]

HARNESS_FORMATS = ("harness state dict", "mmengine checkpoint")
_HARNESS_IDENTITY = OfficialLayout(method="", name="harness", source="harness",
                                   sections=(Section(None, (Rule("", ""),)),))


@dataclass
class Checkpoint:
    """A checkpoint file as read: its tensors grouped by container entry, before any model is involved."""

    path: Path
    sha256: str
    kind: str                          # "harness" | "official"
    format: str                        # container as found; the method's format name once converted
    sections: dict                     # container key (None: the file is the state dict) → {name: tensor}
    not_weights: list[str] = field(default_factory=list)
    meta: dict | None = None

    @property
    def official_origin(self) -> dict | None:
        """The official file this checkpoint is, or was converted from (``convert`` records it in meta)."""
        if self.kind == "official":
            return dict(format=self.format, sha256=self.sha256, path=str(self.path))
        source = (self.meta or {}).get("converted_from")
        return source if isinstance(source, dict) else None

    def record(self) -> dict:
        """What the run record keeps: path, sha256, format (+ the official source of a converted file)."""
        entry = dict(path=str(self.path), sha256=self.sha256, format=self.format)
        if self.kind == "harness" and self.official_origin:
            entry["converted_from"] = self.official_origin
        return entry


def _tensor_dict(value) -> bool:
    return isinstance(value, dict) and all(isinstance(v, torch.Tensor) for v in value.values())


def _describe(obj) -> str:
    if isinstance(obj, dict):
        return "a dict with entries " + ", ".join(repr(k) for k in list(obj)[:6]) + (" …" if len(obj) > 6 else "")
    return f"a {type(obj).__name__}"


def read_checkpoint(source: str) -> Checkpoint:
    """Read ``source`` (a local file; URLs and hub names are refused) and sort its content into sections."""
    from ...engine.preflight import file_sha256

    path = check_file(source)
    obj = load_untrusted(path)
    sha = file_sha256(path)
    if isinstance(obj, dict) and _tensor_dict(obj.get("state_dict")) and obj.get("state_dict"):
        meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else None
        return Checkpoint(path, sha, "harness", "mmengine checkpoint", {None: dict(obj["state_dict"])},
                          [k for k in obj if k not in ("state_dict", "meta")], meta)
    if isinstance(obj, dict) and obj and _tensor_dict(obj):
        names = [re.sub(r"^(module\.)+", "", k) for k in obj]
        if any(name.startswith("clip.") for name in names):
            return Checkpoint(path, sha, "harness", "harness state dict", {None: dict(obj)})
        return Checkpoint(path, sha, "official", "bare state dict", {None: dict(obj)})
    if isinstance(obj, dict):
        sections = {k: dict(v) for k, v in obj.items() if isinstance(k, str) and _tensor_dict(v)
                    and (v or k.endswith("state_dict") or k == "model")}
        if any(sections.values()):
            return Checkpoint(path, sha, "official", "container " + "+".join(f"'{k}'" for k in sections), sections,
                              [str(k) for k in obj if k not in sections])
    raise HarnessError(f"checkpoint {source}: unknown format ({_describe(obj)}); expected a harness state dict, "
                       "an mmengine checkpoint {'state_dict', 'meta'}, EZ-CLIP/ActionCLIP train.py's "
                       "{'model_state_dict' (+ 'fusion_model_state_dict')}, X-CLIP/ViFi-CLIP main.py's {'model'} "
                       "or a bare state dict")


def _guess_methods(ckpt: Checkpoint, exclude: str) -> list[str]:
    """Methods whose official files look like this one (their ``OFFICIAL_SIGNATURE``), for error messages."""
    from ..methods_registry import list_methods, method_class, method_entry

    names = [f"{key}:" for key in ckpt.sections if key] + [n for part in ckpt.sections.values() for n in part]
    found = []
    for name in list_methods():
        if name == exclude or method_entry(name).get("variant_of"):
            continue
        try:
            signature = getattr(method_class(name), "OFFICIAL_SIGNATURE", ())
        except HarnessError:
            continue
        if signature and any(re.search(pattern, n) for pattern in signature for n in names):
            found.append(name)
    return found


def _sections_for(ckpt: Checkpoint, layout: OfficialLayout, method: str) -> dict:
    """The file's sections as the layout names them; a file of another layout is one line naming it."""
    if list(ckpt.sections) == [None]:
        primary = layout.sections[0].key
        return {primary: ckpt.sections[None]}
    wanted, present = layout.section_keys(), set(ckpt.sections)
    foreign = sorted(present - set(wanted))
    if not wanted or foreign or not present & set(wanted):
        others = _guess_methods(ckpt, method)
        looks = f"; it looks like a checkpoint of {' or '.join(others)} (use --method {others[0]})" if others else ""
        expected = " + ".join(f"'{k}'" for k in wanted) if wanted else "a bare state dict"
        raise HarnessError(f"checkpoint {ckpt.path} is a {ckpt.format} but {method}'s official format "
                           f"({layout.name}) holds {expected}{looks} (nothing was loaded)")
    return {key: ckpt.sections.get(key, {}) for key in wanted}


# ------------------------------------------------------------------------------------------------ shape hints
def _backbone_of(shapes: dict) -> str | None:
    """The open_clip architecture whose CLIP tensors have these shapes (harness names), when one does."""
    import open_clip

    from ..backbones import COMMON_BACKBONES, _ensure_toy_registered

    conv = shapes.get("clip.visual.conv1.weight")
    pos = shapes.get("clip.visual.positional_embedding")
    if conv is None or pos is None:
        return None
    width, patch = conv[0], conv[-1]
    size = round((pos[0] - 1) ** 0.5) * patch
    _ensure_toy_registered()
    for name in COMMON_BACKBONES:
        vision = (open_clip.get_model_config(name) or {}).get("vision_cfg") or {}
        if (vision.get("width"), vision.get("patch_size"), vision.get("image_size")) == (width, patch, size):
            return name
    return f"a ViT of width {width}, patch {patch}, {size} px"


def _hint(layout: OfficialLayout, mismatched: list, shapes: dict) -> str:
    names = {name for name, _, _ in mismatched}
    if names & {"clip.visual.conv1.weight", "clip.visual.positional_embedding", "clip.ln_final.weight",
                "clip.text_projection", "clip.visual.proj", "clip.positional_embedding"}:
        backbone = _backbone_of(shapes)
        if backbone and not backbone.startswith("a ViT"):
            return f"the file's CLIP is {backbone}: pass --backbone {backbone}"
        return f"the file's CLIP is {backbone or 'another architecture'}: pass the --backbone it was trained with"
    for pattern, dim, offset in layout.frame_tensors:
        for name, have, want in mismatched:
            if re.fullmatch(pattern, name) and len(have) > dim:
                frames = have[dim] - offset
                return (f"it was trained for {frames} frames ({name} bakes the frame count in): pass "
                        f"--cfg-options model.frames={frames}")
    return ""


# ------------------------------------------------------------------------------------------------ conversion
def to_harness_state(ckpt: Checkpoint, model, method: str) -> tuple[dict, Report, dict]:
    """(state dict with ``model``'s names, report, official dtype per name) — strict: every tensor of the file
    has a place or a stated reason to be dropped, every parameter of the model is filled."""
    target = {k: v for k, v in model.state_dict().items() if not k.startswith("data_preprocessor")}
    report = Report(source=str(ckpt.path), format=ckpt.format, not_weights=list(ckpt.not_weights))
    if ckpt.kind == "harness":
        layout = replace(_HARNESS_IDENTITY, method=method)
        frames = getattr(model.official_layout(), "frame_tensors", ())
        layout = replace(layout, frame_tensors=frames)
        state, _ = to_harness({None: ckpt.sections[None]}, layout, target, report, str(ckpt.path),
                              hint=lambda m, s: _hint(layout, m, s))
        report.format = ckpt.format
        dtypes = dict((ckpt.meta or {}).get("official_dtypes") or {})
        return state, report, dtypes
    layout = model.official_layout()
    if layout is None:
        raise HarnessError(f"method {method} declares no official checkpoint format; give a harness checkpoint "
                           "(final_state_dict.pth of a training run)")
    sections = _sections_for(ckpt, layout, method)
    report.format = layout.name + ("" if list(ckpt.sections) != [None] else ", bare state dict")
    state, dtypes = to_harness(sections, layout, target, report, str(ckpt.path),
                               hint=lambda m, s: _hint(layout, m, s))
    ckpt.format = report.format
    return state, report, dtypes


def needs_backbone_weights(model, report: Report, pretrained) -> None:
    """Tensors taken from the backbone are meaningless from a random one: refuse instead of evaluating noise."""
    from ..backbones import RANDOM_TAGS

    if report.from_backbone and pretrained in RANDOM_TAGS:
        names = ", ".join(name for name, _ in report.from_backbone)
        raise HarnessError(f"checkpoint {report.source} ({report.format}) holds no {names}, which must come from "
                           "the CLIP it was fine-tuned from, but the backbone is random (--pretrained none); pass "
                           "those weights with --pretrained (e.g. the OpenAI ViT-B/16 file)")


def write_harness(path: Path, state: dict, meta: dict, bare: bool = False) -> None:
    """DST for ``run --checkpoint``: an mmengine checkpoint ``{'state_dict', 'meta'}`` (``bare``: the state
    dict alone). Written to a temporary name first, so a failed write leaves no half file."""
    _atomic_save({k: v for k, v in state.items()} if bare else {"state_dict": state, "meta": meta}, path)


def export_official(state: dict, model, dtypes: dict | None = None) -> tuple[object, list[str], int]:
    layout = model.official_layout()
    if layout is None:
        raise HarnessError("this method declares no official checkpoint format to export to")
    return to_official(state, layout, dtypes)


def write_official(path: Path, container) -> None:
    _atomic_save(container, path)


def _atomic_save(obj, path: Path) -> None:
    import os

    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        torch.save(obj, temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
